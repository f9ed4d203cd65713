package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const (
	testPoolID   = "us-east-1_TestPool1"
	testClientID = "web-client-id"
)

// cognitoStandIn serves a user pool's JWKS like Cognito does and signs tokens with the pool's key.
type cognitoStandIn struct {
	issuer string
	key    jwk.Key // the current private key; the first is kid "key-1"
	fetch  atomic.Int32

	mu  sync.Mutex
	set jwk.Set // the published public keys
}

func startCognito(t *testing.T) *cognitoStandIn {
	t.Helper()
	c := &cognitoStandIn{set: jwk.NewSet()}
	c.rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+testPoolID+"/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		c.fetch.Add(1)
		c.mu.Lock()
		defer c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.set)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c.issuer = hs.URL + "/" + testPoolID
	return c
}

// rotate publishes a new signing key beside the old ones and signs new tokens with it, as Cognito does
// when it rotates a pool's keys.
func (c *cognitoStandIn) rotate(t *testing.T) jwk.Key {
	t.Helper()
	key := newSigningKey(t, fmt.Sprintf("key-%d", c.set.Len()+1))
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.set.AddKey(pub)
	c.key = key
	return key
}

func newSigningKey(t *testing.T, kid string) jwk.Key {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, kid)
	_ = key.Set(jwk.AlgorithmKey, jwa.RS256())
	return key
}

// token signs a Cognito-shaped access token, changed by edit.
func (c *cognitoStandIn) token(t *testing.T, edit func(jwt.Token), key jwk.Key) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(c.issuer).Subject("user-sub-123").IssuedAt(now).Expiration(now.Add(time.Hour)).
		Claim("token_use", "access").Claim("client_id", testClientID).Claim("scope", "openid").
		Build()
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(tok)
	}
	if key == nil {
		key = c.key
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), key))
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + string(signed)
}

func newTestVerifier(t *testing.T, c *cognitoStandIn) *CognitoVerifier {
	t.Helper()
	v, err := NewCognitoVerifier(context.Background(), CognitoOptions{UserPoolID: testPoolID, ClientID: testClientID, IssuerURL: c.issuer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func TestCognitoAccessTokensOfThisAppClientAreAccepted(t *testing.T) {
	c := startCognito(t)
	v := newTestVerifier(t, c)
	p, err := v.Authenticate(context.Background(), c.token(t, nil, nil))
	if err != nil || p.Subject != "user-sub-123" {
		t.Fatalf("Authenticate = %+v, %v; want subject user-sub-123", p, err)
	}
	if n := c.fetch.Load(); n != 1 {
		t.Fatalf("the signing keys were fetched %d times, want once and cached", n)
	}
}

func TestCognitoTokensThatMustBeRefused(t *testing.T) {
	c := startCognito(t)
	v := newTestVerifier(t, c)
	impostor := newSigningKey(t, "key-1") // claims to be the pool's key

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"expired", c.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.ExpirationKey, time.Now().Add(-time.Minute)) }, nil), AuthExpired},
		{"an ID token", c.token(t, func(tok jwt.Token) { _ = tok.Set("token_use", "id") }, nil), AuthWrongClaims},
		{"another app client", c.token(t, func(tok jwt.Token) { _ = tok.Set("client_id", "someone-else") }, nil), AuthWrongClaims},
		{"another user pool", c.token(t, func(tok jwt.Token) {
			_ = tok.Set(jwt.IssuerKey, "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")
		}, nil), AuthWrongClaims},
		{"no expiry", c.token(t, func(tok jwt.Token) { _ = tok.Remove(jwt.ExpirationKey) }, nil), AuthWrongClaims},
		{"no subject", c.token(t, func(tok jwt.Token) { _ = tok.Remove(jwt.SubjectKey) }, nil), AuthNoSubject},
		{"signed by another key", c.token(t, nil, impostor), AuthInvalidToken},
		{"signed by a key the pool never published", c.token(t, nil, newSigningKey(t, "forged")), AuthUnknownKey},
		{"unsigned (alg none)", "Bearer " + unsignedToken(c.issuer), AuthInvalidToken},
		{"not a JWT", "Bearer hello", AuthInvalidToken},
		{"no Bearer prefix", strings.TrimPrefix(c.token(t, nil, nil), "Bearer "), AuthMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Authenticate(context.Background(), tt.token)
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != tt.reason {
				t.Fatalf("Authenticate = %v, want an AuthError with reason %q", err, tt.reason)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(tt.token, "Bearer ")) {
				t.Fatal("the error repeats the token")
			}
			// Whatever the check that failed, the browser learns nothing about it.
			if _, msg := authRefusal(err); tt.reason != AuthMalformed && msg != authFailedMessage {
				t.Fatalf("the browser would be told %q, want only %q", msg, authFailedMessage)
			}
		})
	}
}

