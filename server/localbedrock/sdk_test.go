package localbedrock

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
)

// TestNormalConversation runs a scripted turn through the real SDK client in each transport and
// auth mode and checks the output events' shapes and the server's record of the input.
func TestNormalConversation(t *testing.T) {
	tests := []struct {
		name   string
		h2c    bool
		bearer bool
	}{
		{name: "tls-sigv4"},
		{name: "h2c-sigv4", h2c: true},
		// No h2c-bearer: the SDK's bearer signer refuses http:// ("bearer token with HTTP request
		// requires HTTPS") and the call then never returns (it waits for a partial result that
		// the failed middleware never sends), so bearer mode needs TLS.
		{name: "tls-bearer", bearer: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			audio := TonePCM(300, 500*time.Millisecond, 24000, 0.2)
			srv := startServer(t, Options{H2C: tc.h2c, Behavior: NormalTurn(Turn{Audio: audio})})
			c := newClient(srv)
			wantAuth := AuthSigV4
			if tc.bearer {
				c = newClient(srv, srv.BearerClientOptions(TestBearerToken))
				wantAuth = AuthBearer
			}

			p := newNames()
			ss := openSession(ctx, t, c, ModelNova2Sonic)
			ss.send(opening(p, "HIGH")...)
			pcm := TonePCM(200, 200*time.Millisecond, 16000, 0.3)
			ss.sendAudio(p, pcm)
			turn := ss.until(func(e outEvent) bool { return e.Name == "usageEvent" })
			rest, err := ss.finish(p)
			if err != nil {
				t.Fatalf("Err() after a normal session: %v", err)
			}

			wantNames := []string{"completionStart",
				"contentStart", "textOutput", "contentEnd", // USER FINAL
				"contentStart", "textOutput", "contentEnd", // ASSISTANT SPECULATIVE
				"contentStart", "audioOutput", "audioOutput", "audioOutput", "audioOutput", "audioOutput", "contentEnd",
				"contentStart", "textOutput", "contentEnd", // ASSISTANT FINAL
				"usageEvent"}
			if got := names(turn); !slices.Equal(got, wantNames) {
				t.Errorf("turn events:\n got %v\nwant %v", got, wantNames)
			}
			if got := names(rest); !slices.Equal(got, []string{"completionEnd"}) {
				t.Errorf("events after promptEnd = %v, want [completionEnd]", got)
			}
			checkTurnShapes(t, turn, p.prompt, audio)

			rec := lastRecord(ctx, t, srv)
			if rec.AuthMode != wantAuth || rec.End != EndHalfClose || rec.Proto != "HTTP/2.0" || rec.Status != http.StatusOK {
				t.Errorf("record auth=%q end=%q proto=%q status=%d, want %q %q HTTP/2.0 200", rec.AuthMode, rec.End, rec.Proto, rec.Status, wantAuth, EndHalfClose)
			}
			if !slices.Equal(rec.Audio(), pcm) {
				t.Errorf("recorded audio differs from sent audio (%d vs %d bytes)", len(rec.Audio()), len(pcm))
			}
			wantIn := []string{"sessionStart", "promptStart", "contentStart", "textInput", "contentEnd", "contentStart"}
			if got := rec.EventNames(); !slices.Equal(got[:len(wantIn)], wantIn) || got[len(got)-1] != "sessionEnd" {
				t.Errorf("recorded input events = %v", got)
			}
			if srv.SignatureFailures() != 0 {
				t.Errorf("signature failures = %d, want 0", srv.SignatureFailures())
			}
		})
	}
}

