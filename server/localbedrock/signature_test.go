package localbedrock

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawStream is a hand-made SigV4 event-stream client that produces the same bytes as the SDK,
// so that a test can corrupt exactly one of them.
type rawStream struct {
	t      testing.TB
	ctx    context.Context
	pw     *io.PipeWriter
	resp   chan *http.Response
	signer *v4.StreamSigner
	enc    *eventstream.Encoder
	prev   []byte // last signed envelope, for replay
}

func dialRaw(ctx context.Context, t testing.TB, srv *Server) *rawStream {
	t.Helper()
	pr, pw := io.Pipe()
	path := "/model/" + strings.ReplaceAll(ModelNova2Sonic, ":", "%3A") + "/invoke-with-bidirectional-stream"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", streamingSHA256)
	creds := aws.Credentials{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, streamingSHA256, signingService, srv.Region(), time.Now()); err != nil {
		t.Fatal(err)
	}
	h, err := parseSigV4Header(req.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawStream{
		t: t, ctx: ctx, pw: pw, resp: make(chan *http.Response, 1),
		signer: v4.NewStreamSigner(creds, signingService, srv.Region(), h.signature),
		enc:    eventstream.NewEncoder(),
	}
	go func() {
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Errorf("raw request: %v", err)
			pr.CloseWithError(err)
			close(rs.resp)
			return
		}
		rs.resp <- resp
	}()
	t.Cleanup(func() { pw.Close() })
	return rs
}

// envelope signs payload (an encoded inner message, or nothing for the end marker) at date.
func (rs *rawStream) envelope(payload []byte, date time.Time) eventstream.Message {
	rs.t.Helper()
	date = date.Truncate(time.Millisecond)
	var hdr bytes.Buffer
	if err := eventstream.EncodeHeaders(&hdr, eventstream.Headers{{Name: hdrDate, Value: eventstream.TimestampValue(date)}}); err != nil {
		rs.t.Fatal(err)
	}
	sig, err := rs.signer.GetSignature(rs.ctx, hdr.Bytes(), payload, date)
	if err != nil {
		rs.t.Fatal(err)
	}
	return eventstream.Message{
		Headers: eventstream.Headers{
			{Name: hdrDate, Value: eventstream.TimestampValue(date)},
			{Name: hdrChunkSignature, Value: eventstream.BytesValue(sig)},
		},
		Payload: payload,
	}
}

// inner encodes nova as the SDK's chunk event.
func (rs *rawStream) inner(nova string) []byte {
	rs.t.Helper()
	var buf bytes.Buffer
	var payload bytes.Buffer
	if err := rs.enc.Encode(&buf, chunkMessage(encodeChunkPayload(&payload, []byte(nova)))); err != nil {
		rs.t.Fatal(err)
	}
	return buf.Bytes()
}

func (rs *rawStream) write(msg eventstream.Message) {
	rs.t.Helper()
	var buf bytes.Buffer
	if err := rs.enc.Encode(&buf, msg); err != nil {
		rs.t.Fatal(err)
	}
	rs.writeBytes(buf.Bytes())
}

func (rs *rawStream) writeBytes(b []byte) {
	rs.prev = b
	// The server may already have ended the stream; the outcome is checked on the response.
	rs.pw.Write(b)
}

// sendSigned sends nova in a correctly signed envelope.
func (rs *rawStream) sendSigned(nova string) { rs.write(rs.envelope(rs.inner(nova), time.Now())) }

// response returns every message of the response until it ends.
func (rs *rawStream) response() (*http.Response, []eventstream.Message) {
	rs.t.Helper()
	var resp *http.Response
	select {
	case resp = <-rs.resp:
	case <-rs.ctx.Done():
	}
	if resp == nil {
		rs.t.Fatal("no response")
		return nil, nil
	}
	defer resp.Body.Close()
	fr := newFrameReader(resp.Body)
	var msgs []eventstream.Message
	for {
		msg, err := fr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rs.t.Fatalf("read response: %v", err)
			}
			return resp, msgs
		}
		msgs = append(msgs, msg.Clone())
	}
}

