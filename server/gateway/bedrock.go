package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"novasonic/server/bedrockcall"
)

// ModelStream is the part of a Nova Sonic bidirectional stream a session uses. It has the shape of the
// SDK's InvokeModelWithBidirectionalStreamEventStream (Send, Events, Close, Err) plus CloseSend, the SDK's
// Writer.Close: the half-close that tells Bedrock the gateway has finished talking. Unit tests stand in for
// Bedrock through this interface; integration tests use the real SDK against server/localbedrock.
type ModelStream interface {
	// Send writes one input event. It blocks on HTTP/2 flow control; after the stream has failed it
	// returns a generic error and Err holds the real one.
	Send(ctx context.Context, event types.InvokeModelWithBidirectionalStreamInput) error
	// Events delivers output events and is closed at the end of the stream, whether clean or not.
	Events() <-chan types.InvokeModelWithBidirectionalStreamOutput
	// CloseSend half-closes the request: Bedrock finishes its output and ends the response.
	CloseSend() error
	// Close ends both directions. It does not cancel the stream's context: callers do that afterwards.
	Close() error
	// Err is the stream's first error, once Events is closed. Nil does not prove a clean end: a response
	// that simply stops looks the same, which is why sessions record whether they asked for the end.
	Err() error
}

// ModelOpener opens a session's stream to Nova Sonic.
type ModelOpener interface {
	OpenStream(ctx context.Context) (ModelStream, error)
}

// Bedrock opens Nova Sonic streams with the AWS SDK.
type Bedrock struct {
	// Client is built from config.LoadDefaultConfig, so the same image works with an ECS task role, EKS
	// IRSA web identity and a developer's profile. Its HTTP client must not have a Timeout: it would cut
	// every conversation at that age.
	Client *bedrockruntime.Client
	// ModelID is the Nova Sonic model, e.g. "amazon.nova-2-sonic-v1:0".
	ModelID string
}

// OpenStream starts InvokeModelWithBidirectionalStream. The SDK returns before the HTTP request is sent,
// so connection and authorization failures arrive later, through Send and Err.
func (b *Bedrock) OpenStream(ctx context.Context) (ModelStream, error) {
	if err := b.credentialsOutliveAStream(ctx); err != nil {
		return nil, err
	}
	hooks := &streamHooks{}
	out, err := b.Client.InvokeModelWithBidirectionalStream(ctx,
		&bedrockruntime.InvokeModelWithBidirectionalStreamInput{ModelId: aws.String(b.ModelID)},
		bedrockcall.StreamOptions, hooks.install)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	return &sdkStream{InvokeModelWithBidirectionalStreamEventStream: out.GetStream(), reply: out.GetInitialReply(), hooks: hooks}, nil
}

// streamLifetime is the longest a Bedrock stream lives: the credentials it is opened with sign every
// event it carries (the SDK's event signer is made once, from the identity resolved at the start), so
// they must stay valid that long, with a minute of margin.
const streamLifetime = 8*time.Minute + time.Minute