// checkTurnShapes checks the field names and values a client depends on.
func checkTurnShapes(t *testing.T, turn []outEvent, promptName string, wantAudio []byte) {
	t.Helper()
	sessionID, completionID := turn[0].str("sessionId"), turn[0].str("completionId")
	if sessionID == "" || completionID == "" || turn[0].str("promptName") != promptName {
		t.Fatalf("completionStart = %v", turn[0].Body)
	}
	var audio []byte
	for _, e := range turn {
		if e.str("sessionId") != sessionID || e.str("promptName") != promptName || e.str("completionId") != completionID {
			t.Errorf("%s ids = %v", e.Name, e.Body)
		}
		switch e.Name {
		case "contentStart":
			if e.str("contentId") == "" {
				t.Errorf("contentStart without contentId: %v", e.Body)
			}
			if e.str("type") == "TEXT" && !strings.Contains(e.str("additionalModelFields"), `"generationStage"`) {
				t.Errorf("TEXT contentStart additionalModelFields = %q", e.str("additionalModelFields"))
			}
			if e.str("type") == "AUDIO" {
				cfg, _ := e.Body["audioOutputConfiguration"].(map[string]any)
				if cfg["sampleRateHertz"] != float64(24000) || cfg["mediaType"] != "audio/lpcm" {
					t.Errorf("audioOutputConfiguration = %v", cfg)
				}
			}
		case "audioOutput":
			pcm, err := base64.StdEncoding.DecodeString(e.str("content"))
			if err != nil {
				t.Fatalf("audioOutput content: %v", err)
			}
			audio = append(audio, pcm...)
		case "contentEnd":
			if e.str("stopReason") == "" || e.str("type") == "" {
				t.Errorf("contentEnd = %v", e.Body)
			}
		case "usageEvent":
			if _, ok := e.Body["details"].(map[string]any)["delta"]; !ok || e.Body["totalTokens"] == nil {
				t.Errorf("usageEvent = %v", e.Body)
			}
		}
	}
	if !slices.Equal(audio, wantAudio) {
		t.Errorf("received %d audio bytes, want the %d scripted", len(audio), len(wantAudio))
	}
	stages := []string{}
	for _, e := range turn {
		if e.Name == "contentStart" && e.str("type") == "TEXT" {
			stages = append(stages, e.str("role")+"/"+strings.Trim(strings.TrimPrefix(e.str("additionalModelFields"), `{"generationStage":`), `"}`))
		}
	}
	if want := []string{"USER/FINAL", "ASSISTANT/SPECULATIVE", "ASSISTANT/FINAL"}; !slices.Equal(stages, want) {
		t.Errorf("text blocks = %v, want %v", stages, want)
	}
}

// TestBearerEnvDoesNotSwitchSigV4 makes sure a developer's AWS_BEARER_TOKEN_BEDROCK cannot
// silently turn the SigV4 tests into unsigned ones.
func TestBearerEnvDoesNotSwitchSigV4(t *testing.T) {
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSK-from-the-environment")
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{Behavior: Listen()})
	p := newNames()
	ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
	ss.send(opening(p, "")...)
	if _, err := ss.finish(p); err != nil {
		t.Fatalf("session: %v", err)
	}
	if rec := lastRecord(ctx, t, srv); rec.AuthMode != AuthSigV4 {
		t.Errorf("auth mode = %q, want sigv4", rec.AuthMode)
	}
}

