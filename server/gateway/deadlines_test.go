package gateway

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// These tests check the gateway's deadlines with their production values, on virtual time
// (virtualtime_test.go): exactly, and however busy the machine is.

// closed is what a client saw until the gateway closed its socket.
type closed struct {
	frames []string
	code   int
	at     time.Time
}

// watchClose reads everything the gateway sends until the close, in the background.
func watchClose(conn *websocket.Conn) <-chan closed {
	out := make(chan closed, 1)
	go func() {
		var c closed
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					c.code = ce.Code
				}
				c.at = time.Now()
				out <- c
				return
			}
			c.frames = append(c.frames, string(data))
		}
	}()
	return out
}

// An anonymous socket costs the owner memory; it must be closed at the authorization deadline, counted
// from the upgrade, whatever it sends that is not an authorization message.
func TestAnUnauthenticatedSocketIsClosedAtTheAuthDeadline(t *testing.T) {
	tests := map[string]func(conn *websocket.Conn, stop <-chan struct{}){
		"a silent client": func(*websocket.Conn, <-chan struct{}) {},
		// Pongs are answers to the gateway's pings; unsolicited ones must not keep the socket open.
		"a client that sends a pong every 5 s": func(conn *websocket.Conn, stop <-chan struct{}) {
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Second):
				}
				if conn.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second)) != nil {
					return
				}
			}
		},
		// A frame that has begun must not stretch the deadline either.
		"a client that sends a frame header, then one byte every 5 s": func(conn *websocket.Conn, stop <-chan struct{}) {
			// FIN + text, masked, 100 bytes of payload, then a zero mask key.
			if _, err := conn.NetConn().Write([]byte{0x81, 0x80 | 100, 0, 0, 0, 0}); err != nil {
				return
			}
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Second):
				}
				if _, err := conn.NetConn().Write([]byte{'{'}); err != nil {
					return
				}
			}
		},
	}
	for name, behave := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gw := startVirtualGateway(t, &fakeModel{}, defaultTiming)
				start := time.Now()
				conn := gw.dial(t, "")
				seen := watchClose(conn)
				stop := make(chan struct{})
				go behave(conn, stop)
				defer close(stop)

				select {
				case c := <-seen:
					if c.code != int(CloseUnauthorized) || c.at.Sub(start) != defaultTiming.auth {
						t.Fatalf("closed with %d after %v, want %d after exactly %v", c.code, c.at.Sub(start), CloseUnauthorized, defaultTiming.auth)
					}
				case <-time.After(10 * defaultTiming.auth):
					t.Fatalf("the unauthenticated socket is still open after %v", 10*defaultTiming.auth)
				}
			})
		})
	}
}

// A browser that stops reading for longer than slowClientTimeout while the model talks is closed with
// 4504, and when it reads again it learns that at once: the output queued for it is dropped, not
// written first (up to outboxMaxBytes, a minute of speech) before the error.
func TestABrowserThatStallsGetsTheSlowClientErrorNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		speech := strings.Repeat("A", 6400) // 100 ms of 24 kHz speech, base64
		model := &fakeModel{script: func(f *fakeStream) {
			<-f.received
			// Talks until the gateway half-closes, 100 ms of speech per millisecond: a model has a pace, and
			// in virtual time one without would keep the clock from moving.
			for f.emit("audioOutput", map[string]any{"content": speech}) {
				time.Sleep(time.Millisecond)
				select {
				case <-f.halfClosed:
					f.end(nil)
					return
				default:
				}
			}
		}}
		gw := startVirtualGateway(t, model, defaultTiming)
		conn := gw.dial(t, "Bearer any-token")
		send(t, conn, sessionStart())

		// The browser reads nothing until the gateway has judged it too slow (the outbox fills within a
		// second at the model's pace, then waits slowClientTimeout for room), then reads everything, before
		// the gateway gives up on delivering its close.
		time.Sleep(defaultTiming.slowClient + time.Second + defaultTiming.closeGrace/2)
		var frames []string
		code := 0
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				break
			}
			frames = append(frames, string(data))
		}
		if code != int(CloseSlowClient) {
			t.Fatalf("closed with %d after %d frames, want %d", code, len(frames), CloseSlowClient)
		}
		// At most the frame that was on the wire when the browser stalled comes before the error.
		if e := lastError(t, frames); e.Code != CloseSlowClient.Name() || len(frames) > 2 {
			t.Fatalf("%d frames before the close, the last %+v: want at most one output frame, then the error", len(frames), e)
		}
		if testutil.ToFloat64(gw.metrics.Dropped.WithLabelValues(DropOutputAtFailure)) == 0 {
			t.Fatal("the dropped output was not counted")
		}
	})
}

// Nova Sonic sends speech faster than real time: a long answer arrives as one burst. A browser that
// plays it at real-time pace must get all of it, however long the burst takes to write: the write
// deadline is per frame, and the outbox bound only holds the rest back.
func TestABrowserThatKeepsUpWithRealTimeIsNotCutByALongBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const events = 900 // 90 s of speech: more than the outbox holds, far longer than writeWait
		speech := strings.Repeat("A", 6400)
		model := &fakeModel{script: func(f *fakeStream) {
			<-f.received
			for range events {
				if !f.emit("audioOutput", map[string]any{"content": speech}) {
					return
				}
			}
			f.emit("completionEnd", map[string]any{"stopReason": "END_TURN"})
			<-f.halfClosed
			f.end(nil)
		}}
		gw := startVirtualGateway(t, model, defaultTiming)
		conn := gw.dial(t, "Bearer any-token")
		send(t, conn, sessionStart())

		audio := 0
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("the burst was cut after %d of %d events: %v", audio, events, err)
			}
			if eventName(string(data)) == "completionEnd" {
				break
			}
			audio++
			time.Sleep(100 * time.Millisecond) // plays it
		}
		if audio != events {
			t.Fatalf("received %d audio events, want %d", audio, events)
		}
		send(t, conn, `{"event":{"sessionEnd":{}}}`)
		if c := <-watchClose(conn); c.code != int(CloseNormal) {
			t.Fatalf("closed with %d, want 1000", c.code)
		}
	})
}

// A browser that vanishes mid-conversation must not keep its Bedrock stream open for long, even when
// Bedrock never finishes its response after the half-close: teardown sends the closing events, waits one
// closeGrace for the end of the stream, then closes it.
func TestTeardownAfterADisconnectIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model := &fakeModel{script: ignoreHalfClose}
		gw := startVirtualGateway(t, model, defaultTiming)
		conn := gw.dial(t, "Bearer any-token")
		for _, ev := range append(openingEvents(), audioInput(make([]byte, 1024))) {
			send(t, conn, ev)
		}
		synctest.Wait()
		stream := waitStream(t, model)

		start := time.Now()
		conn.Close()
		<-stream.closed
		if took, bound := time.Since(start), 2*defaultTiming.closeGrace; took > bound {
			t.Fatalf("the Bedrock stream was closed %v after the browser left, want at most %v", took, bound)
		}
		names := []string{}
		for _, got := range stream.rest()[len(openingEvents())+1:] {
			names = append(names, eventName(got))
		}
		if len(names) != 3 || names[0] != "contentEnd" || names[1] != "promptEnd" || names[2] != "sessionEnd" {
			t.Fatalf("Bedrock got %v after the disconnect, want contentEnd, promptEnd, sessionEnd", names)
		}
	})
}
