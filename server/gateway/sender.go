package gateway

import (
	"context"
	"errors"
	"slices"
	"time"
)

// The sender is the only goroutine that sends to a session's current Bedrock stream. The read loop
// validates the browser's events and hands them over through the session's inbox, a bounded queue, so
// that a Bedrock stream stuck on HTTP/2 flow control never stops the browser's reader (which also answers
// pings); tool calls hand over their results the same way, so input reaches Bedrock in one order. The
// sender also carries the conversation from one stream to the next (continuation.go).

// inputItem is one unit of input for the sender: events sent together in order, or a tool's result.
type inputItem struct {
	events []inputEvent
	// audio marks a single audioInput: the only kind of item the read loop drops, counted, when the
	// inbox is full. Everything else waits for room.
	audio bool
	// toolResult is a server-side tool's answer; the sender turns it into events for the open prompt of
	// the leg that asked, or drops it if that leg is no longer current.
	toolResult *toolResult
}

// enqueue hands an item to the sender. It reports false if the item was not queued: the session is
// ending, or the inbox is full and the item was audio (dropped and counted).
func (s *session) enqueue(ctx context.Context, item inputItem) bool {
	if item.audio {
		select {
		case s.inbox <- item:
			return true
		default:
			s.inputDropped.Add(1)
			s.srv.metrics.drop(DropInputQueueFull, 1)
			return false
		}
	}
	select {
	case s.inbox <- item:
		return true
	case <-ctx.Done():
		return false
	}
}

// sender is the sendLoop's state: the leg it sends to and the continuation under way.
type sender struct {
	s    *session
	ctx  context.Context
	cur  *leg // the leg input goes to; nil before the first sessionStart and after a failure
	legs int  // legs opened so far
	// switching: a new leg is being opened and primed with the conversation (a rotation, or a recovery
	// when cur is nil). Input that arrives meanwhile is held, and sent to the new leg once it is current:
	// each audio frame goes to exactly one leg, and none is lost while the switch takes.
	switching   bool
	recovery    bool // the switch replaces a failed leg
	rotationDue bool // cur has reached rotateAfter: rotate at the next good moment
	forced      bool // cur has reached rotateAfter+handoverWindow: rotate now
	ended       bool // the browser's sessionEnd was sent: the conversation is not continued any more
	lastLoud    time.Time
	recoveries  int
	// held is the input waiting for a switch; of its audio only the latest handoverAudioBytes.
	held        []inputItem
	heldAudio   int
	switchStart time.Time
	// staleTools are the browser's TOOL contents answering a tool use of a leg that failed: dropped.
	staleTools droppedToolContents
	// earlyEnds are the ends of legs that ended while their opener was still replaying.
	earlyEnds map[*leg]error
	rotate    *time.Timer // when cur is rotateAfter old
	deadline  *time.Timer // when cur is rotateAfter+handoverWindow old
	retry     *time.Timer // the next attempt to open a leg, after a backoff
}

// sendLoop sends the browser's input (and tool results) to the current leg, in order, until the session
// ends; and it carries the conversation from leg to leg (continuation.go). It returns why the session
// should end, or nil when it is already ending.
func (s *session) sendLoop(ctx context.Context) error {
	sd := &sender{s: s, ctx: ctx}
	defer sd.stopTimers()
	for {
		select {
		case <-ctx.Done():
			return nil
		case item := <-s.inbox:
			if err := sd.input(item); err != nil {
				return sd.verdict(err)
			}
		case r := <-s.opened:
			if err := sd.onOpened(r); err != nil {
				return sd.verdict(err)
			}
		case e := <-s.legEnded:
			if err := sd.onLegEnded(e); err != nil {
				return sd.verdict(err)
			}
		case <-timerC(sd.rotate):
			sd.rotate, sd.rotationDue = nil, true
			sd.maybeRotate()
		case <-timerC(sd.deadline):
			sd.deadline, sd.forced = nil, true
			sd.maybeRotate()
		case <-timerC(sd.retry):
			sd.retry = nil
			if sd.cur == nil {
				sd.startSwitch(true)
			} else {
				sd.maybeRotate()
			}
		case <-s.turnEnded:
			sd.maybeRotate()
		}
	}
}

// verdict turns what ended the send loop into the session's end.
func (sd *sender) verdict(err error) error {
	var end *sessionEnd
	switch {
	case errors.Is(err, errSessionEnding):
		return nil
	case errors.As(err, &end):
		return end
	}
	return sd.s.modelFailure(err)
}

// errSessionEnding stops the sender when a send fails because the session is already ending.
var errSessionEnding = errors.New("session ending")

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func (sd *sender) stopTimers() {
	for _, t := range []*time.Timer{sd.rotate, sd.deadline, sd.retry} {
		if t != nil {
			t.Stop()
		}
	}
	sd.rotate, sd.deadline, sd.retry = nil, nil, nil
}

