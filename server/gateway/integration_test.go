package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/gorilla/websocket"

	"novasonic/server/localbedrock"
)

// These tests run the whole path with the real SDK: a gorilla WebSocket client → gateway → the real
// bedrockruntime client over TLS and HTTP/2 → server/localbedrock, which verifies every SigV4 chunk
// signature and answers like Bedrock.

// startStack starts a local Bedrock and a gateway that reaches it through the real SDK.
func startStack(t *testing.T, opts localbedrock.Options, mutate ...func(*Options)) (*localbedrock.Server, *httptest.Server) {
	t.Helper()
	lb, err := localbedrock.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	client := bedrockruntime.New(bedrockruntime.Options{}, lb.ClientOptions())
	_, hs := startGateway(t, &Bedrock{Client: client, ModelID: localbedrock.ModelNova2Sonic}, mutate...)
	t.Cleanup(func() {
		_ = lb.Close()
	})
	return lb, hs
}

// output is a browser's view of one output event.
type output struct {
	Name string
	Body map[string]any
	Raw  string
}

func readOutput(t *testing.T, conn *websocket.Conn) output {
	t.Helper()
	var msg map[string]map[string]map[string]any
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read output: %v", err)
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		t.Fatalf("output %s: %v", data, err)
	}
	for name, body := range msg["event"] {
		return output{Name: name, Body: body, Raw: string(data)}
	}
	t.Fatalf("not an output event: %s", data)
	return output{}
}

// readOutputUntil reads output events until one named name (and matching, if match is set) arrives.
func readOutputUntil(t *testing.T, conn *websocket.Conn, name string, match func(output) bool) []output {
	t.Helper()
	var seen []output
	for {
		o := readOutput(t, conn)
		seen = append(seen, o)
		if o.Name == name && (match == nil || match(o)) {
			return seen
		}
	}
}

// waitNoOpenStreams waits until the local Bedrock has no open stream: every session ended its stream.
func waitNoOpenStreams(t *testing.T, lb *localbedrock.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := lb.WaitForOpenStreams(ctx, 0); err != nil {
		t.Fatalf("Bedrock streams still open after %v: %d", patience, lb.OpenStreams())
	}
}

func onlyRecord(t *testing.T, lb *localbedrock.Server) localbedrock.StreamRecord {
	t.Helper()
	recs := lb.Records()
	if len(recs) != 1 {
		t.Fatalf("local Bedrock saw %d streams, want 1", len(recs))
	}
	return recs[0]
}

func TestConversationThroughTheRealSDKKeepsEventOrder(t *testing.T) {
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.NormalTurn(localbedrock.Turn{UserText: "what time is it"})})
	conn := dial(t, hs, "Bearer any-token")

	sent := append(openingEvents(), audioInput(make([]byte, 1024)), audioInput(make([]byte, 1024)))
	for _, ev := range sent {
		send(t, conn, ev)
	}
	got := readOutputUntil(t, conn, "usageEvent", nil)
	var names []string
	for _, o := range got {
		if len(names) == 0 || names[len(names)-1] != o.Name {
			names = append(names, o.Name)
		}
	}
	want := "completionStart,contentStart,textOutput,contentEnd,contentStart,textOutput,contentEnd,contentStart,audioOutput,contentEnd,contentStart,textOutput,contentEnd,usageEvent"
	if strings.Join(names, ",") != want {
		t.Fatalf("output order:\n got %s\nwant %s", strings.Join(names, ","), want)
	}
	if got[2].Body["content"] != "what time is it" {
		t.Fatalf("USER transcript = %v", got[2].Body)
	}

	for _, ev := range closingEvents() {
		send(t, conn, ev)
	}
	frames, code := readToClose(t, conn)
	if code != int(CloseNormal) {
		t.Fatalf("close code = %d, want 1000 (frames %q)", code, frames)
	}
	waitNoOpenStreams(t, lb)
	rec := onlyRecord(t, lb)
	var sentNames []string
	for _, ev := range append(sent, closingEvents()...) {
		sentNames = append(sentNames, eventName(ev))
	}
	if !slices.Equal(rec.EventNames(), sentNames) {
		t.Fatalf("Bedrock received %v, want %v", rec.EventNames(), sentNames)
	}
	if rec.AuthMode != localbedrock.AuthSigV4 || rec.SignatureFailures != 0 || lb.SignatureFailures() != 0 {
		t.Fatalf("auth %q, signature failures %d: every chunk must be SigV4-signed and verify", rec.AuthMode, rec.SignatureFailures)
	}
	if rec.End != localbedrock.EndHalfClose || rec.Proto != "HTTP/2.0" {
		t.Fatalf("stream ended %q over %s, want a client half-close over HTTP/2", rec.End, rec.Proto)
	}
}

