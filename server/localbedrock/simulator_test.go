package localbedrock

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// speech is a tone loud enough to count as speech; silence is digital silence.
func speech(d time.Duration) []byte  { return TonePCM(220, d, 16000, 0.3) }
func silence(d time.Duration) []byte { return SilencePCM(d, 16000) }

func concat(parts ...[]byte) []byte { return slices.Concat(parts...) }

func TestEndpointer(t *testing.T) {
	tests := []struct {
		name        string
		sensitivity string
		audio       []byte
		flush       bool
		wantSpoke   []time.Duration // one per utterance
	}{
		{"one utterance", "MEDIUM", concat(speech(time.Second), silence(time.Second)), false, []time.Duration{time.Second}},
		{"too short to be speech", "MEDIUM", concat(speech(200*time.Millisecond), silence(time.Second)), false, nil},
		{"quiet noise", "MEDIUM", concat(TonePCM(220, time.Second, 16000, 0.005), silence(time.Second)), false, nil},
		{"pauses shorter than the endpoint stay one turn", "MEDIUM",
			concat(speech(300*time.Millisecond), silence(400*time.Millisecond), speech(300*time.Millisecond), silence(400*time.Millisecond), speech(300*time.Millisecond), silence(time.Second)),
			false, []time.Duration{1700 * time.Millisecond}},
		{"HIGH ends after 0.7 s", "HIGH", concat(speech(time.Second), silence(720*time.Millisecond)), false, []time.Duration{time.Second}},
		{"LOW waits 1 s", "LOW", concat(speech(time.Second), silence(900*time.Millisecond)), false, nil},
		{"two turns", "HIGH", concat(speech(500*time.Millisecond), silence(time.Second), speech(time.Second), silence(time.Second)), false, []time.Duration{500 * time.Millisecond, time.Second}},
		{"contentEnd ends the turn", "LOW", concat(speech(500*time.Millisecond), silence(100*time.Millisecond)), true, []time.Duration{500 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpointer(16000, defaultMinSpeech, defaultBargeIn, endpointingPause[tc.sensitivity])
			var spoke []time.Duration
			for pcm := tc.audio; len(pcm) > 0; {
				n := min(1000, len(pcm)) // not a multiple of the frame: exercises carry-over
				if r := e.feed(pcm[:n]); r.utterance != nil {
					spoke = append(spoke, r.spoke)
				}
				pcm = pcm[n:]
			}
			if tc.flush {
				if r := e.flush(); r.utterance != nil {
					spoke = append(spoke, r.spoke)
				}
			}
			if !slices.Equal(spoke, tc.wantSpoke) {
				t.Errorf("utterances spoke %v, want %v", spoke, tc.wantSpoke)
			}
		})
	}
}

func TestResample(t *testing.T) {
	in := TonePCM(300, time.Second, 16000, 0.5)
	out := resample(in, 16000, 24000)
	if len(out) != 48000 {
		t.Fatalf("len = %d, want 48000 (1 s at 24 kHz)", len(out))
	}
	// The pitch survives: a 300 Hz tone crosses zero upwards 300 times a second at any rate.
	crossings := func(pcm []byte) int {
		n, prev := 0, int16(0)
		for i := 0; i+1 < len(pcm); i += 2 {
			v := int16(uint16(pcm[i]) | uint16(pcm[i+1])<<8)
			if prev < 0 && v >= 0 {
				n++
			}
			prev = v
		}
		return n
	}
	if a, b := crossings(in), crossings(out); a != b || a < 299 || a > 300 {
		t.Errorf("zero crossings %d → %d, want about 300 both", a, b)
	}
}

// captureWriter is an http.ResponseWriter that decodes the event stream written to it.
type captureWriter struct {
	mu     sync.Mutex
	header http.Header
	buf    bytes.Buffer
	events []timedEvent
}

type timedEvent struct {
	outEvent
	at time.Time
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(int)     {}
func (c *captureWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

// Flush decodes the complete messages written so far.
func (c *captureWriter) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fr := newFrameReader(&c.buf)
	for c.buf.Len() > 0 {
		msg, err := fr.next()
		if err != nil {
			panic(err)
		}
		var p chunkPayload
		var env struct {
			Event map[string]map[string]any `json:"event"`
		}
		if json.Unmarshal(msg.Payload, &p) != nil || json.Unmarshal(p.Bytes, &env) != nil {
			panic("bad output event")
		}
		for name, body := range env.Event {
			c.events = append(c.events, timedEvent{outEvent{name, body}, time.Now()})
		}
	}
}

// take returns the events decoded since the previous take.
func (c *captureWriter) take() []timedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	evs := c.events
	c.events = nil
	return evs
}

