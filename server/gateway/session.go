package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// session is one browser conversation: one WebSocket and, from sessionStart on, one Bedrock stream.
type session struct {
	id      string
	srv     *Server
	conn    *websocket.Conn
	log     *slog.Logger
	out     *outbox
	started time.Time

	// ctx lives as long as the session; stop ends it with a reason, and the first reason wins.
	ctx  context.Context
	stop context.CancelCauseFunc

	// Owned by the read loop, then by run's teardown: the single writer of the Bedrock stream.
	input        inputState
	readBuf      bytes.Buffer
	stream       ModelStream
	cancelStream context.CancelFunc
	recvDone     chan struct{}

	// endRequested records that the gateway asked Bedrock to finish (sessionEnd or teardown): only then is
	// an end of its stream without an error a normal end.
	endRequested atomic.Bool

	// readStopped makes the read deadline final once the session is ending, so that the read loop's own
	// deadline extensions cannot race the stop.
	deadlineMu  sync.Mutex
	readStopped bool

	audioInBytes atomic.Int64
	eventsIn     atomic.Int64
	eventsOut    atomic.Int64
	audioDropped atomic.Int64
}

func newSession(srv *Server, conn *websocket.Conn, id string) *session {
	ctx, stop := context.WithCancelCause(srv.baseCtx)
	s := &session{
		ctx: ctx, stop: stop,
		id: id, srv: srv, conn: conn, started: time.Now(),
		log:      srv.log.With("session", id),
		out:      newOutbox(outboxMaxBytes, srv.timing.slowClient),
		recvDone: make(chan struct{}),
	}
	conn.SetPongHandler(func(string) error { s.extendReadDeadline(s.srv.timing.pong); return nil })
	return s
}

// run serves the session until it ends and everything it started has stopped.
func (s *session) run() {
	defer s.stop(nil)
	g, gctx := errgroup.WithContext(s.ctx)
	// The read loop blocks in a socket read that no context reaches: a past deadline wakes it.
	defer context.AfterFunc(gctx, s.stopReading)()
	g.Go(func() error { return s.writeLoop(gctx) })

	s.stop(s.readLoop(gctx, g))
	_ = g.Wait() // the write loop and receive loop report through the context's cause
	end := endOf(context.Cause(gctx))
	_ = s.conn.Close()
	s.endStream()
	s.logEnd(end)
}

// readLoop authenticates the browser, then validates each input event and sends it to Bedrock in order.
// It returns why the session should end, or nil when the session is already ending for another reason.
func (s *session) readLoop(ctx context.Context, g *errgroup.Group) error {
	if err := s.authenticate(ctx); err != nil {
		return err
	}
	for {
		frame, err := s.readFrame()
		if err != nil {
			return s.readFailure(ctx, err)
		}
		ev, err := s.input.parseInputEvent(frame)
		if err != nil {
			return endWith(CloseBadRequest, err.Error(), nil)
		}
		if s.stream == nil { // the validator admits only sessionStart as the first event
			if err := s.openStream(ctx, g); err != nil {
				return err
			}
		}
		if ev.Name == evSessionEnd {
			for _, end := range s.input.openBlockEnds() {
				if err := s.stream.Send(ctx, chunk(end)); err != nil {
					return s.sendFailure(ctx, err)
				}
			}
		}
		if err := s.stream.Send(ctx, chunk(ev.Payload)); err != nil {
			return s.sendFailure(ctx, err)
		}
		s.eventsIn.Add(1)
		s.audioInBytes.Add(int64(ev.AudioBytes))
		if ev.Name == evSessionEnd {
			// The browser is done: Bedrock finishes its answer and ends the stream, which ends the session.
			s.endRequested.Store(true)
			if err := s.stream.CloseSend(); err != nil {
				return s.sendFailure(ctx, err)
			}
		}
	}
}

// authenticate reads the authorization message, which must come first and within authTimeout.
func (s *session) authenticate(ctx context.Context) error {
	s.extendReadDeadline(s.srv.timing.auth)
	frame, err := s.readFrame()
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() && ctx.Err() == nil {
			return endWith(CloseUnauthorized, fmt.Sprintf("no authorization message within %s", s.srv.timing.auth), nil)
		}
		return s.readFailure(ctx, err)
	}
	var msg authorizationMessage
	if json.Unmarshal(frame, &msg) != nil || msg.Type != "authorization" {
		return endWith(CloseUnauthorized, `the first message must be {"type":"authorization","token":"Bearer <token>"}`, nil)
	}
	principal, err := s.srv.auth.Authenticate(ctx, msg.Token)
	if err != nil {
		return endWith(CloseUnauthorized, "authorization failed: "+err.Error(), err)
	}
	s.log = s.log.With("subject", principal.Subject)
	// The replaced system's server answered {"type":"authorization","status":"success"}; the session id is
	// added so a user can quote it when reporting a problem.
	reply, _ := json.Marshal(map[string]string{"type": "authorization", "status": "success", "sessionId": s.id})
	return s.out.push(ctx, outMessage{data: reply})
}