// Fifty browsers talk at once through one SDK client: each one's audio must reach only its own Bedrock
// stream, byte for byte, and each must hear only its own answers. This is the test that catches the SDK's
// shared event-stream codec (aws/smithy-go#714) if the per-stream workaround is ever lost.
func TestConcurrentSessionsKeepTheirAudioApart(t *testing.T) {
	const sessions, frames, frameBytes = 50, 12, 1024
	// Fifty users from one address at once: above the default per-address and new-connection limits.
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.Echo()}, func(o *Options) {
		o.Limits = Limits{MaxConnectionsPerAddress: sessions, NewConnectionsPerSecond: sessions}
	})

	audio := make([][]byte, sessions)
	for i := range audio {
		audio[i] = make([]byte, frames*frameBytes)
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range audio[i] {
			audio[i][j] = byte(rng.UintN(256))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Go(func() {
			if err := echoConversation(hs, fmt.Sprintf("prompt-%02d", i), audio[i], frameBytes); err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitNoOpenStreams(t, lb)

	recs := lb.Records()
	if len(recs) != sessions {
		t.Fatalf("local Bedrock saw %d streams, want %d", len(recs), sessions)
	}
	for _, rec := range recs {
		var i int
		if _, err := fmt.Sscanf(rec.Events[1].PromptName, "prompt-%02d", &i); err != nil {
			t.Fatalf("stream without a known prompt: %v", rec.EventNames())
		}
		if !bytes.Equal(rec.Audio(), audio[i]) {
			t.Errorf("stream of session %d received %d audio bytes that are not its own", i, len(rec.Audio()))
		}
		if rec.SignatureFailures != 0 {
			t.Errorf("stream of session %d had a bad chunk signature", i)
		}
	}
}

// echoConversation runs one browser against the Echo model: it sends its audio in frames and checks that
// exactly that audio comes back, then ends the conversation normally.
func echoConversation(hs *httptest.Server, prompt string, audio []byte, frameBytes int) error {
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(hs), nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	rename := strings.NewReplacer(`"`+promptName+`"`, `"`+prompt+`"`)
	write := func(frame string) error {
		return conn.WriteMessage(websocket.TextMessage, []byte(rename.Replace(frame)))
	}
	if err := write(`{"type":"authorization","token":"Bearer user-` + prompt + `"}`); err != nil {
		return err
	}
	for _, ev := range openingEvents() {
		if err := write(ev); err != nil {
			return err
		}
	}
	received := make(chan []byte, 1)
	readErr := make(chan error, 1)
	go func() {
		var got []byte
		for {
			_ = conn.SetReadDeadline(time.Now().Add(patience))
			_, data, err := conn.ReadMessage()
			if err != nil {
				if websocket.IsCloseError(err, int(CloseNormal)) {
					received <- got
					return
				}
				readErr <- err
				return
			}
			var ev struct {
				Event struct {
					AudioOutput *struct {
						Content string `json:"content"`
					} `json:"audioOutput"`
				} `json:"event"`
			}
			if json.Unmarshal(data, &ev) == nil && ev.Event.AudioOutput != nil {
				pcm, err := base64.StdEncoding.DecodeString(ev.Event.AudioOutput.Content)
				if err != nil {
					readErr <- err
					return
				}
				got = append(got, pcm...)
			}
		}
	}()
	for off := 0; off < len(audio); off += frameBytes {
		if err := write(audioInput(audio[off : off+frameBytes])); err != nil {
			return err
		}
	}
	for _, ev := range closingEvents() {
		if err := write(ev); err != nil {
			return err
		}
	}
	select {
	case got := <-received:
		if !bytes.Equal(got, audio) {
			return fmt.Errorf("heard %d bytes of audio back that are not its own %d", len(got), len(audio))
		}
		return nil
	case err := <-readErr:
		return err
	}
}

// Each Bedrock failure reaches the browser as its documented close code. Failures the service invites to
// retry are first retried on a new stream, maxRecoveries times, which this local Bedrock (failing every
// stream alike) exhausts; the others end the conversation at once, on the first stream.
func TestBedrockFailuresThroughTheRealSDK(t *testing.T) {
	tests := []struct {
		name     string
		behavior localbedrock.Behavior
		opts     func(*localbedrock.Options)
		wantCode CloseCode
		retried  bool
	}{
		{"validation", localbedrock.After(1, localbedrock.Exception("validationException", "Invalid input request")), nil, CloseBadRequest, false},
		{"throttling", localbedrock.After(1, localbedrock.Exception("throttlingException", "Too many requests")), nil, CloseThrottled, true},
		{"model stream error", localbedrock.After(1, localbedrock.ModelStreamError("Model stream failed", 500, "boom")), nil, CloseModelError, true},
		{"model timeout", localbedrock.After(1, localbedrock.Exception("modelTimeoutException", "Timed out")), nil, CloseModelTimeout, false},
		{"internal server", localbedrock.After(1, localbedrock.Exception("internalServerException", "oops")), nil, CloseModelError, true},
		{"service unavailable", localbedrock.After(1, localbedrock.Exception("serviceUnavailableException", "later")), nil, CloseUnavailable, true},
		{"403 before the stream", localbedrock.Reject(403, "AccessDeniedException", "not authorized to invoke this model"), nil, CloseBedrockRejected, false},
		{"unrecognized credentials", localbedrock.Reject(403, "UnrecognizedClientException", "The security token included in the request is invalid."), nil, CloseBedrockRejected, false},
		{"unknown model id", nil, func(o *localbedrock.Options) { o.ModelIDs = []string{"amazon.some-other-model"} }, CloseBedrockRejected, false},
		{"429 before the stream", localbedrock.Reject(429, "ThrottlingException", "slow down"), nil, CloseThrottled, true},
		{"abrupt end of stream", localbedrock.AbruptEndOnAudio(), nil, CloseModelError, true},
		{"stream time limit", localbedrock.Listen(), func(o *localbedrock.Options) { o.MaxStreamDuration = 300 * time.Millisecond }, CloseModelTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := localbedrock.Options{Behavior: tt.behavior}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			lb, hs := startStack(t, opts)
			conn := dial(t, hs, "Bearer any-token")
			for _, ev := range openingEvents() {
				send(t, conn, ev)
			}
			// The browser keeps talking, as a real one does, until the gateway closes the conversation.
			go func() {
				for conn.WriteMessage(websocket.TextMessage, []byte(audioInput(make([]byte, 1024)))) == nil {
					time.Sleep(20 * time.Millisecond)
				}
			}()
			frames, code := readToClose(t, conn)
			if code != int(tt.wantCode) {
				t.Fatalf("close code = %d, want %d (last frames %q)", code, tt.wantCode, tail(frames, 2))
			}
			if e := lastError(t, frames); e.Code != tt.wantCode.Name() {
				t.Fatalf("error message %+v, want code %s", e, tt.wantCode.Name())
			}
			waitNoOpenStreams(t, lb)
			want := 1
			if tt.retried {
				want = 1 + maxRecoveries
			}
			if got := len(lb.Records()); got != want {
				t.Fatalf("Bedrock saw %d streams, want %d (retried: %v)", got, want, tt.retried)
			}
		})
	}
}

func TestUnreachableBedrockClosesWithUnavailable(t *testing.T) {
	lb, err := localbedrock.Start(localbedrock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client := bedrockruntime.New(bedrockruntime.Options{}, lb.ClientOptions())
	_ = lb.Close() // nothing listens at its address any more
	_, hs := startGateway(t, &Bedrock{Client: client, ModelID: localbedrock.ModelNova2Sonic})
	conn := dial(t, hs, "Bearer any-token")
	frames, code := sendUntilClosed(t, conn, openingEvents())
	if code != int(CloseUnavailable) {
		t.Fatalf("close code = %d, want %d (frames %q)", code, CloseUnavailable, frames)
	}
}

// How fast the stream ends is bounded by TestTeardownAfterADisconnectIsBounded (virtual time); here the
// real SDK and the local Bedrock show the order of the events and the half-close.
func TestBrowserDisconnectEndsTheRealBedrockStream(t *testing.T) {
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.Listen()})
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range append(openingEvents(), audioInput(make([]byte, 1024))) {
		send(t, conn, ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := lb.WaitForOpenStreams(ctx, 1); err != nil {
		t.Fatal("the Bedrock stream never opened")
	}
	waitRecordedEvents(t, lb, len(openingEvents())+1)

	start := time.Now()
	conn.Close()
	waitNoOpenStreams(t, lb)
	t.Logf("Bedrock stream ended %v after the browser left", time.Since(start))

	rec := onlyRecord(t, lb)
	names := rec.EventNames()
	if got := strings.Join(names[len(names)-3:], ","); got != "contentEnd,promptEnd,sessionEnd" || rec.End != localbedrock.EndHalfClose {
		t.Fatalf("stream ended %q after %s; want the gateway's contentEnd,promptEnd,sessionEnd and a half-close", rec.End, got)
	}
}

func TestBargeInIsRelayedToTheBrowser(t *testing.T) {
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.BargeIn(localbedrock.Turn{})})
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range append(openingEvents(), audioInput(make([]byte, 1024))) {
		send(t, conn, ev)
	}
	readOutputUntil(t, conn, "audioOutput", nil)
	send(t, conn, audioInput(make([]byte, 1024))) // the user talks over the answer
	readOutputUntil(t, conn, "contentEnd", func(o output) bool { return o.Body["stopReason"] == "INTERRUPTED" })
	for _, ev := range closingEvents() {
		send(t, conn, ev)
	}
	if _, code := readToClose(t, conn); code != int(CloseNormal) {
		t.Fatalf("close code = %d, want 1000", code)
	}
	waitNoOpenStreams(t, lb)
}

func TestToolUseRoundTrip(t *testing.T) {
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.ToolUse("getDateAndTimeTool", "{}")})
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range append(openingEvents(), audioInput(make([]byte, 1024))) {
		send(t, conn, ev)
	}
	seen := readOutputUntil(t, conn, "contentEnd", func(o output) bool { return o.Body["type"] == "TOOL" })
	var toolUseID string
	for _, o := range seen {
		if o.Name == "toolUse" {
			toolUseID, _ = o.Body["toolUseId"].(string)
		}
	}
	if toolUseID == "" {
		t.Fatal("no toolUse event reached the browser")
	}
	for _, ev := range []string{
		`{"event":{"contentStart":{"promptName":"` + promptName + `","contentName":"tool-1","interactive":false,"type":"TOOL","role":"TOOL","toolResultInputConfiguration":{"toolUseId":"` + toolUseID + `","type":"TEXT","textInputConfiguration":{"mediaType":"text/plain"}}}}}`,
		`{"event":{"toolResult":{"promptName":"` + promptName + `","contentName":"tool-1","content":"{\"time\":\"12:00\"}"}}}`,
		`{"event":{"contentEnd":{"promptName":"` + promptName + `","contentName":"tool-1"}}}`,
	} {
		send(t, conn, ev)
	}
	answer := readOutputUntil(t, conn, "textOutput", func(o output) bool { return o.Body["role"] == "ASSISTANT" })
	if text, _ := answer[len(answer)-1].Body["content"].(string); !strings.Contains(text, "12:00") {
		t.Fatalf("assistant answer %q does not use the tool result", text)
	}
	for _, ev := range closingEvents() {
		send(t, conn, ev)
	}
	if _, code := readToClose(t, conn); code != int(CloseNormal) {
		t.Fatalf("close code = %d, want 1000", code)
	}
	waitNoOpenStreams(t, lb)
}

// sendUntilClosed sends events, ignoring send failures once the gateway has closed, and returns what the
// browser received up to the close.
func sendUntilClosed(t *testing.T, conn *websocket.Conn, events []string) ([]string, int) {
	t.Helper()
	for _, ev := range events {
		if conn.WriteMessage(websocket.TextMessage, []byte(ev)) != nil {
			break
		}
	}
	return readToClose(t, conn)
}

func waitRecordedEvents(t *testing.T, lb *localbedrock.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		if recs := lb.Records(); len(recs) == 1 && len(recs[0].Events) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("Bedrock did not receive %d events", n)
}

func tail(s []string, n int) []string { return s[max(0, len(s)-n):] }
