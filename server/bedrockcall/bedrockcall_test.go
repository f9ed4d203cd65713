package bedrockcall_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"go.uber.org/goleak"

	"novasonic/server/bedrockcall"
	"novasonic/server/localbedrock"
)

// When Bedrock ends a stream first, the HTTP/2 transport stops reading the request body, at once or after
// one more read of at most 512 KiB. A write in progress then never completes: it blocks the SDK's writer
// goroutine until DiscardRest reads it away. Here each stream is written to without pause, in events
// larger than that read, while the server ends it after the first; so at the end a write is in progress,
// except when the sender happens to be between two events; the test ends three streams so that this
// cannot hide a leak. Without DiscardRest, every writer leaked: 30 of 30 in 10 runs, with the machine busy.
func TestDiscardRestEndsTheWritersOfStreamsBedrockEnded(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv, err := localbedrock.Start(localbedrock.Options{
		Behavior: localbedrock.AbruptEnd(1),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	// Bounds only a hang; the test normally takes a few milliseconds per stream.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	client := bedrockruntime.New(bedrockruntime.Options{}, srv.ClientOptions())
	event := &types.InvokeModelWithBidirectionalStreamInputMemberChunk{Value: types.BidirectionalInputPayloadPart{
		Bytes: []byte(`{"event":{"audioInput":{"promptName":"p","contentName":"c","content":"` + strings.Repeat("A", 1<<20) + `"}}}`),
	}}

	const streams = 3
	for range streams {
		var body bedrockcall.RequestBody
		out, err := client.InvokeModelWithBidirectionalStream(ctx,
			&bedrockruntime.InvokeModelWithBidirectionalStreamInput{ModelId: aws.String(localbedrock.ModelNova2Sonic)},
			bedrockcall.StreamOptions, body.Capture)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		stream := out.GetStream()
		sending := make(chan struct{})
		go func() {
			defer close(sending)
			// Until the stream refuses: after the end, a Send returns once Close below has run.
			for stream.Send(ctx, event) == nil {
			}
		}()
		for range stream.Events() {
		}
		stream.Close()
		<-sending
		body.DiscardRest()
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close server: %v", err)
	}
	// Retries until every goroutine started since `before` has ended, or fails listing those left: without
	// DiscardRest, SDK writers blocked in io.(*pipe).write.
	goleak.VerifyNone(t, before, goleak.IgnoreTopFunction(bedrockcall.LeakedReader))
}

func TestStreamOptionsGiveEachCallItsOwnCodecAndOneAttempt(t *testing.T) {
	// A client's options as bedrockruntime.New leaves them: one protocol that every call would share.
	shared := bedrockruntime.New(bedrockruntime.Options{}).Options().Protocol
	first, second := bedrockruntime.Options{Protocol: shared}, bedrockruntime.Options{Protocol: shared}
	bedrockcall.StreamOptions(&first)
	bedrockcall.StreamOptions(&second)
	if first.Protocol == nil || first.Protocol == shared || first.Protocol == second.Protocol {
		t.Errorf("protocols %p and %p from %p: want a new one per call (its event-stream codec is not goroutine-safe)", first.Protocol, second.Protocol, shared)
	}
	if first.RetryMaxAttempts != 1 {
		t.Errorf("RetryMaxAttempts = %d, want 1", first.RetryMaxAttempts)
	}
}