// readFrame reads one text frame of at most maxMessageBytes into the session's reused buffer.
func (s *session) readFrame() ([]byte, error) {
	kind, r, err := s.conn.NextReader()
	if err != nil {
		return nil, err
	}
	s.extendReadDeadline(s.srv.timing.pong)
	if kind != websocket.TextMessage {
		return nil, endWith(CloseUnsupportedData, "binary frames are not supported: send JSON text frames", nil)
	}
	s.readBuf.Reset()
	// Reading one byte past the limit tells an oversized frame apart, so the browser gets a JSON error
	// before the close; gorilla's own limit (twice ours) still stops a frame that never ends.
	if _, err := s.readBuf.ReadFrom(io.LimitReader(r, maxMessageBytes+1)); err != nil {
		return nil, err
	}
	if s.readBuf.Len() > maxMessageBytes {
		return nil, endWith(CloseMessageTooBig, fmt.Sprintf("message larger than %d bytes", maxMessageBytes), nil)
	}
	return s.readBuf.Bytes(), nil
}

// readFailure turns a failed read into the session's end.
func (s *session) readFailure(ctx context.Context, err error) error {
	var end *sessionEnd
	switch {
	case ctx.Err() != nil:
		return nil // the session is already ending; the read was stopped on purpose
	case errors.As(err, &end):
		return end
	case errors.Is(err, websocket.ErrReadLimit):
		return endWith(CloseMessageTooBig, fmt.Sprintf("message larger than %d bytes", maxMessageBytes), err)
	}
	return clientGone(err) // a close frame, a reset, or no frame (not even a pong) within pongWait
}

// openStream starts the session's Bedrock stream and its receive loop.
func (s *session) openStream(ctx context.Context, g *errgroup.Group) error {
	// The stream outlives the session's context on purpose: teardown still sends the closing events and
	// waits for Bedrock to finish after the session has been cancelled. endStream cancels it last.
	streamCtx, cancel := context.WithCancel(s.srv.baseCtx)
	stream, err := s.srv.models.OpenStream(streamCtx)
	if err != nil {
		cancel()
		return endForModelError(err)
	}
	s.stream, s.cancelStream = stream, cancel
	g.Go(func() error {
		defer close(s.recvDone)
		return s.receiveLoop(ctx, stream)
	})
	return nil
}

// sendFailure explains a failed Send. The SDK's Send error is generic ("stream closed"); the real cause
// arrives through the stream's Err once the receive loop has seen Events close, and the receive loop then
// ends the session with it. The read loop waits for that verdict and only guesses from the send error if
// it does not come.
func (s *session) sendFailure(ctx context.Context, sendErr error) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.recvDone:
		// The receive loop has returned its verdict; errgroup cancels ctx with it an instant later.
		<-ctx.Done()
		return nil
	case <-time.After(s.srv.timing.sendError):
	}
	if err := s.stream.Err(); err != nil {
		return endForModelError(err)
	}
	return endForModelError(sendErr)
}

// receiveLoop relays Bedrock's output events to the outbox until the stream ends. It always returns a
// sessionEnd: a normal one when the gateway had asked for the end, a failure otherwise.
func (s *session) receiveLoop(ctx context.Context, stream ModelStream) error {
	events := stream.Events()
	for {
		var ev types.InvokeModelWithBidirectionalStreamOutput
		var open bool
		select {
		case <-ctx.Done():
			return nil // ending for another reason; endStream drains and closes the stream
		case ev, open = <-events:
		}
		if !open {
			break
		}
		c, ok := ev.(*types.InvokeModelWithBidirectionalStreamOutputMemberChunk)
		if !ok {
			// A union member this SDK does not know: newer service output, harmless to skip.
			s.log.Debug("skipped unknown output event", "type", fmt.Sprintf("%T", ev))
			continue
		}
		info := inspectOutput(c.Value.Bytes)
		if info.interrupted {
			// Barge-in: speech still queued here would only play after the user started talking.
			if n := s.out.dropAudio(); n > 0 {
				s.audioDropped.Add(int64(n))
			}
		}
		if err := s.out.push(ctx, outMessage{data: c.Value.Bytes, audio: info.name == "audioOutput"}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.eventsOut.Add(1)
	}
	if err := stream.Err(); err != nil {
		return endForModelError(err)
	}
	if s.endRequested.Load() {
		return endWith(CloseNormal, "the conversation ended", nil)
	}
	return endForModelError(errUnexpectedEnd)
}

// writeLoop is the only writer of the WebSocket: queued output, pings, and finally the error message and
// close frame that say why the session ended.
func (s *session) writeLoop(ctx context.Context) error {
	defer s.out.close()
	ping := time.NewTicker(s.srv.timing.ping)
	defer ping.Stop()
	for {
		select {
		case <-s.out.ready:
			if err := s.writeQueued(time.Now().Add(s.srv.timing.write)); err != nil {
				return err
			}
		case <-ping.C:
			_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.timing.write))
			if err := s.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return writeFailure(err)
			}
		case <-ctx.Done():
			s.finish(endOf(context.Cause(ctx)))
			return nil
		}
	}
}

