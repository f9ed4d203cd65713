package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// The gateway runs as deployed, verifying Cognito access tokens. A local issuer stands in for the user
// pool: it publishes its key where the gateway looks for a pool's keys (COGNITO_ISSUER_URL) and signs
// Cognito-shaped access tokens, one user per conversation, so the per-user limit never interferes.

const (
	issuerPoolID   = "us-east-1_LoadTest"
	issuerClientID = "loadtest"
)

// tokenIssuer is a running local issuer.
type tokenIssuer struct {
	url string // the issuer, for COGNITO_ISSUER_URL
	key jwk.Key
	srv *http.Server
}

func startIssuer() (*tokenIssuer, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, err
	}
	if err := key.Set(jwk.KeyIDKey, "loadtest-1"); err != nil {
		return nil, err
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.RS256()); err != nil {
		return nil, err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, err
	}
	keys, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+issuerPoolID+"/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys)
	})
	iss := &tokenIssuer{url: "http://" + ln.Addr().String() + "/" + issuerPoolID, key: key,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = iss.srv.Serve(ln) }()
	return iss, nil
}

// token signs an access token for subject, valid for an hour.
func (iss *tokenIssuer) token(subject string) (string, error) {
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(iss.url).Subject(subject).IssuedAt(now).Expiration(now.Add(time.Hour)).
		Claim("token_use", "access").Claim("client_id", issuerClientID).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), iss.key))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return string(signed), nil
}

func (iss *tokenIssuer) close() { _ = iss.srv.Close() }