// TestRejectedBeforeStream covers failures that the service reports with an HTTP status before
// the stream: the call succeeds and Err() carries the modeled error.
func TestRejectedBeforeStream(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		client  func(*Server) []func(*bedrockruntime.Options)
		modelID string
		status  int
		want    func(error) bool
	}{
		{
			name: "unknown access key",
			client: func(s *Server) []func(*bedrockruntime.Options) {
				return []func(*bedrockruntime.Options){s.SigV4ClientOptions("AKIAUNKNOWNUNKNOWN00", "x")}
			},
			status: 403, want: isType[*types.AccessDeniedException],
		},
		{
			name: "wrong secret",
			client: func(s *Server) []func(*bedrockruntime.Options) {
				return []func(*bedrockruntime.Options){s.SigV4ClientOptions(TestAccessKeyID, "wrong")}
			},
			status: 403, want: isType[*types.AccessDeniedException],
		},
		{
			name: "wrong region",
			client: func(s *Server) []func(*bedrockruntime.Options) {
				return []func(*bedrockruntime.Options){func(o *bedrockruntime.Options) { o.Region = "eu-west-1" }}
			},
			status: 403, want: isType[*types.AccessDeniedException],
		},
		{
			name: "invalid bearer token",
			client: func(s *Server) []func(*bedrockruntime.Options) {
				return []func(*bedrockruntime.Options){s.BearerClientOptions("ABSK-wrong")}
			},
			status: 403, want: isType[*types.AccessDeniedException],
		},
		{name: "unknown model", modelID: "amazon.nova-3-sonic-v9:0", status: 400, want: isType[*types.ValidationException]},
		{name: "retired model", modelID: ModelNovaSonicV1, status: 404, want: isType[*types.ResourceNotFoundException]},
		{name: "scripted 403", opts: Options{Behavior: Reject(403, "AccessDeniedException", "no access")}, status: 403, want: isType[*types.AccessDeniedException]},
		{name: "scripted 429", opts: Options{Behavior: Reject(429, "ThrottlingException", "slow down")}, status: 429, want: isType[*types.ThrottlingException]},
		{name: "scripted 503", opts: Options{Behavior: Reject(503, "ServiceUnavailableException", "busy")}, status: 503, want: isType[*types.ServiceUnavailableException]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			srv := startServer(t, tc.opts)
			var opts []func(*bedrockruntime.Options)
			if tc.client != nil {
				opts = tc.client(srv)
			}
			modelID := cmpOr(tc.modelID, ModelNova2Sonic)
			ss := openSession(ctx, t, newClient(srv, opts...), modelID)
			events, err := ss.rest()
			if len(events) != 0 || err == nil || !tc.want(err) {
				t.Fatalf("events=%v err=%T %v", names(events), err, err)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
				t.Errorf("err = %v, want HTTP %d", err, tc.status)
			}
			rec := lastRecord(ctx, t, srv)
			if rec.End != EndRejected || rec.Status != tc.status || rec.RequestID != re.ServiceRequestID() {
				t.Errorf("record end=%q status=%d requestID=%q; SDK request ID %q", rec.End, rec.Status, rec.RequestID, re.ServiceRequestID())
			}
		})
	}
}

func isType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestExceptions checks that each modeled exception reaches the application as its typed error,
// after events sent before it.
func TestExceptions(t *testing.T) {
	tests := []struct {
		member string
		want   func(error) bool
	}{
		{"validationException", isType[*types.ValidationException]},
		{"throttlingException", isType[*types.ThrottlingException]},
		{"modelTimeoutException", isType[*types.ModelTimeoutException]},
		{"internalServerException", isType[*types.InternalServerException]},
		{"serviceUnavailableException", isType[*types.ServiceUnavailableException]},
	}
	srv := startServer(t, Options{BehaviorFor: func(modelID string, r *http.Request) Behavior {
		member := r.Header.Get("X-Test-Exception")
		if member == "modelStreamErrorException" {
			return After(2, ModelStreamError("model failed", 500, "upstream exploded"))
		}
		if member == "protocol" {
			return After(2, ProtocolError("InternalFailure", "protocol level failure"))
		}
		return After(2, Exception(member, "scripted "+member))
	}})
	withHeader := func(v string) func(*bedrockruntime.Options) {
		return func(o *bedrockruntime.Options) {
			o.HTTPClient = headerClient{next: o.HTTPClient, key: "X-Test-Exception", value: v}
		}
	}
	run := func(t *testing.T, member string) error {
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		p := newNames()
		ss := openSession(ctx, t, newClient(srv, withHeader(member)), ModelNova2Sonic)
		ss.send(opening(p, "")[0])
		// The exception answers this second event, and may end the stream before the SDK's Send of it
		// returns: a send error here is the race, not a failure (the exception is checked below).
		_ = ss.sendRaw(opening(p, "")[1])
		events, err := ss.rest()
		if len(events) != 0 {
			t.Errorf("events before the exception: %v", names(events))
		}
		if err == nil {
			t.Fatal("Err() = nil, want the exception")
		}
		return err
	}
	for _, tc := range tests {
		t.Run(tc.member, func(t *testing.T) {
			t.Parallel()
			err := run(t, tc.member)
			if !tc.want(err) || !strings.Contains(err.Error(), "scripted "+tc.member) {
				t.Errorf("err = %T %v", err, err)
			}
		})
	}
	t.Run("modelStreamErrorException", func(t *testing.T) {
		t.Parallel()
		err := run(t, "modelStreamErrorException")
		var mse *types.ModelStreamErrorException
		if !errors.As(err, &mse) || mse.OriginalStatusCode == nil || *mse.OriginalStatusCode != 500 || mse.OriginalMessage == nil || *mse.OriginalMessage != "upstream exploded" {
			t.Errorf("err = %T %v", err, err)
		}
	})
	t.Run("protocol error", func(t *testing.T) {
		t.Parallel()
		err := run(t, "protocol")
		var api *smithy.GenericAPIError
		if !errors.As(err, &api) || api.Code != "InternalFailure" {
			t.Errorf("err = %T %v", err, err)
		}
	})
}

