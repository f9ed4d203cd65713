package gateway

import (
	"context"
	"errors"
	"sync"
	"time"
)

// outMessage is one text frame waiting for the browser.
type outMessage struct {
	data []byte
	// audio marks an audioOutput event: the only kind the gateway may drop, and only when the model
	// signals that the user interrupted it, because the browser would flush that speech anyway.
	audio bool
	// queued is when push received the message: the relay latency metric counts from here.
	queued time.Time
}

// outbox is the bounded queue between the producers of a session's output (the Bedrock receive loop, tool
// calls, the read loop for authorization replies) and its single WebSocket writer. It is bounded in bytes
// rather than messages because audio and text events differ in size by three orders of magnitude, and a
// message counts against the bound until the writer has written it, so that the bound is the most output
// the gateway holds for one browser, not half of it.
type outbox struct {
	maxBytes    int
	slowTimeout time.Duration

	mu     sync.Mutex
	queue  []outMessage
	bytes  int           // queued plus being written
	ready  chan struct{} // signalled when the queue becomes non-empty; capacity 1
	space  chan struct{} // signalled when bytes go down; capacity 1
	closed bool
}

func newOutbox(maxBytes int, slowTimeout time.Duration) *outbox {
	return &outbox{maxBytes: maxBytes, slowTimeout: slowTimeout, ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// errSlowClient is returned by push when the outbox stayed full for slowClientTimeout.
var errSlowClient = endWith(CloseSlowClient, "the connection is too slow for real-time audio", nil)

// errOutboxClosed is returned by push after the writer has stopped.
var errOutboxClosed = errors.New("outbox closed: the session is ending")

// push queues a message for the writer. While the outbox is full it waits, which pushes back on Bedrock;
// if there is still no room after slowClientTimeout the browser counts as too slow. A message larger than
// the whole outbox is still accepted into an empty one, so one large event can never wedge a session.
func (o *outbox) push(ctx context.Context, m outMessage) error {
	m.queued = time.Now()
	var deadline <-chan time.Time
	for {
		if queued, err := o.tryPush(m); queued || err != nil {
			return err
		}
		if deadline == nil {
			t := time.NewTimer(o.slowTimeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-o.space:
		case <-deadline:
			return errSlowClient
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// tryPush queues a message if there is room now, without waiting.
func (o *outbox) tryPush(m outMessage) (queued bool, err error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false, errOutboxClosed
	}
	if o.bytes != 0 && o.bytes+len(m.data) > o.maxBytes {
		o.mu.Unlock()
		return false, nil
	}
	o.queue = append(o.queue, m)
	o.bytes += len(m.data)
	o.mu.Unlock()
	signal(o.ready)
	return true, nil
}

// pop removes the oldest message for the writer, which calls written once it is on the wire: until
// then its bytes still count against the bound.
func (o *outbox) pop() (outMessage, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		return outMessage{}, false
	}
	m := o.queue[0]
	o.queue[0] = outMessage{}
	o.queue = o.queue[1:]
	return m, true
}

// written releases the bytes of a message the writer has written.
func (o *outbox) written(m outMessage) {
	o.mu.Lock()
	o.bytes -= len(m.data)
	o.mu.Unlock()
	signal(o.space)
}

// discard empties the queue and reports how many messages it held: a session that fails tells the
// browser why at once instead of first writing up to outboxMaxBytes of output nobody will play.
func (o *outbox) discard() int {
	o.mu.Lock()
	n := len(o.queue)
	for _, m := range o.queue {
		o.bytes -= len(m.data)
	}
	o.queue = nil
	o.mu.Unlock()
	signal(o.space)
	return n
}

// dropAudio removes queued audioOutput events and reports how many it removed. It is called when the
// model says the user interrupted it: speech that has not left the gateway would only play late.
func (o *outbox) dropAudio() int {
	o.mu.Lock()
	kept := o.queue[:0]
	dropped := 0
	for _, m := range o.queue {
		if m.audio {
			o.bytes -= len(m.data)
			dropped++
			continue
		}
		kept = append(kept, m)
	}
	clear(o.queue[len(kept):])
	o.queue = kept
	o.mu.Unlock()
	if dropped > 0 {
		signal(o.space)
	}
	return dropped
}

// close makes later pushes fail; the writer has stopped taking messages.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	signal(o.space)
}

// signal wakes one waiter without blocking; a pending signal is enough for any number of events.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
