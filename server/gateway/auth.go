package gateway

import (
	"context"
	"errors"
	"strings"
)

// Authenticator decides whether the token in a browser's authorization message may open a session.
type Authenticator interface {
	// Authenticate returns who the token belongs to, or why it is refused, preferably as an *AuthError.
	// The error is logged and counted, never shown to the browser, and must not contain the token.
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// Principal is who a session belongs to.
type Principal struct {
	// Subject is the user's stable id (a Cognito "sub"). It appears in logs and keys the per-user
	// conversation limit; tokens never appear anywhere.
	Subject string
}

// AuthError is a refused token. Reason is a short label for the auth_failures_total metric and the log;
// Err is the verifier's precise reason for the log. The browser is only told that authorization failed
// (authFailedMessage), or how to format the message when it is malformed: telling a caller which check a
// forged token passed would help the forger.
type AuthError struct {
	Reason string
	Err    error
}

func (e *AuthError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// The reasons an AuthError carries.
const (
	AuthMalformed    = "malformed"     // not "Bearer <token>"; the browser is told the format
	AuthInvalidToken = "invalid_token" // not a JWT, or its signature does not verify
	AuthUnknownKey   = "unknown_key"   // signed with a key the pool does not publish, even after a refetch
	AuthExpired      = "expired"
	AuthWrongClaims  = "wrong_claims" // issuer, token_use or client_id of another pool, app or token kind
	AuthNoSubject    = "no_subject"
	AuthUnavailable  = "keys_unavailable" // the signing keys could not be fetched
)

// authFailedMessage is all the browser learns about a refused token.
const authFailedMessage = "authorization failed: sign in again"

// errMalformedToken is the one refusal whose wording reaches the browser: it is about the message's
// format, which the client controls, not about the token.
var errMalformedToken = &AuthError{Reason: AuthMalformed, Err: errors.New(`token must be "Bearer <token>"`)}

// AcceptAnyToken is the local-development authenticator: any non-empty bearer token opens a session. It is
// only ever used with the simulated Nova Sonic (`gateway -local`), which has no data or cost to protect.
// The token names the user ("local:" + token), so that local clients with different tokens count as
// different users under the per-user limit.
type AcceptAnyToken struct{}

// Authenticate implements Authenticator.
func (AcceptAnyToken) Authenticate(_ context.Context, token string) (Principal, error) {
	raw, err := bearerToken(token)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Subject: "local:" + truncate(raw, 64)}, nil
}

// bearerToken strips the "Bearer " prefix the replaced system's browser client puts in front of the JWT.
func bearerToken(value string) (string, error) {
	const prefix = "Bearer "
	if len(value) <= len(prefix) || !strings.EqualFold(value[:len(prefix)], prefix) {
		return "", errMalformedToken
	}
	token := strings.TrimSpace(value[len(prefix):])
	if token == "" {
		return "", errMalformedToken
	}
	return token, nil
}

// authRefusal turns an Authenticate error into what the session reports: the metric reason and the
// message for the browser.
func authRefusal(err error) (reason, message string) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		return AuthInvalidToken, authFailedMessage
	}
	if ae.Reason == AuthMalformed {
		return ae.Reason, ae.Err.Error()
	}
	return ae.Reason, authFailedMessage
}
