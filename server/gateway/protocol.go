package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The browser-facing protocol (server/PROTOCOL.md): one authorization message, then Nova Sonic input
// events passed through to Bedrock, and Nova Sonic output events passed back, plus the gateway's own
// authorization and error messages.

// authorizationMessage is the browser's first frame: {"type":"authorization","token":"Bearer <jwt>"}.
type authorizationMessage struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

// authorizationReply answers a valid authorization message.
type authorizationReply struct {
	Type      string `json:"type"`   // always "authorization"
	Status    string `json:"status"` // always "success": a refusal is an errorMessage and a close
	SessionID string `json:"sessionId"`
	// ServerTools are the tools the gateway answers itself; a client must not answer their toolUse.
	ServerTools []string `json:"serverTools"`
}

// errorMessage is the last message before the gateway closes a session for any reason but a normal end.
type errorMessage struct {
	Type      string `json:"type"` // always "error"
	Code      string `json:"code"` // CloseCode.Name()
	CloseCode int    `json:"closeCode"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

func encodeErrorMessage(end *sessionEnd) []byte {
	b, err := json.Marshal(errorMessage{
		Type: "error", Code: end.Code.Name(), CloseCode: int(end.Code), Message: end.Message,
		Retryable: end.Code.Retryable(),
	})
	if err != nil {
		panic(fmt.Sprintf("encode error message: %v", err)) // a struct of strings and ints always encodes
	}
	return b
}

// Nova Sonic input event names, as Bedrock expects them.
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

// contentType is a content block's type; each input event may only go to a block of its own type.
type contentType string

const (
	contentText  contentType = "TEXT"
	contentAudio contentType = "AUDIO"
	contentTool  contentType = "TOOL"
)

// maxOpenContents bounds the content blocks a browser may keep open at once: one audio block for the whole
// conversation plus a few text and tool-result blocks in flight.
const maxOpenContents = 16

// inputEvent is a validated input event, ready for Bedrock.
type inputEvent struct {
	Name string
	// Payload is the canonical {"event":{Name:body}} sent to Bedrock. It is rebuilt from the parsed body
	// so that nothing the validator did not see (a key beside "event", a second event) reaches the model.
	Payload []byte
	// Fields are the body's fields the validator read, by exact key (fields.go).
	Fields eventFields
	// AudioBytes is the decoded PCM length of an audioInput, zero otherwise.
	AudioBytes int
	// Loud marks an audioInput with sound above the silence floor (speechLevel): the gateway hands a
	// conversation to a new Bedrock stream during the user's silence, never in the middle of a word.
	Loud bool
	// Arrived is when the gateway began to validate the browser's frame; the relay latency metric counts
	// from here. Zero for events the gateway makes itself.
	Arrived time.Time
	// pooled holds Payload's buffer when it came from payloadPool; release returns it.
	pooled *[]byte
}

// payloadPool recycles the payload buffers of browser events: one per input frame (1.4 KB for 32 ms of
// audio, 31 times a second per conversation) would otherwise be garbage as soon as Bedrock's SDK has
// encoded it. Buffers above maxPooledPayload (a long system prompt) are left to the collector.
var payloadPool = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledPayload = 16 << 10

// newPayload returns an empty buffer of at least n bytes and the pool's handle for it (nil if unpooled).
func newPayload(n int) ([]byte, *[]byte) {
	if n > maxPooledPayload {
		return make([]byte, 0, n), nil
	}
	bp := payloadPool.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, 0, max(n, 2<<10))
	}
	return (*bp)[:0], bp
}

// release returns the event's payload buffer to the pool. Only the sender calls it, once Send has returned
// without error: the SDK has then encoded the payload and keeps no reference to it (after a failed or
// cancelled Send its writer may still be reading it). The event must not be used afterwards.
func (ev *inputEvent) release() {
	if ev.pooled != nil {
		*ev.pooled = ev.Payload[:0]
		payloadPool.Put(ev.pooled)
		ev.pooled, ev.Payload = nil, nil
	}
}

// inputState follows the order of a session's input events so that malformed or out-of-order input is
// refused with a clear message before it reaches Bedrock. (What Bedrock was actually sent, and must be
// closed at the end, is the sender's sentState.)
type inputState struct {
	sessionStarted bool
	sessionEnded   bool
	promptName     string                 // the open prompt, "" if none
	contents       map[string]contentType // open content blocks by contentName
	loud           bool                   // the last audioInput's isLoud
}

// protocolError is input the gateway refuses; its message is shown to the browser.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// parseInputEvent checks that a frame is exactly one known Nova Sonic input event that fits the session's
// order so far, and records its effect.
func (st *inputState) parseInputEvent(frame []byte) (inputEvent, error) {
	arrived := time.Now()
	name, body, err := readEnvelope(frame)
	if err != nil {
		return inputEvent{}, err
	}
	if !isKnownInputEvent(name) {
		return inputEvent{}, refuse("unknown event %q", truncate(name, 40))
	}
	f, err := readFields(name, body)
	if err != nil {
		return inputEvent{}, err
	}
	audioBytes, err := st.apply(name, &f)
	if err != nil {
		return inputEvent{}, err
	}
	// Content points into the frame, which the read loop reuses for the next one. Checked audio is not
	// needed again; other content (text, tool results: short and rare) is copied, so that the event can be
	// read after the next frame arrives.
	if name == evAudioInput {
		f.Content = nil
	} else {
		f.Content = bytes.Clone(f.Content)
	}
	payload, pooled := newPayload(len(body) + len(name) + 16)
	payload = append(payload, `{"event":{"`...)
	payload = append(payload, name...)
	payload = append(payload, `":`...)
	payload = append(payload, body...)
	payload = append(payload, `}}`...)
	return inputEvent{Name: name, Payload: payload, Fields: f, AudioBytes: audioBytes, Loud: name == evAudioInput && st.loud,
		Arrived: arrived, pooled: pooled}, nil
}

// readEnvelope finds the one event in a frame {"event":{"<eventName>":{...}}} and returns its name and
// body. The frame is checked once as a whole (checkJSON), then read with the exact-key scanner: no
// json.Unmarshal of every audio frame. Keys beside "event" are ignored rather than refused: the payload
// sent to Bedrock is rebuilt from the body alone. "event" itself is matched regardless of case, as it
// always was (it is never forwarded), but only once.
func readEnvelope(frame []byte) (name string, body []byte, err error) {
	const shape = `message must be {"event":{"<eventName>":{...}}}`
	if i := skipSpace(frame, 0); i >= len(frame) || frame[i] != '{' {
		return "", nil, refuse("message is not a JSON object")
	}
	if checkJSON(frame) != nil {
		return "", nil, refuse(shape)
	}
	var event []byte
	err = forEachMember(frame, func(key string, value []byte) error {
		if len(key) != len("event") || !strings.EqualFold(key, "event") {
			return nil
		}
		if event != nil {
			return refuse(`key "event" appears twice`)
		}
		event = value
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if len(event) == 0 || event[0] != '{' {
		return "", nil, refuse(shape)
	}
	events := 0
	_ = forEachMember(event, func(key string, value []byte) error {
		events++
		name, body = key, value
		return nil
	})
	if events != 1 {
		return "", nil, refuse(`"event" must hold exactly one event`)
	}
	return name, body, nil
}

func isKnownInputEvent(name string) bool {
	switch name {
	case evSessionStart, evPromptStart, evContentStart, evTextInput, evAudioInput, evToolResult,
		evContentEnd, evPromptEnd, evSessionEnd:
		return true
	}
	return false
}

// apply checks one event against the order so far and records it. It returns the decoded audio length.
func (st *inputState) apply(name string, f *eventFields) (int, error) {
	if st.sessionEnded {
		return 0, refuse("%s after sessionEnd", name)
	}
	if name != evSessionStart && !st.sessionStarted {
		return 0, refuse("%s before sessionStart: the first event must be sessionStart", name)
	}
	switch name {
	case evSessionStart:
		if st.sessionStarted {
			return 0, refuse("sessionStart sent twice")
		}
		st.sessionStarted = true
	case evPromptStart:
		if st.promptName != "" {
			return 0, refuse("promptStart while prompt %q is open", truncate(st.promptName, 64))
		}
		if f.PromptName == "" {
			return 0, refuse("promptStart needs a promptName")
		}
		st.promptName = f.PromptName
	case evContentStart:
		if err := st.checkPrompt(name, f); err != nil {
			return 0, err
		}
		if f.ContentName == "" {
			return 0, refuse("contentStart needs a contentName")
		}
		if _, open := st.contents[f.ContentName]; open {
			return 0, refuse("contentStart: content %q is already open", truncate(f.ContentName, 64))
		}
		t := contentType(f.Type)
		if t != contentText && t != contentAudio && t != contentTool {
			return 0, refuse(`contentStart: type must be "TEXT", "AUDIO" or "TOOL", not %q`, truncate(f.Type, 20))
		}
		if len(st.contents) >= maxOpenContents {
			return 0, refuse("contentStart: more than %d content blocks open", maxOpenContents)
		}
		if st.contents == nil {
			st.contents = make(map[string]contentType)
		}
		st.contents[f.ContentName] = t
	case evTextInput:
		return 0, st.checkContent(name, f, contentText)
	case evToolResult:
		return 0, st.checkContent(name, f, contentTool)
	case evAudioInput:
		if err := st.checkContent(name, f, contentAudio); err != nil {
			return 0, err
		}
		n, loud, err := checkAudio(f.Content)
		st.loud = loud
		return n, err
	case evContentEnd:
		if err := st.checkPrompt(name, f); err != nil {
			return 0, err
		}
		if _, open := st.contents[f.ContentName]; !open {
			return 0, refuse("contentEnd: content %q is not open", truncate(f.ContentName, 64))
		}
		delete(st.contents, f.ContentName)
	case evPromptEnd:
		if err := st.checkPrompt(name, f); err != nil {
			return 0, err
		}
		st.promptName = ""
		clear(st.contents)
	case evSessionEnd:
		st.sessionEnded = true
	}
	return 0, nil
}

func (st *inputState) checkPrompt(name string, f *eventFields) error {
	if st.promptName == "" {
		return refuse("%s before promptStart", name)
	}
	if f.PromptName != st.promptName {
		return refuse("%s: promptName %q is not the open prompt", name, truncate(f.PromptName, 64))
	}
	return nil
}

func (st *inputState) checkContent(name string, f *eventFields, want contentType) error {
	if err := st.checkPrompt(name, f); err != nil {
		return err
	}
	got, open := st.contents[f.ContentName]
	if !open {
		return refuse("%s before contentStart: content %q is not open", name, truncate(f.ContentName, 64))
	}
	if got != want {
		return refuse("%s: content %q is of type %s, not %s", name, truncate(f.ContentName, 64), got, want)
	}
	if !f.HasContent {
		return refuse("%s needs a content field", name)
	}
	return nil
}

// audioScratchPool holds the buffers audio frames are decoded into to be checked: shared by every
// session rather than one per session, which held 32 KB for each conversation (a tenth of its memory).
var audioScratchPool = sync.Pool{New: func() any { return new([maxAudioFrameBytes + 2]byte) }}

// checkAudio verifies an audioInput's content is base64 of at most maxAudioFrameBytes of 16-bit PCM, and
// tells whether the audio is louder than silence (isLoud) while it is decoded.
func checkAudio(content []byte) (n int, loud bool, err error) {
	if base64.StdEncoding.DecodedLen(len(content)) > maxAudioFrameBytes+2 {
		return 0, false, refuse("audioInput: more than %d bytes of audio in one event", maxAudioFrameBytes)
	}
	scratch := audioScratchPool.Get().(*[maxAudioFrameBytes + 2]byte)
	defer audioScratchPool.Put(scratch)
	n, err = base64.StdEncoding.Decode(scratch[:], content)
	if err != nil {
		return 0, false, refuse("audioInput: content is not base64")
	}
	if n > maxAudioFrameBytes {
		return 0, false, refuse("audioInput: more than %d bytes of audio in one event", maxAudioFrameBytes)
	}
	if n%2 != 0 {
		return 0, false, refuse("audioInput: 16-bit PCM must have an even number of bytes, got %d", n)
	}
	return n, isLoud(scratch[:n]), nil
}

func mustEvent(name string, body map[string]string) []byte {
	b, err := json.Marshal(map[string]any{"event": map[string]any{name: body}})
	if err != nil {
		panic(fmt.Sprintf("encode %s: %v", name, err)) // maps of strings always encode
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
