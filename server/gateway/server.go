package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
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
	// ClientAddressHeader names a request header that carries the client's address, set by a trusted
	// proxy in front of the gateway: "CloudFront-Viewer-Address" behind the stacks' CloudFront, whose
	// VPC origin is the only way to reach the gateway there. Default: none, the TCP peer's address.
	// Never set it where clients can reach the gateway directly: they could claim any address.
	ClientAddressHeader string
	// Limits bound connections, conversations and input. Zero fields take their defaults.
	Limits Limits
	// Tools are the tools the gateway runs itself when Nova Sonic asks for them. Default none: every
	// toolUse goes to the browser.
	Tools []Tool
	// RotateStreamsAfter is the age at which a conversation's Bedrock stream is replaced by a new one
	// that continues the conversation, ahead of the service's 8-minute limit. Default 7 minutes; at most
	// 7m15s, so that the handover's 45 s window ends before the limit.
	RotateStreamsAfter time.Duration
	// Metrics receives the gateway's metrics. Default: metrics registered nowhere.
	Metrics *Metrics
	// WebClient, if set, serves everything outside the gateway's own paths (the local web client).
	WebClient http.Handler
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
}

// Server serves /interact-s2s, /health and /ready, and keeps a registry of live sessions so that Drain
// can end them: http.Server.Shutdown neither closes nor waits for hijacked WebSockets.
type Server struct {
	models     ModelOpener
	auth       Authenticator
	origins    []string
	addrHeader string
	limits     Limits
	tools      map[string]Tool
	toolNames  []string // sorted, for the authorization reply
	metrics    *Metrics
	web        http.Handler
	log        *slog.Logger
	upgrader   websocket.Upgrader
	timing     timing
	newConns   *rate.Limiter

	// baseCtx parents every Bedrock stream; cancelling it is the last resort of a drain.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	ready    atomic.Bool
	draining atomic.Bool

	mu            sync.Mutex
	sessions      map[*session]struct{}
	conversations int            // authenticated sessions
	perUser       map[string]int // conversations by subject
	perAddress    map[string]int // connections by client address
	wg            sync.WaitGroup
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
	tools := make(map[string]Tool, len(opts.Tools))
	var toolNames []string
	for _, t := range opts.Tools {
		if _, dup := tools[t.Name()]; dup || t.Name() == "" {
			return nil, fmt.Errorf("new gateway: tool name %q is empty or used twice", t.Name())
		}
		tools[t.Name()] = t
		toolNames = append(toolNames, t.Name())
	}
	slices.Sort(toolNames)
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	metrics := opts.Metrics
	if metrics == nil {
		metrics = NewMetrics(prometheus.NewRegistry())
	}
	limits := opts.Limits.withDefaults()
	if opts.RotateStreamsAfter < 0 || opts.RotateStreamsAfter > MaxRotateStreamsAfter {
		return nil, fmt.Errorf("new gateway: RotateStreamsAfter %v is not between 0 (default) and %v", opts.RotateStreamsAfter, MaxRotateStreamsAfter)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		models: opts.Models, auth: opts.Auth, origins: opts.AllowedOrigins, addrHeader: opts.ClientAddressHeader,
		limits: limits, tools: tools, toolNames: toolNames, metrics: metrics, web: opts.WebClient, log: logger,
		baseCtx: base, cancelBase: cancel, timing: defaultTiming,
		newConns: rate.NewLimiter(rate.Limit(limits.NewConnectionsPerSecond), int(2*limits.NewConnectionsPerSecond)),
		sessions: make(map[*session]struct{}), perUser: make(map[string]int), perAddress: make(map[string]int),
	}
	if opts.RotateStreamsAfter > 0 {
		s.timing.rotateAfter = opts.RotateStreamsAfter
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
	// /health answers as long as the process serves, draining included: a draining gateway is healthy and
	// must not be killed by its container health check before its conversations end.
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

// Ready reports whether the gateway takes new conversations: it has started, is not draining and holds
// fewer than Limits.MaxConversations.
func (s *Server) Ready() bool {
	if !s.ready.Load() || s.draining.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conversations < s.limits.MaxConversations
}

// ActiveSessions is the number of conversations: authenticated sessions. Sockets that have not
// authenticated are not counted, so that nobody can inflate the autoscaling signal without signing in.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conversations
}

// OpenConnections is the number of WebSockets, authenticated or not.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// ServerTools are the names of the tools the gateway runs itself, sorted.
func (s *Server) ServerTools() []string { return slices.Clone(s.toolNames) }

func (s *Server) serveInteract(w http.ResponseWriter, r *http.Request) {
	upgraded := time.Now()
	addr := s.clientAddress(r)
	if limit, status, retryAfter := s.admitConnection(addr); limit != "" {
		// Refused before the upgrade, where refusing costs least. The load balancer stops sending new
		// connections here once /ready fails; a 503 covers the seconds before it does.
		s.metrics.LimitRefusals.WithLabelValues(limit).Inc()
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		http.Error(w, refusalText(limit), status)
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.releaseAddress(addr)
		return // the upgrader has answered the request
	}
	// Gorilla stops a frame at this size on its own (closing with 1009 and no explanation); the session
	// enforces maxMessageBytes itself below that, so that the browser is told why.
	conn.SetReadLimit(2 * maxMessageBytes)
	sess := newSession(s, conn, newSessionID(), addr, upgraded)
	if !s.register(sess) {
		s.releaseAddress(addr)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(int(CloseServiceRestart), CloseServiceRestart.Name()), time.Now().Add(s.timing.closeGrace))
		_ = conn.Close()
		return
	}
	defer s.unregister(sess)
	sess.log.Info("connection opened", "origin", r.Header.Get("Origin"))
	sess.run()
}

