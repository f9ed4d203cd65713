// Package localbedrock is a local stand-in for the Amazon Bedrock Runtime operation
// InvokeModelWithBidirectionalStream, faithful enough that the real
// github.com/aws/aws-sdk-go-v2/service/bedrockruntime client talks to it unchanged.
//
// It serves POST /model/{modelId}/invoke-with-bidirectional-stream over HTTP/2 (TLS with a
// generated certificate, or cleartext h2c), checks SigV4 request signatures and every event-stream
// chunk signature (or a bearer token), validates the Nova Sonic input events, and answers with a
// scriptable [Behavior]. The default behaviour, [Simulator], is a simulated Nova Sonic that a
// person can talk to: it detects the end of speech by energy and plays the user's own words back.
//
// Tests start one with [Start], point the SDK at it with [Server.ClientOptions], and inspect what
// arrived through [Server.Records].
package localbedrock

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/auth/bearer"
)

// Test credentials and identifiers. They are deliberately fake and only ever accepted by this
// server; the shapes match real ones (20-character access key, 40-character secret, "ABSK" API key
// prefix) so that code validating formats treats them like the real thing.
const (
	// TestAccessKeyID is the access key ID the server knows by default.
	TestAccessKeyID = "AKIALOCALBEDROCKTEST"
	// TestSecretAccessKey is the secret that belongs to TestAccessKeyID.
	TestSecretAccessKey = "localbedrock/TEST/secret/0123456789abcdef"
	// TestBearerToken is the Bedrock API key (bearer token) the server accepts by default.
	TestBearerToken = "ABSKbG9jYWxiZWRyb2NrLXRlc3QtdG9rZW4="
	// DefaultRegion is the region the server signs for unless Options.Region says otherwise.
	DefaultRegion = "us-east-1"
	// ModelNova2Sonic is the Nova 2 Sonic model ID, the only model served by default.
	ModelNova2Sonic = "amazon.nova-2-sonic-v1:0"
	// ModelNovaSonicV1 is the retired Nova Sonic v1 model ID (end of life 2026-09-14). Requests for
	// it fail before the stream with HTTP 404 ResourceNotFoundException, the answer Bedrock gives
	// for end-of-life model versions.
	ModelNovaSonicV1 = "amazon.nova-sonic-v1:0"
)

// Sizes and deadlines. Durations that tests need to shorten are Options fields; these defaults
// mirror the service where its value is known.
const (
	// DefaultMaxStreamDuration is how long the service keeps a bidirectional stream open
	// ("remains open for 8 minutes", API reference). When it elapses the stream ends with
	// modelTimeoutException, which is what clients report after about 8 minutes.
	DefaultMaxStreamDuration = 8 * time.Minute
	// DefaultIdleInputTimeout is how long a stream may go without any input event before it ends
	// with modelTimeoutException. The service's exact value is not documented; 60 s is an
	// assumption, and the documented advice (keep streaming audio, silence included) holds either
	// way.
	DefaultIdleInputTimeout = 60 * time.Second
	// maxFrameBytes bounds one event-stream message on the request body. The SDK sends one message
	// per Send; a 32 ms audio frame is about 2 KB on the wire, so 1 MiB leaves room for large text
	// and tool results while keeping a hostile length prefix from allocating gigabytes.
	maxFrameBytes = 1 << 20
	// inputQueueLen is how many decoded input events wait for the behaviour. When a behaviour
	// stops receiving, the reader stops reading and HTTP/2 flow control pushes back on the
	// client, as a slow model would.
	inputQueueLen = 256
	// maxRecordedBytes bounds what one StreamRecord keeps (event JSON plus decoded audio). Eight
	// minutes of 16 kHz audio is about 15 MB decoded plus its JSON; later events are counted but
	// not kept.
	maxRecordedBytes = 64 << 20
	// defaultKeepRecords is how many finished stream records the server keeps for inspection.
	defaultKeepRecords = 256
	// maxClockSkew is how far a request or chunk :date may be from the server clock, as in SigV4.
	maxClockSkew = 15 * time.Minute
	// readHeaderTimeout bounds a client that connects but never finishes its request headers.
	// There is deliberately no read or write timeout: a stream legitimately lasts minutes.
	readHeaderTimeout = 10 * time.Second
	// connIdleTimeout closes HTTP/2 connections that carry no stream, like a load balancer would.
	connIdleTimeout = 2 * time.Minute
)

