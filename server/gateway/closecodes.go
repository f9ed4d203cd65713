package gateway

import (
	"errors"
	"fmt"
)

// CloseCode is a WebSocket close code the gateway sends. Codes 4000–4999 are ours and read like HTTP
// statuses (4400 ≈ 400 Bad Request). server/PROTOCOL.md lists them for web developers.
type CloseCode int

// The close codes, each with whether a client should reconnect.
const (
	CloseNormal          CloseCode = 1000 // the conversation ended as asked; do not reconnect
	CloseGoingAway       CloseCode = 1001 // the browser left; never sent, only logged and counted
	CloseUnsupportedData CloseCode = 1003 // a binary frame; fix the client
	CloseInvalidPayload  CloseCode = 1007 // a text frame that is not valid UTF-8 (RFC 6455); fix the client
	CloseInputRate       CloseCode = 1008 // more input events per second than any real-time client sends; fix the client
	CloseMessageTooBig   CloseCode = 1009 // a frame over maxMessageBytes; fix the client
	CloseInternalError   CloseCode = 1011 // a gateway fault; reconnect with backoff
	CloseServiceRestart  CloseCode = 1012 // the gateway is draining for a deploy or scale-in; reconnect now
	CloseTryAgainLater   CloseCode = 1013 // this gateway holds as many conversations as it may; reconnect with backoff
	CloseBadRequest      CloseCode = 4400 // malformed or out-of-order input, or Nova Sonic rejected it; fix the client
	CloseUnauthorized    CloseCode = 4401 // missing, invalid or late authorization; sign in again
	CloseModelTimeout    CloseCode = 4408 // Nova Sonic timed out (no input, or the stream's time limit); reconnect
	CloseTooManyForUser  CloseCode = 4409 // the user already has as many conversations open as allowed; end one first
	CloseThrottled       CloseCode = 4429 // Bedrock throttled or over quota; reconnect with backoff
	CloseModelError      CloseCode = 4500 // the model failed or its stream ended unexpectedly; reconnect
	CloseBedrockRejected CloseCode = 4502 // Bedrock refused the gateway (access, model id): an operator must fix it
	CloseUnavailable     CloseCode = 4503 // Bedrock unreachable or unavailable; reconnect with backoff
	CloseSlowClient      CloseCode = 4504 // the browser did not take output fast enough; reconnect
)

// CloseCodes are every code the gateway sends or logs, for clients to be checked against.
func CloseCodes() []CloseCode {
	return []CloseCode{CloseNormal, CloseGoingAway, CloseUnsupportedData, CloseInvalidPayload, CloseInputRate,
		CloseMessageTooBig, CloseInternalError, CloseServiceRestart, CloseTryAgainLater, CloseBadRequest,
		CloseUnauthorized, CloseModelTimeout, CloseTooManyForUser, CloseThrottled, CloseModelError,
		CloseBedrockRejected, CloseUnavailable, CloseSlowClient}
}

// Name is the short snake_case name sent as the error message's code and used in logs and metrics.
func (c CloseCode) Name() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "client_gone"
	case CloseUnsupportedData:
		return "unsupported_data"
	case CloseInvalidPayload:
		return "invalid_payload"
	case CloseInputRate:
		return "input_rate_exceeded"
	case CloseMessageTooBig:
		return "message_too_big"
	case CloseInternalError:
		return "internal_error"
	case CloseServiceRestart:
		return "service_restart"
	case CloseTryAgainLater:
		return "gateway_full"
	case CloseBadRequest:
		return "bad_request"
	case CloseUnauthorized:
		return "unauthorized"
	case CloseModelTimeout:
		return "model_timeout"
	case CloseTooManyForUser:
		return "conversation_limit"
	case CloseThrottled:
		return "throttled"
	case CloseModelError:
		return "model_error"
	case CloseBedrockRejected:
		return "bedrock_rejected"
	case CloseUnavailable:
		return "bedrock_unavailable"
	case CloseSlowClient:
		return "slow_client"
	}
	return fmt.Sprintf("code_%d", int(c))
}

// Retryable reports whether a client may reconnect after this close and expect it to work.
func (c CloseCode) Retryable() bool {
	switch c {
	case CloseInternalError, CloseServiceRestart, CloseTryAgainLater, CloseModelTimeout, CloseThrottled,
		CloseModelError, CloseUnavailable, CloseSlowClient:
		return true
	}
	return false
}

// ServiceFailure reports whether this close means the service failed the user: the gateway, Bedrock or
// its configuration, not the user's client, network or a deploy. These are what an operator alarms on.
func (c CloseCode) ServiceFailure() bool {
	switch c {
	case CloseInternalError, CloseModelTimeout, CloseThrottled, CloseModelError, CloseBedrockRejected, CloseUnavailable:
		return true
	}
	return false
}

// FailureOutcomes are the Name()s of the codes that are ServiceFailures: the outcome label values of
// novasonic_conversations_ended_total to alarm on.
func FailureOutcomes() []string {
	var names []string
	for _, c := range []CloseCode{CloseInternalError, CloseModelTimeout, CloseThrottled, CloseModelError, CloseBedrockRejected, CloseUnavailable} {
		names = append(names, c.Name())
	}
	return names
}

// sessionEnd is why a session ended: the close code and the message the browser is told. It is the
// cancellation cause of the session's context, so the first reason wins and the write loop reads it.
type sessionEnd struct {
	Code CloseCode
	// Message is safe to show a user: it never carries tokens, audio or internal addresses.
	Message string
	// Err is the underlying failure for the log, if any.
	Err error
	// ClientGone records that the browser's socket is already closed: nothing more is written to it.
	ClientGone bool
}

func (e *sessionEnd) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %s: %v", e.Code.Name(), int(e.Code), e.Message, e.Err)
	}
	return fmt.Sprintf("%s (%d): %s", e.Code.Name(), int(e.Code), e.Message)
}

func (e *sessionEnd) Unwrap() error { return e.Err }

// endWith builds a sessionEnd.
func endWith(code CloseCode, message string, err error) *sessionEnd {
	return &sessionEnd{Code: code, Message: message, Err: err}
}

// endOf extracts the sessionEnd from a cancellation cause; anything else is an internal error.
func endOf(cause error) *sessionEnd {
	var end *sessionEnd
	if errors.As(cause, &end) {
		return end
	}
	return endWith(CloseInternalError, "internal error", cause)
}

// clientGone is the end of a session whose browser closed the socket or lost the connection: there is
// nobody left to tell, so no close frame is written.
func clientGone(err error) *sessionEnd {
	return &sessionEnd{Code: CloseGoingAway, Message: "the browser closed the connection", Err: err, ClientGone: true}
}

// endedByClient is the end of a session whose browser sent sessionEnd and closed the socket without
// waiting for the close frame, as the replaced system's client does: a normal end, with nobody to tell.
func endedByClient(err error) *sessionEnd {
	return &sessionEnd{Code: CloseNormal, Message: "the conversation ended", Err: err, ClientGone: true}
}
