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
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// session is one browser connection: one WebSocket and, from sessionStart on, one Bedrock stream.
type session struct {
	id       string
	srv      *Server
	conn     *websocket.Conn
	log      *slog.Logger
	out      *outbox
	addr     string    // the client address the per-address limit counts
	upgraded time.Time // the authorization deadline counts from here

	// ctx lives as long as the session; stop ends it with a reason, and the first reason wins.
	ctx  context.Context
	stop context.CancelCauseFunc

	// Owned by the read loop.
	input        inputState
	readBuf      bytes.Buffer
	inputLimiter *rate.Limiter
	subject      string              // the authenticated user; "" before authorization
	swallowed    droppedToolContents // browser tool results for tools the gateway answered

	// authenticated is set once, by the read loop; the pong handler (in the read loop) and Drain read it.
	authenticated atomic.Bool
	// streamOpened tells Drain the session has a conversation under way.
	streamOpened atomic.Bool

	// The conversation's Bedrock streams (continuation.go). current is the leg the browser talks to; the
	// sender switches it, receive loops read it. legs counts receive loops, openers and closers, which
	// teardown waits for.
	inbox    chan inputItem // the read loop's and tools' input for the sender
	current  atomic.Pointer[leg]
	legs     sync.WaitGroup
	legEnded chan legEnd
	opened   chan legOpened
	used     []*leg // the sender's, then teardown's: every leg that was current, in order
	// turnEnded wakes the sender when the assistant ends a turn; turnBoundary says that no one has
	// spoken since, which makes now a moment to hand over to the next stream.
	turnEnded         chan struct{}
	turnBoundary      atomic.Bool
	completionStarted atomic.Bool
	conv              conversation

	// outputMu serialises what output events do to the session (tools, latency, history): at a handover
	// the old leg's receive loop may still be finishing an event when the new one starts.
	outputMu sync.Mutex
	tools    toolState

	// The user's final transcript not yet answered with audio, for the response latency metric (under
	// outputMu).
	userTurnEnded time.Time

	// readStopped makes the read deadline final once the session is ending, so that the read loop's own
	// deadline extensions cannot race the stop.
	deadlineMu  sync.Mutex
	readStopped bool
	// readFailed records a failed read (read loop, then teardown): gorilla fails every later read too.
	readFailed bool

	// closeSent records that the close frame went out, so teardown waits for the browser's half of the
	// closing handshake before closing the TCP connection.
	closeSent atomic.Bool

	audioInBytes atomic.Int64
	eventsIn     atomic.Int64
	eventsOut    atomic.Int64
	audioDropped atomic.Int64
	inputDropped atomic.Int64
}

func newSession(srv *Server, conn *websocket.Conn, id, addr string, upgraded time.Time) *session {
	ctx, stop := context.WithCancelCause(srv.baseCtx)
	s := &session{
		ctx: ctx, stop: stop,
		id: id, srv: srv, conn: conn, addr: addr, upgraded: upgraded,
		log:          srv.log.With("session", id),
		out:          newOutbox(outboxMaxBytes, srv.timing.slowClient),
		inputLimiter: rate.NewLimiter(rate.Limit(srv.limits.InputEventsPerSecond), int(2*srv.limits.InputEventsPerSecond)),
		inbox:        make(chan inputItem, inputQueueLen),
		legEnded:     make(chan legEnd, 4),
		opened:       make(chan legOpened, 1),
		turnEnded:    make(chan struct{}, 1),
	}
	// A pong keeps an authenticated conversation alive; before authorization it must not: the
	// authorization deadline is absolute, or a client could hold a socket forever with unsolicited pongs.
	conn.SetPongHandler(func(string) error {
		if s.authenticated.Load() {
			s.extendReadDeadline(s.srv.timing.pong)
		}
		return nil
	})
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
	end := endOf(context.Cause(gctx))
	if end.Code == CloseGoingAway && s.input.sessionEnded {
		// The browser asked to end and left at once, and the writer noticed first: a normal end.
		end = endedByClient(end.Err)
	}
	s.waitBounded(g, end)
	s.awaitPeerClose(end)
	s.tools.wg.Wait()

	// The Bedrock streams and the socket end side by side, each step bounded.
	var closing sync.WaitGroup
	if l := s.current.Load(); l != nil {
		closing.Go(func() { s.endLeg(l) })
	}
	_ = s.conn.Close()
	closing.Wait()
	s.legs.Wait()

	if s.subject != "" {
		s.srv.releaseConversation(s.subject)
		s.srv.metrics.conversationEnded(end.Code.Name(), time.Since(s.upgraded))
	}
	s.srv.metrics.ConnectionsEnded.WithLabelValues(end.Code.Name()).Inc()
	s.logEnd(end)
}