// TestChunkSignatureChain corrupts one envelope in different ways after two good ones; every
// corruption must end the stream with a protocol error and count as a signature failure, and
// the events before it must have been accepted.
func TestChunkSignatureChain(t *testing.T) {
	p := newNames()
	system := textContent(p, p.system, "SYSTEM", false, "x")[0]
	tests := []struct {
		name  string
		third func(rs *rawStream)
	}{
		{"flipped signature bit", func(rs *rawStream) {
			msg := rs.envelope(rs.inner(system), time.Now())
			sig := msg.Headers.Get(hdrChunkSignature).(eventstream.BytesValue)
			sig[0] ^= 1
			rs.write(msg)
		}},
		{"payload changed after signing", func(rs *rawStream) {
			msg := rs.envelope(rs.inner(system), time.Now())
			msg.Payload = rs.inner(strings.Replace(system, "SYSTEM", "USER", 1))
			rs.write(msg)
		}},
		{"replayed envelope", func(rs *rawStream) { rs.writeBytes(rs.prev) }},
		{"date outside clock skew", func(rs *rawStream) {
			rs.write(rs.envelope(rs.inner(system), time.Now().Add(-20*time.Minute)))
		}},
		{"unsigned event in a SigV4 stream", func(rs *rawStream) {
			var buf bytes.Buffer
			rs.enc.Encode(&buf, eventstream.Message{Payload: rs.inner(system)})
			rs.writeBytes(buf.Bytes())
		}},
	}
	srv := startServer(t, Options{Behavior: Listen()})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			before := srv.SignatureFailures()
			rs := dialRaw(ctx, t, srv)
			rs.sendSigned(sessionStart(""))
			rs.sendSigned(promptStart(p))
			tc.third(rs)
			_, msgs := rs.response()
			if len(msgs) != 1 || headerString(msgs[0].Headers, hdrMessageType) != messageTypeError || headerString(msgs[0].Headers, hdrErrorCode) != "InvalidSignatureException" {
				t.Fatalf("response = %v, want one InvalidSignatureException error message", msgs)
			}
			rec := lastRecord(ctx, t, srv)
			if rec.End != EndSignatureFailure || rec.SignatureFailures != 1 || len(rec.Events) != 2 {
				t.Errorf("record end=%q failures=%d events=%v", rec.End, rec.SignatureFailures, rec.EventNames())
			}
			if got := srv.SignatureFailures() - before; got != 1 {
				t.Errorf("server signature failures +%d, want +1", got)
			}
		})
	}
}

// TestSignedEndMarker checks the raw protocol end to end: signed events, the signed empty end
// marker (verified, not decoded), END_STREAM; then a clean, empty response.
func TestSignedEndMarker(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{Behavior: Listen()})
	rs := dialRaw(ctx, t, srv)
	p := newNames()
	for _, ev := range opening(p, "LOW") {
		rs.sendSigned(ev)
	}
	rs.write(rs.envelope(nil, time.Now()))
	rs.pw.Close()
	resp, msgs := rs.response()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amzn-Requestid") == "" || len(msgs) != 0 {
		t.Fatalf("status=%d requestID=%q messages=%d", resp.StatusCode, resp.Header.Get("X-Amzn-Requestid"), len(msgs))
	}
	rec := lastRecord(ctx, t, srv)
	if rec.End != EndHalfClose || len(rec.Events) != len(opening(p, "")) || srv.SignatureFailures() != 0 {
		t.Errorf("record end=%q events=%d failures=%d", rec.End, len(rec.Events), srv.SignatureFailures())
	}
}

