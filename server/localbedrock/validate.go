package localbedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Nova Sonic input event names, in the order a session uses them.
const (
	evSessionStart = "sessionStart"
	evPromptStart  = "promptStart"
	evContentStart = "contentStart"
	evTextInput    = "textInput"
	evAudioInput   = "audioInput"
	evToolResult   = "toolResult"
	evContentEnd   = "contentEnd"
	evPromptEnd    = "promptEnd"
	evSessionEnd   = "sessionEnd"
)

// Content types and roles of Nova Sonic content blocks.
const (
	typeText  = "TEXT"
	typeAudio = "AUDIO"
	typeTool  = "TOOL"

	roleSystem       = "SYSTEM"
	roleSystemSpeech = "SYSTEM_SPEECH"
	roleUser         = "USER"
	roleAssistant    = "ASSISTANT"
	roleTool         = "TOOL"
)

// invalidInput prefixes every validation message the way the service words them
// ("ValidationException: Invalid input request"); the detail after it is ours.
const invalidInput = "Invalid input request"

// validationError is a Nova-level input error; it ends the stream with validationException.
type validationError struct{ detail string }

func (e *validationError) Error() string { return invalidInput + ": " + e.detail }

func invalid(format string, args ...any) error {
	return &validationError{detail: fmt.Sprintf(format, args...)}
}

// audioConfiguration is audioInputConfiguration / audioOutputConfiguration.
type audioConfiguration struct {
	MediaType       string `json:"mediaType"`
	SampleRateHertz int    `json:"sampleRateHertz"`
	SampleSizeBits  int    `json:"sampleSizeBits"`
	ChannelCount    int    `json:"channelCount"`
	Encoding        string `json:"encoding"`
	AudioType       string `json:"audioType"`
}

// inputFields is the union of the input event fields the server looks at.
type inputFields struct {
	PromptName                   string              `json:"promptName"`
	ContentName                  string              `json:"contentName"`
	Content                      *string             `json:"content"`
	Role                         string              `json:"role"`
	Type                         string              `json:"type"`
	Interactive                  bool                `json:"interactive"`
	EndpointingSensitivity       json.RawMessage     `json:"endpointingSensitivity"`
	TurnDetectionConfiguration   *turnDetection      `json:"turnDetectionConfiguration"`
	AudioInputConfiguration      *audioConfiguration `json:"audioInputConfiguration"`
	AudioOutputConfiguration     *audioConfiguration `json:"audioOutputConfiguration"`
	ToolResultInputConfiguration *struct {
		ToolUseID string `json:"toolUseId"`
	} `json:"toolResultInputConfiguration"`
}

// turnDetection is sessionStart.turnDetectionConfiguration (Nova 2).
type turnDetection struct {
	EndpointingSensitivity string `json:"endpointingSensitivity"`
}

// contentState tracks one input content block.
type contentState struct {
	promptName string
	typ        string
	open       bool
	history    bool // a chat-history message: its text is limited to MaxHistoryMessageBytes
	textBytes  int
}

// promptState tracks one prompt.
type promptState struct {
	open         bool
	contentCount int
	// audioSeen ends the chat history: TEXT contents of role USER or ASSISTANT that are not interactive,
	// after the SYSTEM content and before the first AUDIO content, are replayed history.
	audioSeen   bool
	historyLast string // role of the last history message, "" before the first
	historyLen  int
}

// The chat-history rules the service enforces on a replay (shared/reference/operations.md §1.1): the
// first message is USER ("First message in chat history should not be Assistant", the service's own
// wording), roles alternate, and the count and size are limited. The limits are a maintainer's figures,
// marked "verify" there: 40 messages of at most 1 KiB each.
const (
	MaxHistoryMessages     = 40
	MaxHistoryMessageBytes = 1024
)

