package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/gorilla/websocket"
)

func TestSessionRelaysInputInOrderAndOutputBack(t *testing.T) {
	model := &fakeModel{script: endAfterHalfClose}
	_, hs := startGateway(t, model)
	conn := dial(t, hs, "Bearer any-token")

	sent := append(openingEvents(), audioInput([]byte{1, 2, 3, 4}), audioInput([]byte{5, 6}))
	for _, ev := range sent {
		send(t, conn, ev)
	}
	stream := waitStream(t, model)
	for i, want := range sent {
		got, ok := stream.next()
		if !ok {
			t.Fatalf("event %d never reached Bedrock", i)
		}
		if !jsonEqual(t, got, want) {
			t.Fatalf("event %d reached Bedrock as %s, want %s", i, got, want)
		}
	}
	stream.emit("textOutput", map[string]any{"role": "ASSISTANT", "content": "hello"})
	stream.emit("audioOutput", map[string]any{"content": "AAAA"})
	for _, ev := range closingEvents() {
		send(t, conn, ev)
	}

	frames, code := readToClose(t, conn)
	if code != int(CloseNormal) {
		t.Fatalf("close code = %d, want %d (frames %q)", code, CloseNormal, frames)
	}
	var names []string
	for _, f := range frames {
		names = append(names, eventName(f))
	}
	if got := strings.Join(names, ","); got != "textOutput,audioOutput,completionEnd" {
		t.Fatalf("browser received %s, want the model's output in order and no error", got)
	}
}

// The replaced system's browser client ends with a bare sessionEnd, its audio content and prompt still
// open; Bedrock must still see them closed first.
func TestSessionEndClosesWhatTheBrowserLeftOpen(t *testing.T) {
	model := &fakeModel{script: endAfterHalfClose}
	_, hs := startGateway(t, model)
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range append(openingEvents(), `{"event":{"sessionEnd":{}}}`) {
		send(t, conn, ev)
	}
	if _, code := readToClose(t, conn); code != int(CloseNormal) {
		t.Fatalf("close code = %d, want 1000", code)
	}
	stream := waitStream(t, model)
	assertClosed(t, stream)
	var names []string
	for _, got := range stream.rest()[len(openingEvents()):] {
		names = append(names, eventName(got))
	}
	if got := strings.Join(names, ","); got != "contentEnd,promptEnd,sessionEnd" {
		t.Fatalf("after the opening events Bedrock got %s, want contentEnd,promptEnd,sessionEnd", got)
	}
}

