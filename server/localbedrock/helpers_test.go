package localbedrock

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"go.uber.org/goleak"

	"novasonic/server/bedrockcall"
)

func TestMain(m *testing.M) {
	// The SDK's own per-stream leak is ignored; everything else must end.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(bedrockcall.LeakedReader))
}

// testTimeout bounds every test that talks to a server, so that a hang fails instead of stalling CI. It is
// reached only by a hang: generous, so that a machine with every core busy never turns a pass into a
// failure (24 concurrent streams under -race took over 20 s with four busy loops on two cores).
const testTimeout = 2 * time.Minute

func testLogger() *slog.Logger {
	if os.Getenv("LOCALBEDROCK_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer starts a server that is closed when the test ends.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// newClient is a real SDK client for s, SigV4 unless opts say otherwise.
func newClient(s *Server, opts ...func(*bedrockruntime.Options)) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{}, append([]func(*bedrockruntime.Options){s.ClientOptions()}, opts...)...)
}

// outEvent is one decoded Nova output event.
type outEvent struct {
	Name string
	Body map[string]any
}

func (e outEvent) str(field string) string {
	v, _ := e.Body[field].(string)
	return v
}

// session is one client stream with its output collected by a goroutine.
type session struct {
	t      testing.TB
	ctx    context.Context
	stream *bedrockruntime.InvokeModelWithBidirectionalStreamEventStream
	events chan outEvent
	done   chan struct{}
}

func openSession(ctx context.Context, t testing.TB, c *bedrockruntime.Client, modelID string) *session {
	t.Helper()
	var body bedrockcall.RequestBody
	out, err := c.InvokeModelWithBidirectionalStream(ctx,
		&bedrockruntime.InvokeModelWithBidirectionalStreamInput{ModelId: aws.String(modelID)},
		bedrockcall.StreamOptions, body.Capture)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	ss := &session{t: t, ctx: ctx, stream: out.GetStream(), events: make(chan outEvent, 4096), done: make(chan struct{})}
	go func() {
		defer close(ss.done)
		defer close(ss.events)
		for ev := range ss.stream.Events() {
			chunk, ok := ev.(*types.InvokeModelWithBidirectionalStreamOutputMemberChunk)
			if !ok {
				t.Errorf("unexpected output %T", ev)
				continue
			}
			var env struct {
				Event map[string]map[string]any `json:"event"`
			}
			if err := json.Unmarshal(chunk.Value.Bytes, &env); err != nil || len(env.Event) != 1 {
				t.Errorf("bad output event %s: %v", chunk.Value.Bytes, err)
				continue
			}
			for name, body := range env.Event {
				ss.events <- outEvent{Name: name, Body: body}
			}
		}
	}()
	t.Cleanup(func() {
		ss.stream.Close()
		<-ss.done
		// Many tests here end the stream from the server first; the SDK's writer then needs this to end.
		body.DiscardRest()
	})
	return ss
}

func (ss *session) sendRaw(nova string) error {
	return ss.stream.Send(ss.ctx, &types.InvokeModelWithBidirectionalStreamInputMemberChunk{
		Value: types.BidirectionalInputPayloadPart{Bytes: []byte(nova)},
	})
}

func (ss *session) send(nova ...string) {
	ss.t.Helper()
	for _, n := range nova {
		if err := ss.sendRaw(n); err != nil {
			ss.t.Fatalf("send %.60s: %v", n, err)
		}
	}
}

// next returns the next output event, or ok=false when the stream ended.
func (ss *session) next() (outEvent, bool) {
	ss.t.Helper()
	select {
	case ev, ok := <-ss.events:
		return ev, ok
	case <-ss.ctx.Done():
		ss.t.Fatalf("waiting for output: %v", ss.ctx.Err())
		return outEvent{}, false
	}
}

// until collects output events up to and including the first that matches.
func (ss *session) until(match func(outEvent) bool) []outEvent {
	ss.t.Helper()
	var got []outEvent
	for {
		ev, ok := ss.next()
		if !ok {
			ss.t.Fatalf("stream ended before the expected event; got %v", names(got))
		}
		got = append(got, ev)
		if match(ev) {
			return got
		}
	}
}

// rest collects output events until the stream ends and returns them with Err().
func (ss *session) rest() ([]outEvent, error) {
	ss.t.Helper()
	var got []outEvent
	for {
		ev, ok := ss.next()
		if !ok {
			return got, ss.stream.Err()
		}
		got = append(got, ev)
	}
}

