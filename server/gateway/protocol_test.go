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

// FuzzParseInputEvent checks that no frame, however malformed, panics the validator (which would take
// the whole gateway down), and that whatever it accepts is a single well-formed event.
func FuzzParseInputEvent(f *testing.F) {
	for _, ev := range append(openingEvents(), audioInput([]byte{1, 2}), closingEvents()[0], `{"event":{}}`, `[]`, `{"event":{"audioInput":null}}`) {
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
	})
}
