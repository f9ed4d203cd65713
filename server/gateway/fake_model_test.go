package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// fakeModel stands in for Bedrock at the ModelStream seam, for tests of the session's state machine that
// need no HTTP. Each stream runs the model's script in its own goroutine; without one it behaves like
// Bedrock after the half-close (endAfterHalfClose).
type fakeModel struct {
	script func(*fakeStream)
	// onSend, if set, sees every payload inside Send, before Send returns: a Bedrock that reacts to an
	// event (ends the stream) before the sender learns it was sent. ctx is Send's.
	onSend func(ctx context.Context, f *fakeStream, payload []byte)

	mu      sync.Mutex
	streams []*fakeStream
	openErr error
}

func (m *fakeModel) OpenStream(ctx context.Context) (ModelStream, error) {
	if m.openErr != nil {
		return nil, m.openErr
	}
	fs := &fakeStream{
		ctx: ctx, events: make(chan types.InvokeModelWithBidirectionalStreamOutput, 16),
		received: make(chan []byte, 1024), halfClosed: make(chan struct{}), closed: make(chan struct{}),
		ended: make(chan struct{}), ending: make(chan struct{}), onSend: m.onSend,
	}
	m.mu.Lock()
	m.streams = append(m.streams, fs)
	m.mu.Unlock()
	script := m.script
	if script == nil {
		script = endAfterHalfClose
	}
	go script(fs)
	return fs, nil
}

func (m *fakeModel) opened() []*fakeStream {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*fakeStream(nil), m.streams...)
}

// fakeStream records what the session sends and lets a script emit output or fail.
type fakeStream struct {
	ctx        context.Context
	onSend     func(context.Context, *fakeStream, []byte)
	events     chan types.InvokeModelWithBidirectionalStreamOutput
	received   chan []byte // every payload the session sent, in order
	halfClosed chan struct{}
	closed     chan struct{}
	ended      chan struct{} // closed when Events is closed

	mu        sync.Mutex
	err       error
	sent      []string      // payloads a script took from received, in order
	ending    chan struct{} // closed first by end, to release emitters blocked on a full Events
	sendMu    sync.RWMutex  // emitters hold it shared; end takes it exclusively before closing Events
	endOnce   sync.Once
	halfOnce  sync.Once
	closeOnce sync.Once
}

func (f *fakeStream) Send(ctx context.Context, ev types.InvokeModelWithBidirectionalStreamInput) error {
	select {
	case <-f.ended:
		return errors.New("stream closed, unable to send event")
	case <-f.halfClosed:
		return errors.New("stream closed, unable to send event")
	default:
	}
	c := ev.(*types.InvokeModelWithBidirectionalStreamInputMemberChunk)
	select {
	case f.received <- append([]byte(nil), c.Value.Bytes...):
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.onSend != nil {
		f.onSend(ctx, f, c.Value.Bytes)
	}
	return nil
}

func (f *fakeStream) Events() <-chan types.InvokeModelWithBidirectionalStreamOutput { return f.events }

func (f *fakeStream) CloseSend() error {
	f.halfOnce.Do(func() { close(f.halfClosed) })
	return nil
}

func (f *fakeStream) Close() error {
	f.CloseSend()
	f.closeOnce.Do(func() { close(f.closed) })
	f.end(nil)
	return f.Err()
}

func (f *fakeStream) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// emit sends one output event; it reports false once the stream has ended.
func (f *fakeStream) emit(name string, body any) bool {
	b, _ := json.Marshal(map[string]any{"event": map[string]any{name: body}})
	f.sendMu.RLock()
	defer f.sendMu.RUnlock()
	select {
	case <-f.ending:
		return false
	default:
	}
	select {
	case f.events <- &types.InvokeModelWithBidirectionalStreamOutputMemberChunk{Value: types.BidirectionalOutputPayloadPart{Bytes: b}}:
		return true
	case <-f.ending:
		return false
	}
}

// end closes Events with err as the stream's error (nil: the response simply stopped).
func (f *fakeStream) end(err error) {
	f.endOnce.Do(func() {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		close(f.ending)
		f.sendMu.Lock() // no emitter is between its check and its send any more
		close(f.ended)
		close(f.events)
		f.sendMu.Unlock()
	})
}

// next returns the next payload the session sent; false if none came within patience.
func (f *fakeStream) next() (string, bool) {
	select {
	case b := <-f.received:
		return string(b), true
	case <-time.After(patience):
		return "", false
	}
}

// rest returns what the session sent that has not been read yet. Call it once the stream is closed:
// every Send has returned by then.
func (f *fakeStream) rest() []string {
	var out []string
	for {
		select {
		case b := <-f.received:
			out = append(out, string(b))
		default:
			return out
		}
	}
}

// sentEvents is everything the session sent, whether a script took it from received or not. Call it once
// the stream is closed.
func (f *fakeStream) sentEvents() []string {
	f.mu.Lock()
	taken := append([]string(nil), f.sent...)
	f.mu.Unlock()
	return append(taken, f.rest()...)
}

// ignoreHalfClose is a Bedrock that never ends its response after the half-close: the gateway must end
// the stream itself.
func ignoreHalfClose(f *fakeStream) { <-f.closed }

// eventName is the name of a {"event":{name:…}} payload.
func eventName(payload string) string {
	var ev struct {
		Event map[string]json.RawMessage `json:"event"`
	}
	_ = json.Unmarshal([]byte(payload), &ev)
	for name := range ev.Event {
		return name
	}
	return ""
}

// endAfterHalfClose behaves like Bedrock after sessionEnd: once the session half-closes, it finishes its
// output and ends the response cleanly.
func endAfterHalfClose(f *fakeStream) {
	select {
	case <-f.halfClosed:
		f.emit("completionEnd", map[string]any{"stopReason": "END_TURN"})
		f.end(nil)
	case <-f.closed:
	}
}
