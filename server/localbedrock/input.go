package localbedrock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// readOutcome is why the input reader stopped.
type readOutcome struct {
	// end is EndHalfClose for a clean end of input, EndClientReset when the body could not be
	// read, and otherwise the reason the server ends the stream.
	end EndReason
	// code is the exception member or protocol error code to send, message its text.
	code, message string
	// err is the underlying cause, for the log.
	err error
}

// inputReader decodes, verifies and validates the request body of one stream, in order.
type inputReader struct {
	fr        *frameReader
	mode      AuthMode
	verifier  *chunkVerifier // nil with bearer auth
	validator *validator
	rec       *streamRecord
	started   time.Time
	lastInput *atomic.Int64 // time.Since(started) of the latest input event
	eof       *atomic.Bool  // set once the client half-closed
}

// run reads until the body ends or input is invalid. On return it reports the outcome on done
// and then closes input, after storing why in *inputErr so Stream.Recv can tell a half-close from
// an abort. The order matters: a behaviour that returns because input closed must not beat the
// outcome (say, the validationException to send) to the supervisor.
func (rd *inputReader) run(ctx context.Context, input chan<- InputEvent, inputErr *error, done chan<- readOutcome) {
	out := rd.read(ctx, input)
	if out.end == EndHalfClose {
		*inputErr = io.EOF
		rd.eof.Store(true)
	} else {
		*inputErr = fmt.Errorf("input ended: %s", out.end)
	}
	done <- out
	close(input)
}

func (rd *inputReader) read(ctx context.Context, input chan<- InputEvent) readOutcome {
	sawEndMarker := false
	for {
		msg, err := rd.fr.next()
		switch {
		case err == io.EOF:
			return readOutcome{end: EndHalfClose}
		case errors.Is(err, errFrame):
			return readOutcome{end: EndProtocolError, code: "SerializationException", message: err.Error(), err: err}
		case err != nil:
			return readOutcome{end: EndClientReset, err: err}
		}
		if sawEndMarker {
			return readOutcome{end: EndProtocolError, code: "SerializationException", message: "event received after the end-of-input marker"}
		}
		inner, isEnd, out := rd.unwrap(ctx, msg)
		if out != nil {
			return *out
		}
		if isEnd {
			sawEndMarker = true
			continue
		}
		ev, err := rd.decode(inner)
		if err != nil {
			return readOutcome{end: EndException, code: "validationException", message: err.Error(), err: err}
		}
		ev.Received = time.Now()
		rd.lastInput.Store(int64(time.Since(rd.started)))
		rd.rec.addEvent(ev)
		select {
		case input <- ev:
		case <-ctx.Done():
			return readOutcome{end: EndClientReset, err: context.Cause(ctx)}
		}
	}
}

// unwrap verifies a SigV4 envelope and returns the inner message; an envelope with an empty
// payload is the end-of-input marker. Bearer streams carry the inner messages directly.
func (rd *inputReader) unwrap(ctx context.Context, msg eventstream.Message) (eventstream.Message, bool, *readOutcome) {
	signed := msg.Headers.Get(hdrChunkSignature) != nil
	if rd.mode == AuthBearer {
		if signed {
			return msg, false, &readOutcome{end: EndProtocolError, code: "SerializationException", message: "signed event on a stream authenticated with a bearer token"}
		}
		return msg, false, nil
	}
	if err := rd.verifier.verify(ctx, msg); err != nil {
		rd.rec.update(func(r *StreamRecord) { r.SignatureFailures++ })
		return msg, false, &readOutcome{end: EndSignatureFailure, code: "InvalidSignatureException", message: msgBadSignature, err: err}
	}
	if len(msg.Payload) == 0 {
		return msg, true, nil
	}
	inner, err := rd.fr.decodeInner(msg.Payload)
	if err != nil {
		return msg, false, &readOutcome{end: EndProtocolError, code: "SerializationException", message: err.Error(), err: err}
	}
	return inner, false, nil
}

// decode checks the chunk event headers and validates its Nova JSON.
func (rd *inputReader) decode(msg eventstream.Message) (InputEvent, error) {
	if mt, et := headerString(msg.Headers, hdrMessageType), headerString(msg.Headers, hdrEventType); mt != messageTypeEvent || et != eventTypeChunk {
		return InputEvent{}, invalid("unexpected event %s/%s; only chunk events are accepted", mt, et)
	}
	nova, err := decodeChunkPayload(msg.Payload)
	if err != nil {
		return InputEvent{}, invalid("chunk payload is not {\"bytes\": <base64>}: %v", err)
	}
	return rd.validator.accept(nova)
}
