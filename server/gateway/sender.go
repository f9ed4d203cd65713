package gateway

import (
	"context"
	"errors"
	"time"
)

// The sender is the only goroutine that sends to a session's Bedrock stream. The read loop validates the
// browser's events and hands them over through the session's inbox, a bounded queue, so that a Bedrock
// stream stuck on HTTP/2 flow control never stops the browser's reader (which also answers pings); tool
// calls hand over their results the same way, so input reaches Bedrock in one order.

// inputItem is one unit of input for the sender: events sent together in order, or a tool's result.
type inputItem struct {
	events []inputEvent
	// audio marks a single audioInput: the only kind of item the read loop drops, counted, when the
	// inbox is full. Everything else waits for room.
	audio bool
	// toolResult is a server-side tool's answer; the sender turns it into events for the open prompt.
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

// sendLoop sends queued input to Bedrock until the session ends or a send fails.
func (s *session) sendLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case item := <-s.inbox:
			if err := s.sendItem(ctx, item); err != nil {
				if errors.Is(err, errSessionEnding) {
					return nil // the session's end has its reason already
				}
				return err
			}
		}
	}
}

func (s *session) sendItem(ctx context.Context, item inputItem) error {
	events := item.events
	if item.toolResult != nil {
		if s.sent.promptName == "" {
			s.srv.metrics.drop(DropToolResultTooLate, 1)
			return nil
		}
		events = item.toolResult.events(s.sent.promptName)
	}
	for _, ev := range events {
		if ev.Name == evSessionEnd {
			// The replaced system's client ends with a bare sessionEnd, its audio content and prompt still
			// open: close them first, so that Bedrock sees the documented order. And record the request
			// before sending: Bedrock may end the stream before Send returns, which is then a normal end.
			for _, end := range s.sent.openBlockEnds() {
				if err := s.send(ctx, end); err != nil {
					return err
				}
			}
			s.endRequested.Store(true)
		}
		if err := s.send(ctx, ev); err != nil {
			return err
		}
		if ev.Name == evSessionEnd {
			// The browser is done: Bedrock finishes its answer and ends the stream, which ends the session.
			if err := s.stream.CloseSend(); err != nil {
				return s.sendFailure(ctx, err)
			}
		}
	}
	return nil
}

// send sends one event and records it as sent. Once the session is ending it sends nothing more, but a
// send already under way may finish (sendCtx): a send cut half way would leave unknown whether Bedrock
// got the event, and teardown must close exactly what is open.
func (s *session) send(ctx context.Context, ev inputEvent) error {
	if ctx.Err() != nil {
		return errSessionEnding
	}
	if err := s.stream.Send(s.sendCtx, chunk(ev.Payload)); err != nil {
		return s.sendFailure(ctx, err)
	}
	s.srv.metrics.relayed(DirectionIn, ev.Arrived)
	s.sent.record(ev)
	ev.release() // the SDK has encoded the payload
	return nil
}

// errSessionEnding stops the sender when a send fails because the session is already ending.
var errSessionEnding = errors.New("session ending")

// sendFailure explains a failed Send. The SDK's Send error is generic ("stream closed"); the real cause
// arrives through the stream's Err once the receive loop has seen Events close, and the receive loop then
// ends the session with it. The sender waits for that verdict and only guesses from the send error if it
// does not come.
func (s *session) sendFailure(ctx context.Context, sendErr error) error {
	wait := time.NewTimer(s.srv.timing.sendError)
	defer wait.Stop()
	select {
	case <-ctx.Done():
		return errSessionEnding
	case <-s.recvDone:
		// The receive loop has returned its verdict; errgroup cancels ctx with it an instant later.
		<-ctx.Done()
		return errSessionEnding
	case <-wait.C:
	}
	if err := s.stream.Err(); err != nil {
		return s.modelFailure(err)
	}
	return s.modelFailure(sendErr)
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
