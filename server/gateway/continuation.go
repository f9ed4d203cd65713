package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Continuation: one browser conversation, a sequence of Bedrock streams ("legs"). A Bedrock stream lives
// at most eight minutes, and can fail on its own ("system instability", an internal error, an end nobody
// asked for), but neither must end the conversation:
//
//   - Rotation. When the current leg is rotateAfter old (7 min), the next is opened ahead of time and the
//     conversation replayed on it (conversation.go: configuration, system prompt, history, the open audio
//     content, under the browser's own names). The sender hands over at the assistant's next turn
//     boundary, or during the user's silence when nobody is speaking, but never while a tool call is
//     pending; at rotateAfter+handoverWindow it hands over regardless. From then on the browser's input
//     goes to the new leg, each audio frame to exactly one leg, and only the new leg's output reaches the
//     browser; the old leg is closed in the background.
//   - Recovery. When the current leg fails with an error the service invites to retry, the conversation
//     is replayed on a new leg after a short backoff, at most maxRecoveries times per session; audio that
//     arrives meanwhile is held (the latest handoverAudioBytes of it). An error that is about the request
//     (validation, access) ends the session with its close code as before, without a retry.
//
// The browser sees one conversation: no close, no reconnect, the same promptName and contentName. Output
// the old leg had not finished is ended for it with contentEnd INTERRUPTED, so it flushes that speech.

// leg is one Bedrock stream of a session.
type leg struct {
	n      int // 1 for the session's first stream
	stream ModelStream
	cancel context.CancelFunc // ends the stream's context: the last step of closing it
	opened time.Time
	// sendCtx bounds sends to the leg: it ends closeGrace after the session does, so that a send under way
	// when the session ends completes (and what Bedrock was sent stays known) unless the stream is stuck.
	sendCtx     context.Context
	stopSendCtx func()
	// sent is what the leg was sent; it belongs to whoever sends to the leg (the opener, then the sender),
	// then to its closer.
	sent sentState
	// endRequested records that the gateway asked the leg to finish (sessionEnd or close): only then is an
	// end of its stream without an error a normal end.
	endRequested atomic.Bool
	done         chan struct{} // closed when the leg's receive loop has returned
	retired      bool          // the sender's: the leg was replaced or failed, its end is expected
}

// legEnd is a leg's receive loop reporting that its stream ended, and why (nil: as requested).
type legEnd struct {
	leg *leg
	err error
}

// legOpened is an opener's result.
type legOpened struct {
	leg      *leg
	err      error
	recovery bool
}

// openLeg starts leg n's Bedrock stream and its receive loop, and sends it replay (the continuation of the
// conversation; nothing for the first leg). A replay the stream refuses fails with the stream's error.
func (s *session) openLeg(ctx context.Context, n int, replay []inputEvent) (*leg, error) {
	// The stream outlives the session's context on purpose: its closer still sends the closing events and
	// waits for Bedrock to finish after the session has been cancelled, and cancels it last.
	streamCtx, cancel := context.WithCancel(s.srv.baseCtx)
	stream, err := s.srv.models.OpenStream(streamCtx)
	if err != nil {
		cancel()
		return nil, err
	}
	l := &leg{n: n, stream: stream, cancel: cancel, opened: time.Now(), done: make(chan struct{})}
	sendCtx, cancelSend := context.WithCancel(streamCtx)
	var graceMu sync.Mutex
	var grace *time.Timer
	stopGrace := context.AfterFunc(ctx, func() {
		graceMu.Lock()
		defer graceMu.Unlock()
		grace = time.AfterFunc(s.srv.timing.closeGrace, cancelSend)
	})
	l.sendCtx = sendCtx
	l.stopSendCtx = func() {
		stopGrace()
		graceMu.Lock()
		if grace != nil {
			grace.Stop()
		}
		graceMu.Unlock()
		cancelSend()
	}
	s.srv.metrics.BedrockStreamsOpen.Inc()
	s.legs.Add(1)
	go func() {
		defer s.legs.Done()
		s.receive(l)
	}()
	for _, ev := range replay {
		if err := l.stream.Send(l.sendCtx, chunk(ev.Payload)); err != nil {
			err = s.legFailure(l, err)
			s.endLeg(l)
			return nil, err
		}
		l.sent.record(ev)
	}
	return l, nil
}

// legFailure explains a failed send to l. The SDK's Send error is generic ("stream closed"); the real
// cause arrives through the stream's Err once its receive loop has seen Events close. Wait for that
// verdict, within sendErrorWait.
func (s *session) legFailure(l *leg, sendErr error) error {
	wait := time.NewTimer(s.srv.timing.sendError)
	defer wait.Stop()
	select {
	case <-l.done:
	case <-wait.C:
	}
	if err := l.stream.Err(); err != nil {
		return err
	}
	return sendErr
}

