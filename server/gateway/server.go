package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// InteractPath is the WebSocket endpoint, the same as the replaced system's so its browser client works.
const InteractPath = "/interact-s2s"

// Options configure a Server.
type Options struct {
	// Models opens each session's Nova Sonic stream. Required.
	Models ModelOpener
	// Auth verifies each session's authorization message. Required.
	Auth Authenticator
	// AllowedOrigins are the exact browser origins (scheme://host[:port]) allowed to open a WebSocket.
	// Default: only pages served by the gateway itself (the Origin's host equals the request's Host).
	// Requests without an Origin header (not from a browser) are allowed: authorization still applies.
	AllowedOrigins []string
	// WebClient, if set, serves everything outside the gateway's own paths (the local web client).
	WebClient http.Handler
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
}

// Server serves /interact-s2s, /health and /ready, and keeps a registry of live sessions so that
// Shutdown can drain them: http.Server.Shutdown neither closes nor waits for hijacked WebSockets.
type Server struct {
	models   ModelOpener
	auth     Authenticator
	origins  []string
	web      http.Handler
	log      *slog.Logger
	upgrader websocket.Upgrader
	timing   timing

	// baseCtx parents every Bedrock stream; cancelling it is the last resort of a shutdown.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	ready    atomic.Bool
	draining atomic.Bool

	mu       sync.Mutex
	sessions map[*session]struct{}
	wg       sync.WaitGroup
}

// New returns a Server that is not ready yet: call SetReady once it is listening.
func New(opts Options) (*Server, error) {
	if opts.Models == nil || opts.Auth == nil {
		return nil, errors.New("new gateway: Models and Auth are required")
	}
	for _, o := range opts.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return nil, errors.New("new gateway: allowed origin " + o + " is not scheme://host[:port]")
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		models: opts.Models, auth: opts.Auth, origins: opts.AllowedOrigins, web: opts.WebClient, log: logger,
		baseCtx: base, cancelBase: cancel, timing: defaultTiming,
		sessions: make(map[*session]struct{}),
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: authTimeout,
		ReadBufferSize:   4 << 10,
		WriteBufferSize:  16 << 10,
		// Write buffers return to the pool between frames, so an idle session holds none.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.log.Info("websocket upgrade refused", "status", status, "reason", reason.Error(), "origin", r.Header.Get("Origin"))
			http.Error(w, http.StatusText(status), status)
		},
	}
	return s, nil
}

// Handler routes the gateway's endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+InteractPath, s.serveInteract)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if s.Ready() {
			writeStatus(w, http.StatusOK, "ready")
			return
		}
		writeStatus(w, http.StatusServiceUnavailable, "not ready")
	})
	if s.web != nil {
		mux.Handle("/", s.web)
	}
	return mux
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}

// SetReady marks the gateway ready (or not) to take new sessions; /ready reports it.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Ready reports whether the gateway takes new sessions: it has started and is not draining.
func (s *Server) Ready() bool { return s.ready.Load() && !s.draining.Load() }

// ActiveSessions is the number of live sessions.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) serveInteract(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		// The load balancer stops sending here once /ready fails; this covers the seconds before it does.
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the gateway is restarting; reconnect", http.StatusServiceUnavailable)
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the request
	}
	// Gorilla stops a frame at this size on its own (closing with 1009 and no explanation); the session
	// enforces maxMessageBytes itself below that, so that the browser is told why.
	conn.SetReadLimit(2 * maxMessageBytes)
	sess := newSession(s, conn, newSessionID())
	if !s.register(sess) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(int(CloseServiceRestart), CloseServiceRestart.Name()), time.Now().Add(s.timing.closeGrace))
		_ = conn.Close()
		return
	}
	defer s.unregister(sess)
	sess.log.Info("session started", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
	sess.run()
}

// checkOrigin refuses WebSocket upgrades from pages on other sites, so a signed-in user's browser cannot be
// used by another site to talk to the gateway.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.origins) > 0 {
		return slices.Contains(s.origins, origin)
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.wg.Done()
}

// drainingNotice tells browsers the gateway is going away, so a client can finish its turn and reconnect.
var drainingNotice = []byte(`{"type":"draining","message":"the gateway is restarting; the conversation will be closed with code 1012 and may reconnect"}`)

// Shutdown drains the gateway: /ready fails and new sessions are refused at once, live sessions are told
// and may finish on their own until ctx is done, then each remaining one is closed with 1012 (service
// restart) and its Bedrock stream ended. It returns once every session has stopped, or ctx's error if
// sessions were still stopping a few seconds after ctx ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	live := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		live = append(live, sess)
	}
	s.mu.Unlock()
	s.log.Info("draining", "sessions", len(live))
	for _, sess := range live {
		// Without waiting: a session whose browser is not reading would otherwise hold up the notice to
		// every session after it.
		_, _ = sess.out.tryPush(outMessage{data: drainingNotice})
	}

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}

	s.mu.Lock()
	for sess := range s.sessions {
		sess.end(endWith(CloseServiceRestart, "the gateway is restarting; reconnect", nil))
	}
	s.mu.Unlock()
	// Each session needs at most a few closeGrace steps to close its socket and stream.
	force := time.NewTimer(5 * s.timing.closeGrace)
	defer force.Stop()
	select {
	case <-done:
		return nil
	case <-force.C:
		s.cancelBase()
		<-done
		return ctx.Err()
	}
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