// waitBounded waits for the write loop, the Bedrock receiver and the sender. Each returns promptly once
// the session ends, except a writer blocked on a browser that stopped reading: after the writer's budget
// the socket is cut, which unblocks it.
func (s *session) waitBounded(g *errgroup.Group, end *sessionEnd) {
	done := make(chan struct{})
	go func() {
		_ = g.Wait() // every member reports through the context's cause
		close(done)
	}()
	budget := 2 * s.srv.timing.closeGrace // the error message and close frame
	if end.Code == CloseNormal {
		budget += s.srv.timing.write // and the model's last words before them
	}
	cut := time.NewTimer(budget)
	defer cut.Stop()
	select {
	case <-done:
	case <-cut.C:
		_ = s.conn.NetConn().Close()
		<-done
	}
}

// readLoop authenticates the browser, then validates each input event and hands it to the sender in
// order. It returns why the session should end, or nil when the session is already ending for another
// reason.
func (s *session) readLoop(ctx context.Context, g *errgroup.Group) error {
	if err := s.authenticate(ctx); err != nil {
		return err
	}
	for {
		frame, err := s.readFrame()
		if err != nil {
			return s.readFailure(ctx, err)
		}
		if ctx.Err() != nil {
			// The session is ending: what the browser sends until its half of the closing handshake is
			// read and dropped, so that the socket is never closed with input unread (awaitPeerClose).
			// It is still parsed, so that a sessionEnd that crossed the end is known (run).
			_, _ = s.input.parseInputEvent(frame)
			continue
		}
		if !s.inputLimiter.Allow() {
			s.srv.metrics.LimitRefusals.WithLabelValues(LimitInputRate).Inc()
			return endWith(CloseInputRate, fmt.Sprintf("more than %g input events per second", s.srv.limits.InputEventsPerSecond), nil)
		}
		ev, err := s.input.parseInputEvent(frame)
		if err != nil {
			return endWith(CloseBadRequest, err.Error(), nil)
		}
		s.eventsIn.Add(1)
		s.audioInBytes.Add(int64(ev.AudioBytes))
		if ev.Name == evSessionStart {
			if s.srv.draining.Load() {
				// The conversation would be cut at the drain deadline: better started on another gateway.
				s.srv.metrics.LimitRefusals.WithLabelValues(LimitDraining).Inc()
				return restarting()
			}
			// The sender opens the Bedrock stream when it takes this sessionStart.
			s.streamOpened.Store(true)
			g.Go(func() error { return s.sendLoop(ctx) })
		}
		if ev.Name == evTextInput {
			ev.Fields.Content = bytes.Clone(ev.Fields.Content) // the sender remembers typed text; readBuf is reused
		} else {
			ev.Fields.Content = nil
		}
		if s.dropBrowserToolResult(ev) {
			continue
		}
		if !s.enqueue(ctx, inputItem{events: []inputEvent{ev}, audio: ev.Name == evAudioInput}) && ctx.Err() != nil {
			return nil
		}
	}
}

// dropBrowserToolResult reports whether ev belongs to a browser's answer to a tool use the gateway
// answers itself (an older client that still runs the tool): the whole content block is dropped, so
// Bedrock gets one toolResult per toolUse.
func (s *session) dropBrowserToolResult(ev inputEvent) bool {
	drop, started := s.swallowed.drop(ev, s.tools.isHandled)
	if started {
		s.srv.metrics.drop(DropDuplicateToolResult, 1)
		s.log.Debug("dropped the browser's result for a tool the gateway answered", "tool_use_id", ev.Fields.ToolUseID)
	}
	return drop
}

