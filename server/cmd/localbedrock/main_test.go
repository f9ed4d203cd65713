package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"go.uber.org/goleak"

	"novasonic/server/bedrockcall"
	"novasonic/server/localbedrock"
)

func TestMain(m *testing.M) {
	// The SDK's own per-stream leak is ignored; everything else must end.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(bedrockcall.LeakedReader))
}

// TestExportsConfigureTheSDK starts the command, applies the export lines it prints to the
// environment and checks that a client from the SDK's default configuration chain reaches the
// simulator over TLS: the printed lines are the interface for people.
func TestExportsConfigureTheSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	runCtx, stop := context.WithCancel(ctx)
	stdout, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(runCtx, []string{"-cert-out", filepath.Join(t.TempDir(), "ca.pem")}, w, io.Discard)
		w.Close()
		done <- err
	}()
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, "#") {
			break
		}
		if name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			t.Setenv(name, value)
		}
	}
	go io.Copy(io.Discard, stdout)

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	client := bedrockruntime.NewFromConfig(cfg)
	var body bedrockcall.RequestBody
	out, err := client.InvokeModelWithBidirectionalStream(ctx,
		&bedrockruntime.InvokeModelWithBidirectionalStreamInput{ModelId: aws.String(localbedrock.ModelNova2Sonic)},
		bedrockcall.StreamOptions, body.Capture)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	stream := out.GetStream()
	// An invalid first event is the quickest complete round trip: validationException proves the
	// request reached the simulator, authenticated, and came back through the SDK.
	err = stream.Send(ctx, &types.InvokeModelWithBidirectionalStreamInputMemberChunk{
		Value: types.BidirectionalInputPayloadPart{Bytes: []byte(`{"event":{"promptStart":{"promptName":"p"}}}`)},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	for range stream.Events() {
	}
	var ve *types.ValidationException
	if err := stream.Err(); !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "sessionStart") {
		t.Errorf("Err() = %v, want the simulator's ValidationException", err)
	}
	stream.Close()
	body.DiscardRest() // the simulator ended the stream first

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