// input sends one item to the current leg; the first sessionStart opens the first leg. While a switch
// is under way the item is held for the new leg.
func (sd *sender) input(item inputItem) error {
	s := sd.s
	if sd.cur == nil && sd.legs == 0 {
		sd.legs++
		l, err := s.openLeg(sd.ctx, sd.legs, nil)
		if err != nil {
			return err
		}
		sd.makeCurrent(l)
	}
	if sd.cur == nil || sd.switching {
		sd.hold(item)
		return nil
	}
	events := item.events
	if tr := item.toolResult; tr != nil {
		if tr.leg != sd.cur || sd.cur.sent.promptName == "" {
			s.srv.metrics.drop(DropToolResultTooLate, 1)
			return nil
		}
		events = tr.events(sd.cur.sent.promptName)
	}
	for i, ev := range events {
		if sd.dropStaleTool(ev) {
			continue
		}
		if ev.Name == evSessionEnd {
			// The replaced system's client ends with a bare sessionEnd, its audio content and prompt still
			// open: close them first, so that Bedrock sees the documented order. And record the request
			// before sending: Bedrock may end the stream before Send returns, which is then a normal end.
			for _, end := range sd.cur.sent.openBlockEnds() {
				if err := sd.send(end); err != nil {
					return err
				}
			}
			sd.cur.endRequested.Store(true)
			sd.ended = true
			sd.stopTimers()
		}
		if err := sd.send(ev); err != nil {
			if errors.Is(err, errLegFailed) {
				// The leg is failing: hold what was not sent, for the leg that replaces it. The failed
				// leg's SDK writer may still be reading this event's payload, so its buffer never goes
				// back to the pool (the race detector caught a recovered conversation reusing it).
				events[i].pooled = nil
				sd.hold(inputItem{events: events[i:], audio: item.audio})
				return nil
			}
			return err
		}
		s.srv.metrics.relayed(DirectionIn, ev.Arrived)
		s.conv.recordInput(ev)
		if ev.Name == evTextInput {
			s.conv.recordUserText(ev.Fields.ContentName, ev.Fields.Content)
		}
		if ev.Name == evAudioInput {
			// Sent, and the SDK has encoded it: its buffer goes back to the pool. Only audio: the
			// conversation keeps other events (the session's and prompt's starts, the system prompt) to
			// replay on a new stream, and they are few.
			ev.release()
		}
		if ev.Name == evSessionEnd {
			// The browser is done: Bedrock finishes its answer and ends the stream, which ends the session.
			if err := sd.cur.stream.CloseSend(); err != nil {
				return sd.failing(err)
			}
		}
	}
	if item.audio {
		if events[0].Loud {
			// The user is speaking: the assistant's last turn boundary is no longer a moment to rotate.
			sd.lastLoud = time.Now()
			s.turnBoundary.Store(false)
		}
		sd.maybeRotate()
	}
	return nil
}

// errLegFailed is a send to the current leg that failed: the leg's receive loop reports why.
var errLegFailed = errors.New("the current Bedrock stream failed")

// send sends one event to the current leg and records it as sent. Once the session is ending it sends
// nothing more, but a send already under way may finish (leg.sendCtx).
func (sd *sender) send(ev inputEvent) error {
	if sd.ctx.Err() != nil {
		return errSessionEnding
	}
	if err := sd.cur.stream.Send(sd.cur.sendCtx, chunk(ev.Payload)); err != nil {
		return sd.failing(err)
	}
	sd.cur.sent.record(ev)
	return nil
}

// failing is a failed send: the session is ending, or the leg failed and its receive loop will tell why
// (onLegEnded), or, if it does not within sendErrorWait, the send error is the verdict.
func (sd *sender) failing(sendErr error) error {
	if sd.ctx.Err() != nil {
		return errSessionEnding
	}
	wait := time.NewTimer(sd.s.srv.timing.sendError)
	defer wait.Stop()
	select {
	case <-sd.ctx.Done():
		return errSessionEnding
	case <-sd.cur.done:
		return errLegFailed
	case <-wait.C:
	}
	if err := sd.cur.stream.Err(); err != nil {
		return err
	}
	return sendErr
}

// dropStaleTool drops a browser's TOOL content that answers a tool use of a leg that failed: the leg
// that replaced it never made that tool use and would refuse the result.
func (sd *sender) dropStaleTool(ev inputEvent) bool {
	drop, started := sd.staleTools.drop(ev, sd.s.conv.isStaleTool)
	if started {
		sd.s.srv.metrics.drop(DropToolResultTooLate, 1)
	}
	return drop
}