// droppedToolContents are the browser's TOOL contents being dropped whole, by contentName: each one's
// contentStart answered a tool use the browser was not to answer.
type droppedToolContents map[string]bool

// drop reports whether ev belongs to such a content, starting one when ev is a TOOL contentStart whose
// tool use unwanted says is not the browser's to answer (started), and forgetting it at its contentEnd.
func (d *droppedToolContents) drop(ev inputEvent, unwanted func(toolUseID string) bool) (drop, started bool) {
	switch ev.Name {
	case evContentStart:
		if contentType(ev.Fields.Type) == contentTool && unwanted(ev.Fields.ToolUseID) {
			if *d == nil {
				*d = droppedToolContents{}
			}
			(*d)[ev.Fields.ContentName] = true
			return true, true
		}
	case evToolResult:
		return (*d)[ev.Fields.ContentName], false
	case evContentEnd:
		if (*d)[ev.Fields.ContentName] {
			delete(*d, ev.Fields.ContentName)
			return true, false
		}
	}
	return false, false
}

// authenticate reads the authorization message, which must come first and within authTimeout of the
// upgrade, then admits the conversation under the gateway's limits.
func (s *session) authenticate(ctx context.Context) error {
	s.setReadDeadline(s.upgraded.Add(s.srv.timing.auth))
	frame, err := s.readFrame()
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() && ctx.Err() == nil {
			s.srv.metrics.AuthFailures.WithLabelValues("timeout").Inc()
			return endWith(CloseUnauthorized, fmt.Sprintf("no authorization message within %s", s.srv.timing.auth), nil)
		}
		return s.readFailure(ctx, err)
	}
	if ctx.Err() != nil {
		return nil // ending for another reason (a drain) before authorization
	}
	var msg authorizationMessage
	if json.Unmarshal(frame, &msg) != nil || msg.Type != "authorization" {
		s.srv.metrics.AuthFailures.WithLabelValues(AuthMalformed).Inc()
		return endWith(CloseUnauthorized, `the first message must be {"type":"authorization","token":"Bearer <token>"}`, nil)
	}
	principal, err := s.srv.auth.Authenticate(ctx, msg.Token)
	if err != nil {
		reason, message := authRefusal(err)
		s.srv.metrics.AuthFailures.WithLabelValues(reason).Inc()
		return endWith(CloseUnauthorized, message, err)
	}
	if refused := s.srv.admitConversation(principal.Subject); refused != nil {
		return refused
	}
	s.subject = principal.Subject
	s.log = s.log.With("subject", principal.Subject)
	s.authenticated.Store(true)
	s.extendReadDeadline(s.srv.timing.pong)
	// The replaced system's server answered {"type":"authorization","status":"success"}; the session id
	// lets a user quote it when reporting a problem, and serverTools tells a client which tool uses the
	// gateway answers itself.
	reply, _ := json.Marshal(authorizationReply{Type: "authorization", Status: "success", SessionID: s.id, ServerTools: s.srv.toolNames})
	return s.out.push(ctx, outMessage{data: reply})
}

// readFrame reads one text frame of at most maxMessageBytes into the session's reused buffer.
func (s *session) readFrame() ([]byte, error) {
	kind, r, err := s.conn.NextReader()
	if err != nil {
		s.readFailed = true // gorilla returns the same error from every later read
		return nil, err
	}
	if s.authenticated.Load() {
		// Before authorization the deadline stays where it is: a frame that trickles in byte by byte
		// must not stretch it.
		s.extendReadDeadline(s.srv.timing.pong)
	}
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
	frame := s.readBuf.Bytes()
	if !utf8.Valid(frame) {
		// RFC 6455 §8.1: a text frame must be UTF-8; what Bedrock would make of invalid bytes is unknown.
		return nil, endWith(CloseInvalidPayload, "text frames must be valid UTF-8", nil)
	}
	s.srv.metrics.Frames.WithLabelValues(DirectionIn).Inc()
	s.srv.metrics.Bytes.WithLabelValues(DirectionIn).Add(float64(len(frame)))
	return frame, nil
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
	case s.input.sessionEnded:
		// The browser asked to end and left without waiting for the close, as the replaced system's client
		// does: a normal end. Teardown lets Bedrock finish within closeGrace.
		return endedByClient(err)
	}
	return clientGone(err) // a close frame, a reset, or no frame (not even a pong) within pongWait
}