// receive reads a leg's output until its stream ends. Only the current leg's output reaches the browser;
// a leg that is being opened or was replaced is drained (its usage still counted) so that its stream can
// end. It reports the end to the sender.
func (s *session) receive(l *leg) {
	defer close(l.done)
	for ev := range l.stream.Events() {
		c, ok := ev.(*types.InvokeModelWithBidirectionalStreamOutputMemberChunk)
		if !ok {
			// A union member this SDK does not know: newer service output, harmless to skip.
			continue
		}
		info := inspectOutput(c.Value.Bytes)
		s.countTokens(info) // billed whether or not the browser hears it
		if s.current.Load() != l || s.ctx.Err() != nil {
			continue
		}
		if info.name == "completionStart" && s.completionStarted.Swap(true) {
			continue // a continuation's own start: the browser's conversation began long ago
		}
		s.observeOutput(s.ctx, l, info)
		if err := s.out.push(s.ctx, outMessage{data: c.Value.Bytes, audio: info.name == "audioOutput"}); err != nil {
			if s.ctx.Err() == nil {
				s.stop(err) // the browser is too slow for real-time audio
			}
			continue
		}
		s.eventsOut.Add(1)
	}
	// Nothing can be sent to an ended stream: a send blocked on it returns now.
	l.stopSendCtx()
	err := l.stream.Err()
	if err == nil && !l.endRequested.Load() {
		err = errUnexpectedEnd
	}
	select {
	case s.legEnded <- legEnd{leg: l, err: err}:
	case <-s.ctx.Done():
	}
}

// endLeg closes a leg in the documented order, each step bounded by closeGrace: close what it has open
// (contentEnd, promptEnd, sessionEnd) so Bedrock frees the session's resources, half-close, wait for the
// stream to end, then Close and cancel. Cancelling alone would leave an idle stream open; Close alone
// would leave the HTTP/2 stream open if Bedrock never finished its response.
func (s *session) endLeg(l *leg) {
	defer s.srv.metrics.BedrockStreamsOpen.Dec()
	defer l.cancel()
	l.stopSendCtx()
	l.endRequested.Store(true)
	if closing := l.sent.closingEvents(); len(closing) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.srv.timing.closeGrace)
		for _, ev := range closing {
			if l.stream.Send(ctx, chunk(ev)) != nil {
				break
			}
		}
		cancel()
	}
	// Half-close in every case (twice is harmless): a stream that was opened but never sent anything
	// must end too.
	_ = l.stream.CloseSend()
	wait := time.NewTimer(s.srv.timing.closeGrace)
	defer wait.Stop()
	select {
	case <-l.done:
	case <-wait.C:
	}
	_ = l.stream.Close()
}

// closeLegLater closes a leg the session no longer uses, beside the conversation. Only the sender calls
// it (or an opener for a leg the sender never saw).
func (s *session) closeLegLater(l *leg) {
	l.retired = true
	s.legs.Add(1)
	go func() {
		defer s.legs.Done()
		s.endLeg(l)
	}()
}

// recoveryCause classifies a failure of the current leg: the cause of a recovery, with whether the
// retry should wait longer (throttling), or ok false for a failure to end the session with. age is the
// leg's age: a time-out of a leg past its rotation time is the stream's time limit, not an idle browser.
func recoveryCause(err error, age, rotateAfter time.Duration) (cause string, slow, ok bool) {
	var (
		streamErr   *types.ModelStreamErrorException
		internal    *types.InternalServerException
		unavailable *types.ServiceUnavailableException
		notReady    *types.ModelNotReadyException
		throttling  *types.ThrottlingException
		quota       *types.ServiceQuotaExceededException
		timeout     *types.ModelTimeoutException
		apiErr      smithy.APIError
		canceled    *smithy.CanceledError
		httpErr     *smithyhttp.ResponseError
	)
	switch {
	case errors.As(err, &httpErr) && (httpErr.HTTPStatusCode() == http.StatusUnauthorized || httpErr.HTTPStatusCode() == http.StatusForbidden):
		return "", false, false
	case errors.As(err, &streamErr):
		return "model_stream_error", false, true
	case errors.As(err, &internal):
		return "internal_error", false, true
	case errors.As(err, &unavailable), errors.As(err, &notReady):
		return "unavailable", true, true
	case errors.As(err, &throttling), errors.As(err, &quota):
		return "throttled", true, true
	case errors.Is(err, errUnexpectedEnd):
		return "unexpected_end", false, true
	case errors.As(err, &timeout):
		return "stream_limit", false, age >= rotateAfter
	case errors.As(err, &apiErr), errors.As(err, &canceled):
		return "", false, false // validation, access, unknown model, and anything else the service says
	}
	return "unreachable", true, true // no answer from the service at all: connection refused, DNS, TLS
}
