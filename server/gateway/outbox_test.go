package gateway

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestOutboxWaitsForRoomThenGivesUpOnASlowClient(t *testing.T) {
	o := newOutbox(10, 50*time.Millisecond)
	ctx := context.Background()
	if err := o.push(ctx, outMessage{data: make([]byte, 8)}); err != nil {
		t.Fatal(err)
	}
	// Nobody takes: the next message waits for room, then the browser counts as too slow.
	start := time.Now()
	err := o.push(ctx, outMessage{data: make([]byte, 8)})
	if !errors.Is(err, errSlowClient) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("push into a full outbox = %v after %v, want errSlowClient after the timeout", err, time.Since(start))
	}
	// The writer takes what is queued: there is room again.
	go func() {
		time.Sleep(10 * time.Millisecond)
		o.take()
	}()
	if err := o.push(ctx, outMessage{data: make([]byte, 8)}); err != nil {
		t.Fatalf("push after the writer made room = %v", err)
	}
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
	for _, m := range o.take() {
		got = append(got, string(m.data))
	}
	if len(got) != 2 || got[0] != "contentStart" || got[1] != "contentEnd" {
		t.Fatalf("left %q, want the non-audio events in order", got)
	}
	if o.bytes != 0 {
		t.Fatalf("byte count %d after taking everything", o.bytes)
	}
}

func TestOutboxRefusesPushesAfterTheWriterStopped(t *testing.T) {
	o := newOutbox(10, time.Second)
	o.close()
	if err := o.push(context.Background(), outMessage{data: []byte("x")}); !errors.Is(err, errOutboxClosed) {
		t.Fatalf("push after close = %v", err)
	}
}
