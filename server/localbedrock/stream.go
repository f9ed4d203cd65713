package localbedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Behavior scripts the model side of one stream. It runs once per accepted request, concurrently
// with the server reading and validating input. Returning ends the response: after a
// SendException or SendProtocolError the client sees that error; otherwise the client sees a clean
// end of stream (Events closes and Err()==nil), which is how an abrupt end looks to the SDK. The
// returned error is only logged. ctx is cancelled when the stream ends for any other reason
// (client reset, timeout, invalid input, Server.Close); a behaviour must then return promptly.
type Behavior func(ctx context.Context, s *Stream) error

// ErrStreamEnded is returned by Stream methods once the response has ended (an exception or error
// was sent, or the stream was terminated by the server or the client).
var ErrStreamEnded = errors.New("localbedrock: stream ended")

// HTTPError is a failure before the stream: a non-2xx status with X-Amzn-ErrorType and a JSON
// {"message": …} body, which the SDK reports from Err() as the modeled error type.
type HTTPError struct {
	// Status is the HTTP status code, for example 403.
	Status int
	// ErrorType is the X-Amzn-ErrorType value, for example "AccessDeniedException".
	ErrorType string
	// Message is the human-readable message.
	Message string
}

// Error implements error.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("http %d %s: %s", e.Status, e.ErrorType, e.Message)
}

// InputEvent is one Nova Sonic input event as the server decoded it.
type InputEvent struct {
	// Name is the event name, for example "audioInput".
	Name string
	// JSON is the complete Nova JSON the client sent: {"event":{"<name>":{…}}}.
	JSON []byte
	// Body is the object under the event name.
	Body json.RawMessage
	// PromptName, ContentName, Role and Type are the common fields, when present.
	PromptName, ContentName, Role, Type string
	// Content is the "content" field of textInput and toolResult. For audioInput it is left empty
	// and the decoded audio is in Audio.
	Content string
	// Interactive is the contentStart "interactive" flag.
	Interactive bool
	// ToolUseID is toolResultInputConfiguration.toolUseId of a TOOL contentStart.
	ToolUseID string
	// Audio is the decoded PCM of an audioInput event.
	Audio []byte
	// Received is when the server decoded the event.
	Received time.Time
}

// Stream is the model's side of one bidirectional stream, handed to a Behavior.
type Stream struct {
	ctx       context.Context
	modelID   string
	requestID string
	sessionID string
	auth      AuthMode
	input     <-chan InputEvent
	inputErr  *error // set before input is closed: io.EOF or why input ended
	out       *responseOutput
	sendDelay time.Duration
}

// ModelID is the model ID from the request path, decoded.
func (s *Stream) ModelID() string { return s.modelID }

// RequestID is the X-Amzn-Requestid of the response.
func (s *Stream) RequestID() string { return s.requestID }

// SessionID is the sessionId the model puts on its output events.
func (s *Stream) SessionID() string { return s.sessionID }

// AuthMode is how the client authenticated.
func (s *Stream) AuthMode() AuthMode { return s.auth }

// Input is the queue of validated input events, for behaviours that select on input and timers.
// It is closed when input ends; InputErr then reports why. Like Recv and the Send methods, it
// sends the 200 response headers if they were not sent yet.
func (s *Stream) Input() <-chan InputEvent {
	s.out.commit()
	return s.input
}

// Recv returns the next input event. It returns io.EOF once the client half-closed and every
// earlier event was received, and ErrStreamEnded or ctx's error when the stream ends otherwise.
func (s *Stream) Recv(ctx context.Context) (InputEvent, error) {
	s.out.commit()
	select {
	case ev, ok := <-s.input:
		if !ok {
			return InputEvent{}, s.InputErr()
		}
		return ev, nil
	case <-ctx.Done():
		return InputEvent{}, context.Cause(ctx)
	}
}

// InputErr reports why Input was closed: io.EOF after a client half-close, ErrStreamEnded
// otherwise. It must only be called after Input is closed.
func (s *Stream) InputErr() error {
	if *s.inputErr == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("%w: %w", ErrStreamEnded, *s.inputErr)
}

// Send marshals body as the Nova output event {"event":{name: body}} and sends it as a chunk.
func (s *Stream) Send(name string, body any) error {
	nova, err := json.Marshal(map[string]map[string]any{"event": {name: body}})
	if err != nil {
		return fmt.Errorf("marshal %s: %w", name, err)
	}
	return s.SendRaw(nova)
}

// SendRaw sends novaJSON, byte for byte, as the payload of one chunk event.
func (s *Stream) SendRaw(novaJSON []byte) error {
	if s.sendDelay > 0 {
		t := time.NewTimer(s.sendDelay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrStreamEnded, context.Cause(s.ctx))
		}
	}
	return s.out.sendChunk(novaJSON)
}

