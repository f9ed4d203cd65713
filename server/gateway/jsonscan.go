package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// The validator reads a few fields of each input event's body and forwards the body itself to Bedrock.
// encoding/json matches keys case-insensitively and keeps the last of duplicate keys, while Bedrock's
// parser matches exactly; {"contentName":"a","ContentName":"b"} would then be checked as "b" and sent as
// "a". So the fields the validator reads are found by exact key with this scanner, and a body that
// repeats one of them, or spells it in another case, is refused: what was validated is what is sent.

// errBadJSON is input the scanner cannot read as a JSON object; the validator reports it in its own words.
var errBadJSON = errors.New("not a JSON object")

// forEachMember calls visit for each member of the JSON object obj, in order, with the member's key
// (unescaped) and its raw value. It reads only as far as it needs to find where each value ends, so a
// large string value (base64 audio) costs one pass over its bytes. obj must be one JSON object; anything
// else is errBadJSON.
func forEachMember(obj []byte, visit func(key string, value []byte) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errBadJSON
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		if skipSpace(obj, i+1) != len(obj) {
			return errBadJSON
		}
		return nil
	}
	for {
		keyEnd, err := stringEnd(obj, i)
		if err != nil {
			return err
		}
		key, err := unquote(obj[i:keyEnd])
		if err != nil {
			return err
		}
		i = skipSpace(obj, keyEnd)
		if i >= len(obj) || obj[i] != ':' {
			return errBadJSON
		}
		i = skipSpace(obj, i+1)
		valueEnd, err := valueEnd(obj, i)
		if err != nil {
			return err
		}
		if err := visit(key, obj[i:valueEnd]); err != nil {
			return err
		}
		i = skipSpace(obj, valueEnd)
		if i >= len(obj) {
			return errBadJSON
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			if skipSpace(obj, i+1) != len(obj) {
				return errBadJSON
			}
			return nil
		default:
			return errBadJSON
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i].
func stringEnd(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errBadJSON
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped character cannot end the string
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

// valueEnd returns the index just past the JSON value starting at b[i]. Nested objects and arrays are
// matched bracket by bracket, skipping strings; their contents are checked later by the full parse of the
// frame (parseInputEvent), so a malformed nested value is still refused.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadJSON
	default: // a number, true, false or null: up to the next delimiter
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errBadJSON
		}
		return j, nil
	}
}

// unquote decodes a raw JSON string (with its quotes). Strings without escapes, the norm, are converted
// directly.
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errBadJSON
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		if !utf8.Valid(inner) {
			return "", errBadJSON
		}
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errBadJSON
	}
	return s, nil
}
