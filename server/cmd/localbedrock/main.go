// Command localbedrock runs the local Amazon Bedrock Runtime stand-in with the simulated Nova
// Sonic, so that any AWS SDK client can talk to it without an AWS account:
//
//	go run ./server/cmd/localbedrock [-addr 127.0.0.1:0] [-h2c] [-max-stream 8m] [-cert-out file.pem]
//
// It prints the endpoint, region and test credentials as shell export lines (the AWS SDKs read
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_CA_BUNDLE) and logs JSON to stderr until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"novasonic/server/localbedrock"
)

// keepRecords bounds the stream records a long-running simulator keeps; nobody inspects them
// here, and each can hold minutes of audio.
const keepRecords = 4

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "localbedrock:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("localbedrock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	h2c := fs.Bool("h2c", false, "serve cleartext HTTP/2 (h2c) instead of TLS")
	maxStream := fs.Duration("max-stream", localbedrock.DefaultMaxStreamDuration, "maximum stream duration before modelTimeoutException")
	idle := fs.Duration("idle-timeout", localbedrock.DefaultIdleInputTimeout, "input silence before modelTimeoutException")
	certOut := fs.String("cert-out", "", "where to write the CA certificate PEM (TLS only; default: a file in the temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	srv, err := localbedrock.Start(localbedrock.Options{
		Addr:              *addr,
		H2C:               *h2c,
		MaxStreamDuration: *maxStream,
		IdleInputTimeout:  *idle,
		Logger:            log,
		KeepRecords:       keepRecords,
	})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}

	fmt.Fprintf(stdout, "export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=%s\n", srv.URL())
	fmt.Fprintf(stdout, "export AWS_REGION=%s\n", srv.Region())
	fmt.Fprintf(stdout, "export AWS_ACCESS_KEY_ID=%s\n", localbedrock.TestAccessKeyID)
	fmt.Fprintf(stdout, "export AWS_SECRET_ACCESS_KEY=%s\n", localbedrock.TestSecretAccessKey)
	fmt.Fprintln(stdout, "unset AWS_SESSION_TOKEN AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK")
	if !*h2c {
		path := *certOut
		if path == "" {
			path = filepath.Join(os.TempDir(), fmt.Sprintf("localbedrock-%d.pem", os.Getpid()))
		}
		// The certificate is public; 0644 lets other local users' tools trust it too.
		if err := os.WriteFile(path, srv.CertPEM(), 0o644); err != nil {
			srv.Close()
			return fmt.Errorf("write certificate: %w", err)
		}
		fmt.Fprintf(stdout, "export AWS_CA_BUNDLE=%s\n", path)
	}
	fmt.Fprintf(stdout, "# model %s; bearer token (AWS_BEARER_TOKEN_BEDROCK, TLS only): %s\n", localbedrock.ModelNova2Sonic, localbedrock.TestBearerToken)

	<-ctx.Done()
	log.Info("shutting down")
	start := time.Now()
	if err := srv.Close(); err != nil {
		return err
	}
	log.Info("stopped", "took", time.Since(start).String())
	return nil
}
