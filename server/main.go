// Command gateway is the Nova Sonic speech gateway: browsers open a WebSocket on /interact-s2s and talk to
// Amazon Nova Sonic through it. The same binary runs in the ECS and EKS stacks and, with -local, on a
// developer's machine against a built-in simulated Nova Sonic (no AWS account needed).
//
// Every setting is an environment variable with a flag of the same meaning for local use; flags win.
// `gateway -h` lists them with their defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"novasonic/server/gateway"
	"novasonic/server/localbedrock"
	"novasonic/server/taskprotection"
	"novasonic/server/tools"
	"novasonic/server/web"
)

// settings is the gateway's whole configuration.
type settings struct {
	host, port     string
	local          bool
	bedrockRegion  string
	modelID        string
	allowedOrigins []string
	logLevel       slog.Level
	drainTimeout   time.Duration
	healthcheck    bool
	// The Cognito user pool and app client whose access tokens open sessions (required unless local).
	userPoolID, clientID string
	// issuerURL replaces the pool's Cognito issuer; "" for the pool's own.
	issuerURL string
	// Where the CloudWatch EMF metrics go; none without a service name.
	metricsNamespace, metricsServiceName string
	// metricsPort serves Prometheus /metrics; "" for none.
	metricsPort string
	// clientAddressHeader names the trusted proxy header with the client's address.
	clientAddressHeader string
	limits              gateway.Limits
	rotateStreamsAfter  time.Duration
	// The server-side tools' settings.
	timeZone   *time.Location
	weatherURL string
	// ecsAgentURI is set by ECS in every task (not by operators); with it the gateway keeps its task
	// protected from scale-in while conversations are live.
	ecsAgentURI string
}

// The defaults. The model is Nova 2 Sonic: amazon.nova-sonic-v1:0 reached end of life on 2026-09-14.
const (
	defaultPort        = "8080"
	defaultMetricsPort = "9090"
	defaultRegion      = "us-east-1"
	defaultModelID     = "amazon.nova-2-sonic-v1:0"
	// Below ECS's 120 s stop timeout (the Fargate maximum), with room for the gateway's forced close of
	// what is left at the deadline (at most a few seconds, gateway.Drain).
	defaultDrainTimeout = 110 * time.Second
)

// debugRoutes adds Go's profiling endpoints to the metrics port in builds with the pprof tag (pprof.go),
// which the load program uses; nil otherwise.
var debugRoutes func(*http.ServeMux)