// admitConnection applies the limits known before the upgrade and, if the connection is admitted,
// counts it against its address. It returns the refusing limit ("" if admitted) with the HTTP status and
// Retry-After seconds to answer.
func (s *Server) admitConnection(addr string) (limit string, status, retryAfter int) {
	if s.draining.Load() {
		return LimitDraining, http.StatusServiceUnavailable, 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conversations >= s.limits.MaxConversations:
		return LimitConversations, http.StatusServiceUnavailable, 5
	case s.perAddress[addr] >= s.limits.MaxConnectionsPerAddress:
		return LimitConnectionsPerAddr, http.StatusTooManyRequests, 10
	case !s.newConns.Allow():
		return LimitConnectionRate, http.StatusTooManyRequests, 1
	}
	s.perAddress[addr]++
	return "", 0, 0
}

func refusalText(limit string) string {
	switch limit {
	case LimitDraining:
		return "the gateway is restarting; reconnect"
	case LimitConversations:
		return "this gateway is full; reconnect in a few seconds"
	case LimitConnectionsPerAddr:
		return "too many connections from your address"
	}
	return "too many new connections; reconnect in a second"
}

// admitConversation counts an authenticated session as a conversation, unless the gateway or the user
// already holds as many as allowed.
func (s *Server) admitConversation(subject string) *sessionEnd {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conversations >= s.limits.MaxConversations:
		s.metrics.LimitRefusals.WithLabelValues(LimitConversations).Inc()
		return endWith(CloseTryAgainLater, "this gateway is full; reconnect in a few seconds", nil)
	case s.perUser[subject] >= s.limits.MaxConversationsPerUser:
		s.metrics.LimitRefusals.WithLabelValues(LimitConversationsPerUser).Inc()
		return endWith(CloseTooManyForUser,
			fmt.Sprintf("you already have %d conversations open; end one first", s.limits.MaxConversationsPerUser), nil)
	}
	s.conversations++
	s.perUser[subject]++
	s.metrics.ConversationsActive.Set(float64(s.conversations))
	return nil
}

