package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// patience bounds every wait in these tests for something that should happen. It is reached only when a
// test fails, so it is long: a machine whose cores are all busy compiling must never turn a pass into a
// failure. Tests never assert how fast something happened; the synctest tests prove the bounds on
// virtual time, and BENCHMARKS.md records real timings.
const patience = 30 * time.Second

// testTiming is the production timing with the teardown steps made patient as well: a test of the happy
// path must never race a deadline, however slow the machine. A test about one deadline shortens just that
// one (startGatewayTimed), in a way that holds on a busy machine: the client under test really does
// miss it (sends nothing, never reads).
var testTiming = func() timing {
	t := defaultTiming
	t.sendError = patience / 3
	t.closeGrace = 5 * time.Second
	// A wait, not a deadline: shorter only makes the recovery tests quicker.
	t.recoveryBackoff = 10 * time.Millisecond
	return t
}()

// startGateway serves a gateway with testTiming over a real HTTP server; the test's cleanup stops it.
func startGateway(t *testing.T, models ModelOpener, mutate ...func(*Options)) (*Server, *httptest.Server) {
	t.Helper()
	return startGatewayTimed(t, models, testTiming, mutate...)
}

// startGatewayTimed is startGateway with the given deadlines, set before the first connection arrives.
func startGatewayTimed(t *testing.T, models ModelOpener, tm timing, mutate ...func(*Options)) (*Server, *httptest.Server) {
	t.Helper()
	// The gateway's log is shown only when the test fails.
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	opts := Options{Models: models, Auth: AcceptAnyToken{}, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mutate {
		m(&opts)
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	gw.timing = tm
	gw.SetReady(true)
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		hs.Close()
		gw.cancelBase()
	})
	return gw, hs
}

func wsURL(hs *httptest.Server) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + InteractPath
}

// dial opens a WebSocket as a browser would and, unless token is empty, authorizes it.
func dial(t *testing.T, hs *httptest.Server, token string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(hs), nil)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	if token == "" {
		return conn
	}
	send(t, conn, fmt.Sprintf(`{"type":"authorization","token":%q}`, token))
	var reply map[string]string
	readJSON(t, conn, &reply)
	if reply["type"] != "authorization" || reply["status"] != "success" || reply["sessionId"] == "" {
		t.Fatalf("authorization reply = %v", reply)
	}
	return conn
}

// dialWithHeader opens a WebSocket with extra request headers and authorizes it.
func dialWithHeader(t *testing.T, hs *httptest.Server, header map[string]string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(hs), h)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	send(t, conn, `{"type":"authorization","token":"Bearer any-token"}`)
	var reply map[string]any
	readJSON(t, conn, &reply)
	return conn
}

func send(t *testing.T, conn *websocket.Conn, frame string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func readJSON(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("read %s: %v", data, err)
	}
}

// readToClose reads every frame until the gateway closes the socket and returns them with the close code.
func readToClose(t *testing.T, conn *websocket.Conn) (frames []string, code int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return frames, ce.Code
			}
			t.Fatalf("read until close: %v (frames so far %q)", err, frames)
		}
		frames = append(frames, string(data))
	}
}

// lastError decodes the gateway's error message, which must be the last frame before a failure close.
func lastError(t *testing.T, frames []string) errorMessage {
	t.Helper()
	if len(frames) == 0 {
		t.Fatal("no error message before the close")
	}
	var e errorMessage
	if err := json.Unmarshal([]byte(frames[len(frames)-1]), &e); err != nil || e.Type != "error" {
		t.Fatalf("last frame %q is not an error message", frames[len(frames)-1])
	}
	return e
}

// The replaced system's browser client opens every conversation with these events.
const (
	promptName = "prompt-1"
	audioName  = "audio-1"
)

func sessionStart() string {
	return `{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024,"topP":0.9,"temperature":0.7}}}}`
}

func openingEvents() []string {
	return []string{
		sessionStart(),
		`{"event":{"promptStart":{"promptName":"` + promptName + `","textOutputConfiguration":{"mediaType":"text/plain"},"audioOutputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":24000,"sampleSizeBits":16,"channelCount":1,"voiceId":"matthew","encoding":"base64","audioType":"SPEECH"}}}}`,
		`{"event":{"contentStart":{"promptName":"` + promptName + `","contentName":"system-1","type":"TEXT","role":"SYSTEM","interactive":false,"textInputConfiguration":{"mediaType":"text/plain"}}}}`,
		`{"event":{"textInput":{"promptName":"` + promptName + `","contentName":"system-1","content":"You are a friendly assistant."}}}`,
		`{"event":{"contentEnd":{"promptName":"` + promptName + `","contentName":"system-1"}}}`,
		`{"event":{"contentStart":{"promptName":"` + promptName + `","contentName":"` + audioName + `","type":"AUDIO","role":"USER","interactive":true,"audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}`,
	}
}

func audioInput(pcm []byte) string {
	return `{"event":{"audioInput":{"promptName":"` + promptName + `","contentName":"` + audioName + `","content":"` + base64.StdEncoding.EncodeToString(pcm) + `"}}}`
}

func closingEvents() []string {
	return []string{
		`{"event":{"contentEnd":{"promptName":"` + promptName + `","contentName":"` + audioName + `"}}}`,
		`{"event":{"promptEnd":{"promptName":"` + promptName + `"}}}`,
		`{"event":{"sessionEnd":{}}}`,
	}
}

// waitFor waits until cond holds, polling; it fails the test after patience.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the condition never held")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// getStatus returns the status code of a GET on the gateway.
func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func compactJSON(dst *bytes.Buffer, s string) error { return json.Compact(dst, []byte(s)) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// syncBuffer is a bytes.Buffer safe for the gateway's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startGatewayB is startGateway for benchmarks: quiet, and stopped by the caller.
func startGatewayB(b *testing.B, models ModelOpener) (*Server, *httptest.Server) {
	b.Helper()
	// A benchmark sends frames as fast as it can: the per-session input rate limit would close it (1008).
	gw, err := New(Options{Models: models, Auth: AcceptAnyToken{}, Logger: slog.New(slog.DiscardHandler),
		Limits: Limits{InputEventsPerSecond: 1e9}})
	if err != nil {
		b.Fatal(err)
	}
	gw.SetReady(true)
	return gw, httptest.NewServer(gw.Handler())
}