// memStream runs a behaviour on an in-memory stream: the test feeds validated input and reads
// the decoded output, with no network, so that testing/synctest can control time.
type memStream struct {
	t    *testing.T
	in   chan InputEvent
	err  error
	out  *captureWriter
	val  *validator
	done chan error
}

func runMem(t *testing.T, b Behavior) *memStream {
	m := &memStream{t: t, in: make(chan InputEvent, inputQueueLen), out: &captureWriter{header: http.Header{}}, val: newValidator(), done: make(chan error, 1)}
	s := &Stream{ctx: t.Context(), sessionID: newUUID(), input: m.in, inputErr: &m.err, out: newResponseOutput(m.out, &streamRecord{})}
	go func() { m.done <- b(t.Context(), s) }()
	return m
}

func (m *memStream) feed(nova ...string) {
	m.t.Helper()
	for _, n := range nova {
		ev, err := m.val.accept([]byte(n))
		if err != nil {
			m.t.Fatalf("invalid test input %.80s: %v", n, err)
		}
		m.in <- ev
	}
}

func (m *memStream) feedAudio(p names4, pcm []byte) {
	for len(pcm) > 0 {
		n := min(1024, len(pcm))
		m.feed(audioInput(p, pcm[:n]))
		pcm = pcm[n:]
	}
}

// halfClose ends input like a client half-close and waits for the behaviour.
func (m *memStream) halfClose() error {
	m.err = io.EOF
	close(m.in)
	return <-m.done
}

func eventNames(evs []timedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
		if r := e.str("stopReason"); r != "" {
			out[i] += ":" + r
		}
	}
	return out
}

func textOutputs(evs []timedEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Name == "textOutput" {
			out = append(out, e.str("role")+": "+e.str("content"))
		}
	}
	return out
}

func audioOf(t *testing.T, evs []timedEvent) []byte {
	untimed := make([]outEvent, len(evs))
	for i, e := range evs {
		untimed[i] = e.outEvent
	}
	return decodedAudio(t, untimed)
}

// TestSimulatorTurnsAndBargeIn drives the simulator in a synctest bubble, so playback timing is
// exact: an answer plays for the length of the utterance, speech during it interrupts it, and the
// AUDIO block of an uninterrupted answer closes exactly when playback would end.
func TestSimulatorTurnsAndBargeIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := runMem(t, Simulator(SimulatorConfig{}))
		p := newNames()
		m.feed(opening(p, "HIGH")...)

		// A one-second utterance: answered once 0.7 s of silence (HIGH) has arrived.
		first := concat(speech(time.Second), silence(800*time.Millisecond))
		m.feedAudio(p, first)
		synctest.Wait()
		got := m.out.take()
		want := []string{"completionStart",
			"contentStart", "textOutput", "contentEnd:PARTIAL_TURN",
			"contentStart", "textOutput", "contentEnd:PARTIAL_TURN",
			"contentStart"}
		if names := eventNames(got); !slices.Equal(names[:len(want)], want) {
			t.Fatalf("answer starts with %v, want %v", names, want)
		}
		if texts := textOutputs(got); !slices.Equal(texts, []string{"USER: (simulated) you spoke for 1.0 seconds", "ASSISTANT: (simulated) This is what you said."}) {
			t.Errorf("texts = %q", texts)
		}
		// 1.1 s of answer (the utterance and 100 ms of its trailing silence); with a 1 s lead
		// all of it is due at once.
		wantAudio := resample(first[:len(speech(1100*time.Millisecond))], 16000, 24000)
		if audio := audioOf(t, got); !bytes.Equal(audio, wantAudio) {
			t.Errorf("answer audio %d bytes, want the user's 1.1 s resampled (%d bytes)", len(audio), len(wantAudio))
		}

		// Half a second into playback the user talks again: barge-in after 200 ms of speech.
		time.Sleep(500 * time.Millisecond)
		if extra := m.out.take(); len(extra) != 0 {
			t.Fatalf("output while playing: %v", eventNames(extra))
		}
		m.feedAudio(p, speech(300*time.Millisecond))
		synctest.Wait()
		got = m.out.take()
		if names := eventNames(got); !slices.Equal(names, []string{"contentEnd:INTERRUPTED", "contentStart", "textOutput", "contentEnd:INTERRUPTED", "usageEvent"}) {
			t.Fatalf("barge-in events = %v", names)
		}
		if texts := textOutputs(got); !slices.Equal(texts, []string{"ASSISTANT: " + InterruptedText}) {
			t.Errorf("barge-in text = %q", texts)
		}

		// The interrupting speech is itself a turn; its answer plays out completely.
		m.feedAudio(p, silence(800*time.Millisecond))
		synctest.Wait()
		got = m.out.take()
		if texts := textOutputs(got); len(texts) != 2 || texts[0] != "USER: (simulated) you spoke for 0.3 seconds" {
			t.Fatalf("second turn texts = %q", texts)
		}
		var audioStart timedEvent
		for _, e := range got {
			if e.Name == "contentStart" && e.str("type") == "AUDIO" {
				audioStart = e
			}
		}
		time.Sleep(2 * time.Second)
		got = m.out.take()
		if names := eventNames(got); !slices.Equal(names, []string{"contentEnd:END_TURN", "contentStart", "textOutput", "contentEnd:END_TURN", "usageEvent"}) {
			t.Fatalf("end of answer = %v", names)
		}
		if played := got[0].at.Sub(audioStart.at); played != 400*time.Millisecond {
			t.Errorf("AUDIO block closed %v after it opened, want the 0.4 s it plays", played)
		}

		m.feed(contentEnd(p, p.audio), promptEnd(p), sessionEnd())
		synctest.Wait()
		if names := eventNames(m.out.take()); !slices.Equal(names, []string{"completionEnd:END_TURN"}) {
			t.Errorf("after promptEnd: %v", names)
		}
		if err := m.halfClose(); err != nil {
			t.Errorf("simulator returned %v", err)
		}
	})
}