// Options configures a Server. The zero value serves TLS on 127.0.0.1 with the test credentials,
// the simulated Nova Sonic, and the service's timeouts.
type Options struct {
	// Addr is the listen address. Default: "127.0.0.1:0" (a free port on loopback).
	Addr string
	// H2C serves cleartext HTTP/2 with prior knowledge (and HTTP/1.1, which it refuses per
	// request) instead of TLS. Default: false, TLS with a self-signed ECDSA certificate for
	// 127.0.0.1, ::1 and localhost, generated at start.
	H2C bool
	// Region is the region requests must be signed for. Default: DefaultRegion.
	Region string
	// Credentials maps known access key IDs to their secret keys. Default: TestAccessKeyID →
	// TestSecretAccessKey.
	Credentials map[string]string
	// BearerTokens are the accepted Bedrock API keys for bearer authentication. Default:
	// TestBearerToken.
	BearerTokens []string
	// ModelIDs are the model IDs served; any other ID fails before the stream. Default:
	// ModelNova2Sonic.
	ModelIDs []string
	// MaxStreamDuration ends every stream with modelTimeoutException after this long. Default:
	// DefaultMaxStreamDuration.
	MaxStreamDuration time.Duration
	// IdleInputTimeout ends a stream with modelTimeoutException when no input event arrived for
	// this long. Default: DefaultIdleInputTimeout.
	IdleInputTimeout time.Duration
	// Behavior scripts the model for every request that BehaviorFor does not decide. Default:
	// Simulator(SimulatorConfig{}).
	Behavior Behavior
	// BehaviorFor picks a behaviour per request, for example by model ID or by a test header. A nil
	// result falls back to Behavior. Default: nil.
	BehaviorFor func(modelID string, r *http.Request) Behavior
	// Logger receives structured logs. Audio and credentials are never logged. Default: discard.
	Logger *slog.Logger
	// KeepRecords is how many finished stream records are kept. Default: 256.
	KeepRecords int
	// MaxReadFrameSize is the largest HTTP/2 frame the server accepts, which it advertises in its SETTINGS.
	// A Go client (the SDK's transport) holds a request-body buffer of this size, up to 512 KiB, for the
	// whole life of each stream (golang/go#79831), so it decides much of a client's memory per stream.
	// What Bedrock advertises is not documented. Default: Go's, 1 MiB (the worst case for the client);
	// 16384 is HTTP/2's own default.
	MaxReadFrameSize int
	// CountEventsOnly keeps each record's counts (AudioBytes, OutputEvents, EventsDropped) and end, but
	// not its input events: a load run holds hundreds of long streams, whose events nobody inspects.
	// Default: false, every event is recorded.
	CountEventsOnly bool
}

// Server is a running local Bedrock Runtime endpoint. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	models   map[string]bool
	url      string
	srv      *http.Server
	certPEM  []byte
	pool     *x509.CertPool
	client   *awshttp.BuildableClient
	served   chan struct{} // closed when Serve returns
	handlers sync.WaitGroup
	closing  atomic.Bool

	sigFailures atomic.Int64

	mu      sync.Mutex
	open    int
	changed chan struct{} // closed and replaced whenever open changes
	records []*streamRecord
}

