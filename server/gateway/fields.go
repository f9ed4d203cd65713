package gateway

import (
	"bytes"
	"errors"
	"strings"
)

// eventFields are the fields the validator reads from an input event's body. Each is found by its exact
// key (jsonscan.go explains why): a duplicate or a differently cased spelling of one of them is refused.
type eventFields struct {
	PromptName  string
	ContentName string
	Type        string
	Role        string
	// Content is a textInput's or toolResult's content, unescaped (an audioInput's only while it is
	// checked: parseInputEvent drops it); HasContent tells an empty content from a missing one.
	Content    []byte
	HasContent bool
	// ToolUseID is a TOOL contentStart's toolResultInputConfiguration.toolUseId: the tool use it answers.
	ToolUseID string
}

// watchedFields are the body keys the validator reads.
var watchedFields = [...]string{"promptName", "contentName", "type", "role", "content", "toolResultInputConfiguration"}

// readFields reads the validator's fields from an event body by exact key.
func readFields(name string, body []byte) (eventFields, error) {
	var f eventFields
	var seen [len(watchedFields)]bool
	err := forEachMember(body, func(key string, value []byte) error {
		i := watchedIndex(key)
		if i < 0 {
			return nil // a field only Bedrock reads
		}
		if canonical := watchedFields[i]; key != canonical {
			return refuse("%s: key %q must be spelled %q", name, truncate(key, 40), canonical)
		}
		if seen[i] {
			return refuse("%s: key %q appears twice", name, key)
		}
		seen[i] = true
		var err error
		switch key {
		case "promptName":
			f.PromptName, err = stringField(name, key, value)
		case "contentName":
			f.ContentName, err = stringField(name, key, value)
		case "type":
			f.Type, err = stringField(name, key, value)
		case "role":
			f.Role, err = stringField(name, key, value)
		case "content":
			f.Content, err = contentField(name, value)
			f.HasContent = err == nil
		case "toolResultInputConfiguration":
			f.ToolUseID, err = toolUseIDField(name, value)
		}
		return err
	})
	if errors.Is(err, errBadJSON) {
		return f, refuse("%s: body must be a JSON object", name)
	}
	return f, err
}

// watchedIndex finds key among watchedFields, ignoring case, or returns -1.
func watchedIndex(key string) int {
	for i, f := range watchedFields {
		if len(key) == len(f) && strings.EqualFold(key, f) {
			return i
		}
	}
	return -1
}

func stringField(event, key string, value []byte) (string, error) {
	if len(value) == 0 || value[0] != '"' {
		return "", refuse("%s: %s must be a string", event, key)
	}
	s, err := unquote(value)
	if err != nil {
		return "", refuse("%s: %s is not a valid string", event, key)
	}
	return s, nil
}

// contentField returns a string's content without copying when it has no escapes (base64 audio never
// has), so that validating an audio frame allocates nothing for its content.
func contentField(event string, value []byte) ([]byte, error) {
	if len(value) < 2 || value[0] != '"' {
		return nil, refuse("%s: content must be a string", event)
	}
	if inner := value[1 : len(value)-1]; bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	s, err := unquote(value)
	if err != nil {
		return nil, refuse("%s: content is not a valid string", event)
	}
	return []byte(s), nil
}

// toolUseIDField reads toolResultInputConfiguration.toolUseId, by exact key as well: the gateway decides
// by it whether a tool result is the browser's to send.
func toolUseIDField(event string, value []byte) (string, error) {
	var id string
	seen := false
	err := forEachMember(value, func(key string, v []byte) error {
		if len(key) != len("toolUseId") || !strings.EqualFold(key, "toolUseId") {
			return nil
		}
		if key != "toolUseId" {
			return refuse("%s: key %q must be spelled %q", event, truncate(key, 40), "toolUseId")
		}
		if seen {
			return refuse("%s: key %q appears twice", event, key)
		}
		seen = true
		var err error
		id, err = stringField(event, key, v)
		return err
	})
	if errors.Is(err, errBadJSON) {
		return "", refuse("%s: toolResultInputConfiguration must be an object", event)
	}
	return id, err
}
