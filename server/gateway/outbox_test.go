package gateway

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestOutboxWaitsForRoomThenGivesUpOnASlowClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(10, 50*time.Millisecond)
		ctx := context.Background()
		if err := o.push(ctx, outMessage{data: make([]byte, 8)}); err != nil {
			t.Fatal(err)
		}
		// Nobody writes: the next message waits for room, then the browser counts as too slow.
		start := time.Now()
		err := o.push(ctx, outMessage{data: make([]byte, 8)})
		if !errors.Is(err, errSlowClient) || time.Since(start) != 50*time.Millisecond {
			t.Fatalf("push into a full outbox = %v after %v, want errSlowClient after exactly the timeout", err, time.Since(start))
		}
		// The writer writes what is queued: there is room again.
		go func() {
			time.Sleep(10 * time.Millisecond)
			m, _ := o.pop()
			o.written(m)
		}()
		if err := o.push(ctx, outMessage{data: make([]byte, 8)}); err != nil {
			t.Fatalf("push after the writer made room = %v", err)
		}
	})
}

// The bound is the output the gateway holds for one browser, the frame on the wire included: a frame the
// writer has taken but not yet written still takes room, or a stuck write would double the bound.
func TestOutboxCountsTheFrameBeingWrittenAgainstItsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(10, time.Second)
		ctx := context.Background()
		if err := o.push(ctx, outMessage{data: make([]byte, 8)}); err != nil {
			t.Fatal(err)
		}
		m, _ := o.pop() // the writer is writing it
		pushed := make(chan error, 1)
		go func() { pushed <- o.push(ctx, outMessage{data: make([]byte, 8)}) }()
		synctest.Wait()
		select {
		case err := <-pushed:
			t.Fatalf("push while the frame is still being written = %v, want it to wait", err)
		default:
		}
		o.written(m)
		if err := <-pushed; err != nil {
			t.Fatalf("push once the frame was written = %v", err)
		}
	})
}

func TestOutboxTakesAnOversizedMessageWhenEmpty(t *testing.T) {
	o := newOutbox(10, time.Millisecond)
	if err := o.push(context.Background(), outMessage{data: make([]byte, 100)}); err != nil {
		t.Fatalf("a message larger than the outbox must still go through an empty one: %v", err)
	}
}

func TestOutboxDropsOnlyQueuedAudioOnBargeIn(t *testing.T) {
	o := newOutbox(1<<20, time.Second)
	for _, m := range []outMessage{
		{data: []byte("contentStart")}, {data: []byte("audio1"), audio: true}, {data: []byte("audio2"), audio: true},
		{data: []byte("contentEnd")},
	} {
		if err := o.push(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := o.dropAudio(); n != 2 {
		t.Fatalf("dropped %d, want the 2 audio messages", n)
	}
	var got []string
	for m, ok := o.pop(); ok; m, ok = o.pop() {
		got = append(got, string(m.data))
		o.written(m)
	}
	if len(got) != 2 || got[0] != "contentStart" || got[1] != "contentEnd" {
		t.Fatalf("left %q, want the non-audio events in order", got)
	}
	if o.bytes != 0 {
		t.Fatalf("byte count %d after writing everything", o.bytes)
	}
}

func TestOutboxDiscardFreesEverythingQueued(t *testing.T) {
	o := newOutbox(1<<20, time.Second)
	for range 3 {
		if err := o.push(context.Background(), outMessage{data: []byte("audio"), audio: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := o.discard(); n != 3 || o.bytes != 0 {
		t.Fatalf("discard = %d leaving %d bytes, want 3 and 0", n, o.bytes)
	}
}

func TestOutboxRefusesPushesAfterTheWriterStopped(t *testing.T) {
	o := newOutbox(10, time.Second)
	o.close()
	if err := o.push(context.Background(), outMessage{data: []byte("x")}); !errors.Is(err, errOutboxClosed) {
		t.Fatalf("push after close = %v", err)
	}
}
