package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// CognitoOptions configure a CognitoVerifier.
type CognitoOptions struct {
	// UserPoolID is the pool whose access tokens are accepted, "<region>_<id>". Required.
	UserPoolID string
	// ClientID is the app client the tokens must have been issued to (their client_id claim). Required:
	// a token from another app of the same pool is refused.
	ClientID string
	// IssuerURL overrides the pool's issuer, https://cognito-idp.<region>.amazonaws.com/<UserPoolID>.
	// The signing keys are read from IssuerURL + "/.well-known/jwks.json". Default: the pool's issuer.
	IssuerURL string
	// HTTPClient fetches the signing keys. Default: jwx's client, with timeouts and no redirects.
	HTTPClient *http.Client
}

// CognitoVerifier accepts the Cognito access tokens of one user pool and app client. Access tokens, not
// ID tokens: they are what the managed-login PKCE flow gives the browser for calling APIs, and the only
// Cognito tokens with a client_id claim to check.
type CognitoVerifier struct {
	issuer   string
	clientID string
	jwksURL  string
	cache    *jwk.Cache
	keys     jwk.Set

	// refreshMu serialises refetches of the key set for tokens signed by an unknown key; lastRefresh
	// rate-limits them, so that forged key ids cannot make the gateway hammer Cognito.
	refreshMu   sync.Mutex
	lastRefresh time.Time
	now         func() time.Time
}

// clockSkew tolerates a small difference between Cognito's clock and ours when checking exp and iat.
const clockSkew = 30 * time.Second

// unknownKeyRefreshInterval is the least time between two refetches of the signing keys caused by tokens
// signed with a key the gateway does not know. Cognito rotates keys rarely; when it does, the first token
// signed with the new key is accepted after one refetch instead of waiting for the periodic refresh
// (15 minutes by default).
const unknownKeyRefreshInterval = 10 * time.Second

// userPoolID is "<region>_<id>", for example "us-east-1_AbCdEf123".
var userPoolID = regexp.MustCompile(`^([a-z]{2}(-[a-z]+)+-\d)_[0-9A-Za-z]+$`)

// NewCognitoVerifier fetches the pool's signing keys (failing if they cannot be fetched before ctx ends)
// and keeps them fresh in the background, so that a key rotation is picked up without a restart.
// Close stops the refreshing.
func NewCognitoVerifier(ctx context.Context, opts CognitoOptions) (*CognitoVerifier, error) {
	m := userPoolID.FindStringSubmatch(opts.UserPoolID)
	if m == nil {
		return nil, fmt.Errorf("cognito user pool id %q is not <region>_<id>, such as us-east-1_AbCdEf123", opts.UserPoolID)
	}
	if opts.ClientID == "" {
		return nil, errors.New("cognito app client id is required: tokens must be checked against the web client's app client")
	}
	issuer := opts.IssuerURL
	if issuer == "" {
		issuer = "https://cognito-idp." + m[1] + ".amazonaws.com/" + opts.UserPoolID
	}
	issuer = strings.TrimSuffix(issuer, "/")
	v := &CognitoVerifier{issuer: issuer, clientID: opts.ClientID, jwksURL: issuer + "/.well-known/jwks.json", now: time.Now}

	var clientOpts []httprc.NewClientOption
	if opts.HTTPClient != nil {
		clientOpts = append(clientOpts, httprc.WithHTTPClient(opts.HTTPClient))
	}
	cache, err := jwk.NewCache(context.WithoutCancel(ctx), httprc.NewClient(clientOpts...))
	if err != nil {
		return nil, fmt.Errorf("cognito signing keys: %w", err)
	}
	var regOpts []jwk.RegisterOption
	if opts.HTTPClient != nil {
		regOpts = append(regOpts, jwk.WithHTTPClient(opts.HTTPClient))
	}
	if err := cache.Register(ctx, v.jwksURL, regOpts...); err != nil {
		_ = cache.Shutdown(context.Background())
		return nil, fmt.Errorf("cognito signing keys from %s: %w", v.jwksURL, err)
	}
	keys, err := cache.CachedSet(v.jwksURL)
	if err != nil {
		_ = cache.Shutdown(context.Background())
		return nil, fmt.Errorf("cognito signing keys: %w", err)
	}
	v.cache, v.keys = cache, keys
	return v, nil
}

// Authenticate implements Authenticator: the token must be a Cognito access token signed by one of the
// pool's current keys, issued by the pool to the configured app client, and not expired. A token signed
// by a key the gateway has not seen yet makes it refetch the pool's keys once (rate-limited): Cognito has
// rotated them.
func (v *CognitoVerifier) Authenticate(ctx context.Context, value string) (Principal, error) {
	raw, err := bearerToken(value)
	if err != nil {
		return Principal{}, err
	}
	if err := v.knowKeyOf(ctx, raw); err != nil {
		return Principal{}, err
	}
	tok, err := jwt.ParseString(raw,
		// RequireKid: a token must name its key; the key's own "alg" (RS256 for Cognito) is the only
		// algorithm accepted for it, which rules out "none" and algorithm confusion.
		jwt.WithKeySet(v.keys, jws.WithRequireKid(true)),
		jwt.WithContext(ctx),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(clockSkew),
		jwt.WithIssuer(v.issuer),
		jwt.WithRequiredClaim("exp"),
		jwt.WithClaimValue("token_use", "access"),
		jwt.WithClaimValue("client_id", v.clientID),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.TokenExpiredError()):
		return Principal{}, &AuthError{Reason: AuthExpired, Err: err}
	case errors.Is(err, jwt.ValidateError()):
		return Principal{}, &AuthError{Reason: AuthWrongClaims, Err: err}
	default:
		return Principal{}, &AuthError{Reason: AuthInvalidToken, Err: err}
	}
	sub, ok := tok.Subject()
	if !ok || sub == "" {
		return Principal{}, &AuthError{Reason: AuthNoSubject, Err: errors.New("the token has no subject")}
	}
	return Principal{Subject: sub}, nil
}

// knowKeyOf makes sure the key the token names is in the key set, refetching the set when it is not and
// the last such refetch is old enough. Tokens that are not even a JWS are left to the full parse.
func (v *CognitoVerifier) knowKeyOf(ctx context.Context, raw string) error {
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil
	}
	kid, ok := msg.Signatures()[0].ProtectedHeaders().KeyID()
	if !ok || kid == "" {
		return nil // refused by the full parse: a key id is required
	}
	if _, found := v.keys.LookupKeyID(kid); found {
		return nil
	}
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if _, found := v.keys.LookupKeyID(kid); found {
		return nil // another session's refetch brought it
	}
	if now := v.now(); v.lastRefresh.IsZero() || now.Sub(v.lastRefresh) >= unknownKeyRefreshInterval {
		v.lastRefresh = now
		if _, err := v.cache.Refresh(ctx, v.jwksURL); err != nil {
			return &AuthError{Reason: AuthUnavailable, Err: fmt.Errorf("refetch signing keys for key id %q: %w", kid, err)}
		}
		if _, found := v.keys.LookupKeyID(kid); found {
			return nil
		}
	}
	return &AuthError{Reason: AuthUnknownKey, Err: fmt.Errorf("no signing key with id %q", kid)}
}

// Close stops refreshing the signing keys.
func (v *CognitoVerifier) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.cache.Shutdown(ctx)
}