func TestMalformedInputGetsAnErrorAndACloseCodeBeforeReachingBedrock(t *testing.T) {
	tests := []struct {
		name      string
		before    []string // valid events sent first
		frame     string
		binary    bool
		wantCode  CloseCode
		wantInMsg string
	}{
		{name: "not JSON", frame: `hello`, wantCode: CloseBadRequest, wantInMsg: "not a JSON object"},
		{name: "JSON but not an event", frame: `{"type":"ping"}`, wantCode: CloseBadRequest, wantInMsg: `{"event"`},
		{name: "unknown event", frame: `{"event":{"launchRockets":{}}}`, wantCode: CloseBadRequest, wantInMsg: `unknown event "launchRockets"`},
		{name: "two events in one frame", frame: `{"event":{"sessionStart":{},"promptStart":{}}}`, wantCode: CloseBadRequest, wantInMsg: "exactly one event"},
		{name: "first event is not sessionStart", frame: `{"event":{"promptStart":{"promptName":"p"}}}`, wantCode: CloseBadRequest, wantInMsg: "before sessionStart"},
		{name: "audio before contentStart", before: openingEvents()[:5], frame: audioInput([]byte{0, 0}), wantCode: CloseBadRequest, wantInMsg: "before contentStart"},
		{name: "audio before promptStart", before: openingEvents()[:1], frame: audioInput([]byte{0, 0}), wantCode: CloseBadRequest, wantInMsg: "before promptStart"},
		{name: "audio that is not base64", before: openingEvents(), frame: strings.Replace(audioInput([]byte{0, 0}), `"AAA="`, `"%%%"`, 1), wantCode: CloseBadRequest, wantInMsg: "not base64"},
		{name: "oversized frame", frame: `{"event":{"sessionStart":{"pad":"` + strings.Repeat("x", maxMessageBytes) + `"}}}`, wantCode: CloseMessageTooBig, wantInMsg: "larger than"},
		{name: "binary frame", frame: "\x00\x01", binary: true, wantCode: CloseUnsupportedData, wantInMsg: "binary"},
		{name: "invalid UTF-8", before: openingEvents(), frame: strings.Replace(audioInput([]byte{0, 0}), `"AAA="`, "\"\xff\xfe\"", 1), wantCode: CloseInvalidPayload, wantInMsg: "UTF-8"},
		{name: "a key spelled twice with different case", before: openingEvents()[:2],
			frame:    `{"event":{"contentStart":{"promptName":"` + promptName + `","contentName":"a","ContentName":"b","type":"TEXT","role":"SYSTEM"}}}`,
			wantCode: CloseBadRequest, wantInMsg: `key "ContentName" must be spelled "contentName"`},
		{name: "a key given twice", before: openingEvents()[:2],
			frame:    `{"event":{"contentStart":{"promptName":"` + promptName + `","contentName":"a","contentName":"b","type":"TEXT","role":"SYSTEM"}}}`,
			wantCode: CloseBadRequest, wantInMsg: `key "contentName" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := &fakeModel{}
			_, hs := startGateway(t, model)
			conn := dial(t, hs, "Bearer any-token")
			for _, ev := range tt.before {
				send(t, conn, ev)
			}
			kind := websocket.TextMessage
			if tt.binary {
				kind = websocket.BinaryMessage
			}
			if err := conn.WriteMessage(kind, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			frames, code := readToClose(t, conn)
			if code != int(tt.wantCode) {
				t.Fatalf("close code = %d, want %d (frames %q)", code, tt.wantCode, frames)
			}
			e := lastError(t, frames)
			if e.CloseCode != int(tt.wantCode) || e.Code != tt.wantCode.Name() || e.Retryable {
				t.Fatalf("error message = %+v, want code %s, not retryable", e, tt.wantCode.Name())
			}
			if !strings.Contains(e.Message, tt.wantInMsg) {
				t.Fatalf("error message %q does not say %q", e.Message, tt.wantInMsg)
			}
			streams := model.opened()
			if len(tt.before) == 0 && len(streams) != 0 {
				t.Fatalf("a Bedrock stream was opened for input refused at the first event")
			}
			for _, s := range streams {
				assertClosed(t, s)
				assertForwardedOnly(t, s, tt.before)
			}
		})
	}
}

func TestAuthorizationIsRequiredFirst(t *testing.T) {
	tests := []struct {
		name  string
		first string // "" sends nothing and waits for the timeout
		want  string
	}{
		{name: "an event instead of authorization", first: sessionStart(), want: "first message must be"},
		{name: "a token without Bearer", first: `{"type":"authorization","token":"abc"}`, want: "Bearer"},
		{name: "an empty token", first: `{"type":"authorization","token":"Bearer "}`, want: "Bearer"},
		{name: "nothing within the deadline", want: "no authorization message within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := &fakeModel{}
			tm := testTiming
			if tt.first == "" {
				tm.auth = 100 * time.Millisecond // this client sends nothing at all
			}
			_, hs := startGatewayTimed(t, model, tm)
			conn := dial(t, hs, "")
			if tt.first != "" {
				send(t, conn, tt.first)
			}
			frames, code := readToClose(t, conn)
			if code != int(CloseUnauthorized) {
				t.Fatalf("close code = %d, want %d", code, CloseUnauthorized)
			}
			if e := lastError(t, frames); !strings.Contains(e.Message, tt.want) || strings.Contains(e.Message, "abc") {
				t.Fatalf("error message %q should say %q and never echo the token", e.Message, tt.want)
			}
			if len(model.opened()) != 0 {
				t.Fatal("a Bedrock stream was opened before authorization")
			}
		})
	}
}

func TestBedrockFailuresReachTheBrowserAsDocumentedCloseCodes(t *testing.T) {
	msg := aws.String("detail only the operator should see")
	tests := []struct {
		name      string
		err       error
		wantCode  CloseCode
		retryable bool
	}{
		{"validation", &types.ValidationException{Message: aws.String("First content must have SYSTEM role")}, CloseBadRequest, false},
		{"throttling", &types.ThrottlingException{Message: msg}, CloseThrottled, true},
		{"quota", &types.ServiceQuotaExceededException{Message: msg}, CloseThrottled, true},
		{"model timeout", &types.ModelTimeoutException{Message: msg}, CloseModelTimeout, true},
		{"model stream error", &types.ModelStreamErrorException{Message: msg}, CloseModelError, true},
		{"internal server", &types.InternalServerException{Message: msg}, CloseModelError, true},
		{"service unavailable", &types.ServiceUnavailableException{Message: msg}, CloseUnavailable, true},
		{"access denied", &types.AccessDeniedException{Message: msg}, CloseBedrockRejected, false},
		{"unknown model", &types.ResourceNotFoundException{Message: msg}, CloseBedrockRejected, false},
		{"unreachable", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), CloseUnavailable, true},
		{"abrupt end", nil, CloseModelError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := &fakeModel{script: func(f *fakeStream) {
				<-f.received // fail once the conversation has started
				f.end(tt.err)
			}}
			_, hs := startGateway(t, model)
			conn := dial(t, hs, "Bearer any-token")
			send(t, conn, sessionStart())
			frames, code := readToClose(t, conn)
			if code != int(tt.wantCode) {
				t.Fatalf("close code = %d, want %d (frames %q)", code, tt.wantCode, frames)
			}
			e := lastError(t, frames)
			if e.Code != tt.wantCode.Name() || e.Retryable != tt.retryable {
				t.Fatalf("error message = %+v, want %s retryable=%v", e, tt.wantCode.Name(), tt.retryable)
			}
			if tt.wantCode != CloseBadRequest && strings.Contains(e.Message, *msg) {
				t.Fatalf("error message %q leaks the service's detail", e.Message)
			}
			assertClosed(t, waitStream(t, model))
		})
	}
}

// The bound on how long this takes is TestTeardownAfterADisconnectIsBounded's, on virtual time.
func TestBrowserDisconnectClosesWhatWasOpenThenTheBedrockStream(t *testing.T) {
	model := &fakeModel{}
	_, hs := startGateway(t, model)
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range append(openingEvents(), audioInput(make([]byte, 1024))) {
		send(t, conn, ev)
	}
	stream := waitStream(t, model)
	for range len(openingEvents()) + 1 {
		stream.next()
	}

	conn.Close() // the tab is closed mid-conversation

	// The gateway closes what the browser left open, in the documented order, then the stream.
	for _, want := range []string{"contentEnd", "promptEnd", "sessionEnd"} {
		got, ok := stream.next()
		if !ok || eventName(got) != want {
			t.Fatalf("after the disconnect Bedrock got %q, want %s", got, want)
		}
	}
	assertClosed(t, stream)
}

// A browser that stops reading while the model keeps talking must not make the gateway queue without
// limit: the session ends as a slow client and its Bedrock stream is closed.
func TestABrowserThatStopsReadingIsDisconnected(t *testing.T) {
	big := strings.Repeat("A", 64<<10) // one 64 KiB audioOutput event
	model := &fakeModel{script: func(f *fakeStream) {
		<-f.received
		for range 1000 { // 64 MiB: more than the outbox and every socket buffer on the path
			if !f.emit("audioOutput", map[string]any{"content": big}) {
				return
			}
		}
	}}
	tm := testTiming
	// The browser below never reads, and this model never stops talking: every deadline can be short.
	tm.slowClient, tm.write, tm.closeGrace = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	gw, hs := startGatewayTimed(t, model, tm)
	conn := dial(t, hs, "Bearer any-token")
	send(t, conn, sessionStart()) // and never read again

	assertClosed(t, waitStream(t, model))
	deadline := time.Now().Add(patience)
	for gw.ActiveSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session of a browser that stopped reading is still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainEndsLiveConversationsWithServiceRestart(t *testing.T) {
	model := &fakeModel{}
	gw, hs := startGateway(t, model)
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range openingEvents() {
		send(t, conn, ev)
	}
	stream := waitStream(t, model)

	ctx, cancel := contextWithTimeout(100 * time.Millisecond) // no time for the conversation to end itself
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- gw.Drain(ctx) }()
	frames, code := readToClose(t, conn)
	if err := <-drained; err != nil {
		t.Fatalf("drain: %v", err)
	}
	if code != int(CloseServiceRestart) {
		t.Fatalf("close code = %d, want %d", code, CloseServiceRestart)
	}
	if !strings.Contains(frames[0], `"draining"`) || !lastError(t, frames).Retryable {
		t.Fatalf("frames %q: want a draining notice first and a retryable error last", frames)
	}
	assertClosed(t, stream)
	if got := getStatus(t, hs.URL+"/ready"); got != http.StatusServiceUnavailable {
		t.Fatalf("/ready while draining = %d, want 503", got)
	}
	if got := getStatus(t, hs.URL+"/health"); got != http.StatusOK {
		t.Fatalf("/health while draining = %d, want 200: draining is not dying", got)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL(hs), nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a new session while draining: err %v, want HTTP 503", err)
	}
}

func TestWebSocketsFromOtherSitesAreRefused(t *testing.T) {
	_, hs := startGateway(t, &fakeModel{}, func(o *Options) { o.AllowedOrigins = []string{"https://app.example.com"} })
	for origin, want := range map[string]int{
		"https://evil.example.com": http.StatusForbidden,
		"https://app.example.com":  http.StatusSwitchingProtocols,
	} {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(hs), http.Header{"Origin": {origin}})
		if resp == nil || resp.StatusCode != want {
			t.Fatalf("origin %s: response %v (err %v), want %d", origin, resp, err, want)
		}
		if conn != nil {
			conn.Close()
		}
	}
}

func TestReadinessFollowsStartup(t *testing.T) {
	gw, hs := startGateway(t, &fakeModel{})
	gw.SetReady(false)
	if got := getStatus(t, hs.URL+"/ready"); got != http.StatusServiceUnavailable {
		t.Fatalf("/ready before start-up finished = %d, want 503", got)
	}
	gw.SetReady(true)
	if got := getStatus(t, hs.URL+"/ready"); got != http.StatusOK {
		t.Fatalf("/ready after start-up = %d, want 200", got)
	}
}

func waitStream(t *testing.T, model *fakeModel) *fakeStream {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		if s := model.opened(); len(s) > 0 {
			return s[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no Bedrock stream was opened")
	return nil
}

func assertClosed(t *testing.T, s *fakeStream) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(patience):
		t.Fatal("the Bedrock stream was never closed")
	}
}

// assertForwardedOnly checks that Bedrock received the valid events in order (those still queued when the
// session ended may never have been sent), then at most the gateway's own closing events: never the
// refused one. Call it once the stream is closed.
func assertForwardedOnly(t *testing.T, s *fakeStream, valid []string) {
	t.Helper()
	got := s.rest()
	i := 0
	for ; i < len(got) && i < len(valid) && jsonEqual(t, got[i], valid[i]); i++ {
	}
	for _, ev := range got[i:] {
		if n := eventName(ev); n != "contentEnd" && n != "promptEnd" && n != "sessionEnd" {
			t.Fatalf("Bedrock received %s after the valid events %d of %d", ev, i, len(valid))
		}
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y bytes.Buffer
	if err := compactJSON(&x, a); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := compactJSON(&y, b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return x.String() == y.String()
}