// validator checks the order and shape of input events like the service does, enough to catch
// client bugs: session and prompt framing, SYSTEM first, content references and types, audio
// encoding, and the Nova 2 sessionStart shape. It belongs to one stream's reader goroutine.
type validator struct {
	sessionStarted bool
	sessionEnded   bool
	prompts        map[string]*promptState
	contents       map[string]*contentState
}

func newValidator() *validator {
	return &validator{prompts: map[string]*promptState{}, contents: map[string]*contentState{}}
}

// accept decodes and validates one Nova JSON payload.
func (v *validator) accept(nova []byte) (InputEvent, error) {
	ev, f, err := decodeInput(nova)
	if err != nil {
		return InputEvent{}, err
	}
	ev.PromptName, ev.ContentName, ev.Role, ev.Type, ev.Interactive = f.PromptName, f.ContentName, f.Role, f.Type, f.Interactive
	if f.ToolResultInputConfiguration != nil {
		ev.ToolUseID = f.ToolResultInputConfiguration.ToolUseID
	}

	if !v.sessionStarted && ev.Name != evSessionStart {
		return InputEvent{}, invalid("the first event must be %s, got %s", evSessionStart, ev.Name)
	}
	if v.sessionEnded {
		return InputEvent{}, invalid("%s after %s", ev.Name, evSessionEnd)
	}
	switch ev.Name {
	case evSessionStart:
		err = v.sessionStart(f)
	case evPromptStart:
		err = v.promptStart(f)
	case evContentStart:
		err = v.contentStart(f)
	case evTextInput, evToolResult:
		if err = v.contentInput(ev.Name, f); err == nil {
			ev.Content = *f.Content
		}
	case evAudioInput:
		if err = v.contentInput(ev.Name, f); err == nil {
			ev.Audio, err = base64.StdEncoding.DecodeString(*f.Content)
			if err != nil {
				err = invalid("audioInput content is not valid base64: %v", err)
			}
		}
	case evContentEnd:
		err = v.contentEnd(f)
	case evPromptEnd:
		err = v.promptEnd(f)
	case evSessionEnd:
		v.sessionEnded = true
	default:
		err = invalid("unknown event %q", ev.Name)
	}
	if err != nil {
		return InputEvent{}, err
	}
	return ev, nil
}

// decodeInput reads an input event's name, body and the fields the validator looks at.
func decodeInput(nova []byte) (InputEvent, inputFields, error) {
	if ev, f, ok := decodeAudioInput(nova); ok {
		return ev, f, nil
	}
	return decodeInputJSON(nova)
}

// decodeInputJSON is decodeInput through encoding/json, for every shape.
func decodeInputJSON(nova []byte) (InputEvent, inputFields, error) {
	var envelope struct {
		Event map[string]json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(nova, &envelope); err != nil {
		return InputEvent{}, inputFields{}, invalid("event is not valid JSON: %v", err)
	}
	if len(envelope.Event) != 1 {
		return InputEvent{}, inputFields{}, invalid(`expected {"event":{"<eventName>":{...}}} with exactly one event, got %d`, len(envelope.Event))
	}
	ev := InputEvent{JSON: nova}
	for name, body := range envelope.Event {
		ev.Name, ev.Body = name, body
	}
	var f inputFields
	if len(bytes.TrimSpace(ev.Body)) == 0 || ev.Body[0] != '{' {
		return InputEvent{}, inputFields{}, invalid("%s must be a JSON object", ev.Name)
	}
	if err := json.Unmarshal(ev.Body, &f); err != nil {
		return InputEvent{}, inputFields{}, invalid("%s: %v", ev.Name, err)
	}
	return ev, f, nil
}

// decodeAudioInput reads the shape nearly every input event has, an audioInput written compactly:
// {"event":{"audioInput":{"promptName":"…","contentName":"…","content":"…"}}}, those keys in any order, each
// once, and no escapes. It is what a load run sends thousands of times a second, and encoding/json's
// reflection made it the local Bedrock's largest cost. Anything else is left to decodeInputJSON (ok
// false); for what it accepts, both give the same result (FuzzAudioInputFastPath).
func decodeAudioInput(nova []byte) (ev InputEvent, f inputFields, ok bool) {
	const head, tail = `{"event":{"audioInput":`, `}}`
	body, found := bytes.CutPrefix(nova, []byte(head))
	if !found {
		return ev, f, false
	}
	if body, found = bytes.CutSuffix(body, []byte(tail)); !found || len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return ev, f, false
	}
	var seenPrompt, seenContentName bool
	for rest := body[1 : len(body)-1]; len(rest) > 0; {
		key, after, ok := plainString(rest)
		if !ok || len(after) == 0 || after[0] != ':' {
			return ev, f, false
		}
		value, after, ok := plainString(after[1:])
		if !ok {
			return ev, f, false
		}
		switch {
		case key == "promptName" && !seenPrompt:
			f.PromptName, seenPrompt = value, true
		case key == "contentName" && !seenContentName:
			f.ContentName, seenContentName = value, true
		case key == "content" && f.Content == nil:
			f.Content = &value
		default: // another key, or one of these twice
			return ev, f, false
		}
		if rest = after; len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return ev, f, false
			}
			rest = rest[1:]
		}
	}
	return InputEvent{JSON: nova, Name: evAudioInput, Body: body}, f, true
}

