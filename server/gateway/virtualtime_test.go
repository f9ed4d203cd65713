package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// Tests of deadlines run the whole gateway inside a testing/synctest bubble: the HTTP server, gorilla's
// WebSocket code and the sessions talk over in-memory net.Pipe connections, so the clock is virtual. A
// deadline is then checked with the production value and to the nanosecond, and the result does not
// depend on how busy the machine is.

// pipeListener is a net.Listener whose connections are net.Pipe pairs made by Dial.
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial hands the server one end of a new pipe and returns the other.
func (l *pipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "gateway.test:80" }

// virtualGateway is a gateway served inside a synctest bubble.
type virtualGateway struct {
	*Server
	ln     *pipeListener
	dialer websocket.Dialer
}

// startVirtualGateway serves a gateway with the given timing over in-memory connections. Call it inside
// synctest.Test; the test's cleanup, still inside the bubble, stops everything it started.
func startVirtualGateway(t *testing.T, models ModelOpener, tm timing, mutate ...func(*Options)) *virtualGateway {
	t.Helper()
	opts := Options{Models: models, Auth: AcceptAnyToken{}, Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mutate {
		m(&opts)
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	gw.timing = tm
	gw.SetReady(true)
	ln := newPipeListener()
	hs := &http.Server{Handler: gw.Handler()}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = hs.Close()
		gw.cancelBase()
		<-served
		// Sessions outlive http.Server (hijacked) and their teardown takes virtual time: wait here, where
		// the clock still moves, not after the bubble's main goroutine has returned.
		gw.wg.Wait()
	})
	return &virtualGateway{Server: gw, ln: ln, dialer: websocket.Dialer{NetDialContext: ln.Dial}}
}

// dial opens a WebSocket to the virtual gateway and, unless token is empty, authorizes it.
func (v *virtualGateway) dial(t *testing.T, token string) *websocket.Conn {
	t.Helper()
	conn, resp, err := v.dialer.Dial("ws://gateway.test"+InteractPath, nil)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	if token != "" {
		send(t, conn, `{"type":"authorization","token":"`+token+`"}`)
		if _, _, err := conn.ReadMessage(); err != nil {
			t.Fatalf("authorization reply: %v", err)
		}
	}
	return conn
}
