package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
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
}

// clockSkew tolerates a small difference between Cognito's clock and ours when checking exp and iat.
const clockSkew = 30 * time.Second

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
	v := &CognitoVerifier{issuer: issuer, clientID: opts.ClientID, jwksURL: issuer + "/.well-known/jwks.json"}

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
// pool's current keys, issued by the pool to the configured app client, and not expired.
func (v *CognitoVerifier) Authenticate(ctx context.Context, value string) (Principal, error) {
	raw, err := bearerToken(value)
	if err != nil {
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
		return Principal{}, errors.New("the token has expired; sign in again")
	case errors.Is(err, jwt.ValidateError()):
		return Principal{}, fmt.Errorf("the token is not an access token of this application: %w", err)
	default:
		return Principal{}, errors.New("the token is not a valid Cognito token")
	}
	sub, ok := tok.Subject()
	if !ok || sub == "" {
		return Principal{}, errors.New("the token has no subject")
	}
	return Principal{Subject: sub}, nil
}

// Close stops refreshing the signing keys.
func (v *CognitoVerifier) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.cache.Shutdown(ctx)
}
