package gateway

import "time"

// Deadlines and sizes of a session. Every value here is documented in server/PROTOCOL.md; change both.
const (
	// authTimeout bounds how long a new connection may stay unauthenticated. The browser sends its
	// authorization message as soon as the socket opens, so 10 s is generous and keeps idle sockets cheap.
	authTimeout = 10 * time.Second

	// writeWait bounds one WebSocket write. A browser that cannot take a frame in 10 s is on a dead link or
	// too slow for real-time audio; the session ends rather than queueing without limit.
	writeWait = 10 * time.Second

	// pingPeriod keeps every idle timeout on the path from cutting a quiet conversation: CloudFront's
	// origin read timeout (30 s by default) and the NLB's TCP idle timeout (350 s) are both longer.
	pingPeriod = 20 * time.Second

	// pongWait is how long the gateway waits for any frame (audio, pong) before it declares the browser
	// gone. Two missed pings.
	pongWait = 2*pingPeriod + 5*time.Second

	// maxMessageBytes is the largest text frame the gateway accepts: the replaced system's 128 KiB, which
	// fits a long system prompt or tool configuration. Audio frames are about 1.4 KiB (32 ms at 16 kHz).
	maxMessageBytes = 128 << 10

	// maxAudioFrameBytes caps the decoded PCM in one audioInput event: one second of 16 kHz 16-bit mono.
	maxAudioFrameBytes = 32000

	// outboxMaxBytes bounds the output waiting for the browser. Nova Sonic sends speech faster than real
	// time, so a whole answer can arrive in a burst; 4 MiB holds about a minute of 24 kHz speech.
	outboxMaxBytes = 4 << 20

	// slowClientTimeout is how long the Bedrock receiver waits for room in a full outbox before the
	// browser counts as too slow. Waiting pushes back on Bedrock through HTTP/2 flow control.
	slowClientTimeout = 5 * time.Second

	// sendErrorWait bounds how long the read loop waits, after a failed send, for the Bedrock stream to
	// say why (the SDK's send error is generic and the typed error arrives through Err a little later,
	// from its own goroutines, sometimes hundreds of milliseconds later under load).
	sendErrorWait = 2 * time.Second

	// closeGrace bounds each teardown step: the close events sent to Bedrock, the wait for its stream to
	// end after the half-close, and the flush of queued output before the close frame. A browser that
	// disconnects therefore ends its Bedrock stream within about one second.
	closeGrace = 400 * time.Millisecond
)

// timing is the set of deadlines a Server uses: the constants above, shortened by tests.
type timing struct {
	auth, write, ping, pong, slowClient, sendError, closeGrace time.Duration
}

var defaultTiming = timing{
	auth: authTimeout, write: writeWait, ping: pingPeriod, pong: pongWait,
	slowClient: slowClientTimeout, sendError: sendErrorWait, closeGrace: closeGrace,
}
