package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
)

// floodWhenAsked is a Bedrock that talks without pause to a conversation whose system prompt is
// "flood", until the half-close, and otherwise behaves like Bedrock after the half-close.
func floodWhenAsked(f *fakeStream) {
	for {
		select {
		case b := <-f.received:
			f.mu.Lock()
			f.sent = append(f.sent, string(b))
			f.mu.Unlock()
			if !strings.Contains(string(b), `"content":"flood"`) {
				continue
			}
			for f.emit("audioOutput", map[string]any{"content": strings.Repeat("A", 6400)}) {
				time.Sleep(time.Millisecond) // a model's pace; in virtual time, none would stop the clock
				select {
				case <-f.halfClosed:
					f.end(nil)
					return
				default:
				}
			}
			return
		case <-f.halfClosed:
			f.end(nil)
			return
		}
	}
}

// A drain with twenty live conversations, one of whose browsers has stopped reading (the gateway is
// blocked writing to it when the deadline comes): every browser that reads is told, then closed with
// 1012; every Bedrock stream gets its closing events and is closed; and Drain returns within its
// deadline plus the forced-close budget (goleak, in TestMain, checks that nothing is left running).
func TestDrainOfTwentyConversationsIsBoundedAndEndsEveryStreamProperly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20
		model := &fakeModel{script: floodWhenAsked}
		gw := startVirtualGateway(t, model, defaultTiming, func(o *Options) {
			o.Limits = Limits{MaxConnectionsPerAddress: n, NewConnectionsPerSecond: n}
		})
		seen := make([]<-chan closed, n)
		for i := range n {
			conn := gw.dial(t, fmt.Sprintf("Bearer user-%d", i))
			for _, ev := range openingEvents() {
				if i == 0 {
					ev = strings.Replace(ev, "You are a friendly assistant.", "flood", 1)
				}
				send(t, conn, ev)
			}
			if i > 0 { // the first browser never reads again
				seen[i] = watchClose(conn)
			}
		}
		synctest.Wait()
		if got := len(model.opened()); got != n || gw.ActiveSessions() != n {
			t.Fatalf("%d streams and %d conversations before the drain, want %d", got, gw.ActiveSessions(), n)
		}

		// Shorter than the write deadline and the slow-client verdict: at the drain deadline the gateway
		// is still blocked writing to the browser that stopped reading.
		const drainTimeout = time.Second
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		start := time.Now()
		if err := gw.Drain(ctx); err != nil {
			t.Fatalf("drain: %v", err)
		}
		if took, bound := time.Since(start), drainTimeout+(forceCloseSteps+1)*defaultTiming.closeGrace; took > bound {
			t.Fatalf("drain took %v, want at most %v", took, bound)
		}

		for i := 1; i < n; i++ {
			c := <-seen[i]
			if c.code != int(CloseServiceRestart) || len(c.frames) != 2 || !strings.Contains(c.frames[0], `"type":"draining"`) ||
				lastError(t, c.frames).Code != CloseServiceRestart.Name() {
				t.Fatalf("browser %d saw %q and close %d, want the draining notice, the error and 1012", i, c.frames, c.code)
			}
		}
		for i, s := range model.opened() {
			select {
			case <-s.closed:
			default:
				t.Fatalf("Bedrock stream %d is still open after the drain", i)
			}
			got := s.sentEvents()
			tail := make([]string, 0, 3)
			for _, ev := range got[max(0, len(got)-3):] {
				tail = append(tail, eventName(ev))
			}
			if strings.Join(tail, ",") != "contentEnd,promptEnd,sessionEnd" {
				t.Fatalf("Bedrock stream %d ended with %v, want contentEnd, promptEnd, sessionEnd", i, tail)
			}
		}
		if gw.OpenConnections() != 0 || gw.ActiveSessions() != 0 {
			t.Fatalf("%d connections and %d conversations left after the drain", gw.OpenConnections(), gw.ActiveSessions())
		}
	})
}

// A connection that has authenticated but not started a conversation when the drain begins is closed
// with 1012 at once, and no Bedrock stream is opened for it: a conversation started now would be cut at
// the drain deadline. New WebSockets get 503.
func TestADrainingGatewayStartsNoNewConversation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model := &fakeModel{}
		gw := startVirtualGateway(t, model, defaultTiming)
		conn := gw.dial(t, "Bearer any-token")
		seen := watchClose(conn)

		drained := make(chan error, 1)
		go func() { drained <- gw.Drain(context.Background()) }()
		synctest.Wait()
		_ = conn.WriteMessage(websocket.TextMessage, []byte(sessionStart())) // too late, whether or not it arrives

		if c := <-seen; c.code != int(CloseServiceRestart) {
			t.Fatalf("closed with %d, want 1012", c.code)
		}
		if err := <-drained; err != nil {
			t.Fatal(err)
		}
		if len(model.opened()) != 0 {
			t.Fatal("a Bedrock stream was opened during the drain")
		}
		if _, resp, err := gw.dialer.Dial("ws://gateway.test"+InteractPath, nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a new WebSocket during the drain: %v, want 503", err)
		}
	})
}

// Bedrock may end the stream while the gateway is still inside Send(sessionEnd) (blocked on flow
// control, say): the end was asked for, so it is a normal end (1000), not a failure (4500).
func TestBedrockEndingTheStreamDuringSendOfSessionEndIsANormalEnd(t *testing.T) {
	model := &fakeModel{
		script: ignoreHalfClose,
		onSend: func(ctx context.Context, f *fakeStream, payload []byte) {
			if eventName(string(payload)) == evSessionEnd {
				f.end(nil)
				<-ctx.Done() // Send returns only once the session has reached its verdict
			}
		},
	}
	_, hs := startGateway(t, model)
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range append(openingEvents(), closingEvents()...) {
		send(t, conn, ev)
	}
	if frames, code := readToClose(t, conn); code != int(CloseNormal) {
		t.Fatalf("close %d (frames %q), want 1000", code, frames)
	}
}
