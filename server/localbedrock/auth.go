package localbedrock

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AuthMode is how a request authenticated.
type AuthMode string

const (
	// AuthSigV4 is AWS Signature Version 4: a signed request and signed, wrapped event messages.
	AuthSigV4 AuthMode = "sigv4"
	// AuthBearer is a Bedrock API key in "Authorization: Bearer": unsigned, unwrapped messages.
	AuthBearer AuthMode = "bearer"
)

// authResult is what a successfully authenticated request carries into its stream.
type authResult struct {
	mode        AuthMode
	accessKeyID string
	creds       aws.Credentials
	seed        []byte // request signature; first link of the chunk-signature chain
}

// Messages of the service's authentication failures. All auth failures answer HTTP 403 with
// X-Amzn-ErrorType AccessDeniedException so that the SDK reports *types.AccessDeniedException.
// (AWS itself labels some of them UnrecognizedClientException or InvalidSignatureException, which
// the SDK reports as *smithy.GenericAPIError with that code; the messages are AWS's.)
const (
	msgMissingAuth    = "Missing Authentication Token"
	msgUnknownKey     = "The security token included in the request is invalid."
	msgBadSignature   = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidBearer  = "Authentication failed: Please make sure your API Key is valid."
	errTypeAccess     = "AccessDeniedException"
	errTypeValidation = "ValidationException"
	errTypeNotFound   = "ResourceNotFoundException"
)

func accessDenied(format string, args ...any) *HTTPError {
	return &HTTPError{Status: http.StatusForbidden, ErrorType: errTypeAccess, Message: fmt.Sprintf(format, args...)}
}

// authenticate checks the Authorization header before any stream is opened.
func (s *Server) authenticate(r *http.Request) (authResult, *HTTPError) {
	authz := r.Header.Get("Authorization")
	switch {
	case authz == "":
		return authResult{}, accessDenied(msgMissingAuth)
	case strings.HasPrefix(authz, "Bearer "):
		return s.authenticateBearer(strings.TrimPrefix(authz, "Bearer "))
	case strings.HasPrefix(authz, "AWS4-HMAC-SHA256 "):
		return s.authenticateSigV4(r, authz)
	default:
		return authResult{}, accessDenied("Authorization header requires 'AWS4-HMAC-SHA256' or 'Bearer' scheme.")
	}
}

func (s *Server) authenticateBearer(token string) (authResult, *HTTPError) {
	ok := 0
	// Compare against every key in constant time so timing does not reveal a valid prefix.
	for _, known := range s.opts.BearerTokens {
		ok |= subtle.ConstantTimeCompare([]byte(token), []byte(known))
	}
	if ok != 1 {
		return authResult{}, accessDenied(msgInvalidBearer)
	}
	return authResult{mode: AuthBearer}, nil
}

// sigV4Header is a parsed "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
type sigV4Header struct {
	accessKeyID   string
	date          string // YYYYMMDD from the credential scope
	region        string
	service       string
	signedHeaders []string
	signature     []byte
}

func parseSigV4Header(authz string) (sigV4Header, error) {
	var h sigV4Header
	var credential, signed, signature string
	for part := range strings.SplitSeq(strings.TrimPrefix(authz, "AWS4-HMAC-SHA256 "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return h, fmt.Errorf("malformed component %q", part)
		}
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			signature = v
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" {
		return h, fmt.Errorf("credential %q is not <key>/<date>/<region>/<service>/aws4_request", credential)
	}
	h.accessKeyID, h.date, h.region, h.service = scope[0], scope[1], scope[2], scope[3]
	if signed == "" {
		return h, fmt.Errorf("missing SignedHeaders")
	}
	h.signedHeaders = strings.Split(signed, ";")
	sig, err := hex.DecodeString(signature)
	if err != nil || len(sig) != 32 {
		return h, fmt.Errorf("signature %q is not 64 hex digits", signature)
	}
	h.signature = sig
	return h, nil
}

// authenticateSigV4 checks the credential scope and recomputes the request signature with the
// SDK's own signer over the headers the client says it signed. Only then is the signature trusted
// as the seed of the chunk-signature chain.
func (s *Server) authenticateSigV4(r *http.Request, authz string) (authResult, *HTTPError) {
	h, err := parseSigV4Header(authz)
	if err != nil {
		return authResult{}, accessDenied("Authorization header is malformed: %v.", err)
	}
	secret, known := s.opts.Credentials[h.accessKeyID]
	if !known {
		return authResult{}, accessDenied(msgUnknownKey)
	}
	if h.service != signingService {
		return authResult{}, accessDenied("Credential should be scoped to correct service: '%s'.", signingService)
	}
	if h.region != s.opts.Region {
		return authResult{}, accessDenied("Credential should be scoped to a valid region, not '%s'.", h.region)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return authResult{}, accessDenied("X-Amz-Date %q is not in the form %s.", amzDate, amzDateFormat)
	}
	if signedAt.Format("20060102") != h.date {
		return authResult{}, accessDenied("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'.", h.date, signedAt.Format("20060102"))
	}
	if skew := time.Since(signedAt).Abs(); skew > maxClockSkew {
		return authResult{}, accessDenied("Signature expired: %s is now earlier or later than %s (%s).", amzDate, time.Now().UTC().Format(amzDateFormat), maxClockSkew)
	}
	if got := r.Header.Get("X-Amz-Content-Sha256"); got != streamingSHA256 {
		return authResult{}, accessDenied("X-Amz-Content-Sha256 must be %s for this operation, not %q.", streamingSHA256, got)
	}

	creds := aws.Credentials{AccessKeyID: h.accessKeyID, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	want, err := resign(r, h, creds, signedAt)
	if err != nil {
		return authResult{}, accessDenied("Authorization header is malformed: %v.", err)
	}
	if subtle.ConstantTimeCompare(want, h.signature) != 1 {
		s.sigFailures.Add(1)
		return authResult{}, accessDenied(msgBadSignature)
	}
	return authResult{mode: AuthSigV4, accessKeyID: h.accessKeyID, creds: creds, seed: h.signature}, nil
}

// resign signs a copy of the request that carries only the headers the client listed as signed,
// and returns the resulting signature.
func resign(r *http.Request, h sigV4Header, creds aws.Credentials, signedAt time.Time) ([]byte, error) {
	u := &url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("rebuild request: %w", err)
	}
	req.Host = r.Host
	for _, name := range h.signedHeaders {
		switch name {
		case "host", "x-amz-date", "x-amz-security-token":
			// Set by the signer from Host, the signing time and the credentials.
			continue
		case "content-length":
			req.ContentLength = r.ContentLength
			continue
		}
		values, ok := r.Header[http.CanonicalHeaderKey(name)]
		if !ok {
			return nil, fmt.Errorf("signed header %q is missing", name)
		}
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, streamingSHA256, signingService, h.region, signedAt)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	resigned, err := parseSigV4Header(req.Header.Get("Authorization"))
	if err != nil {
		return nil, fmt.Errorf("parse own signature: %w", err)
	}
	if strings.Join(resigned.signedHeaders, ";") != strings.Join(h.signedHeaders, ";") {
		// A header list that the SDK signer would not produce cannot match either; comparing the
		// signature alone would say the same, but this message is clearer.
		return nil, fmt.Errorf("SignedHeaders %q differ from the canonical %q", strings.Join(h.signedHeaders, ";"), strings.Join(resigned.signedHeaders, ";"))
	}
	return resigned.signature, nil
}