// credentialsOutliveAStream makes sure the credentials the next stream will sign with do not expire
// during it: credentials that would are refreshed first (task-role and IRSA credentials rotate hourly,
// and the credentials cache would otherwise hand out the old ones until minutes before their expiry).
// LiveKit found the failure this prevents: a stream whose credentials rotate mid-conversation breaks.
func (b *Bedrock) credentialsOutliveAStream(ctx context.Context) error {
	provider := b.Client.Options().Credentials
	if provider == nil {
		return nil // unsigned (bearer token) or anonymous: nothing expires
	}
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve AWS credentials: %w", err)
	}
	if !creds.CanExpire || time.Until(creds.Expires) > streamLifetime {
		return nil
	}
	if cache, ok := provider.(*aws.CredentialsCache); ok {
		cache.Invalidate()
		if creds, err = provider.Retrieve(ctx); err != nil {
			return fmt.Errorf("refresh AWS credentials: %w", err)
		}
	}
	if creds.CanExpire && time.Until(creds.Expires) <= streamLifetime {
		return fmt.Errorf("the AWS credentials expire at %s, before a stream opened now would end", creds.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// initialReplyWait bounds how long Err waits for the SDK to finish processing the HTTP response (or its
// failure) before it answers; Err is only asked after the stream has ended.
const initialReplyWait = time.Second

// sdkStream adapts the SDK's event stream to ModelStream and works around two more SDK defects with the
// streamHooks installed on its call.
type sdkStream struct {
	*bedrockruntime.InvokeModelWithBidirectionalStreamEventStream
	reply     <-chan bedrockruntime.InvokeModelWithBidirectionalStreamInitialReply
	replyOnce sync.Once
	hooks     *streamHooks
}

func (s *sdkStream) CloseSend() error { return s.Writer.Close() }

// Err prefers the operation's own error. When Bedrock refuses the request before the stream (403, 429,
// an unknown model), the SDK closes the request-body pipe and the stream keeps whichever error it saw
// first: often "read/write on closed pipe" rather than the typed AccessDeniedException, which decides
// the close code. The hooks record the typed error; it is complete once the SDK delivers the initial
// reply.
func (s *sdkStream) Err() error {
	s.replyOnce.Do(func() {
		select {
		case <-s.reply:
		case <-time.After(initialReplyWait):
		}
	})
	if err := s.hooks.operationError(); err != nil {
		return &refusedError{err}
	}
	return s.InvokeModelWithBidirectionalStreamEventStream.Err()
}

// refusedError is a failure of the request itself, before any stream existed: the service refused to
// open it. A ValidationException there is about the request (an unknown model id), not about the
// browser's input, so it is the operator's to fix.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return "bedrock refused the stream: " + e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// Close closes the SDK stream, then lets the SDK's writer goroutine finish even when the response ended
// first (bedrockcall.RequestBody says why it would not). Sessions close a stream only after its response
// ended or they gave up waiting for it.
func (s *sdkStream) Close() error {
	err := s.InvokeModelWithBidirectionalStreamEventStream.Close()
	s.hooks.body.DiscardRest()
	return err
}

// streamHooks observe one call from inside the SDK: the HTTP request body it sends, the response's
// request id and the operation's error.
type streamHooks struct {
	body bedrockcall.RequestBody

	mu        sync.Mutex
	opErr     error
	requestID string
}

// install is a per-call option: it wraps the HTTP client to see the request body and the response's
// headers, and adds a build-step middleware that sees the operation's error before the SDK folds it into
// the stream.
func (h *streamHooks) install(o *bedrockruntime.Options) {
	h.body.Capture(o)
	o.HTTPClient = requestIDClient{next: o.HTTPClient, into: h}
	// Clip first: appending to the client's shared slice could write into its spare capacity, a race
	// between concurrent calls.
	o.APIOptions = append(slices.Clip(o.APIOptions), func(stack *middleware.Stack) error {
		return stack.Build.Add(middleware.BuildMiddlewareFunc("NovaSonicGatewayOperationError",
			func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				out, md, err := next.HandleBuild(ctx, in)
				if err != nil {
					h.mu.Lock()
					h.opErr = err
					h.mu.Unlock()
				}
				return out, md, err
			}), middleware.After)
	})
}

func (h *streamHooks) operationError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opErr
}

// requestIDClient records the request id of the response.
type requestIDClient struct {
	next bedrockruntime.HTTPClient
	into *streamHooks
}

func (c requestIDClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(r)
	if resp != nil {
		c.into.mu.Lock()
		c.into.requestID = resp.Header.Get("X-Amzn-Requestid")
		c.into.mu.Unlock()
	}
	return resp, err
}

// RequestID is the id Bedrock gave the stream's request (X-Amzn-Requestid), for support cases; "" until
// the response has started.
func (s *sdkStream) RequestID() string {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.requestID
}

// requestIDOf returns a stream's Bedrock request id, if it has one.
func requestIDOf(stream ModelStream) string {
	if r, ok := stream.(interface{ RequestID() string }); ok {
		return r.RequestID()
	}
	return ""
}