// writeQueued writes everything in the outbox, each frame within the deadline.
func (s *session) writeQueued(deadline time.Time) error {
	for _, m := range s.out.take() {
		_ = s.conn.SetWriteDeadline(deadline)
		if err := s.conn.WriteMessage(websocket.TextMessage, m.data); err != nil {
			return writeFailure(err)
		}
	}
	return nil
}

func writeFailure(err error) error {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return endWith(CloseSlowClient, "the connection is too slow for real-time audio", err)
	}
	return clientGone(err)
}

// finish tells the browser why the session ends: the output still queued (so a normal end delivers the
// model's last words), then an error message unless the end is normal, then the close frame.
func (s *session) finish(end *sessionEnd) {
	if end.Code == CloseGoingAway {
		return
	}
	if s.writeQueued(time.Now().Add(s.srv.timing.write)) != nil {
		return
	}
	deadline := time.Now().Add(s.srv.timing.closeGrace)
	if end.Code != CloseNormal {
		_ = s.conn.SetWriteDeadline(deadline)
		if s.conn.WriteMessage(websocket.TextMessage, encodeErrorMessage(end)) != nil {
			return
		}
	}
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(int(end.Code), end.Code.Name()), deadline)
}

// endStream ends the Bedrock stream in the documented order, each step bounded by closeGrace: close what
// the browser left open (contentEnd, promptEnd, sessionEnd) so Bedrock frees the session's resources,
// half-close, wait for the stream to end, then Close and cancel. Cancelling alone would leave an idle
// stream open; Close alone would leave the HTTP/2 stream open if Bedrock never finished its response.
func (s *session) endStream() {
	if s.stream == nil {
		return
	}
	defer s.cancelStream()
	if closing := s.input.closingEvents(); len(closing) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.srv.timing.closeGrace)
		for _, ev := range closing {
			if s.stream.Send(ctx, chunk(ev)) != nil {
				break
			}
		}
		cancel()
		s.endRequested.Store(true)
		_ = s.stream.CloseSend()
	}
	timeout := time.NewTimer(s.srv.timing.closeGrace)
	defer timeout.Stop()
drain:
	for {
		select {
		case _, open := <-s.stream.Events():
			if !open {
				break drain
			}
		case <-timeout.C:
			break drain
		}
	}
	_ = s.stream.Close()
}

// stopReading makes the current and every later read fail at once.
func (s *session) stopReading() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	s.readStopped = true
	_ = s.conn.SetReadDeadline(time.Unix(1, 0))
}

// extendReadDeadline gives the browser d to send its next frame (or pong), unless reading has stopped.
func (s *session) extendReadDeadline(d time.Duration) {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if !s.readStopped {
		_ = s.conn.SetReadDeadline(time.Now().Add(d))
	}
}

// logEnd writes the session's one summary line. Expected ends are Info, failures Warn.
func (s *session) logEnd(end *sessionEnd) {
	level := slog.LevelInfo
	switch end.Code {
	case CloseNormal, CloseGoingAway, CloseServiceRestart:
	default:
		level = slog.LevelWarn
	}
	attrs := []any{
		"code", int(end.Code), "reason", end.Code.Name(), "message", end.Message,
		"duration_ms", time.Since(s.started).Milliseconds(),
		"events_in", s.eventsIn.Load(), "events_out", s.eventsOut.Load(),
		"audio_in_bytes", s.audioInBytes.Load(), "audio_dropped", s.audioDropped.Load(),
	}
	if end.Err != nil {
		attrs = append(attrs, "error", end.Err.Error())
	}
	s.log.Log(context.Background(), level, "session ended", attrs...)
}

// end stops the session from outside (a drain) with the given reason, unless it is already ending.
func (s *session) end(why *sessionEnd) { s.stop(why) }