// Cognito rotates a pool's signing keys now and then. A token signed with the new key must be accepted at
// once (one refetch of the key set), not after the periodic refresh; forged key ids must not make the
// gateway refetch more than once per unknownKeyRefreshInterval.
func TestARotatedSigningKeyIsFetchedWhenATokenNeedsIt(t *testing.T) {
	c := startCognito(t)
	v := newTestVerifier(t, c)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	v.now = func() time.Time { return now }

	c.rotate(t)
	if p, err := v.Authenticate(context.Background(), c.token(t, nil, nil)); err != nil || p.Subject != "user-sub-123" {
		t.Fatalf("a token signed with the rotated key: %v", err)
	}
	if n := c.fetch.Load(); n != 2 {
		t.Fatalf("key set fetched %d times, want 2: at start and once for the new key", n)
	}

	forged := func() string { return c.token(t, nil, newSigningKey(t, "forged-"+newSessionID())) }
	now = now.Add(unknownKeyRefreshInterval / 2)
	for range 3 {
		var ae *AuthError
		if _, err := v.Authenticate(context.Background(), forged()); !errors.As(err, &ae) || ae.Reason != AuthUnknownKey {
			t.Fatalf("a token with an unknown key id = %v, want %s", err, AuthUnknownKey)
		}
	}
	if n := c.fetch.Load(); n != 2 {
		t.Fatalf("key set fetched %d times after forged key ids within %v of the last refetch, want still 2", n, unknownKeyRefreshInterval)
	}
	now = now.Add(unknownKeyRefreshInterval)
	_, _ = v.Authenticate(context.Background(), forged())
	if n := c.fetch.Load(); n != 3 {
		t.Fatalf("key set fetched %d times once the interval passed, want 3", n)
	}
}

func unsignedToken(issuer string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return strings.TrimRight(b64url(b), "=")
	}
	return enc(map[string]string{"alg": "none", "kid": "key-1"}) + "." +
		enc(map[string]any{"iss": issuer, "sub": "x", "token_use": "access", "client_id": testClientID, "exp": time.Now().Add(time.Hour).Unix()}) + "."
}

func TestCognitoVerifierNeedsAValidPoolAndClient(t *testing.T) {
	for _, opts := range []CognitoOptions{
		{UserPoolID: "not-a-pool", ClientID: "c"},
		{UserPoolID: "us-east-1_Abc", ClientID: ""},
	} {
		if _, err := NewCognitoVerifier(context.Background(), opts); err == nil {
			t.Errorf("NewCognitoVerifier(%+v) succeeded", opts)
		}
	}
}

func TestCognitoVerifierFailsAtStartWhenTheKeysCannotBeFetched(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	hs.Close() // nothing listens there now, so a short deadline cannot turn a pass into a failure
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := NewCognitoVerifier(ctx, CognitoOptions{UserPoolID: testPoolID, ClientID: testClientID, IssuerURL: hs.URL + "/" + testPoolID})
	if err == nil || !strings.Contains(err.Error(), "signing keys") {
		t.Fatalf("NewCognitoVerifier = %v, want a failure naming the signing keys", err)
	}
}

func TestSessionsWithCognitoTokens(t *testing.T) {
	c := startCognito(t)
	v := newTestVerifier(t, c)
	model := &fakeModel{}
	logs := &syncBuffer{}
	_, hs := startGateway(t, model, func(o *Options) {
		o.Auth = v
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})

	dial(t, hs, c.token(t, nil, nil)) // succeeds, or dial fails the test

	conn := dial(t, hs, "")
	token := c.token(t, func(tok jwt.Token) { _ = tok.Set("client_id", "x") }, nil)
	send(t, conn, `{"type":"authorization","token":"`+token+`"}`)
	frames, code := readToClose(t, conn)
	if code != int(CloseUnauthorized) || lastError(t, frames).Message != authFailedMessage {
		t.Fatalf("close %d, frames %q: want 4401 with only %q", code, frames, authFailedMessage)
	}
	// The operator's log has the precise reason; nobody's log has the token.
	waitFor(t, func() bool { return strings.Contains(logs.String(), `"code":4401`) })
	if !strings.Contains(logs.String(), `client_id`) || strings.Contains(logs.String(), strings.TrimPrefix(token, "Bearer ")) {
		t.Fatalf("log must name the failed claim and never the token:\n%s", logs.String())
	}
}