// headerClient adds one header to every request, to pick a behaviour per request.
type headerClient struct {
	next       bedrockruntime.HTTPClient
	key, value string
}

func (c headerClient) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set(c.key, c.value)
	return c.next.Do(r)
}

// TestAbruptEnd checks that a response ending without an exception looks like a clean end to
// the SDK, which is why the gateway must track whether it asked for the end.
func TestAbruptEnd(t *testing.T) {
	p := newNames()
	tests := []struct {
		name     string
		behavior Behavior
		send     []string // exactly what the behaviour reads before ending; see TestExceptions
	}{
		{"after 3 events", AbruptEnd(3), opening(p, "")[:3]},
		{"on first audio", AbruptEndOnAudio(), append(opening(p, ""), audioInput(p, SilencePCM(32*time.Millisecond, 16000)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			srv := startServer(t, Options{Behavior: tc.behavior})
			ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
			ss.send(tc.send...)
			events, err := ss.rest()
			if len(events) != 0 || err != nil {
				t.Fatalf("events=%v Err()=%v, want a clean end", names(events), err)
			}
			if rec := lastRecord(ctx, t, srv); rec.End != EndBehavior || len(rec.Events) != len(tc.send) {
				t.Errorf("end = %q after %d events, want %q after %d", rec.End, len(rec.Events), EndBehavior, len(tc.send))
			}
		})
	}
}

// TestHTTP1Refused checks that a client without HTTP/2 fails the way it does against AWS: the
// SDK's own protocol check, not a connection error peculiar to the fake.
func TestHTTP1Refused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{})
	http1 := srv.HTTPClient().WithTransportOptions(func(tr *http.Transport) {
		tr.ForceAttemptHTTP2 = false
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
		// The transport template already offered h2 once; offer only HTTP/1.1 in ALPN.
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	})
	c := newClient(srv, func(o *bedrockruntime.Options) { o.HTTPClient = http1 })
	ss := openSession(ctx, t, c, ModelNova2Sonic)
	_, err := ss.rest()
	if err == nil || !strings.Contains(err.Error(), "requires minimum HTTP protocol of HTTP/2") {
		t.Fatalf("Err() = %v", err)
	}
	if rec := lastRecord(ctx, t, srv); rec.Proto != "HTTP/1.1" || rec.End != EndRejected {
		t.Errorf("record proto=%q end=%q", rec.Proto, rec.End)
	}
}
