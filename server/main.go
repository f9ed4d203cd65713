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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"novasonic/server/gateway"
	"novasonic/server/localbedrock"
	"novasonic/server/taskprotection"
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
	// Where ActiveSessions is reported; no metric without a service name.
	metricsNamespace, metricsServiceName string
	// ecsAgentURI is set by ECS in every task (not by operators); with it the gateway keeps its task
	// protected from scale-in while conversations are live.
	ecsAgentURI string
}

// The defaults. The model is Nova 2 Sonic: amazon.nova-sonic-v1:0 reached end of life on 2026-09-14.
const (
	defaultPort         = "8080"
	defaultRegion       = "us-east-1"
	defaultModelID      = "amazon.nova-2-sonic-v1:0"
	defaultDrainTimeout = 110 * time.Second // below ECS's 120 s stop timeout, the Fargate maximum
)

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
	drain := fs.Duration("drain-timeout", defaultDrainTimeout, "DRAIN_TIMEOUT: how long live conversations may continue after SIGTERM")
	pool := fs.String("cognito-user-pool-id", env("COGNITO_USER_POOL_ID", ""),
		"COGNITO_USER_POOL_ID: user pool whose access tokens are accepted, <region>_<id> (required unless -local)")
	client := fs.String("cognito-client-id", env("COGNITO_CLIENT_ID", ""),
		"COGNITO_CLIENT_ID: app client the tokens must be issued to (required unless -local)")
	metricsNamespace := fs.String("metrics-namespace", env("METRICS_NAMESPACE", "NovaSonic"),
		"METRICS_NAMESPACE: CloudWatch namespace of the ActiveSessions metric")
	metricsService := fs.String("metrics-service-name", env("METRICS_SERVICE_NAME", ""),
		"METRICS_SERVICE_NAME: ServiceName dimension of ActiveSessions, written to stdout as CloudWatch EMF every minute (default: no metric)")
	health := fs.Bool("healthcheck", false, "probe http://127.0.0.1:PORT/health and exit 0 if healthy (container health checks)")
	if v := getenv("DRAIN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return settings{}, fmt.Errorf("DRAIN_TIMEOUT %q is not a positive Go duration such as 110s", v)
		}
		*drain = d
	}
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	cfg := settings{
		host: *host, port: *port, local: *local, bedrockRegion: *region, modelID: *model,
		drainTimeout: *drain, healthcheck: *health, userPoolID: *pool, clientID: *client,
		metricsNamespace: *metricsNamespace, metricsServiceName: *metricsService,
		ecsAgentURI: strings.TrimSpace(getenv("ECS_AGENT_URI")),
	}
	if p, err := strconv.Atoi(cfg.port); err != nil || p < 0 || p > 65535 {
		return settings{}, fmt.Errorf("PORT %q is not a TCP port number", cfg.port)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return settings{}, fmt.Errorf("LOG_LEVEL %q is not one of debug, info, warn, error", *level)
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

// run serves until ctx ends, then drains live conversations for at most drainTimeout. listening, if set,
// learns the bound address (tests listen on port 0).
func run(ctx context.Context, cfg settings, logger *slog.Logger, listening func(net.Addr)) error {
	models, auth, cleanup, err := backends(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	gw, err := gateway.New(gateway.Options{
		Models: models, Auth: auth, AllowedOrigins: cfg.allowedOrigins, WebClient: web.Handler(), Logger: logger,
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
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()
	gw.SetReady(true)
	if cfg.metricsServiceName != "" {
		// Reporting goes on while live conversations drain after SIGTERM.
		metricsCtx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics()
		go publishActiveSessions(metricsCtx, os.Stdout, cfg.metricsNamespace, cfg.metricsServiceName, gw.ActiveSessions)
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
		listening(ln.Addr())
	}
	logger.Info("gateway listening", "addr", ln.Addr().String(), "local", cfg.local,
		"bedrock_region", cfg.bedrockRegion, "model", cfg.modelID)
	if cfg.local {
		fmt.Fprintf(os.Stderr, "\n  Nova Sonic gateway (simulated model) is running: open http://%s/\n  Press Ctrl+C to stop.\n\n",
			net.JoinHostPort(displayHost(cfg.host), cfg.port))
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "drain_timeout", cfg.drainTimeout.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.drainTimeout)
	defer cancel()
	// Stop accepting connections first; hijacked WebSockets are not touched by http.Server.Shutdown and
	// are drained by the gateway itself.
	shutdownErr := httpServer.Shutdown(drainCtx)
	if err := gw.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if shutdownErr != nil && !errors.Is(shutdownErr, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", shutdownErr)
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
	verifier, err := gateway.NewCognitoVerifier(startCtx, gateway.CognitoOptions{UserPoolID: cfg.userPoolID, ClientID: cfg.clientID})
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