// chunk wraps a Nova Sonic JSON event for Send.
func chunk(payload []byte) types.InvokeModelWithBidirectionalStreamInput {
	return &types.InvokeModelWithBidirectionalStreamInputMemberChunk{
		Value: types.BidirectionalInputPayloadPart{Bytes: payload},
	}
}

// endForModelError maps a Bedrock failure to what the browser is told. Messages name the class of failure
// and never echo internal details that only an operator should see; the log keeps the full error.
func endForModelError(err error) *sessionEnd {
	var (
		validation  *types.ValidationException
		throttling  *types.ThrottlingException
		quota       *types.ServiceQuotaExceededException
		timeout     *types.ModelTimeoutException
		streamErr   *types.ModelStreamErrorException
		modelErr    *types.ModelErrorException
		internal    *types.InternalServerException
		unavailable *types.ServiceUnavailableException
		notReady    *types.ModelNotReadyException
		denied      *types.AccessDeniedException
		notFound    *types.ResourceNotFoundException
		apiErr      smithy.APIError
		canceled    *smithy.CanceledError
		httpErr     *smithyhttp.ResponseError
	)
	var refused *refusedError
	switch {
	case errors.As(err, &denied), errors.As(err, &notFound),
		// A ValidationException before any stream existed is about the request (an unknown model id).
		errors.As(err, &refused) && errors.As(err, &validation),
		// Bad or unknown credentials come back as 401/403 with codes the SDK does not model
		// (UnrecognizedClientException, InvalidSignatureException): the same class of problem.
		errors.As(err, &httpErr) && (httpErr.HTTPStatusCode() == http.StatusUnauthorized || httpErr.HTTPStatusCode() == http.StatusForbidden):
		return endWith(CloseBedrockRejected, "Bedrock refused the gateway's request; the operator must check the model id, region and permissions", err)
	case errors.As(err, &validation):
		return endWith(CloseBadRequest, "Nova Sonic rejected the input: "+aws.ToString(validation.Message), err)
	case errors.As(err, &throttling), errors.As(err, &quota):
		return endWith(CloseThrottled, "Bedrock is throttling requests; try again shortly", err)
	case errors.As(err, &timeout):
		return endWith(CloseModelTimeout, "Nova Sonic timed out: no input in time, or the stream reached its time limit", err)
	case errors.As(err, &streamErr), errors.As(err, &modelErr), errors.As(err, &internal):
		return endWith(CloseModelError, "Nova Sonic failed while answering; start a new conversation", err)
	case errors.As(err, &unavailable), errors.As(err, &notReady):
		return endWith(CloseUnavailable, "Nova Sonic is unavailable right now; try again shortly", err)
	case errors.Is(err, errUnexpectedEnd):
		return endWith(CloseModelError, "Nova Sonic ended the conversation unexpectedly", err)
	case errors.As(err, &canceled):
		return endWith(CloseUnavailable, "the request to Bedrock was cancelled", err)
	case errors.As(err, &apiErr):
		return endWith(CloseModelError, "Bedrock failed with "+apiErr.ErrorCode(), err)
	}
	// Anything else never reached the service: connection refused, DNS, TLS, a proxy without HTTP/2.
	return endWith(CloseUnavailable, "Bedrock is unreachable; try again shortly", err)
}

// bedrockErrorType names a Bedrock failure for the bedrock_errors_total metric: the service's exception
// name, or what happened when there is none.
func bedrockErrorType(err error) string {
	var (
		apiErr   smithy.APIError
		httpErr  *smithyhttp.ResponseError
		canceled *smithy.CanceledError
	)
	switch {
	case errors.Is(err, errUnexpectedEnd):
		return "UnexpectedEnd"
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode()
	case errors.As(err, &httpErr):
		return fmt.Sprintf("HTTP%d", httpErr.HTTPStatusCode())
	case errors.As(err, &canceled):
		return "Canceled"
	}
	return "Unreachable"
}

// errUnexpectedEnd is a stream that ended without an error before the gateway asked it to. The SDK reports
// it as a clean end (Err() == nil); for a live conversation it is a failure.
var errUnexpectedEnd = errors.New("bedrock ended the stream before the gateway asked it to")

