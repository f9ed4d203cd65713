package localbedrock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Exception messages the service is known to send.
const (
	// msgModelTimeout is the modelTimeoutException message clients report when the 8-minute stream
	// limit is reached (aws-samples/sample-sonic-cdk-agent#31, amazon-nova-samples#147).
	msgModelTimeout = "Model has timed out in processing the request. Try your request again."
	// msgIdleTimeout is the modelTimeoutException message for a stream that stopped sending.
	msgIdleTimeout = "Timed out waiting for input events"
	// msgInvalidModel is the ValidationException for an unknown model ID. AWS's own Go
	// integration test (TestWrongModel) expects ValidationException for a wrong model ID.
	msgInvalidModel = "The provided model identifier is invalid."
	// msgModelEOL is the ResourceNotFoundException Bedrock gives for end-of-life model versions.
	msgModelEOL = "This model version has reached the end of its life. Please refer to the AWS documentation for more details."
)

// foundationModelARN is the prefix of a foundation-model ARN in the path, after the region.
const foundationModelARN = "::foundation-model/"

// serveStream handles one InvokeModelWithBidirectionalStream request.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	// Register with the WaitGroup under the lock that Close takes, so that Close never waits on
	// a WaitGroup that a late handler is still adding to.
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		http.Error(w, "server closing", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()
	s.addOpen(1)
	defer s.addOpen(-1)

	requestID := newUUID()
	modelID := r.PathValue("modelId")
	w.Header().Set("X-Amzn-Requestid", requestID)
	rec := s.newRecord(StreamRecord{RequestID: requestID, ModelID: modelID, Proto: r.Proto, Started: time.Now()})
	defer rec.update(func(r *StreamRecord) { r.Ended = time.Now() })
	log := s.log.With("requestId", requestID, "modelId", modelID, "proto", r.Proto)

	reject := func(e *HTTPError) {
		rec.finish(EndRejected, e.ErrorType)
		writeHTTPError(w, rec, e)
		log.Info("request rejected", "status", e.Status, "errorType", e.ErrorType, "message", e.Message)
	}
	auth, herr := s.authenticate(r)
	if herr != nil {
		reject(herr)
		return
	}
	rec.update(func(r *StreamRecord) { r.AuthMode, r.AccessKeyID = auth.mode, auth.accessKeyID })
	if herr := s.checkModel(modelID); herr != nil {
		reject(herr)
		return
	}
	if r.ProtoMajor < 2 {
		// Over HTTP/1.1 the SDK fails with its own "requires minimum HTTP protocol of HTTP/2"
		// check, but only on a 2xx response (an error status is reported as that error). So an
		// authenticated HTTP/1.1 request gets an empty 200, and the client fails exactly as the
		// SDK would anywhere. Full duplex first: otherwise Go's HTTP/1 server tries to drain the
		// request body, which only ends when the application closes the stream.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			log.Debug("enable full duplex", "err", err)
		}
		rec.finish(EndRejected, "")
		w.Header().Set("Content-Type", eventStreamMIME)
		w.WriteHeader(http.StatusOK)
		rec.update(func(r *StreamRecord) { r.Status = http.StatusOK })
		log.Info("request rejected: bidirectional streaming requires HTTP/2")
		return
	}
	log.Info("stream started", "auth", auth.mode)
	s.runStream(w, r, streamParams{requestID: requestID, modelID: modelID, auth: auth, rec: rec, log: log})
	end := rec.snapshot()
	log.Info("stream ended", "end", end.End, "exception", end.Exception, "inputEvents", len(end.Events), "audioBytes", end.AudioBytes, "outputEvents", end.OutputEvents)
}

// checkModel accepts a served model ID or its foundation-model ARN in the server's region.
func (s *Server) checkModel(modelID string) *HTTPError {
	id := modelID
	if arn, ok := strings.CutPrefix(modelID, "arn:aws:bedrock:"+s.opts.Region+foundationModelARN); ok {
		id = arn
	}
	switch {
	case s.models[id]:
		return nil
	case id == ModelNovaSonicV1:
		return &HTTPError{Status: http.StatusNotFound, ErrorType: errTypeNotFound, Message: msgModelEOL}
	default:
		return &HTTPError{Status: http.StatusBadRequest, ErrorType: errTypeValidation, Message: msgInvalidModel}
	}
}

func (s *Server) behaviorFor(modelID string, r *http.Request) Behavior {
	if s.opts.BehaviorFor != nil {
		if b := s.opts.BehaviorFor(modelID, r); b != nil {
			return b
		}
	}
	return s.opts.Behavior
}

// streamParams is what an accepted request carries into its stream.
type streamParams struct {
	requestID, modelID string
	auth               authResult
	rec                *streamRecord
	log                *slog.Logger
}

