package gateway

import (
	"bytes"
	"encoding/binary"
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

// maxNesting bounds how deeply a browser's frame may nest objects and arrays. Nova Sonic's events nest a
// few levels; encoding/json, which the fuzz test and Bedrock's own parser stand for, stops at 10,000.
const maxNesting = 1000

// checkJSON reports whether b is exactly one JSON value, surrounded by whitespace at most, as strictly as
// encoding/json reads it: strings without control characters and with valid escapes, numbers as the
// grammar spells them, nesting at most maxNesting deep. It is one pass without allocation (a 1.4 KB audio
// frame's base64 is read at memory speed), so that the rest of the scanner may trust the structure. It
// does not check UTF-8: readFrame has checked the whole frame.
func checkJSON(b []byte) error {
	var stack [maxNesting]byte // '{' or '[' of each open container
	depth := 0
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return errBadJSON
		}
		var err error
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxNesting {
				return errBadJSON
			}
			stack[depth] = c
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' and ']' follow '{' and '[' by two
				depth--
				i++
				break
			}
			if c == '{' {
				if i, err = memberKey(b, i); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			i, err = checkString(b, i)
		case c == '-' || '0' <= c && c <= '9':
			i, err = checkNumber(b, i)
		default:
			i, err = checkLiteral(b, i)
		}
		if err != nil {
			return err
		}
		// After a value: commas and closing brackets, until the next value or the end.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				if i != len(b) {
					return errBadJSON
				}
				return nil
			}
			if i >= len(b) {
				return errBadJSON
			}
			open := stack[depth-1]
			if b[i] == open+2 {
				depth--
				i++
				continue
			}
			if b[i] != ',' {
				return errBadJSON
			}
			i = skipSpace(b, i+1)
			if open == '{' {
				if i, err = memberKey(b, i); err != nil {
					return err
				}
			}
			break
		}
	}
}

// memberKey checks an object member's key and colon at b[i] and returns where its value starts.
func memberKey(b []byte, i int) (int, error) {
	i, err := checkString(b, i)
	if err != nil {
		return 0, err
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, errBadJSON
	}
	return skipSpace(b, i+1), nil
}

// stringSpecial marks the bytes a JSON string cannot hold as they are: the quote that ends it, the
// backslash that starts an escape, and control characters.
var stringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// checkString checks the JSON string starting at b[i] and returns the index just past it.
func checkString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errBadJSON
	}
	for j := i + 1; j < len(b); j++ {
		// Eight plain bytes at a time: nearly every byte of a frame is base64 audio.
		for j+8 <= len(b) && !hasStringSpecial(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		if j >= len(b) {
			break
		}
		if !stringSpecial[b[j]] {
			continue
		}
		switch b[j] {
		case '"':
			return j + 1, nil
		case '\\':
			j++
			if j >= len(b) {
				return 0, errBadJSON
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return 0, errBadJSON
				}
				for _, h := range b[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, errBadJSON
					}
				}
				j += 4
			default:
				return 0, errBadJSON
			}
		default: // a control character
			return 0, errBadJSON
		}
	}
	return 0, errBadJSON
}

// hasStringSpecial reports whether any of the eight bytes in x is a quote, a backslash or a control
// character, with the classic SWAR tests (Hacker's Delight 6-1): a byte below n, or a byte equal to zero
// after XOR with c, sets its high bit in the result.
func hasStringSpecial(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - ones*0x20) &^ x
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	return (below|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0
}

// checkNumber checks the JSON number starting at b[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func checkNumber(b []byte, i int) (int, error) {
	digits := func(j int) int {
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, errBadJSON
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, errBadJSON
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, errBadJSON
		}
		i = j
	}
	return i, nil
}

// checkLiteral checks true, false or null at b[i].
func checkLiteral(b []byte, i int) (int, error) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(b[i:], []byte(lit)) {
			return i + len(lit), nil
		}
	}
	return 0, errBadJSON
}

// forEachMember calls visit for each member of the JSON object obj, in order, with the member's key
// (unescaped) and its raw value; a visit that returns an error stops it with that error. It finds where
// each value ends without validating it, so obj must have passed checkJSON (browser input) or come from
// a trusted encoder (Bedrock's output); on anything else it returns errBadJSON or reads nonsense, never
// panics. A large string value (base64 audio) is skipped at memory speed.
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

// errStop ends a forEachMember early without an error to report.
var errStop = errors.New("stop")

// firstMember returns the first member of the JSON object obj.
func firstMember(obj []byte) (key string, value []byte, ok bool) {
	err := forEachMember(obj, func(k string, v []byte) error {
		key, value, ok = k, v, true
		return errStop
	})
	return key, value, ok && errors.Is(err, errStop)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i]. It jumps from quote to quote:
// a quote ends the string unless an odd number of backslashes precedes it.
func stringEnd(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errBadJSON
	}
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, errBadJSON
		}
		j += q
		escapes := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1, nil
		}
		j++
	}
	return 0, errBadJSON
}

// valueEnd returns the index just past the JSON value starting at b[i]: strings by stringEnd, objects and
// arrays bracket by bracket, skipping strings, anything else up to the next delimiter.
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