// modelFailure maps a Bedrock failure to the session's end and counts it.
func (s *session) modelFailure(err error) *sessionEnd {
	s.srv.metrics.BedrockErrors.WithLabelValues(bedrockErrorType(err)).Inc()
	return endForModelError(err)
}

// observeOutput acts on what an output event of the current leg l means before it is queued for the
// browser: barge-in, server-side tool calls, response latency, and the conversation's memory (history,
// turn boundaries) for continuation.
func (s *session) observeOutput(ctx context.Context, l *leg, info outputInfo) {
	s.outputMu.Lock()
	defer s.outputMu.Unlock()
	m := s.srv.metrics
	turn := s.conv.recordOutput(info, func(name string) bool { return s.srv.tools[name] != nil })
	if turn.assistantTurnEnded {
		s.turnBoundary.Store(true)
		signal(s.turnEnded)
	}
	switch {
	case info.interrupted:
		// Barge-in: speech still queued here would only play after the user started talking.
		if n := s.out.dropAudio(); n > 0 {
			s.audioDropped.Add(int64(n))
			m.drop(DropAudioOnBargeIn, n)
		}
	case info.name == "textOutput" && info.role == "USER":
		s.userTurnEnded = time.Now()
	case info.name == "audioOutput" && !s.userTurnEnded.IsZero():
		m.ResponseLatency.Observe(time.Since(s.userTurnEnded).Seconds())
		s.userTurnEnded = time.Time{}
	case info.name == "toolUse":
		s.onToolUse(l, info.toolName, info.toolUseID, info.toolInput)
	case info.name == "contentEnd" && info.contentType == string(contentTool):
		s.onToolContentEnd(ctx)
	}
}

// countTokens counts a usageEvent's tokens, from any leg: a replaced stream's are billed too.
func (s *session) countTokens(info outputInfo) {
	if info.name != "usageEvent" {
		return
	}
	u := info.usage
	for _, t := range []struct {
		kind, direction string
		n               float64
	}{
		{"speech", DirectionIn, u.Input.SpeechTokens}, {"text", DirectionIn, u.Input.TextTokens},
		{"speech", DirectionOut, u.Output.SpeechTokens}, {"text", DirectionOut, u.Output.TextTokens},
	} {
		if t.n > 0 {
			s.srv.metrics.Tokens.WithLabelValues(t.kind, t.direction).Add(t.n)
		}
	}
}

// interruptOutputs ends, for the browser, the output contents a replaced or failed leg left open, with
// stopReason INTERRUPTED as for a barge-in, and drops their queued speech: the browser flushes what it
// queued, and nothing of the old stream plays into the new one's answer.
func (s *session) interruptOutputs() {
	open := s.conv.openOutputs()
	if len(open) == 0 {
		return
	}
	promptName := s.conv.promptName()
	for _, o := range open {
		ev := mustEvent("contentEnd", map[string]string{
			"promptName": promptName, "contentId": o.contentID, "type": o.contentType, "role": o.role,
			"stopReason": "INTERRUPTED",
		})
		_, _ = s.out.tryPush(outMessage{data: ev})
	}
	if n := s.out.dropAudio(); n > 0 {
		s.audioDropped.Add(int64(n))
		s.srv.metrics.drop(DropAudioOnBargeIn, n)
	}
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
			if err := s.writeQueued(ctx, ping.C, time.Time{}); err != nil {
				return err
			}
		case <-ping.C:
			if err := s.writePing(); err != nil {
				return err
			}
		case <-ctx.Done():
			s.finish(endOf(context.Cause(ctx)))
			return nil
		}
	}
}

// writePing asks the browser for a pong: its answer keeps the read deadline away while the browser has
// nothing to say, and the traffic keeps the proxies' idle timeouts away.
func (s *session) writePing() error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.timing.write))
	if err := s.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
		return writeFailure(err)
	}
	return nil
}