// hold keeps input for the leg a switch is opening: everything, but of audio only the latest
// handoverAudioBytes (older audio is dropped and counted).
func (sd *sender) hold(item inputItem) {
	sd.held = append(sd.held, item)
	if !item.audio {
		return
	}
	sd.heldAudio += item.events[0].AudioBytes
	for sd.heldAudio > handoverAudioBytes {
		i := slices.IndexFunc(sd.held, func(it inputItem) bool { return it.audio })
		sd.heldAudio -= sd.held[i].events[0].AudioBytes
		sd.held = slices.Delete(sd.held, i, i+1)
		sd.s.srv.metrics.drop(DropAudioDuringRecovery, 1)
	}
}

// makeCurrent makes l the leg input goes to and whose output the browser hears, and times its rotation.
func (sd *sender) makeCurrent(l *leg) {
	s := sd.s
	sd.cur = l
	s.current.Store(l)
	s.used = append(s.used, l)
	sd.stopTimers()
	sd.rotationDue, sd.forced = false, false
	if sd.ended {
		return
	}
	age := time.Since(l.opened)
	sd.rotate = time.NewTimer(max(s.srv.timing.rotateAfter-age, 0))
	sd.deadline = time.NewTimer(max(s.srv.timing.rotateAfter+s.srv.timing.handoverWindow-age, 0))
}

// maybeRotate starts the rotation of a leg that has reached rotateAfter at a good moment: the assistant
// has just finished its turn, or nobody has spoken for handoverSilence; and no tool call is pending.
// After the deadline any moment will do.
func (sd *sender) maybeRotate() {
	s := sd.s
	if !sd.rotationDue && !sd.forced || sd.switching || sd.cur == nil || sd.ended {
		return
	}
	if !sd.forced {
		if s.tools.running.Load() > 0 || s.conv.browserToolsPending() || s.conv.outputOpen() {
			return
		}
		if !s.turnBoundary.Load() && time.Since(sd.lastLoud) < s.srv.timing.handoverSilence {
			return
		}
	}
	sd.startSwitch(false)
}

// startSwitch opens a new leg beside the conversation and primes it with the conversation as it is now;
// input is held until it is current (onOpened). It does nothing when the conversation is not to be
// continued: it has ended, or the gateway is draining (the conversation ends with the drain); and a
// rotation waits for a complete prompt.
func (sd *sender) startSwitch(recovery bool) {
	s := sd.s
	if sd.switching || sd.ended || s.srv.draining.Load() || (!recovery && !s.conv.rotatable()) {
		return
	}
	sd.switching, sd.recovery, sd.switchStart = true, recovery, time.Now()
	sd.legs++
	n, replay := sd.legs, s.conv.replay(sd.legs)
	s.legs.Add(1)
	go func() {
		defer s.legs.Done()
		l, err := s.openLeg(sd.ctx, n, replay)
		select {
		case s.opened <- legOpened{leg: l, err: err, recovery: recovery}:
		case <-sd.ctx.Done():
			if l != nil {
				s.endLeg(l)
			}
		}
	}()
}

// onOpened completes a switch: the new leg becomes current, the old one (if it still works) is closed
// beside, and the held input goes to the new leg.
func (sd *sender) onOpened(r legOpened) error {
	s := sd.s
	sd.switching = false
	if r.err != nil {
		cause, slow, ok := recoveryCause(r.err, 0, s.srv.timing.rotateAfter)
		if !ok {
			return r.err // a replay Bedrock refuses ends the session with its error: no loop
		}
		if sd.cur == nil {
			return sd.recover(cause, slow, r.err)
		}
		// A rotation's new stream failed: the old one still works, so it takes the held input, and the
		// rotation is tried again shortly (by the deadline at the latest; past the stream's limit,
		// recovery continues the conversation).
		sd.retry = time.NewTimer(s.srv.timing.recoveryBackoff)
		return sd.flushHeld()
	}
	if sd.ended || s.srv.draining.Load() {
		s.closeLegLater(r.leg)
		return sd.flushHeld()
	}
	old := sd.cur
	sd.makeCurrent(r.leg)
	s.interruptOutputs()
	s.srv.metrics.HandoverGap.Observe(time.Since(sd.switchStart).Seconds())
	if old != nil {
		s.closeLegLater(old)
		s.srv.metrics.Continuations.Inc()
		s.log.Info("conversation continued on a new Bedrock stream", "leg", r.leg.n,
			"previous_age_ms", time.Since(old.opened).Milliseconds(), "held_events", len(sd.held))
	} else {
		s.log.Info("conversation recovered on a new Bedrock stream", "leg", r.leg.n, "recoveries", sd.recoveries,
			"held_events", len(sd.held))
	}
	if err, endedEarly := sd.earlyEnds[r.leg]; endedEarly {
		delete(sd.earlyEnds, r.leg)
		return sd.onLegEnded(legEnd{leg: r.leg, err: err})
	}
	return sd.flushHeld()
}