func main() {
	cfg, err := loadSettings(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	if cfg.healthcheck {
		os.Exit(probeHealth(cfg.port))
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger, nil); err != nil {
		logger.Error("gateway stopped", "error", err.Error())
		os.Exit(1)
	}
}

// loadSettings reads the environment, then the flags, which override it.
func loadSettings(args []string, getenv func(string) string) (settings, error) {
	env := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	def := gateway.DefaultLimits()
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	local := fs.Bool("local", env("LOCAL_MODE", "false") == "true",
		"LOCAL_MODE: serve the built-in simulated Nova Sonic instead of Bedrock and accept any token (development only)")
	host := fs.String("host", env("HOST", ""),
		`HOST: interface to listen on (default all interfaces; 127.0.0.1 with -local)`)
	port := fs.String("port", env("PORT", defaultPort), "PORT: TCP port for HTTP and WebSocket")
	region := fs.String("bedrock-region", env("BEDROCK_REGION", defaultRegion),
		"BEDROCK_REGION: region of the Bedrock endpoint; independent of the region the gateway runs in")
	model := fs.String("model", env("BEDROCK_MODEL_ID", defaultModelID), "BEDROCK_MODEL_ID: Nova Sonic model id or inference profile")
	origins := fs.String("allowed-origins", env("ALLOWED_ORIGINS", ""),
		"ALLOWED_ORIGINS: comma-separated browser origins allowed to connect (default: the gateway's own origin)")
	level := fs.String("log-level", env("LOG_LEVEL", "info"), "LOG_LEVEL: debug, info, warn or error")
	drain := fs.String("drain-timeout", env("DRAIN_TIMEOUT", defaultDrainTimeout.String()),
		"DRAIN_TIMEOUT: how long live conversations may continue after SIGTERM")
	pool := fs.String("cognito-user-pool-id", env("COGNITO_USER_POOL_ID", ""),
		"COGNITO_USER_POOL_ID: user pool whose access tokens are accepted, <region>_<id> (required unless -local)")
	client := fs.String("cognito-client-id", env("COGNITO_CLIENT_ID", ""),
		"COGNITO_CLIENT_ID: app client the tokens must be issued to (required unless -local)")
	issuer := fs.String("cognito-issuer-url", env("COGNITO_ISSUER_URL", ""),
		"COGNITO_ISSUER_URL: issuer of the accepted tokens, with its keys at <issuer>/.well-known/jwks.json; https, or http on loopback for a local test issuer (default: the user pool's Cognito issuer)")
	metricsNamespace := fs.String("metrics-namespace", env("METRICS_NAMESPACE", "NovaSonic"),
		"METRICS_NAMESPACE: CloudWatch namespace of the EMF metrics")
	metricsService := fs.String("metrics-service-name", env("METRICS_SERVICE_NAME", ""),
		"METRICS_SERVICE_NAME: ServiceName dimension of the CloudWatch EMF metrics written to stdout every minute (default: none)")
	metricsPort := fs.String("metrics-port", env("METRICS_PORT", ""),
		`METRICS_PORT: port of the Prometheus /metrics endpoint, "off" for none (default 9090; off with -local)`)
	addrHeader := fs.String("client-address-header", env("CLIENT_ADDRESS_HEADER", ""),
		"CLIENT_ADDRESS_HEADER: trusted proxy header with the client's address, e.g. CloudFront-Viewer-Address (default: the TCP peer)")
	maxConv := fs.String("max-conversations", env("MAX_CONVERSATIONS", strconv.Itoa(def.MaxConversations)),
		"MAX_CONVERSATIONS: conversations one gateway holds; /ready fails at the limit")
	maxPerUser := fs.String("max-conversations-per-user", env("MAX_CONVERSATIONS_PER_USER", strconv.Itoa(def.MaxConversationsPerUser)),
		"MAX_CONVERSATIONS_PER_USER: conversations one user may hold at once")
	maxPerAddr := fs.String("max-connections-per-address", env("MAX_CONNECTIONS_PER_ADDRESS", strconv.Itoa(def.MaxConnectionsPerAddress)),
		"MAX_CONNECTIONS_PER_ADDRESS: WebSockets one client address may hold")
	connRate := fs.String("new-connections-per-second", env("NEW_CONNECTIONS_PER_SECOND", fmt.Sprint(def.NewConnectionsPerSecond)),
		"NEW_CONNECTIONS_PER_SECOND: new WebSockets accepted per second, bursts of twice as many")
	inputRate := fs.String("input-events-per-second", env("INPUT_EVENTS_PER_SECOND", fmt.Sprint(def.InputEventsPerSecond)),
		"INPUT_EVENTS_PER_SECOND: input events one conversation may send per second, bursts of twice as many")
	rotate := fs.String("stream-rotate-after", env("STREAM_ROTATE_AFTER", "7m"),
		"STREAM_ROTATE_AFTER: age at which a conversation moves to a new Bedrock stream, ahead of the 8-minute limit (at most 7m15s)")
	toolTimeout := fs.String("tool-timeout", env("TOOL_TIMEOUT", def.ToolTimeout.String()),
		"TOOL_TIMEOUT: how long a server-side tool call may take")
	timeZone := fs.String("time-zone", env("TIME_ZONE", "UTC"), "TIME_ZONE: IANA time zone of getDateAndTimeTool's answers")
	weatherURL := fs.String("weather-api-url", env("WEATHER_API_URL", tools.DefaultWeatherURL), "WEATHER_API_URL: Open-Meteo API for getWeatherTool")
	health := fs.Bool("healthcheck", false, "probe http://127.0.0.1:PORT/health and exit 0 if healthy (container health checks)")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	cfg := settings{
		host: *host, port: *port, local: *local, bedrockRegion: *region, modelID: *model,
		healthcheck: *health, userPoolID: *pool, clientID: *client, issuerURL: strings.TrimSuffix(*issuer, "/"),
		metricsNamespace: *metricsNamespace, metricsServiceName: *metricsService,
		clientAddressHeader: *addrHeader, weatherURL: *weatherURL,
		ecsAgentURI: strings.TrimSpace(getenv("ECS_AGENT_URI")),
	}
	var errs []error
	cfg.drainTimeout = parseDuration("DRAIN_TIMEOUT", *drain, &errs)
	cfg.limits = gateway.Limits{
		MaxConversations:         parseCount("MAX_CONVERSATIONS", *maxConv, &errs),
		MaxConversationsPerUser:  parseCount("MAX_CONVERSATIONS_PER_USER", *maxPerUser, &errs),
		MaxConnectionsPerAddress: parseCount("MAX_CONNECTIONS_PER_ADDRESS", *maxPerAddr, &errs),
		NewConnectionsPerSecond:  parseRate("NEW_CONNECTIONS_PER_SECOND", *connRate, &errs),
		InputEventsPerSecond:     parseRate("INPUT_EVENTS_PER_SECOND", *inputRate, &errs),
		ToolTimeout:              parseDuration("TOOL_TIMEOUT", *toolTimeout, &errs),
	}
	if cfg.rotateStreamsAfter = parseDuration("STREAM_ROTATE_AFTER", *rotate, &errs); cfg.rotateStreamsAfter > gateway.MaxRotateStreamsAfter {
		errs = append(errs, fmt.Errorf("STREAM_ROTATE_AFTER %q is later than %v: the handover must end before the stream's 8 minutes", *rotate, gateway.MaxRotateStreamsAfter))
	}
	if loc, err := time.LoadLocation(*timeZone); err != nil {
		errs = append(errs, fmt.Errorf("TIME_ZONE %q is not an IANA time zone such as Europe/Paris", *timeZone))
	} else {
		cfg.timeZone = loc
	}
	if u, err := url.Parse(cfg.weatherURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("WEATHER_API_URL %q is not an http(s) URL", cfg.weatherURL))
	}
	if cfg.issuerURL != "" && !trustworthyIssuer(cfg.issuerURL) {
		errs = append(errs, fmt.Errorf("COGNITO_ISSUER_URL %q must be an https URL, or http on a loopback address (a local test issuer)", cfg.issuerURL))
	}
	for _, p := range []struct{ key, value string }{{"PORT", cfg.port}} {
		if n, err := strconv.Atoi(p.value); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s %q is not a TCP port number", p.key, p.value))
		}
	}
	switch mp := strings.ToLower(*metricsPort); {
	case mp == "off":
	case mp == "" && cfg.local:
		// Off by default on a developer's machine: port 9090 is often taken there.
	case mp == "":
		cfg.metricsPort = defaultMetricsPort
	default:
		if n, err := strconv.Atoi(mp); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf(`METRICS_PORT %q is not a TCP port number or "off"`, *metricsPort))
		}
		cfg.metricsPort = mp
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q is not one of debug, info, warn, error", *level))
	}
	if err := errors.Join(errs...); err != nil {
		return settings{}, err
	}
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.allowedOrigins = append(cfg.allowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if !cfg.local && !cfg.healthcheck && (cfg.userPoolID == "" || cfg.clientID == "") {
		return settings{}, errors.New("COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID are required to verify tokens; use -local (LOCAL_MODE=true) for the simulated Nova Sonic without sign-in")
	}
	if cfg.local && cfg.host == "" {
		cfg.host = "127.0.0.1" // the simulator accepts any token: never expose it beyond this machine
	}
	return cfg, nil
}