// plainString reads a JSON string without escapes or control characters at the start of b and returns
// it and what follows.
func plainString(b []byte) (string, []byte, bool) {
	if len(b) < 2 || b[0] != '"' {
		return "", nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return string(b[1:i]), b[i+1:], utf8.Valid(b[1:i])
		case c == '\\' || c < 0x20:
			return "", nil, false
		}
	}
	return "", nil, false
}

func (v *validator) sessionStart(f inputFields) error {
	if v.sessionStarted {
		return invalid("duplicate %s", evSessionStart)
	}
	// Nova 2 rejects the Nova 1 flat field (livekit/agents#6200); it must be nested under
	// turnDetectionConfiguration.
	if f.EndpointingSensitivity != nil {
		return invalid("sessionStart.endpointingSensitivity is not a valid field; use turnDetectionConfiguration.endpointingSensitivity")
	}
	if td := f.TurnDetectionConfiguration; td != nil && !slices.Contains([]string{"HIGH", "MEDIUM", "LOW"}, td.EndpointingSensitivity) {
		return invalid("turnDetectionConfiguration.endpointingSensitivity must be HIGH, MEDIUM or LOW, got %q", td.EndpointingSensitivity)
	}
	v.sessionStarted = true
	return nil
}

func (v *validator) promptStart(f inputFields) error {
	if f.PromptName == "" {
		return invalid("promptStart requires promptName")
	}
	if _, dup := v.prompts[f.PromptName]; dup {
		return invalid("duplicate promptName %q", f.PromptName)
	}
	if c := f.AudioOutputConfiguration; c != nil && !validSampleRate(c.SampleRateHertz) {
		return invalid("audioOutputConfiguration.sampleRateHertz must be 8000, 16000 or 24000, got %d", c.SampleRateHertz)
	}
	v.prompts[f.PromptName] = &promptState{open: true}
	return nil
}

func validSampleRate(hz int) bool { return hz == 8000 || hz == 16000 || hz == 24000 }

func (v *validator) openPrompt(event, name string) (*promptState, error) {
	p, ok := v.prompts[name]
	if !ok || !p.open {
		return nil, invalid("%s refers to promptName %q, which is not an open prompt", event, name)
	}
	return p, nil
}