// runStream serves an accepted stream. It is the supervisor: it runs the input reader and the
// behaviour in their own goroutines, enforces the stream deadlines, ends the response on invalid
// input, and does not return before both goroutines have (so nothing writes to w afterwards).
func (s *Server) runStream(w http.ResponseWriter, r *http.Request, sp streamParams) {
	rec, auth, log := sp.rec, sp.auth, sp.log
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)

	started := time.Now()
	out := newResponseOutput(w, rec)
	input := make(chan InputEvent, inputQueueLen)
	var inputErr error
	var lastInput atomic.Int64
	var eof atomic.Bool
	reader := &inputReader{
		fr:        newFrameReader(r.Body),
		mode:      auth.mode,
		validator: newValidator(),
		rec:       rec,
		started:   started,
		lastInput: &lastInput,
		eof:       &eof,
	}
	if auth.mode == AuthSigV4 {
		reader.verifier = newChunkVerifier(auth.creds, s.opts.Region, auth.seed)
	}
	stream := &Stream{
		ctx:       ctx,
		modelID:   sp.modelID,
		requestID: sp.requestID,
		sessionID: newUUID(),
		auth:      auth.mode,
		input:     input,
		inputErr:  &inputErr,
		out:       out,
	}

	readDone := make(chan readOutcome, 1)
	go reader.run(ctx, input, &inputErr, readDone)
	behaviorDone := make(chan error, 1)
	behavior := s.behaviorFor(stream.modelID, r)
	go func() { behaviorDone <- behavior(ctx, stream) }()

	maxDuration := time.NewTimer(s.opts.MaxStreamDuration)
	defer maxDuration.Stop()
	idle := time.NewTimer(s.opts.IdleInputTimeout)
	defer idle.Stop()

	// endWith tells the behaviour to stop and ends the response from the server side. Cancel
	// first: the final write waits for any write in progress, which HTTP/2 flow control can hold
	// for as long as the client does not read, and the behaviour should not keep producing
	// meanwhile.
	endWith := func(reason EndReason, build func() (eventstream.Message, error), detail string) {
		cancel(fmt.Errorf("%w: %s", ErrStreamEnded, reason))
		if err := out.terminate(reason, detail, build); err != nil && !errors.Is(err, ErrStreamEnded) {
			log.Debug("write final message", "err", err)
		}
	}
	modelTimeout := func(msg string) func() (eventstream.Message, error) {
		return func() (eventstream.Message, error) {
			return exceptionMessage("modelTimeoutException", exceptionBody{Message: msg})
		}
	}

	readerRunning := true
	onRead := func(res readOutcome) {
		readerRunning = false
		switch res.end {
		case EndHalfClose:
			// No more input can arrive, so the idle deadline no longer applies; the behaviour
			// decides when the response ends.
			idle.Stop()
		case EndClientReset:
			log.Debug("request body ended", "err", res.err)
			endWith(s.resetReason(), nil, "")
		case EndException:
			s.logInvalid(log, res)
			endWith(EndException, func() (eventstream.Message, error) {
				return exceptionMessage(res.code, exceptionBody{Message: res.message})
			}, res.code)
		default:
			// Frame or signature failures: an unmodeled protocol error, since the union has
			// no member for them (the SDK reports *smithy.GenericAPIError with the code).
			if res.end == EndSignatureFailure {
				s.sigFailures.Add(1)
			}
			s.logInvalid(log, res)
			endWith(res.end, func() (eventstream.Message, error) {
				return protocolErrorMessage(res.code, res.message), nil
			}, res.code)
		}
	}
	// clientGone is set to nil once handled: a done channel stays ready and would spin the loop
	// while the behaviour winds down.
	clientGone := r.Context().Done()
	for behaviorRunning := true; behaviorRunning; {
		select {
		case err := <-behaviorDone:
			behaviorRunning = false
			// The reader reports before it closes input, so an outcome that made the behaviour
			// return is already here; it decides how the stream ends.
			select {
			case res := <-readDone:
				onRead(res)
			default:
			}
			if err != nil && !errors.Is(err, ErrStreamEnded) && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
				log.Warn("behavior failed", "err", err)
			}
		case res := <-readDone:
			onRead(res)
		case <-maxDuration.C:
			endWith(EndMaxDuration, modelTimeout(msgModelTimeout), "modelTimeoutException")
		case <-idle.C:
			// The reader records activity without touching the timer; re-arm for the remainder
			// when input arrived since the timer was set.
			if quiet := time.Since(started) - time.Duration(lastInput.Load()); quiet < s.opts.IdleInputTimeout {
				idle.Reset(s.opts.IdleInputTimeout - quiet)
				continue
			}
			endWith(EndIdleTimeout, modelTimeout(msgIdleTimeout), "modelTimeoutException")
		case <-clientGone:
			clientGone = nil
			endWith(s.resetReason(), nil, "")
		}
	}

	reason := EndBehavior
	if eof.Load() {
		reason = EndHalfClose
	}
	// A behaviour that touched nothing still gets a (clean, empty) 200 stream.
	out.close(reason)
	cancel(ErrStreamEnded)
	if readerRunning {
		// Unblock a reader waiting for body data: closing an HTTP/2 request body wakes its Read.
		r.Body.Close()
		<-readDone
	}
}

func (s *Server) resetReason() EndReason {
	if s.closing.Load() {
		return EndServerClosed
	}
	return EndClientReset
}

func (s *Server) logInvalid(log *slog.Logger, res readOutcome) {
	log.Info("invalid input", "end", res.end, "code", res.code, "message", res.message, "err", res.err)
}

// close ends the response normally: it sends the headers if nothing was sent and records reason
// unless the stream already ended otherwise.
func (o *responseOutput) close(reason EndReason) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.ended {
		o.commitLocked()
		o.ended = true
	}
	o.rec.finish(reason, "")
}

// newUUID returns a random RFC 4122 version 4 UUID, the shape of request, session and content IDs.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