// flushHeld sends the input held during a switch, in order.
func (sd *sender) flushHeld() error {
	held := sd.held
	sd.held, sd.heldAudio = nil, 0
	for _, item := range held {
		if err := sd.input(item); err != nil {
			return err
		}
	}
	return nil
}

// onLegEnded handles the end of a leg's stream: the current leg's is the session's end, or a failure to
// recover from; a replaced leg's end is expected.
func (sd *sender) onLegEnded(e legEnd) error {
	s := sd.s
	switch {
	case e.leg.retired:
		return nil
	case e.leg != sd.cur:
		// A leg that ended while its opener was replaying: handled when the opener hands it over.
		if sd.earlyEnds == nil {
			sd.earlyEnds = map[*leg]error{}
		}
		sd.earlyEnds[e.leg] = e.err
		return nil
	case e.err == nil:
		return endWith(CloseNormal, "the conversation ended", nil)
	}
	cause, slow, ok := recoveryCause(e.err, time.Since(e.leg.opened), s.srv.timing.rotateAfter)
	if !ok || sd.ended {
		return e.err
	}
	if s.srv.draining.Load() {
		return restarting() // the conversation ends with the drain anyway: reconnect elsewhere now
	}
	old := sd.cur
	sd.cur = nil
	s.current.Store(nil)
	sd.stopTimers()
	s.interruptOutputs()
	s.closeLegLater(old)
	s.conv.forgetToolUses()
	if sd.switching {
		// A rotation is opening the next leg already: it becomes the recovery.
		if sd.recoveries >= maxRecoveries {
			return e.err
		}
		sd.recoveries++
		s.srv.metrics.Recoveries.WithLabelValues(cause).Inc()
		sd.recovery = true
		return nil
	}
	return sd.recover(cause, slow, e.err)
}

// recover schedules the next attempt to continue the conversation on a new leg, after a backoff, or
// gives up with err once maxRecoveries attempts have been made.
func (sd *sender) recover(cause string, slow bool, err error) error {
	s := sd.s
	if sd.recoveries >= maxRecoveries {
		return err
	}
	sd.recoveries++
	s.srv.metrics.Recoveries.WithLabelValues(cause).Inc()
	backoff := s.srv.timing.recoveryBackoff << (sd.recoveries - 1)
	if slow {
		backoff *= 4
	}
	s.log.Warn("Bedrock stream failed; continuing the conversation on a new one", "cause", cause,
		"attempt", sd.recoveries, "backoff_ms", backoff.Milliseconds(), "error", err.Error())
	sd.retry = time.NewTimer(backoff)
	return nil
}

// sentState is what Bedrock has been sent: the open prompt and content blocks, so that teardown closes
// exactly those. It belongs to the sender while the session runs and to teardown afterwards.
type sentState struct {
	sessionStarted, sessionEnded bool
	promptName                   string
	contents                     []string // open content names, in the order they were opened
}

func (st *sentState) record(ev inputEvent) {
	switch ev.Name {
	case evSessionStart:
		st.sessionStarted = true
	case evPromptStart:
		st.promptName = ev.Fields.PromptName
	case evContentStart:
		st.contents = append(st.contents, ev.Fields.ContentName)
	case evContentEnd:
		for i, c := range st.contents {
			if c == ev.Fields.ContentName {
				st.contents = append(st.contents[:i], st.contents[i+1:]...)
				break
			}
		}
	case evPromptEnd:
		st.promptName, st.contents = "", nil
	case evSessionEnd:
		st.sessionEnded = true
	}
}

// openBlockEnds are a contentEnd for each open content and a promptEnd for the open prompt. The sender
// records each once it is sent, so that what is open stays true if sending stops half way.
func (st *sentState) openBlockEnds() []inputEvent {
	if st.promptName == "" {
		return nil
	}
	var out []inputEvent
	for _, contentName := range st.contents {
		out = append(out, gatewayEvent(evContentEnd, map[string]any{"promptName": st.promptName, "contentName": contentName}, st.promptName, contentName))
	}
	return append(out, gatewayEvent(evPromptEnd, map[string]any{"promptName": st.promptName}, st.promptName, ""))
}

// closingEvents are the events that end whatever is open, in the order Nova Sonic's documentation
// prescribes (contentEnd, promptEnd, sessionEnd), so that Bedrock frees the session's resources when the
// browser disconnects or the gateway drains. Teardown sends them once.
func (st *sentState) closingEvents() [][]byte {
	if !st.sessionStarted || st.sessionEnded {
		return nil
	}
	var out [][]byte
	for _, ev := range st.openBlockEnds() {
		out = append(out, ev.Payload)
	}
	st.sessionEnded, st.promptName, st.contents = true, "", nil
	return append(out, mustEvent(evSessionEnd, map[string]string{}))
}
