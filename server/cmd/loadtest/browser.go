package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// closeWait bounds how long a conversation waits, after its sessionEnd, for the gateway's normal close.
// Only a failing gateway comes near it.
const closeWait = 30 * time.Second

// dialer connects the simulated browsers. Buffers are small, as a browser's would be for 1.4 KB frames:
// the driver shares its core with the local Bedrock and must cost little.
var dialer = &websocket.Dialer{
	HandshakeTimeout: 30 * time.Second,
	ReadBufferSize:   4 << 10,
	WriteBufferSize:  4 << 10,
	NetDialContext:   (&net.Dialer{}).DialContext,
}

// browser is one simulated web client talking to the gateway.
type browser struct {
	url   string
	token string
	sc    *script
	tl    timeline
	tally *tally
}

// run holds the conversation: connect and authorize, open, stream in real time until the window ends,
// close, and wait for the gateway's normal close. Any other end is recorded as the tally's failure.
func (b *browser) run(ctx context.Context, i int) {
	if err := sleepUntil(ctx, b.tl.startOf(i)); err != nil {
		b.tally.failure = "not started: " + err.Error()
		return
	}
	began := time.Now()
	conn, _, err := dialer.DialContext(ctx, b.url, nil)
	if err != nil {
		b.tally.failure = "connect: " + classify(err)
		return
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"authorization","token":"Bearer `+b.token+`"}`)); err != nil {
		b.tally.failure = "authorize: " + classify(err)
		return
	}
	var reply struct{ Type, Status, Message string }
	if _, msg, err := conn.ReadMessage(); err != nil || json.Unmarshal(msg, &reply) != nil || reply.Status != "success" {
		b.tally.failure = fmt.Sprintf("authorize: %s %s", classify(err), reply.Message)
		return
	}
	b.tally.connectTime = time.Since(began)

	var wg sync.WaitGroup
	received := make(chan string, 1)
	wg.Go(func() { received <- b.receive(conn) })
	sendErr := b.send(ctx, conn)
	if sendErr != nil {
		_ = conn.Close() // wakes the receiver
	}
	var end string
	select {
	case end = <-received:
	case <-time.After(closeWait):
		_ = conn.Close()
		end = <-received
		if end == "" {
			end = "no close within " + closeWait.String()
		}
	}
	wg.Wait()
	switch {
	case sendErr != nil:
		b.tally.failure = "send: " + classify(sendErr)
	case end != "":
		b.tally.failure = end
	}
}

// send writes the opening events, the audio (streamAudio), then the closing events.
func (b *browser) send(ctx context.Context, conn *websocket.Conn) error {
	for _, ev := range b.sc.opening {
		if err := conn.WriteMessage(websocket.TextMessage, ev); err != nil {
			return err
		}
	}
	err := streamAudio(ctx, b.sc, b.tl, b.tally, func(frame []byte) error {
		return conn.WriteMessage(websocket.TextMessage, frame)
	})
	if err != nil {
		return err
	}
	for _, ev := range b.sc.closing {
		if err := conn.WriteMessage(websocket.TextMessage, ev); err != nil {
			return err
		}
	}
	return nil
}

// receive reads the gateway's frames until the connection closes and returns "" for a normal close, or
// what went wrong. Frames are read into one reused buffer: only audioOutput's stamp is decoded.
func (b *browser) receive(conn *websocket.Conn) string {
	var buf bytes.Buffer
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return ""
			}
			return "receive: " + classify(err)
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return "receive: " + classify(err)
		}
		now := time.Now()
		msg := buf.Bytes()
		if seq, ok := echoedSeq(msg); ok {
			b.tally.echo(seq, now, b.tl)
			continue
		}
		if bytes.HasPrefix(msg, []byte(`{"type":"error"`)) {
			var e struct{ Code, Message string }
			_ = json.Unmarshal(msg, &e)
			return "gateway error " + e.Code + ": " + e.Message
		}
	}
}

// classify shortens an error to its kind, so that failures group in the report.
func classify(err error) string {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case err == nil:
		return "unexpected reply"
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d %s", ce.Code, ce.Text)
	case errors.Is(err, websocket.ErrBadHandshake):
		return "handshake refused"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection lost"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return err.Error()
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