// Start listens on Options.Addr and serves until Close.
func Start(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		models:  make(map[string]bool, len(opts.ModelIDs)),
		served:  make(chan struct{}),
		changed: make(chan struct{}),
	}
	for _, id := range opts.ModelIDs {
		s.models[id] = true
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{modelId}/invoke-with-bidirectional-stream", s.serveStream)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       connIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		Protocols:         new(http.Protocols),
		HTTP2: &http.HTTP2Config{
			MaxReadFrameSize: opts.MaxReadFrameSize,
			// A gateway multiplexes hundreds of conversations on one connection. With Go's default 1 MiB
			// connection window, 200 conversations' audio fills it in 85 ms, so a stand-in descheduled that
			// long stalled every stream's Send (seen in the load program). Bedrock's window is not
			// documented; the largest Go allows keeps the stand-in out of the measurement.
			MaxReceiveBufferPerConnection: 4<<20 - 1,
		},
	}
	// HTTP/1.1 stays enabled on purpose: the real endpoint also speaks it, and an HTTP/1.1 client
	// must fail the way it would against AWS (the SDK's own "requires HTTP/2" check on the
	// response), not with a TLS or connection error that only this fake would produce.
	s.srv.Protocols.SetHTTP1(true)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}

	serve := func() error { return s.srv.Serve(ln) }
	if opts.H2C {
		s.srv.Protocols.SetUnencryptedHTTP2(true)
		s.url = "http://" + ln.Addr().String()
		s.client = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			// Prior-knowledge h2c only: the SDK then never falls back to HTTP/1.1.
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		})
	} else {
		cert, certPEM, err := selfSignedCert(time.Now())
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("generate certificate: %w", err)
		}
		s.certPEM = certPEM
		s.pool = x509.NewCertPool()
		s.pool.AppendCertsFromPEM(certPEM)
		s.srv.Protocols.SetHTTP2(true)
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.url = "https://" + ln.Addr().String()
		s.client = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			// Keep the SDK's transport (ForceAttemptHTTP2, curve preferences) and only add trust
			// in our certificate: a hand-made transport silently falls back to HTTP/1.1.
			tr.TLSClientConfig = tr.TLSClientConfig.Clone()
			tr.TLSClientConfig.RootCAs = s.pool
		})
		serve = func() error { return s.srv.ServeTLS(ln, "", "") }
	}

	go func() {
		defer close(s.served)
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	s.log.Info("localbedrock listening", "url", s.url, "region", opts.Region, "h2c", opts.H2C)
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Credentials == nil {
		o.Credentials = map[string]string{TestAccessKeyID: TestSecretAccessKey}
	}
	if o.BearerTokens == nil {
		o.BearerTokens = []string{TestBearerToken}
	}
	if o.ModelIDs == nil {
		o.ModelIDs = []string{ModelNova2Sonic}
	}
	if o.MaxStreamDuration <= 0 {
		o.MaxStreamDuration = DefaultMaxStreamDuration
	}
	if o.IdleInputTimeout <= 0 {
		o.IdleInputTimeout = DefaultIdleInputTimeout
	}
	if o.Behavior == nil {
		o.Behavior = Simulator(SimulatorConfig{})
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.KeepRecords <= 0 {
		o.KeepRecords = defaultKeepRecords
	}
	return o
}

// URL is the endpoint to use as the SDK's BaseEndpoint, for example "https://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// Region is the region requests must be signed for.
func (s *Server) Region() string { return s.opts.Region }

// CertPEM is the PEM-encoded self-signed certificate (its own CA), or nil with H2C.
func (s *Server) CertPEM() []byte { return s.certPEM }

// CertPool is a pool trusting the server's certificate, or nil with H2C.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// TLSConfig is a client TLS configuration trusting the server, or nil with H2C.
func (s *Server) TLSConfig() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

// HTTPClient is an SDK HTTP client for this server: the SDK's own buildable client with its
// defaults (ForceAttemptHTTP2, no overall timeout) plus trust in the server certificate, or
// prior-knowledge h2c. Clients built from it share connections, as in production.
func (s *Server) HTTPClient() *awshttp.BuildableClient { return s.client }

// ClientOptions configures a bedrockruntime client for this server with SigV4 and the test
// credentials: BaseEndpoint, Region, static credentials and HTTPClient. It also pins SigV4 and
// drops any bearer token, so an AWS_BEARER_TOKEN_BEDROCK in the environment cannot silently
// switch a test to unsigned mode. Pass it to bedrockruntime.New as an option function (not inside
// the Options struct) so the HTTP client is used exactly as given.
func (s *Server) ClientOptions() func(*bedrockruntime.Options) {
	return s.SigV4ClientOptions(TestAccessKeyID, TestSecretAccessKey)
}

// SigV4ClientOptions is ClientOptions with explicit credentials, for example a wrong secret.
func (s *Server) SigV4ClientOptions(accessKeyID, secretAccessKey string) func(*bedrockruntime.Options) {
	return func(o *bedrockruntime.Options) {
		s.endpointOptions(o)
		o.Credentials = credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
		o.BearerAuthTokenProvider = nil
		o.AuthSchemePreference = []string{"sigv4"}
	}
}

// BearerClientOptions configures a bedrockruntime client for this server with bearer (API key)
// authentication, in which the SDK neither signs the request nor wraps event messages.
func (s *Server) BearerClientOptions(token string) func(*bedrockruntime.Options) {
	return func(o *bedrockruntime.Options) {
		s.endpointOptions(o)
		o.BearerAuthTokenProvider = bearer.StaticTokenProvider{Token: bearer.Token{Value: token}}
		o.AuthSchemePreference = []string{"httpBearerAuth"}
	}
}

func (s *Server) endpointOptions(o *bedrockruntime.Options) {
	o.Region = s.opts.Region
	o.BaseEndpoint = aws.String(s.url)
	o.HTTPClient = s.client
}

// SignatureFailures counts requests and chunks whose signature did not verify.
func (s *Server) SignatureFailures() int64 { return s.sigFailures.Load() }

// OpenStreams is the number of requests being served right now.
func (s *Server) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// WaitForOpenStreams blocks until exactly n requests are being served, or ctx ends.
func (s *Server) WaitForOpenStreams(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		open, changed := s.open, s.changed
		s.mu.Unlock()
		if open == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for %d open streams (now %d): %w", n, open, context.Cause(ctx))
		}
	}
}

func (s *Server) addOpen(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open += delta
	close(s.changed)
	s.changed = make(chan struct{})
}

// Close stops listening, closes every connection (which resets open streams) and waits for
// their handlers and behaviours to return.
func (s *Server) Close() error {
	// Under mu: a handler registers with the WaitGroup under the same lock after checking closing,
	// so no Add can race the Wait below.
	s.mu.Lock()
	s.closing.Store(true)
	s.mu.Unlock()
	err := s.srv.Close()
	<-s.served
	// http.Server.Close does not wait for handlers; behaviours see their context cancelled and
	// must return, so that tests checking for goroutine leaks see none.
	s.handlers.Wait()
	if err != nil {
		return fmt.Errorf("close server: %w", err)
	}
	return nil
}
