package localbedrock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// TestValidation sends event sequences whose last event is a client bug and checks that the
// stream ends with validationException, after accepting everything before it.
func TestValidation(t *testing.T) {
	p := newNames()
	open := opening(p, "")
	system := textContent(p, p.system, "SYSTEM", false, "You are a test.")
	tests := []struct {
		name   string
		events []string
		want   string
	}{
		{"first event not sessionStart", []string{promptStart(p)}, "first event must be sessionStart"},
		{"flat endpointingSensitivity", []string{`{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024},"endpointingSensitivity":"HIGH"}}}`}, "turnDetectionConfiguration.endpointingSensitivity"},
		{"unknown sensitivity", []string{sessionStart("EXTREME")}, "HIGH, MEDIUM or LOW"},
		{"not JSON", []string{`{"event":{"sessionStart":{}}`}, "not valid JSON"},
		{"two events in one chunk", []string{`{"event":{"sessionStart":{},"sessionEnd":{}}}`}, "exactly one event"},
		{"unknown event", []string{sessionStart(""), `{"event":{"userSpeechStart":{}}}`}, `unknown event "userSpeechStart"`},
		{"content before promptStart", []string{sessionStart(""), system[0]}, "not an open prompt"},
		{"first content not SYSTEM", append(open[:2:2], textContent(p, p.text, "USER", true, "hi")[0]), "first content must have SYSTEM role"},
		{"audio before contentStart", append(append(open[:2:2], system...), audioInput(p, SilencePCM(32*time.Millisecond, 16000))), "not an open content"},
		{"audio after contentEnd", append(append(open[:len(open):len(open)], contentEnd(p, p.audio)), audioInput(p, SilencePCM(32*time.Millisecond, 16000))), "not an open content"},
		{"audio not base64", append(open[:len(open):len(open)], fmt.Sprintf(`{"event":{"audioInput":{"promptName":%q,"contentName":%q,"content":"%%%%"}}}`, p.prompt, p.audio)), "base64"},
		{"text into audio content", append(open[:len(open):len(open)], fmt.Sprintf(`{"event":{"textInput":{"promptName":%q,"contentName":%q,"content":"hi"}}}`, p.prompt, p.audio)), "textInput is not allowed in AUDIO content"},
		{"tool result without toolUseId", append(open[:len(open):len(open)], fmt.Sprintf(`{"event":{"contentStart":{"promptName":%q,"contentName":"t","type":"TOOL","role":"TOOL","interactive":false,"toolResultInputConfiguration":{"type":"TEXT"}}}}`, p.prompt)), "toolUseId"},
		{"audio 44.1 kHz", append(append(open[:2:2], system...), strings.Replace(audioContentStart(p), "16000", "44100", 1)), "16-bit mono at 8000, 16000 or 24000 Hz"},
		{"event after sessionEnd", append(append(open[:len(open):len(open)], sessionEnd()), promptEnd(p)), "after sessionEnd"},
	}
	srv := startServer(t, Options{Behavior: Listen()})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
			// Only up to the offending event, so no Send races the end (see TestExceptions).
			ss.send(tc.events...)
			events, err := ss.rest()
			var ve *types.ValidationException
			if len(events) != 0 || !errors.As(err, &ve) {
				t.Fatalf("events=%v Err()=%T %v, want ValidationException", names(events), err, err)
			}
			if !strings.HasPrefix(ve.ErrorMessage(), "Invalid input request") || !strings.Contains(ve.ErrorMessage(), tc.want) {
				t.Errorf("message %q does not contain %q", ve.ErrorMessage(), tc.want)
			}
			// Records of parallel subtests interleave; find this one by its events.
			for _, rec := range waitIdle(ctx, t, srv) {
				if len(rec.Events) == len(tc.events)-1 && rec.End == EndException && rec.Exception == "validationException" {
					return
				}
			}
			t.Errorf("no record ended by validationException after %d events", len(tc.events)-1)
		})
	}
}