// releaseConversation undoes admitConversation.
func (s *Server) releaseConversation(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conversations--
	if s.perUser[subject]--; s.perUser[subject] <= 0 {
		delete(s.perUser, subject)
	}
	s.metrics.ConversationsActive.Set(float64(s.conversations))
}

func (s *Server) releaseAddress(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseAddressLocked(addr)
}

func (s *Server) releaseAddressLocked(addr string) {
	if s.perAddress[addr]--; s.perAddress[addr] <= 0 {
		delete(s.perAddress, addr)
	}
}

// clientAddress is the address the per-address limit counts and the logs show: the trusted header's
// address if configured and present, otherwise the TCP peer. IPv6 addresses count by /64, the block one
// subscriber is usually given, so that rotating addresses within it does not escape the limit.
func (s *Server) clientAddress(r *http.Request) string {
	if s.addrHeader != "" {
		if v := strings.TrimSpace(r.Header.Get(s.addrHeader)); v != "" {
			if a, ok := parseAddress(v); ok {
				return addressKey(a)
			}
		}
	}
	if a, ok := parseAddress(r.RemoteAddr); ok {
		return addressKey(a)
	}
	return r.RemoteAddr
}

// parseAddress reads "ip", "ip:port", "[ipv6]:port", or CloudFront-Viewer-Address's "ipv6:port".
func parseAddress(v string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap(), true
	}
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if a, err := netip.ParseAddr(v[:i]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func addressKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
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
	s.metrics.ConnectionsOpen.Set(float64(len(s.sessions)))
	return true
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.metrics.ConnectionsOpen.Set(float64(len(s.sessions)))
	s.releaseAddressLocked(sess.addr)
	s.mu.Unlock()
	s.wg.Done()
}

// drainingNotice tells browsers the gateway is going away, so a client can finish its turn and reconnect.
var drainingNotice = []byte(`{"type":"draining","message":"the gateway is restarting; the conversation will be closed with code 1012 and may reconnect"}`)

// restarting is the end of a session the drain closes.
func restarting() *sessionEnd {
	return endWith(CloseServiceRestart, "the gateway is restarting; reconnect", nil)
}

// Drain takes the gateway out of service at once and ends every session by ctx's deadline:
//   - /ready fails, upgrades get 503, and sessionStart is refused on connections that authenticated
//     before the drain; /health keeps answering;
//   - sessions without a conversation under way (not authenticated, or no Bedrock stream yet) are closed
//     with 1012 straight away;
//   - live conversations are told ({"type":"draining"}) and may finish on their own until ctx is done;
//   - then each remaining one is closed with 1012 and its Bedrock stream ended.
//
// It returns once every session has stopped, at most forceCloseSteps+1 closeGrace steps after ctx's
// deadline, with an error if some were still stopping then.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	var live []*session
	for sess := range s.sessions {
		if sess.streamOpened.Load() {
			live = append(live, sess)
		} else {
			sess.end(restarting())
		}
	}
	s.mu.Unlock()
	s.log.Info("draining", "conversations", len(live))
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
	remaining := len(s.sessions)
	for sess := range s.sessions {
		sess.end(restarting())
	}
	s.mu.Unlock()
	s.log.Info("drain deadline reached: closing conversations", "sessions", remaining)
	// Each session's teardown is bounded by a few closeGrace steps and they run in parallel.
	force := time.NewTimer(forceCloseSteps * s.timing.closeGrace)
	defer force.Stop()
	select {
	case <-done:
		return nil
	case <-force.C:
	}
	// Last resort: end every Bedrock stream and socket that is still open.
	s.cancelBase()
	s.mu.Lock()
	for sess := range s.sessions {
		_ = sess.conn.NetConn().Close()
	}
	s.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(s.timing.closeGrace):
		return fmt.Errorf("%d sessions still stopping after the forced close: %w", s.OpenConnections(), ctx.Err())
	}
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
