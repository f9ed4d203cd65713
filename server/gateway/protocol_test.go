package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClosingEventsCloseWhatBedrockWasSentInTheDocumentedOrder(t *testing.T) {
	var in inputState
	var sent sentState
	for _, frame := range openingEvents() {
		ev, err := in.parseInputEvent([]byte(frame))
		if err != nil {
			t.Fatal(err)
		}
		sent.record(ev)
	}
	var names []string
	for _, ev := range sent.closingEvents() {
		names = append(names, eventName(string(ev)))
	}
	if got := strings.Join(names, ","); got != "contentEnd,promptEnd,sessionEnd" {
		t.Fatalf("closing events = %s", got)
	}
	if len(sent.closingEvents()) != 0 {
		t.Fatal("closing events were produced twice")
	}
}

func TestValidInputIsForwardedCanonically(t *testing.T) {
	var st inputState
	ev, err := st.parseInputEvent([]byte(` {"event": {"sessionStart": {"inferenceConfiguration": {"maxTokens": 1024}}}, "extra": 1} `))
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Payload) != `{"event":{"sessionStart":{"inferenceConfiguration": {"maxTokens": 1024}}}}` {
		t.Fatalf("payload = %s: keys beside the event must not reach Bedrock", ev.Payload)
	}
}

// A frame's buffer is reused for the next frame while its event waits for the sender: nothing in the event
// may point into it.
func TestAnEventOutlivesTheFrameItWasReadFrom(t *testing.T) {
	var st inputState
	for _, ev := range openingEvents()[:3] {
		if _, err := st.parseInputEvent([]byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	frame := []byte(`{"event":{"textInput":{"promptName":"` + promptName + `","contentName":"system-1","content":"You are a friend."}}}`)
	ev, err := st.parseInputEvent(frame)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 'x'
	}
	if string(ev.Fields.Content) != "You are a friend." || ev.Fields.ContentName != "system-1" || !strings.Contains(string(ev.Payload), `"content":"You are a friend."`) {
		t.Fatalf("after the frame's buffer was reused: content %q, contentName %q, payload %s", ev.Fields.Content, ev.Fields.ContentName, ev.Payload)
	}
}

// The validator and Bedrock must read the same fields: Bedrock's parser matches keys exactly, so the
// validator does too, refuses a key it reads spelled twice or in another case, and reads escaped keys as
// Bedrock decodes them.
func TestTheValidatorReadsFieldsAsBedrockDoes(t *testing.T) {
	open := func(t *testing.T) *inputState {
		var st inputState
		for _, ev := range openingEvents()[:2] {
			if _, err := st.parseInputEvent([]byte(ev)); err != nil {
				t.Fatal(err)
			}
		}
		return &st
	}
	contentStart := func(fields string) []byte {
		return []byte(`{"event":{"contentStart":{"promptName":"` + promptName + `",` + fields + `,"type":"TEXT","role":"SYSTEM"}}}`)
	}
	tests := []struct {
		name    string
		fields  string
		want    string // the contentName tracked, or "" if refused
		refusal string
	}{
		{"exact", `"contentName":"a"`, "a", ""},
		{"escaped key", `"contentName":"a"`, "a", ""},
		{"escaped value", `"contentName":"a"`, "a", ""},
		{"case variant beside", `"contentName":"a","ContentName":"b"`, "", "must be spelled"},
		{"only a case variant", `"CONTENTNAME":"b"`, "", "must be spelled"},
		{"twice", `"contentName":"a","contentName":"b"`, "", "appears twice"},
		{"twice, once escaped", `"contentName":"a","contentName":"b"`, "", "appears twice"},
		{"not a string", `"contentName":7`, "", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			ev, err := st.parseInputEvent(contentStart(tt.fields))
			if tt.refusal != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refusal) {
					t.Fatalf("parse = %v, want a refusal saying %q", err, tt.refusal)
				}
				return
			}
			if err != nil || ev.Fields.ContentName != tt.want || st.contents[tt.want] != contentText {
				t.Fatalf("parse = %+v, %v; want content %q tracked", ev.Fields, err, tt.want)
			}
		})
	}
}

// FuzzParseInputEvent checks that no frame, however malformed, panics the validator (which would take
// the whole gateway down), and that whatever it accepts is a single well-formed event.
func FuzzParseInputEvent(f *testing.F) {
	for _, ev := range append(openingEvents(), audioInput([]byte{1, 2}), closingEvents()[0], `{"event":{}}`, `[]`, `{"event":{"audioInput":null}}`,
		`{"event":{"contentStart":{"promptName":"prompt-1","contentN\u0061me":"a","type":"TEXT"}}}`,
		`{"event":{"textInput":{"promptName":"prompt-1","contentName":"system-1","ContentName":"x","content":"hi"}}}`) {
		f.Add([]byte(ev))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var st inputState
		for _, ev := range openingEvents() {
			if _, err := st.parseInputEvent([]byte(ev)); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := st.parseInputEvent(frame)
		if err != nil {
			return
		}
		var out map[string]map[string]json.RawMessage
		if json.Unmarshal(ev.Payload, &out) != nil || len(out["event"]) != 1 || out["event"][ev.Name] == nil {
			t.Fatalf("accepted %q but forwards %q", frame, ev.Payload)
		}
		// What the validator tracked is what an exact-key parser (Bedrock's) reads from the payload.
		var body map[string]json.RawMessage
		if json.Unmarshal(out["event"][ev.Name], &body) != nil {
			t.Fatalf("accepted %q with a body that is not an object", frame)
		}
		for key, got := range map[string]string{"promptName": ev.Fields.PromptName, "contentName": ev.Fields.ContentName, "type": ev.Fields.Type} {
			var exact string
			if raw, ok := body[key]; ok && json.Unmarshal(raw, &exact) != nil {
				t.Fatalf("accepted %q whose %s is not a string", frame, key)
			}
			if exact != got {
				t.Fatalf("accepted %q: the validator read %s %q, Bedrock would read %q", frame, key, got, exact)
			}
		}
	})
}