// TestStreamTimeouts checks the two deadlines the service enforces with modelTimeoutException.
func TestStreamTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		message string
		end     EndReason
	}{
		{"max stream duration", Options{MaxStreamDuration: 300 * time.Millisecond}, msgModelTimeout, EndMaxDuration},
		{"idle input", Options{IdleInputTimeout: 300 * time.Millisecond}, msgIdleTimeout, EndIdleTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			tc.opts.Behavior = Listen()
			srv := startServer(t, tc.opts)
			p := newNames()
			start := time.Now()
			ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
			ss.send(opening(p, "")...)
			events, err := ss.rest()
			var te *types.ModelTimeoutException
			if len(events) != 0 || !errors.As(err, &te) || te.ErrorMessage() != tc.message {
				t.Fatalf("events=%v Err()=%v, want ModelTimeoutException %q", names(events), err, tc.message)
			}
			// Only the lower bound is checked: how late a busy machine delivers the end is not the point.
			if took := time.Since(start); took < 300*time.Millisecond {
				t.Errorf("ended after %v, before the 300ms limit", took)
			}
			if rec := lastRecord(ctx, t, srv); rec.End != tc.end || rec.Exception != "modelTimeoutException" {
				t.Errorf("record end=%q exception=%q", rec.End, rec.Exception)
			}
		})
	}
}

// TestIdleTimerRearms checks that input keeps the idle deadline away: a stream sending every
// 100 ms outlives an idle timeout of 1 s two and a half times over. The margin between the interval and the
// timeout is wide so that a busy machine's scheduling delays cannot fake an idle stream.
func TestIdleTimerRearms(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{IdleInputTimeout: time.Second, Behavior: Listen()})
	p := newNames()
	ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
	ss.send(opening(p, "")...)
	for range 25 {
		time.Sleep(100 * time.Millisecond)
		ss.send(audioInput(p, SilencePCM(32*time.Millisecond, 16000)))
	}
	if _, err := ss.finish(p); err != nil {
		t.Fatalf("Err() = %v after 2.5 s of regular input", err)
	}
	if rec := lastRecord(ctx, t, srv); rec.End != EndHalfClose {
		t.Errorf("end = %q", rec.End)
	}
}

// A client that switches streams replays the conversation as chat history; the stand-in holds it to the
// rules the service states: USER first, roles alternating, at most MaxHistoryMessages of at most
// MaxHistoryMessageBytes each. Valid history is recorded for tests (StreamRecord.History).
func TestChatHistoryRules(t *testing.T) {
	history := func(p names4, msgs ...[2]string) []string {
		var out []string
		for i, m := range msgs {
			out = append(out, textContent(p, fmt.Sprintf("history-%d", i), m[0], false, m[1])...)
		}
		return out
	}
	many := make([][2]string, MaxHistoryMessages+1)
	for i := range many {
		many[i] = [2]string{[]string{roleUser, roleAssistant}[i%2], "x"}
	}
	tests := []struct {
		name string
		msgs [][2]string
		want string // "" for accepted
	}{
		{"alternating, USER first", [][2]string{{roleUser, "hi"}, {roleAssistant, "hello"}, {roleUser, "bye"}}, ""},
		{"ASSISTANT first", [][2]string{{roleAssistant, "hello"}}, "First message in chat history should not be Assistant"},
		{"two USER in a row", [][2]string{{roleUser, "a"}, {roleUser, "b"}}, "must alternate"},
		{"too many", many, "more than 40 messages"},
		{"too long", [][2]string{{roleUser, strings.Repeat("a", MaxHistoryMessageBytes+1)}}, "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			srv := startServer(t, Options{Behavior: Listen()})
			p := newNames()
			open := opening(p, "")
			events := append(append(append([]string{}, open[:5]...), history(p, tt.msgs...)...), open[5:]...)
			ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
			for _, ev := range events {
				if ss.sendRaw(ev) != nil {
					break
				}
			}
			if tt.want == "" {
				if _, err := ss.finish(p); err != nil {
					t.Fatalf("valid history refused: %v", err)
				}
				rec := lastRecord(ctx, t, srv)
				got := rec.History()
				if len(got) != len(tt.msgs) || got[0] != (HistoryMessage{roleUser, "hi"}) || got[2] != (HistoryMessage{roleUser, "bye"}) {
					t.Fatalf("recorded history %v", got)
				}
				return
			}
			_, err := ss.rest()
			var ve *types.ValidationException
			if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), tt.want) {
				t.Fatalf("Err() = %v, want a ValidationException saying %q", err, tt.want)
			}
		})
	}
}
