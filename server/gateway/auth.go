package gateway

import (
	"context"
	"errors"
	"strings"
)

// Authenticator decides whether the token in a browser's authorization message may open a session.
type Authenticator interface {
	// Authenticate returns who the token belongs to, or an error that says why it is refused. The error's
	// text may reach the browser; it must not contain the token.
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// Principal is who a session belongs to.
type Principal struct {
	// Subject is the user's stable id (a Cognito "sub"). It appears in logs; tokens never do.
	Subject string
}

// AcceptAnyToken is the local-development authenticator: any non-empty bearer token opens a session. It is
// only ever used with the simulated Nova Sonic (`gateway -local`), which has no data or cost to protect.
type AcceptAnyToken struct{}

// Authenticate implements Authenticator.
func (AcceptAnyToken) Authenticate(_ context.Context, token string) (Principal, error) {
	if _, err := bearerToken(token); err != nil {
		return Principal{}, err
	}
	return Principal{Subject: "local-user"}, nil
}

// bearerToken strips the "Bearer " prefix the replaced system's browser client puts in front of the JWT.
func bearerToken(value string) (string, error) {
	const prefix = "Bearer "
	if len(value) <= len(prefix) || !strings.EqualFold(value[:len(prefix)], prefix) {
		return "", errors.New(`token must be "Bearer <token>"`)
	}
	token := strings.TrimSpace(value[len(prefix):])
	if token == "" {
		return "", errors.New("token is empty")
	}
	return token, nil
}