// TestMalformedFrames checks framing errors: they end the stream with a protocol error.
func TestMalformedFrames(t *testing.T) {
	tests := []struct {
		name  string
		bytes func(rs *rawStream) []byte
	}{
		{"length prefix beyond the bound", func(*rawStream) []byte {
			b := make([]byte, 16)
			copy(b, []byte{0x7f, 0, 0, 0})
			return b
		}},
		{"bad message CRC", func(rs *rawStream) []byte {
			var buf bytes.Buffer
			rs.enc.Encode(&buf, rs.envelope(rs.inner(sessionStart("")), time.Now()))
			b := buf.Bytes()
			b[len(b)-1] ^= 0xff
			return b
		}},
		{"event after the end marker", func(rs *rawStream) []byte {
			var buf bytes.Buffer
			rs.enc.Encode(&buf, rs.envelope(nil, time.Now()))
			rs.enc.Encode(&buf, rs.envelope(rs.inner(sessionStart("")), time.Now()))
			return buf.Bytes()
		}},
	}
	srv := startServer(t, Options{Behavior: Listen()})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			rs := dialRaw(ctx, t, srv)
			rs.writeBytes(tc.bytes(rs))
			_, msgs := rs.response()
			if len(msgs) != 1 || headerString(msgs[0].Headers, hdrErrorCode) != "SerializationException" {
				t.Fatalf("response = %v, want a SerializationException error message", msgs)
			}
			if rec := lastRecord(ctx, t, srv); rec.End != EndProtocolError {
				t.Errorf("end = %q", rec.End)
			}
		})
	}
}

// TestRequestSignatureChecks covers the Authorization header checks that need a hand-made
// request: a tampered signed header, and a signature that is not hex.
func TestRequestSignatureChecks(t *testing.T) {
	srv := startServer(t, Options{Behavior: Listen()})
	tests := []struct {
		name   string
		mutate func(r *http.Request)
	}{
		{"signed header changed", func(r *http.Request) { r.Header.Set("X-Test-Signed", "changed") }},
		{"payload hash not streaming", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }},
		{"host changed", func(r *http.Request) { r.Host = "bedrock-runtime.us-east-1.amazonaws.com" }},
		{"signature not hex", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Signature=zz", 1))
		}},
		{"missing", func(r *http.Request) { r.Header.Del("Authorization") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			path := "/model/" + ModelNova2Sonic + "/invoke-with-bidirectional-stream"
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+path, http.NoBody)
			req.Header.Set("X-Amz-Content-Sha256", streamingSHA256)
			req.Header.Set("X-Test-Signed", "original")
			creds := aws.Credentials{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey}
			if err := v4.NewSigner().SignHTTP(ctx, creds, req, streamingSHA256, signingService, srv.Region(), time.Now()); err != nil {
				t.Fatal(err)
			}
			tc.mutate(req)
			resp, err := srv.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-Errortype") != errTypeAccess || !bytes.HasPrefix(body, []byte(`{"message":`)) {
				t.Errorf("status=%d type=%q body=%s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body)
			}
		})
	}
}

// BenchmarkVerifySignedFrame measures what the server does per input event: read the envelope,
// verify its chunk signature, decode the inner message and its {"bytes"} payload.
func BenchmarkVerifySignedFrame(b *testing.B) {
	creds := aws.Credentials{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey}
	seed, _ := hex.DecodeString(strings.Repeat("ab", 32))
	rs := &rawStream{t: b, ctx: context.Background(), signer: v4.NewStreamSigner(creds, signingService, DefaultRegion, seed), enc: eventstream.NewEncoder()}
	var frame bytes.Buffer
	rs.enc.Encode(&frame, rs.envelope(rs.inner(audioInput(newNames(), TonePCM(440, 32*time.Millisecond, 16000, 0.3))), time.Now()))
	r := bytes.NewReader(frame.Bytes())
	fr := newFrameReader(r)
	b.SetBytes(int64(frame.Len()))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame.Bytes())
		msg, err := fr.next()
		if err != nil {
			b.Fatal(err)
		}
		// A fresh chain per frame, since the chain makes every signature depend on its
		// predecessor. This includes deriving the signing key, which a live stream caches.
		if err := newChunkVerifier(creds, DefaultRegion, seed).verify(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
		inner, err := fr.decodeInner(msg.Payload)
		if err != nil {
			b.Fatal(err)
		}
		var p chunkPayload
		if err := json.Unmarshal(inner.Payload, &p); err != nil {
			b.Fatal(err)
		}
	}
}