// SendException sends a modeled exception and ends the response. member is the lowerCamel union
// member name: validationException, throttlingException, modelTimeoutException,
// internalServerException, serviceUnavailableException or modelStreamErrorException (see
// SendModelStreamError for its extra fields).
func (s *Stream) SendException(member, message string) error {
	return s.out.terminate(EndException, member, func() (eventstream.Message, error) {
		return exceptionMessage(member, exceptionBody{Message: message})
	})
}

// SendModelStreamError sends modelStreamErrorException with originalStatusCode and
// originalMessage and ends the response.
func (s *Stream) SendModelStreamError(message string, originalStatusCode int, originalMessage string) error {
	const member = "modelStreamErrorException"
	return s.out.terminate(EndException, member, func() (eventstream.Message, error) {
		return exceptionMessage(member, exceptionBody{Message: message, OriginalStatusCode: &originalStatusCode, OriginalMessage: originalMessage})
	})
}

// SendProtocolError sends an unmodeled error message (:message-type error) and ends the response.
func (s *Stream) SendProtocolError(code, message string) error {
	return s.out.terminate(EndProtocolError, code, func() (eventstream.Message, error) {
		return protocolErrorMessage(code, message), nil
	})
}

// Reject fails the request before the stream with an HTTP error, for example 403
// AccessDeniedException or 429 ThrottlingException. It only works as the behaviour's first
// action: the 200 response headers are sent when a behaviour first receives or sends.
func (s *Stream) Reject(status int, errorType, message string) error {
	return s.out.reject(&HTTPError{Status: status, ErrorType: errorType, Message: message})
}

// responseOutput serialises everything written to one response. The behaviour and the server's
// supervisor (timeouts, invalid input) both write; the mutex and the ended flag guarantee that
// nothing is written after a terminal message or after the handler returned.
type responseOutput struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	rc        *http.ResponseController
	rec       *streamRecord
	enc       *eventstream.Encoder
	payload   bytes.Buffer
	committed bool
	ended     bool
}

func newResponseOutput(w http.ResponseWriter, rec *streamRecord) *responseOutput {
	return &responseOutput{w: w, rc: http.NewResponseController(w), rec: rec, enc: eventstream.NewEncoder()}
}

// commitLocked sends the 200 headers and flushes them, so the client's initial reply arrives
// before any event.
func (o *responseOutput) commitLocked() error {
	if o.committed {
		return nil
	}
	o.committed = true
	o.w.Header().Set("Content-Type", eventStreamMIME)
	o.w.WriteHeader(http.StatusOK)
	o.rec.update(func(r *StreamRecord) { r.Status = http.StatusOK })
	if err := o.rc.Flush(); err != nil {
		return fmt.Errorf("flush headers: %w", err)
	}
	return nil
}

// commit sends the response headers if they were not sent yet.
func (o *responseOutput) commit() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return ErrStreamEnded
	}
	return o.commitLocked()
}

func (o *responseOutput) writeLocked(msg eventstream.Message) error {
	if err := o.commitLocked(); err != nil {
		return err
	}
	if err := o.enc.Encode(o.w, msg); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	// Flush every message: the client must see each event as soon as it exists.
	if err := o.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}

func (o *responseOutput) sendChunk(nova []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return ErrStreamEnded
	}
	if err := o.writeLocked(chunkMessage(encodeChunkPayload(&o.payload, nova))); err != nil {
		return err
	}
	o.rec.update(func(r *StreamRecord) { r.OutputEvents++ })
	return nil
}

// terminate writes one final message (if any) and marks the output ended. Only the first
// termination takes effect; later ones return ErrStreamEnded.
func (o *responseOutput) terminate(reason EndReason, detail string, build func() (eventstream.Message, error)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return ErrStreamEnded
	}
	o.ended = true
	o.rec.finish(reason, detail)
	if build == nil {
		return nil
	}
	msg, err := build()
	if err != nil {
		return err
	}
	return o.writeLocked(msg)
}

// reject answers with an HTTP error instead of a stream, if the headers were not sent yet.
func (o *responseOutput) reject(e *HTTPError) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended || o.committed {
		return fmt.Errorf("reject after the stream started: %w", ErrStreamEnded)
	}
	o.ended = true
	o.committed = true
	o.rec.finish(EndRejected, e.ErrorType)
	writeHTTPError(o.w, o.rec, e)
	return nil
}

// writeHTTPError sends e the way the service does: status, X-Amzn-ErrorType, JSON message.
func writeHTTPError(w http.ResponseWriter, rec *streamRecord, e *HTTPError) {
	body, err := json.Marshal(struct {
		Message string `json:"message"`
	}{e.Message})
	if err != nil {
		body = []byte(`{"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.ErrorType)
	w.WriteHeader(e.Status)
	w.Write(body)
	rec.update(func(r *StreamRecord) { r.Status, r.ErrorType = e.Status, e.ErrorType })
}