// finish sends the documented close sequence, half-closes and returns the remaining output.
func (ss *session) finish(p names4) ([]outEvent, error) {
	ss.t.Helper()
	ss.send(contentEnd(p, p.audio), promptEnd(p), sessionEnd())
	if err := ss.stream.Writer.Close(); err != nil {
		ss.t.Fatalf("half-close: %v", err)
	}
	return ss.rest()
}

func named(name string) func(outEvent) bool {
	return func(e outEvent) bool { return e.Name == name }
}

func names(evs []outEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
	}
	return out
}

// names4 are the identifiers of one test conversation.
type names4 struct{ prompt, system, audio, text string }

func newNames() names4 {
	return names4{prompt: newUUID(), system: newUUID(), audio: newUUID(), text: newUUID()}
}

func sessionStart(sensitivity string) string {
	td := ""
	if sensitivity != "" {
		td = fmt.Sprintf(`,"turnDetectionConfiguration":{"endpointingSensitivity":%q}`, sensitivity)
	}
	return `{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024,"topP":0.9,"temperature":0.7}` + td + `}}}`
}

func promptStart(p names4) string {
	return fmt.Sprintf(`{"event":{"promptStart":{"promptName":%q,"textOutputConfiguration":{"mediaType":"text/plain"},`+
		`"audioOutputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":24000,"sampleSizeBits":16,"channelCount":1,"voiceId":"matthew","encoding":"base64","audioType":"SPEECH"},`+
		`"toolUseOutputConfiguration":{"mediaType":"application/json"},`+
		`"toolConfiguration":{"tools":[{"toolSpec":{"name":"getWeather","description":"weather","inputSchema":{"json":"{\"type\":\"object\"}"}}}]}}}}`, p.prompt)
}

func textContent(p names4, name, role string, interactive bool, text string) []string {
	return []string{
		fmt.Sprintf(`{"event":{"contentStart":{"promptName":%q,"contentName":%q,"type":"TEXT","role":%q,"interactive":%t,"textInputConfiguration":{"mediaType":"text/plain"}}}}`, p.prompt, name, role, interactive),
		fmt.Sprintf(`{"event":{"textInput":{"promptName":%q,"contentName":%q,"content":%q}}}`, p.prompt, name, text),
		contentEnd(p, name),
	}
}

func audioContentStart(p names4) string {
	return fmt.Sprintf(`{"event":{"contentStart":{"promptName":%q,"contentName":%q,"type":"AUDIO","role":"USER","interactive":true,`+
		`"audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}`, p.prompt, p.audio)
}

func audioInput(p names4, pcm []byte) string {
	return fmt.Sprintf(`{"event":{"audioInput":{"promptName":%q,"contentName":%q,"content":%q}}}`, p.prompt, p.audio, base64.StdEncoding.EncodeToString(pcm))
}

func contentEnd(p names4, name string) string {
	return fmt.Sprintf(`{"event":{"contentEnd":{"promptName":%q,"contentName":%q}}}`, p.prompt, name)
}

func promptEnd(p names4) string {
	return fmt.Sprintf(`{"event":{"promptEnd":{"promptName":%q}}}`, p.prompt)
}

func sessionEnd() string { return `{"event":{"sessionEnd":{}}}` }

// opening is the documented start of a conversation: session, prompt, SYSTEM text, audio block.
func opening(p names4, sensitivity string) []string {
	evs := []string{sessionStart(sensitivity), promptStart(p)}
	evs = append(evs, textContent(p, p.system, "SYSTEM", false, "You are a test.")...)
	return append(evs, audioContentStart(p))
}

// sendAudio sends pcm in 1024-byte audioInput frames (32 ms at 16 kHz), as fast as possible.
func (ss *session) sendAudio(p names4, pcm []byte) {
	ss.t.Helper()
	for len(pcm) > 0 {
		n := min(1024, len(pcm))
		ss.send(audioInput(p, pcm[:n]))
		pcm = pcm[n:]
	}
}

// waitIdle waits until the server has no open stream and returns its records.
func waitIdle(ctx context.Context, t testing.TB, s *Server) []StreamRecord {
	t.Helper()
	if err := s.WaitForOpenStreams(ctx, 0); err != nil {
		t.Fatal(err)
	}
	return s.Records()
}

// lastRecord waits for the server to go idle and returns its newest record.
func lastRecord(ctx context.Context, t testing.TB, s *Server) StreamRecord {
	t.Helper()
	recs := waitIdle(ctx, t, s)
	if len(recs) == 0 {
		t.Fatal("no stream records")
	}
	return recs[len(recs)-1]
}
