// Package bedrockcall is what every InvokeModelWithBidirectionalStream call needs with bedrockruntime
// v1.63 (smithy-go v1.28), whoever makes it: the gateway in production, and the tests and the load program
// that drive the SDK directly against server/localbedrock. Each part works around an SDK defect measured
// against the local Bedrock (server/localbedrock/README.md, "SDK defects found with it"); keeping them in
// one place means a test client cannot behave differently from the gateway it stands beside.
package bedrockcall

import (
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// LeakedReader is the function of the goroutine bedrockruntime v1.63 starts for every stream and never
// ends, whatever the caller does: newAsyncEventStreamReader ranges over a result channel that nothing
// closes (BENCHMARKS.md has its measured cost). Tests that check for leaked goroutines ignore exactly this
// one, with goleak.IgnoreTopFunction(bedrockcall.LeakedReader).
const LeakedReader = "github.com/aws/aws-sdk-go-v2/service/bedrockruntime.newAsyncEventStreamReader.func1"

// StreamOptions are the per-call options of every stream:
//   - The event-stream codec inside Options.Protocol is shared by every call on a client and is not
//     goroutine-safe (aws/smithy-go#714): concurrent streams corrupt each other's frames. A fresh protocol
//     per call gives each stream its own codec.
//   - A retried attempt opens a new request body while the stream's writer stays bound to the first one,
//     so the stream hangs or loses its error. One attempt; the caller decides what a failure means.
func StreamOptions(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
	o.RetryMaxAttempts = 1
}

// RequestBody keeps one call's HTTP request body so that what the transport left unread can be read
// away after the stream is closed. The SDK hands the transport an io.Pipe behind io.NopCloser, so once the
// response has ended first (an exception, a time limit, Bedrock ending the stream), nothing reads the pipe
// or closes it, and the SDK's writer goroutine blocks forever on its next write: at the latest, the
// end-of-input frame that the stream's Close writes. Every such stream would leak that goroutine.
//
// The zero value is ready: pass Capture as a per-call option, and call DiscardRest after the stream's
// Close.
type RequestBody struct {
	mu   sync.Mutex
	body io.ReadCloser
}

// Capture is a per-call option that records the request body the SDK sends. It wraps the HTTP client
// already in the options, so it comes after any option that sets one.
func (b *RequestBody) Capture(o *bedrockruntime.Options) {
	o.HTTPClient = capturingClient{next: o.HTTPClient, into: b}
}

// DiscardRest reads what is left of the request body in the background, which lets the SDK's writer
// finish: it closes its end of the pipe after the end-of-input frame, and that ends the read. Call it
// after the stream's Close and once the response has ended (or been given up on): while the transport is
// still sending the body, a second reader would take the end-of-input frame away from it.
func (b *RequestBody) DiscardRest() {
	b.mu.Lock()
	body := b.body
	b.body = nil
	b.mu.Unlock()
	if body != nil {
		go func() { _, _ = io.Copy(io.Discard, body) }()
	}
}

type capturingClient struct {
	next bedrockruntime.HTTPClient
	into *RequestBody
}

func (c capturingClient) Do(r *http.Request) (*http.Response, error) {
	c.into.mu.Lock()
	c.into.body = r.Body
	c.into.mu.Unlock()
	return c.next.Do(r)
}
