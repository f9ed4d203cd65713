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
	CloseMessageTooBig   CloseCode = 1009 // a frame over maxMessageBytes; fix the client
	CloseInternalError   CloseCode = 1011 // a gateway fault; reconnect with backoff
	CloseServiceRestart  CloseCode = 1012 // the gateway is draining for a deploy or scale-in; reconnect now
	CloseBadRequest      CloseCode = 4400 // malformed or out-of-order input, or Nova Sonic rejected it; fix the client
	CloseUnauthorized    CloseCode = 4401 // missing, invalid or late authorization; sign in again
	CloseModelTimeout    CloseCode = 4408 // Nova Sonic timed out (no input, or the stream's time limit); reconnect
	CloseThrottled       CloseCode = 4429 // Bedrock throttled or over quota; reconnect with backoff
	CloseModelError      CloseCode = 4500 // the model failed or its stream ended unexpectedly; reconnect
	CloseBedrockRejected CloseCode = 4502 // Bedrock refused the gateway (access, model id): an operator must fix it
	CloseUnavailable     CloseCode = 4503 // Bedrock unreachable or unavailable; reconnect with backoff
	CloseSlowClient      CloseCode = 4504 // the browser did not take output fast enough; reconnect
)

// Name is the short snake_case name sent as the error message's code and used in logs and metrics.
func (c CloseCode) Name() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "client_gone"
	case CloseUnsupportedData:
		return "unsupported_data"
	case CloseMessageTooBig:
		return "message_too_big"
	case CloseInternalError:
		return "internal_error"
	case CloseServiceRestart:
		return "service_restart"
	case CloseBadRequest:
		return "bad_request"
	case CloseUnauthorized:
		return "unauthorized"
	case CloseModelTimeout:
		return "model_timeout"
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
	case CloseInternalError, CloseServiceRestart, CloseModelTimeout, CloseThrottled, CloseModelError,
		CloseUnavailable, CloseSlowClient:
		return true
	}
	return false
}

// sessionEnd is why a session ended: the close code and the message the browser is told. It is the
// cancellation cause of the session's context, so the first reason wins and the write loop reads it.
type sessionEnd struct {
	Code CloseCode
	// Message is safe to show a user: it never carries tokens, audio or internal addresses.
	Message string
	// Err is the underlying failure for the log, if any.
	Err error
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
	return endWith(CloseGoingAway, "the browser closed the connection", err)
}