// outputInfo is what the gateway needs to know about an output event to route it and to remember the
// conversation.
type outputInfo struct {
	name string
	// interrupted is the model's barge-in signal: a contentEnd with stopReason INTERRUPTED (Nova 2), or an
	// ASSISTANT textOutput of {"interrupted": true} (Nova Sonic v1).
	interrupted bool
	contentID   string // contentStart, textOutput, contentEnd
	contentType string // contentStart, contentEnd: TEXT, AUDIO or TOOL
	role        string // contentStart, textOutput: USER or ASSISTANT (TOOL for a tool request)
	stage       string // contentStart of TEXT: additionalModelFields' generationStage, FINAL or SPECULATIVE
	text        string // textOutput's content
	stopReason  string // contentEnd's
	// A toolUse: the tool the model asks for and its input (a JSON document).
	toolName, toolUseID string
	toolInput           []byte
	usage               tokenUsage // a usageEvent's delta
}

// tokenUsage is a usageEvent's details.delta: the tokens since the previous usageEvent.
type tokenUsage struct {
	Input  tokenCounts `json:"input"`
	Output tokenCounts `json:"output"`
}

type tokenCounts struct {
	SpeechTokens float64 `json:"speechTokens"`
	TextTokens   float64 `json:"textTokens"`
}

// inspectOutput reads an output event's name without decoding its body: most events are audioOutput,
// whose base64 body is the bulk of the bytes. Only the small events the gateway acts on are decoded. The
// payload is Bedrock's, from its JSON encoder: the scanner skips the audio at memory speed, where a
// json.Decoder allocated its way through it.
func inspectOutput(payload []byte) outputInfo {
	var info outputInfo
	key, event, ok := firstMember(payload)
	if !ok || key != "event" {
		return info
	}
	name, body, ok := firstMember(event)
	if !ok {
		return info
	}
	info.name = name
	switch info.name {
	case "contentStart":
		var v struct {
			ContentID             string `json:"contentId"`
			Type                  string `json:"type"`
			Role                  string `json:"role"`
			AdditionalModelFields string `json:"additionalModelFields"` // a JSON document in a string
		}
		if json.Unmarshal(body, &v) == nil {
			info.contentID, info.contentType, info.role = v.ContentID, v.Type, v.Role
			var fields struct {
				GenerationStage string `json:"generationStage"`
			}
			if json.Unmarshal([]byte(v.AdditionalModelFields), &fields) == nil {
				info.stage = fields.GenerationStage
			}
		}
	case "contentEnd":
		var v struct {
			ContentID  string `json:"contentId"`
			Type       string `json:"type"`
			StopReason string `json:"stopReason"`
		}
		if json.Unmarshal(body, &v) == nil {
			info.contentID, info.contentType, info.stopReason = v.ContentID, v.Type, v.StopReason
			info.interrupted = v.StopReason == "INTERRUPTED"
		}
	case "textOutput":
		var v struct {
			ContentID string `json:"contentId"`
			Role      string `json:"role"`
			Content   string `json:"content"`
		}
		if json.Unmarshal(body, &v) == nil {
			info.contentID, info.role, info.text = v.ContentID, v.Role, v.Content
			if strings.Contains(v.Content, `"interrupted"`) {
				var marker struct {
					Interrupted bool `json:"interrupted"`
				}
				info.interrupted = json.Unmarshal([]byte(v.Content), &marker) == nil && marker.Interrupted
			}
		}
	case "toolUse":
		var v struct {
			ToolName  string `json:"toolName"`
			ToolUseID string `json:"toolUseId"`
			Content   string `json:"content"`
		}
		if json.Unmarshal(body, &v) == nil {
			info.toolName, info.toolUseID, info.toolInput = v.ToolName, v.ToolUseID, []byte(v.Content)
		}
	case "usageEvent":
		var v struct {
			Details struct {
				Delta tokenUsage `json:"delta"`
			} `json:"details"`
		}
		if json.Unmarshal(body, &v) == nil {
			info.usage = v.Details.Delta
		}
	}
	return info
}