// trustworthyIssuer reports whether the signing keys at issuer can be fetched without an attacker on the
// network replacing them: over https, or over http only from this machine (the load test's issuer).
func trustworthyIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		if u.Hostname() == "localhost" {
			return true
		}
		ip, err := netip.ParseAddr(u.Hostname())
		return err == nil && ip.IsLoopback()
	}
	return false
}

func parseDuration(key, v string, errs *[]error) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q is not a positive Go duration such as 110s", key, v))
	}
	return d
}

func parseCount(key, v string, errs *[]error) int {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q is not a positive whole number", key, v))
	}
	return n
}

func parseRate(key, v string, errs *[]error) float64 {
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q is not a positive number of events per second", key, v))
	}
	return r
}

// run serves until ctx ends, then drains live conversations for at most drainTimeout. listening, if set,
// learns the bound addresses (tests listen on port 0): the gateway's, then the metrics endpoint's or nil.
func run(ctx context.Context, cfg settings, logger *slog.Logger, listening func(gatewayAddr, metricsAddr net.Addr)) error {
	models, auth, cleanup, err := backends(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := gateway.NewMetrics(registry)
	gw, err := gateway.New(gateway.Options{
		Models: models, Auth: auth, AllowedOrigins: cfg.allowedOrigins, ClientAddressHeader: cfg.clientAddressHeader,
		Limits: cfg.limits, RotateStreamsAfter: cfg.rotateStreamsAfter, Metrics: metrics, WebClient: web.Handler(), Logger: logger,
		Tools: []gateway.Tool{
			tools.DateAndTime{Location: cfg.timeZone},
			tools.Weather{BaseURL: cfg.weatherURL, Client: &http.Client{Timeout: cfg.limits.ToolTimeout}},
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, cfg.port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpServer := &http.Server{
		Handler:           gw.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- httpServer.Serve(ln) }()
	var metricsAddr net.Addr
	if cfg.metricsPort != "" {
		// A port of its own: the load balancer forwards only PORT, so /metrics is never public.
		mln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, cfg.metricsPort))
		if err != nil {
			_ = httpServer.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		metricsAddr = mln.Addr()
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
		if debugRoutes != nil {
			debugRoutes(mux)
		}
		metricsServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { serveErr <- metricsServer.Serve(mln) }()
		defer metricsServer.Close()
	}
	gw.SetReady(true)
	if cfg.metricsServiceName != "" {
		// Reporting goes on while live conversations drain after SIGTERM.
		metricsCtx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics()
		go publishEMF(metricsCtx, os.Stdout, cfg.metricsNamespace, cfg.metricsServiceName, registry)
	}
	if cfg.ecsAgentURI != "" {
		// Scale-in and deployments leave the task alone while it has conversations. Optional: without the
		// agent the task is merely unprotected, so a bad URI is logged, never fatal.
		if client, err := taskprotection.NewClient(cfg.ecsAgentURI, nil); err != nil {
			logger.Warn("task scale-in protection off", "error", err.Error())
		} else {
			go taskprotection.NewProtector(client, gw.ActiveSessions, logger.With("component", "taskprotection")).Run(ctx)
		}
	}
	if listening != nil {
		listening(ln.Addr(), metricsAddr)
	}
	logger.Info("gateway listening", "addr", ln.Addr().String(), "metrics_port", cfg.metricsPort, "local", cfg.local,
		"bedrock_region", cfg.bedrockRegion, "model", cfg.modelID)
	if cfg.local {
		fmt.Fprintf(os.Stderr, "\n  Nova Sonic gateway (simulated model) is running: open http://%s/\n  Press Ctrl+C to stop.\n\n",
			net.JoinHostPort(displayHost(cfg.host), cfg.port))
	}

	select {
	case err := <-serveErr:
		_ = httpServer.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// The drain starts at once, and the HTTP server keeps serving meanwhile: /health stays 200 (a
	// draining gateway is healthy), /ready turns 503 and new WebSockets get 503. Only when every
	// conversation has ended does the listener close.
	logger.Info("shutting down", "drain_timeout", cfg.drainTimeout.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.drainTimeout)
	defer cancel()
	drainErr := gw.Drain(drainCtx)
	// Plain HTTP requests still in flight get a second; the drain has already used the budget.
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), time.Second)
	defer cancelShutdown()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		_ = httpServer.Close()
	}
	if drainErr != nil {
		return fmt.Errorf("drain: %w", drainErr)
	}
	return nil
}

// backends returns Nova Sonic and the authenticator: Bedrock through the default credential chain, or with
// -local the simulated Nova Sonic, reached through the same SDK client over TLS and HTTP/2.
func backends(ctx context.Context, cfg settings, logger *slog.Logger) (gateway.ModelOpener, gateway.Authenticator, func(), error) {
	if cfg.local {
		sim, err := localbedrock.Start(localbedrock.Options{Region: cfg.bedrockRegion, Logger: logger.With("component", "localbedrock")})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("start simulated Nova Sonic: %w", err)
		}
		// The developer's AWS configuration is not read: the simulator has its own test credentials.
		client := bedrockruntime.New(bedrockruntime.Options{}, sim.ClientOptions())
		logger.Info("simulated Nova Sonic started", "endpoint", sim.URL())
		return &gateway.Bedrock{Client: client, ModelID: cfg.modelID}, gateway.AcceptAnyToken{}, func() { _ = sim.Close() }, nil
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	verifier, err := gateway.NewCognitoVerifier(startCtx, gateway.CognitoOptions{UserPoolID: cfg.userPoolID, ClientID: cfg.clientID, IssuerURL: cfg.issuerURL})
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := newBedrockClient(ctx, cfg.bedrockRegion)
	if err != nil {
		_ = verifier.Close()
		return nil, nil, nil, err
	}
	return &gateway.Bedrock{Client: client, ModelID: cfg.modelID}, verifier, func() { _ = verifier.Close() }, nil
}

// newBedrockClient builds the production client from the default credential chain (ECS task role, EKS IRSA
// web identity, or a developer's profile), unchanged across platforms.
func newBedrockClient(ctx context.Context, region string) (*bedrockruntime.Client, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region),
		// The stream signs every event with the credentials it opened with, so they must outlive a whole
		// conversation: refresh any credentials that expire within the next 15 minutes before opening.
		config.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 15 * time.Minute }))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return bedrockruntime.NewFromConfig(awsCfg), nil
}

func displayHost(host string) string {
	if host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" {
		return "localhost"
	}
	return host
}

// probeHealth is the container health check: the image has no shell or curl.
func probeHealth(port string) int {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/health")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}
