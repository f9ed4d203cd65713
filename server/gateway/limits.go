package gateway

import "time"

// Deadlines and sizes of a session. Every value here is documented in server/PROTOCOL.md; change both.
const (
	// authTimeout bounds how long a new connection may stay unauthenticated, counted from the upgrade and
	// never extended: not by pongs, not by a frame that arrives one byte at a time. The browser sends its
	// authorization message as soon as the socket opens, so 10 s is generous and keeps idle sockets cheap.
	authTimeout = 10 * time.Second

	// writeWait bounds the write of one frame to the browser. A browser that cannot take one frame in 10 s
	// is on a dead link; one that keeps up with real time never comes near it, however long the burst.
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

	// outboxMaxBytes bounds the output not yet written to the browser, counting the frame being written.
	// Nova Sonic sends speech faster than real time, so a whole answer can arrive in a burst; 4 MiB holds
	// about a minute of 24 kHz speech.
	outboxMaxBytes = 4 << 20

	// slowClientTimeout is how long the Bedrock receiver waits for room in a full outbox before the
	// browser counts as too slow (4504). Waiting pushes back on Bedrock through HTTP/2 flow control.
	slowClientTimeout = 5 * time.Second

	// inputQueueLen bounds the input events validated but not yet sent to Bedrock: about 8 s of audio at
	// one frame per 32 ms. Bedrock takes input as fast as it comes unless its stream is stuck; when the
	// queue is full an audio frame is dropped (and counted) rather than blocking the browser's reader.
	inputQueueLen = 256

	// sendErrorWait bounds how long the sender waits, after a failed send, for the Bedrock stream to say
	// why (the SDK's send error is generic and the typed error arrives through Err a little later, from its
	// own goroutines, sometimes hundreds of milliseconds later under load).
	sendErrorWait = 2 * time.Second

	// closeGrace bounds each teardown step: the error message and close frame to the browser, the close
	// events sent to Bedrock, the wait for its stream to end after the half-close, and the wait for the
	// browser's side of the closing handshake. A browser that disconnects therefore ends its Bedrock
	// stream within two steps (TestTeardownAfterADisconnectIsBounded).
	closeGrace = 400 * time.Millisecond

	// forceCloseSteps is how many closeGrace steps Drain waits, after its deadline, for the sessions it
	// closes: each needs about three and they run in parallel. What is still open then is cut, which takes
	// one more step, so a drain ends at most (forceCloseSteps+1)·closeGrace = 2.4 s after DRAIN_TIMEOUT:
	// the two stay below the platform's stop timeout (ECS: 120 s).
	forceCloseSteps = 5

	// rotateAfter is when a conversation's Bedrock stream is replaced: a stream lives at most 8 minutes,
	// and what the service sends then is not documented. From this age the next stream is opened and
	// primed with the conversation, and the handover waits for the assistant's turn boundary or the
	// user's silence. Options.RotateStreamsAfter (STREAM_ROTATE_AFTER) sets it.
	rotateAfter = 7 * time.Minute

	// handoverWindow is how long after rotateAfter the handover waits for a good moment before it
	// happens regardless: 7:45, with margin before 8:00.
	handoverWindow = 45 * time.Second

	// MaxRotateStreamsAfter is the latest rotation Options.RotateStreamsAfter may ask for: its handover
	// window must end before the stream's 8 minutes.
	MaxRotateStreamsAfter = 8*time.Minute - handoverWindow

	// handoverSilence is how long nobody must have spoken (no loud user audio, no assistant output) for a
	// handover outside a turn boundary: longer than a pause between words.
	handoverSilence = 700 * time.Millisecond

	// recoveryBackoff is the wait before the first attempt to continue a conversation whose stream
	// failed; it doubles with each attempt, and is four times as long when Bedrock throttles.
	recoveryBackoff = 250 * time.Millisecond

	// maxRecoveries bounds the failed streams one conversation is continued after; the next failure
	// ends it with its close code.
	maxRecoveries = 3

	// handoverAudioBytes is how much of the user's latest audio is held while a failed stream is
	// replaced, and then sent to the new one: 3 s at 16 kHz. Older audio would only delay the answer.
	handoverAudioBytes = 3 * 16000 * 2
)

// timing is the set of deadlines a Server uses: the constants above, replaced by tests.
type timing struct {
	auth, write, ping, pong, slowClient, sendError, closeGrace    time.Duration
	rotateAfter, handoverWindow, handoverSilence, recoveryBackoff time.Duration
}

var defaultTiming = timing{
	auth: authTimeout, write: writeWait, ping: pingPeriod, pong: pongWait,
	slowClient: slowClientTimeout, sendError: sendErrorWait, closeGrace: closeGrace,
	rotateAfter: rotateAfter, handoverWindow: handoverWindow, handoverSilence: handoverSilence,
	recoveryBackoff: recoveryBackoff,
}

// Limits protect a gateway on the open internet and its owner's Bedrock bill. A zero field takes its
// default; server/PROTOCOL.md documents each limit with what a client sees when it is reached.
type Limits struct {
	// MaxConversations is how many conversations (authenticated sessions) one gateway holds. At the limit
	// /ready fails, so the load balancer sends new connections elsewhere, upgrades get 503, and a session
	// that authenticates anyway is closed with 1013. Default 150, for one vCPU: BENCHMARKS.md (Sizing) says why.
	MaxConversations int
	// MaxConversationsPerUser is how many conversations one user (token subject) may hold at once on one
	// gateway; one more is closed with 4409. Default 3: a few tabs, not a script opening streams on the
	// owner's bill.
	MaxConversationsPerUser int
	// MaxConnectionsPerAddress is how many WebSockets, authenticated or not, one client address may hold;
	// one more is refused with 429. Default 20: offices share one address behind NAT.
	MaxConnectionsPerAddress int
	// NewConnectionsPerSecond is the rate of new WebSockets the gateway accepts, with bursts of twice as
	// many; above it upgrades get 429. Default 20.
	NewConnectionsPerSecond float64
	// InputEventsPerSecond is the rate of input events one session may send, with bursts of twice as many;
	// above it the session is closed with 1008. Default 200: audio in 16 ms frames is 63 per second.
	InputEventsPerSecond float64
	// ToolTimeout bounds one server-side tool call; a call that takes longer is answered with an error
	// result. Default 10 s.
	ToolTimeout time.Duration
}

// withDefaults fills in every zero field.
func (l Limits) withDefaults() Limits {
	if l.MaxConversations <= 0 {
		l.MaxConversations = 150
	}
	if l.MaxConversationsPerUser <= 0 {
		l.MaxConversationsPerUser = 3
	}
	if l.MaxConnectionsPerAddress <= 0 {
		l.MaxConnectionsPerAddress = 20
	}
	if l.NewConnectionsPerSecond <= 0 {
		l.NewConnectionsPerSecond = 20
	}
	if l.InputEventsPerSecond <= 0 {
		l.InputEventsPerSecond = 200
	}
	if l.ToolTimeout <= 0 {
		l.ToolTimeout = 10 * time.Second
	}
	return l
}

// DefaultLimits are the limits a zero Limits gets.
func DefaultLimits() Limits { return Limits{}.withDefaults() }