func (v *validator) contentStart(f inputFields) error {
	p, err := v.openPrompt(evContentStart, f.PromptName)
	if err != nil {
		return err
	}
	if f.ContentName == "" {
		return invalid("contentStart requires contentName")
	}
	if _, dup := v.contents[f.ContentName]; dup {
		return invalid("duplicate contentName %q", f.ContentName)
	}
	if p.contentCount == 0 && f.Role != roleSystem {
		return invalid("first content must have SYSTEM role, got %q", f.Role)
	}
	switch f.Type {
	case typeText:
		if !slices.Contains([]string{roleSystem, roleSystemSpeech, roleUser, roleAssistant}, f.Role) {
			return invalid("TEXT content role must be SYSTEM, SYSTEM_SPEECH, USER or ASSISTANT, got %q", f.Role)
		}
	case typeAudio:
		c := f.AudioInputConfiguration
		if c == nil {
			return invalid("AUDIO content requires audioInputConfiguration")
		}
		if !validSampleRate(c.SampleRateHertz) || c.SampleSizeBits != 16 || c.ChannelCount != 1 {
			return invalid("audioInputConfiguration must be 16-bit mono at 8000, 16000 or 24000 Hz, got %d-bit, %d channels, %d Hz", c.SampleSizeBits, c.ChannelCount, c.SampleRateHertz)
		}
	case typeTool:
		if f.ToolResultInputConfiguration == nil || f.ToolResultInputConfiguration.ToolUseID == "" {
			return invalid("TOOL content requires toolResultInputConfiguration.toolUseId")
		}
	default:
		return invalid("content type must be TEXT, AUDIO or TOOL, got %q", f.Type)
	}
	history := false
	switch {
	case f.Type == typeAudio:
		p.audioSeen = true
	case f.Type == typeText && !f.Interactive && !p.audioSeen && (f.Role == roleUser || f.Role == roleAssistant):
		history = true
		switch {
		case p.historyLast == "" && f.Role != roleUser:
			return invalid("First message in chat history should not be Assistant")
		case p.historyLast == f.Role:
			return invalid("chat history must alternate between USER and ASSISTANT; two %s messages follow each other", f.Role)
		case p.historyLen >= MaxHistoryMessages:
			return invalid("chat history has more than %d messages", MaxHistoryMessages)
		}
		p.historyLast = f.Role
		p.historyLen++
	}
	p.contentCount++
	v.contents[f.ContentName] = &contentState{promptName: f.PromptName, typ: f.Type, open: true, history: history}
	return nil
}

// inputTypes maps each content input event to the content type it must belong to.
var inputTypes = map[string]string{evTextInput: typeText, evAudioInput: typeAudio, evToolResult: typeTool}

func (v *validator) contentInput(event string, f inputFields) error {
	if _, err := v.openPrompt(event, f.PromptName); err != nil {
		return err
	}
	c, ok := v.contents[f.ContentName]
	if !ok || !c.open {
		return invalid("%s refers to contentName %q, which is not an open content", event, f.ContentName)
	}
	if c.promptName != f.PromptName {
		return invalid("%s: contentName %q belongs to another prompt", event, f.ContentName)
	}
	if want := inputTypes[event]; c.typ != want {
		return invalid("%s is not allowed in %s content %q", event, c.typ, f.ContentName)
	}
	if f.Content == nil {
		return invalid("%s requires content", event)
	}
	if c.history {
		if c.textBytes += len(*f.Content); c.textBytes > MaxHistoryMessageBytes {
			return invalid("chat history message %q is longer than %d bytes", f.ContentName, MaxHistoryMessageBytes)
		}
	}
	return nil
}

func (v *validator) contentEnd(f inputFields) error {
	if _, err := v.openPrompt(evContentEnd, f.PromptName); err != nil {
		return err
	}
	c, ok := v.contents[f.ContentName]
	if !ok || !c.open {
		return invalid("contentEnd refers to contentName %q, which is not an open content", f.ContentName)
	}
	c.open = false
	return nil
}

func (v *validator) promptEnd(f inputFields) error {
	p, err := v.openPrompt(evPromptEnd, f.PromptName)
	if err != nil {
		return err
	}
	p.open = false
	return nil
}
