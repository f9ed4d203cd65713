package localbedrock

import (
	"sync"
	"time"
)

// EndReason says how a stream ended.
type EndReason string

// End reasons, from the server's point of view.
const (
	// EndOpen means the stream is still being served.
	EndOpen EndReason = ""
	// EndRejected means the request failed before the stream (non-2xx status).
	EndRejected EndReason = "rejected"
	// EndHalfClose means the client ended its input (END_STREAM) and the behaviour then finished:
	// the normal end of a session.
	EndHalfClose EndReason = "client-half-close"
	// EndClientReset means the client went away (RST_STREAM, closed connection, cancelled context).
	EndClientReset EndReason = "client-reset"
	// EndBehavior means the behaviour returned while the client was still sending, without an
	// exception: the "abrupt end" that the SDK reports as a clean close.
	EndBehavior EndReason = "behavior-ended"
	// EndException means a modeled exception ended the stream (see StreamRecord.Exception).
	EndException EndReason = "exception"
	// EndProtocolError means an unmodeled error message ended the stream.
	EndProtocolError EndReason = "protocol-error"
	// EndSignatureFailure means a chunk signature did not verify; a protocol error was sent.
	EndSignatureFailure EndReason = "signature-failure"
	// EndMaxDuration means the maximum stream duration elapsed (modelTimeoutException).
	EndMaxDuration EndReason = "max-duration"
	// EndIdleTimeout means no input event arrived in time (modelTimeoutException).
	EndIdleTimeout EndReason = "idle-timeout"
	// EndServerClosed means Server.Close ended the stream.
	EndServerClosed EndReason = "server-closed"
)

// StreamRecord is a snapshot of one request as the server saw it.
type StreamRecord struct {
	// RequestID is the X-Amzn-Requestid the server answered with.
	RequestID string
	// ModelID is the decoded model ID from the path.
	ModelID string
	// Proto is the request protocol, for example "HTTP/2.0".
	Proto string
	// AuthMode is how the request authenticated; empty if it did not.
	AuthMode AuthMode
	// AccessKeyID is the SigV4 access key, if any.
	AccessKeyID string
	// Status is the HTTP status sent: 200 for a stream, the error status for a rejection.
	Status int
	// ErrorType is the X-Amzn-ErrorType of a rejection.
	ErrorType string
	// Started and Ended bracket the request; Ended is zero while it is open.
	Started, Ended time.Time
	// End is how the stream ended; EndOpen while it is open.
	End EndReason
	// Exception is the exception member name or protocol error code that ended the stream.
	Exception string
	// Events are the decoded input events, in arrival order.
	Events []InputEvent
	// EventsDropped counts events not kept because the record reached its size bound, or because the
	// server keeps counts only (Options.CountEventsOnly).
	EventsDropped int
	// AudioBytes is the total of decoded audioInput bytes, including any not kept.
	AudioBytes int64
	// OutputEvents counts chunk events sent to the client.
	OutputEvents int
	// SignatureFailures counts chunks of this stream that failed verification (0 or 1: the
	// first failure ends the stream).
	SignatureFailures int
}

// Audio returns the concatenated decoded audio of every recorded audioInput event, for
// byte-exact comparison with what the client sent.
func (r StreamRecord) Audio() []byte {
	var out []byte
	for _, ev := range r.Events {
		out = append(out, ev.Audio...)
	}
	return out
}

// EventNames lists the names of the recorded input events, in order.
func (r StreamRecord) EventNames() []string {
	names := make([]string, len(r.Events))
	for i, ev := range r.Events {
		names[i] = ev.Name
	}
	return names
}

// HistoryMessage is one message of the chat history a client replayed at the start of a stream.
type HistoryMessage struct {
	Role, Text string
}

// History returns the chat history the client replayed: the TEXT contents of role USER or ASSISTANT
// that are not interactive, between the SYSTEM content and the first AUDIO content, in order.
func (r StreamRecord) History() []HistoryMessage {
	var out []HistoryMessage
	index := map[string]int{}
	for _, ev := range r.Events {
		switch {
		case ev.Name == evContentStart && ev.Type == typeAudio:
			return out
		case ev.Name == evContentStart && ev.Type == typeText && !ev.Interactive && (ev.Role == roleUser || ev.Role == roleAssistant):
			index[ev.ContentName] = len(out)
			out = append(out, HistoryMessage{Role: ev.Role})
		case ev.Name == evTextInput:
			if i, ok := index[ev.ContentName]; ok {
				out[i].Text += ev.Content
			}
		}
	}
	return out
}

// streamRecord is the live, lock-protected record behind StreamRecord snapshots.
type streamRecord struct {
	mu            sync.Mutex
	r             StreamRecord
	recordedBytes int
	countOnly     bool // Options.CountEventsOnly
}

func (rec *streamRecord) update(f func(r *StreamRecord)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f(&rec.r)
}

// addEvent keeps ev unless the record is full. Events are only appended and never modified, so
// snapshots can share the backing array.
func (rec *streamRecord) addEvent(ev InputEvent) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.AudioBytes += int64(len(ev.Audio))
	size := len(ev.JSON) + len(ev.Audio)
	if rec.countOnly || rec.recordedBytes+size > maxRecordedBytes {
		rec.r.EventsDropped++
		return
	}
	rec.recordedBytes += size
	rec.r.Events = append(rec.r.Events, ev)
}

// finish sets the end reason unless one was already decided; the first decision wins.
func (rec *streamRecord) finish(reason EndReason, exception string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.r.End != EndOpen {
		return
	}
	rec.r.End, rec.r.Exception = reason, exception
}

func (rec *streamRecord) snapshot() StreamRecord {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.r
	r.Events = r.Events[:len(r.Events):len(r.Events)]
	return r
}

// newRecord registers a record and trims finished records beyond Options.KeepRecords.
func (s *Server) newRecord(r StreamRecord) *streamRecord {
	rec := &streamRecord{r: r, countOnly: s.opts.CountEventsOnly}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, rec)
	if excess := len(s.records) - s.opts.KeepRecords; excess > 0 {
		kept := s.records[:0]
		for _, old := range s.records {
			old.mu.Lock()
			done := !old.r.Ended.IsZero()
			old.mu.Unlock()
			if done && excess > 0 {
				excess--
				continue
			}
			kept = append(kept, old)
		}
		clear(s.records[len(kept):])
		s.records = kept
	}
	return rec
}

// Records returns snapshots of the kept stream records, oldest first.
func (s *Server) Records() []StreamRecord {
	s.mu.Lock()
	recs := append([]*streamRecord(nil), s.records...)
	s.mu.Unlock()
	out := make([]StreamRecord, len(recs))
	for i, rec := range recs {
		out[i] = rec.snapshot()
	}
	return out
}
