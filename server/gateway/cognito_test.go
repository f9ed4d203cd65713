package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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
	key    jwk.Key // private, kid "key-1"
	fetch  int
}

func startCognito(t *testing.T) *cognitoStandIn {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "key-1")
	_ = key.Set(jwk.AlgorithmKey, jwa.RS256())
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	c := &cognitoStandIn{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+testPoolID+"/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		c.fetch++
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c.issuer = hs.URL + "/" + testPoolID
	return c
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
	if c.fetch != 1 {
		t.Fatalf("the signing keys were fetched %d times, want once and cached", c.fetch)
	}
}

func TestCognitoTokensThatMustBeRefused(t *testing.T) {
	c := startCognito(t)
	v := newTestVerifier(t, c)
	otherRaw, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherKey, _ := jwk.Import(otherRaw)
	_ = otherKey.Set(jwk.KeyIDKey, "key-1") // claims to be the pool's key

	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"expired", c.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.ExpirationKey, time.Now().Add(-time.Minute)) }, nil), "expired"},
		{"an ID token", c.token(t, func(tok jwt.Token) { _ = tok.Set("token_use", "id") }, nil), "not an access token"},
		{"another app client", c.token(t, func(tok jwt.Token) { _ = tok.Set("client_id", "someone-else") }, nil), "not an access token"},
		{"another user pool", c.token(t, func(tok jwt.Token) {
			_ = tok.Set(jwt.IssuerKey, "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")
		}, nil), "not an access token"},
		{"no expiry", c.token(t, func(tok jwt.Token) { _ = tok.Remove(jwt.ExpirationKey) }, nil), "not an access token"},
		{"signed by another key", c.token(t, nil, otherKey), "not a valid Cognito token"},
		{"unsigned (alg none)", "Bearer " + unsignedToken(c.issuer), "not a valid Cognito token"},
		{"not a JWT", "Bearer hello", "not a valid Cognito token"},
		{"no Bearer prefix", strings.TrimPrefix(c.token(t, nil, nil), "Bearer "), "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Authenticate(context.Background(), tt.token)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Authenticate = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(tt.token, "Bearer ")) {
				t.Fatal("the error repeats the token")
			}
		})
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
	hs.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
	_, hs := startGateway(t, model, func(o *Options) { o.Auth = v })

	dial(t, hs, c.token(t, nil, nil)) // succeeds, or dial fails the test

	conn := dial(t, hs, "")
	send(t, conn, `{"type":"authorization","token":"`+c.token(t, func(tok jwt.Token) { _ = tok.Set("client_id", "x") }, nil)+`"}`)
	frames, code := readToClose(t, conn)
	if code != int(CloseUnauthorized) || !strings.Contains(lastError(t, frames).Message, "not an access token") {
		t.Fatalf("close %d, frames %q: want 4401 saying the token is not for this application", code, frames)
	}
}