// writeQueued writes the queued output, each frame within writeWait (and before deadline, if set), until
// the queue is empty or ctx ends. A per-frame deadline cuts a dead link without cutting a browser that
// keeps up with real time through a long burst, and pings still go out between the frames of a burst:
// a browser busy listening has nothing to send, and without pongs its read deadline would pass.
func (s *session) writeQueued(ctx context.Context, ping <-chan time.Time, deadline time.Time) error {
	for ctx.Err() == nil {
		select {
		case <-ping:
			if err := s.writePing(); err != nil {
				return err
			}
		default:
		}
		m, ok := s.out.pop()
		if !ok {
			return nil
		}
		d := time.Now().Add(s.srv.timing.write)
		if !deadline.IsZero() && deadline.Before(d) {
			d = deadline
		}
		_ = s.conn.SetWriteDeadline(d)
		err := s.conn.WriteMessage(websocket.TextMessage, m.data)
		s.out.written(m)
		if err != nil {
			return writeFailure(err)
		}
		s.srv.metrics.relayed(DirectionOut, m.queued)
		s.srv.metrics.Frames.WithLabelValues(DirectionOut).Inc()
		s.srv.metrics.Bytes.WithLabelValues(DirectionOut).Add(float64(len(m.data)))
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

// finish tells the browser why the session ends. A normal end first delivers the output still queued
// (the model's last words), within one writeWait in all; any other end drops it, so the browser learns
// at once why the session ended: the error message, then the close frame.
func (s *session) finish(end *sessionEnd) {
	if end.ClientGone {
		return
	}
	if end.Code == CloseNormal {
		if s.writeQueued(context.Background(), nil, time.Now().Add(s.srv.timing.write)) != nil {
			return
		}
	} else {
		s.srv.metrics.drop(DropOutputAtFailure, s.out.discard())
	}
	deadline := time.Now().Add(s.srv.timing.closeGrace)
	if end.Code != CloseNormal {
		_ = s.conn.SetWriteDeadline(deadline)
		if s.conn.WriteMessage(websocket.TextMessage, encodeErrorMessage(end)) != nil {
			return
		}
	}
	if s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(int(end.Code), end.Code.Name()), deadline) == nil {
		s.closeSent.Store(true)
	}
}

// awaitPeerClose completes the WebSocket closing handshake after the gateway's close frame: it reads, and
// drops, what the browser sends until the browser's own close frame, for at most closeGrace. Closing a
// socket with input unread (audio still in flight) makes the kernel send a reset, and a reset can destroy
// the close frame before the browser reads it: the browser would see 1006 instead of the code that tells
// it what to do. Usually the read loop has already done this; it has not when it ended the session itself.
func (s *session) awaitPeerClose(end *sessionEnd) {
	if end.ClientGone || s.readFailed || !s.closeSent.Load() {
		return
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.timing.closeGrace))
	for {
		if _, _, err := s.conn.NextReader(); err != nil {
			return
		}
	}
}

// stopReading gives the read loop closeGrace more to read, no longer: the browser's answer to the
// gateway's close frame normally ends the read before that.
func (s *session) stopReading() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	s.readStopped = true
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.timing.closeGrace))
}

// extendReadDeadline gives the browser d to send its next frame (or pong), unless reading has stopped.
func (s *session) extendReadDeadline(d time.Duration) { s.setReadDeadline(time.Now().Add(d)) }

func (s *session) setReadDeadline(t time.Time) {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if !s.readStopped {
		_ = s.conn.SetReadDeadline(t)
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
		"client", s.addr, "authenticated", s.subject != "",
		"duration_ms", time.Since(s.upgraded).Milliseconds(),
		"events_in", s.eventsIn.Load(), "events_out", s.eventsOut.Load(),
		"audio_in_bytes", s.audioInBytes.Load(), "audio_dropped", s.audioDropped.Load(),
		"input_dropped", s.inputDropped.Load(),
	}
	if n := len(s.used); n > 0 {
		// The stream the conversation ended on; streams counts every one it used (continuations).
		attrs = append(attrs, "bedrock_request_id", requestIDOf(s.used[n-1].stream), "streams", n)
	}
	if end.Err != nil {
		attrs = append(attrs, "error", end.Err.Error())
	}
	s.log.Log(context.Background(), level, "session ended", attrs...)
}

// end stops the session from outside (a drain) with the given reason, unless it is already ending.
func (s *session) end(why *sessionEnd) { s.stop(why) }
