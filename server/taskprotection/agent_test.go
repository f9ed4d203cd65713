package taskprotection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// fakeAgent stands in for the ECS agent's task scale-in protection endpoint, with the request and answer
// shapes of the agent (amazon-ecs-agent, ecs-agent/tmds/handlers/taskprotection/v1): a PUT of
// {"ProtectionEnabled":bool,"ExpiresInMinutes":int} with unknown fields refused, answered with
// {"protection":{"ExpirationDate","ProtectionEnabled","TaskArn"}} on success and {"error":{"Arn","Code",
// "Message"}} with the failing status otherwise. It records every request with the time it arrived.
type fakeAgent struct {
	mu       sync.Mutex
	requests []agentRequest
	// failNext answers that many next calls with a ServerException, as the agent does when ECS fails.
	failNext int
	// protected and expires are the task's state as ECS would hold it.
	protected bool
	expires   time.Time
}

// agentRequest is one request the fake agent received.
type agentRequest struct {
	at          time.Time
	method      string
	path        string
	contentType string
	body        string
}

const (
	fakeTaskARN   = "arn:aws:ecs:us-east-1:123456789012:task/nova-sonic/0123456789abcdef0"
	fakeAgentPath = "/api/0123456789abcdef0-1234567890"
)

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, agentRequest{
		at: time.Now(), method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: string(body),
	})
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, code, message string) {
		answer(status, map[string]any{"error": map[string]any{"Arn": fakeTaskARN, "Code": code, "Message": message}})
	}
	if r.Method != http.MethodPut || r.URL.Path != fakeAgentPath+StatePath {
		fail(http.StatusNotFound, "ResourceNotFoundException", "Failed to find a task for the request")
		return
	}
	var req struct {
		ProtectionEnabled *bool
		ExpiresInMinutes  *int64
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.ProtectionEnabled == nil {
		fail(http.StatusBadRequest, "InvalidParameterException", "UpdateTaskProtection: failed to decode request")
		return
	}
	if a.failNext > 0 {
		a.failNext--
		fail(http.StatusInternalServerError, "ServerException", "Unexpected error occurred")
		return
	}
	a.protected = *req.ProtectionEnabled
	var expiration *time.Time
	if a.protected {
		minutes := int64(120) // ECS's default when ExpiresInMinutes is left out
		if req.ExpiresInMinutes != nil {
			minutes = *req.ExpiresInMinutes
		}
		a.expires = time.Now().Add(time.Duration(minutes) * time.Minute).UTC()
		expiration = &a.expires
	}
	answer(http.StatusOK, map[string]any{"protection": map[string]any{
		"ExpirationDate": expiration, "ProtectionEnabled": a.protected, "TaskArn": fakeTaskARN,
	}})
}

// received returns a copy of the requests so far.
func (a *fakeAgent) received() []agentRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]agentRequest(nil), a.requests...)
}

// startInMemoryAgent serves agent (normally a *fakeAgent) through httptest over an in-memory network (net.Pipe connections), so a
// testing/synctest bubble can run the gateway's real HTTP client against it: every goroutine on both ends
// then blocks on channels of the bubble, which lets the bubble's clock advance. It returns a Client of the
// agent and a function that stops the server and closes the connections.
func startInMemoryAgent(agent http.Handler) (*Client, func()) {
	ln := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := httptest.NewUnstartedServer(agent)
	_ = srv.Listener.Close() // the loopback listener httptest opened; ours replaces it
	srv.Listener = ln
	srv.Start()
	transport := &http.Transport{DialContext: ln.dial}
	client, err := NewClient(srv.URL+fakeAgentPath, &http.Client{Transport: transport, Timeout: RequestTimeout})
	if err != nil {
		panic(err)
	}
	return client, func() {
		transport.CloseIdleConnections()
		srv.Close()
	}
}

// pipeListener is a net.Listener whose connections are net.Pipe pairs made by dial.
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
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

// dial connects to the listener, whatever the address.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, errors.New("agent stopped")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipeAddr names the in-memory agent; the URL needs a host, and dial ignores it.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "ecs-agent.invalid" }