// TestSimulatorTextAndTools covers cross-modal text input, a tool use it triggers, and the
// acknowledgement of the tool result.
func TestSimulatorTextAndTools(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := runMem(t, Simulator(SimulatorConfig{}))
		p := newNames()
		m.feed(opening(p, "")...)
		m.feed(textContent(p, "typed", "USER", true, "hello there")...)
		synctest.Wait()
		got := m.out.take()
		if texts := textOutputs(got); !slices.Equal(texts, []string{"ASSISTANT: (simulated) You wrote: hello there"}) {
			t.Errorf("texts = %q", texts)
		}
		if audio := audioOf(t, got); len(audio) != len(TonePCM(440, textAnswerTone, 24000, 0.2)) {
			t.Errorf("tone answer = %d bytes", len(audio))
		}
		time.Sleep(time.Second)
		if names := eventNames(m.out.take()); !slices.Contains(names, "contentEnd:END_TURN") {
			t.Errorf("tone answer did not end: %v", names)
		}

		m.feed(textContent(p, "ask", "USER", true, "please call getWeather")...)
		synctest.Wait()
		got = m.out.take()
		var toolUseID string
		for _, e := range got {
			if e.Name == "toolUse" {
				toolUseID = e.str("toolUseId")
				if e.str("toolName") != "getWeather" || e.str("content") != "{}" {
					t.Errorf("toolUse = %v", e.Body)
				}
			}
		}
		if toolUseID == "" || !slices.Contains(eventNames(got), "contentEnd:TOOL_USE") {
			t.Fatalf("no tool use in %v", eventNames(got))
		}
		m.feed(
			`{"event":{"contentStart":{"promptName":"`+p.prompt+`","contentName":"result","type":"TOOL","role":"TOOL","interactive":false,"toolResultInputConfiguration":{"toolUseId":"`+toolUseID+`","type":"TEXT","textInputConfiguration":{"mediaType":"text/plain"}}}}}`,
			`{"event":{"toolResult":{"promptName":"`+p.prompt+`","contentName":"result","content":"{\"tempC\":21}"}}}`,
			contentEnd(p, "result"))
		synctest.Wait()
		if texts := textOutputs(m.out.take()); len(texts) != 1 || !strings.Contains(texts[0], `{"tempC":21}`) {
			t.Errorf("tool result answer = %q", texts)
		}
		if err := m.halfClose(); err != nil {
			t.Errorf("simulator returned %v", err)
		}
	})
}
