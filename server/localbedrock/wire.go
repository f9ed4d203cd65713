package localbedrock

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Event-stream header names and values used on this operation.
const (
	hdrDate           = ":date"
	hdrChunkSignature = ":chunk-signature"
	hdrEventType      = ":event-type"
	hdrMessageType    = ":message-type"
	hdrContentType    = ":content-type"
	hdrExceptionType  = ":exception-type"
	hdrErrorCode      = ":error-code"
	hdrErrorMessage   = ":error-message"

	eventTypeChunk     = "chunk"
	messageTypeEvent   = "event"
	messageTypeExcept  = "exception"
	messageTypeError   = "error"
	contentTypeJSON    = "application/json"
	eventStreamMIME    = "application/vnd.amazon.eventstream"
	signingService     = "bedrock"
	streamingSHA256    = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
	amzDateFormat      = "20060102T150405Z"
	preludeAndCRCBytes = 12 // total length, headers length, prelude CRC
	minFrameBytes      = preludeAndCRCBytes + 4
)

var (
	// errSignature marks a chunk whose signature is missing or does not verify.
	errSignature = errors.New("chunk signature does not match")
	// errFrame marks bytes that are not a valid event-stream message, as opposed to a body that
	// could not be read at all.
	errFrame = errors.New("invalid event-stream frame")
)

// frameReader reads event-stream messages from a request body. It bounds each message by
// maxFrameBytes before allocating, because the SDK decoder trusts the length prefix.
type frameReader struct {
	r          io.Reader
	dec        *eventstream.Decoder
	frame      []byte
	payloadBuf []byte
	innerBuf   []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r, dec: eventstream.NewDecoder()}
}

// next returns the next message. Its Payload is only valid until the following call. It returns
// io.EOF at a clean end between messages.
func (fr *frameReader) next() (eventstream.Message, error) {
	var prelude [preludeAndCRCBytes]byte
	if _, err := io.ReadFull(fr.r, prelude[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return eventstream.Message{}, fmt.Errorf("%w: truncated prelude", errFrame)
		}
		return eventstream.Message{}, err
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headersLen := binary.BigEndian.Uint32(prelude[4:8])
	if total < minFrameBytes || total > maxFrameBytes || headersLen > total-minFrameBytes {
		return eventstream.Message{}, fmt.Errorf("%w: lengths total=%d headers=%d (max %d)", errFrame, total, headersLen, maxFrameBytes)
	}
	if cap(fr.frame) < int(total) {
		fr.frame = make([]byte, total)
	}
	fr.frame = fr.frame[:total]
	copy(fr.frame, prelude[:])
	if _, err := io.ReadFull(fr.r, fr.frame[preludeAndCRCBytes:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return eventstream.Message{}, fmt.Errorf("%w: truncated message", errFrame)
		}
		return eventstream.Message{}, fmt.Errorf("read frame: %w", err)
	}
	msg, err := fr.dec.Decode(bytes.NewReader(fr.frame), fr.payloadBuf)
	if err != nil {
		return eventstream.Message{}, fmt.Errorf("%w: %w", errFrame, err)
	}
	fr.payloadBuf = msg.Payload[:0]
	return msg, nil
}

// decodeInner decodes the message wrapped in a signed envelope's payload.
func (fr *frameReader) decodeInner(payload []byte) (eventstream.Message, error) {
	msg, err := fr.dec.Decode(bytes.NewReader(payload), fr.innerBuf)
	if err != nil {
		return eventstream.Message{}, fmt.Errorf("%w: signed payload: %w", errFrame, err)
	}
	fr.innerBuf = msg.Payload[:0]
	return msg, nil
}

// chunkVerifier checks the chain of chunk signatures of one SigV4 stream. The chain is seeded
// with the request signature, so one bad chunk also fails every later chunk: the first failure
// ends the stream.
type chunkVerifier struct {
	signer *v4.StreamSigner
	hdr    bytes.Buffer
}

func newChunkVerifier(creds aws.Credentials, region string, seed []byte) *chunkVerifier {
	return &chunkVerifier{signer: v4.NewStreamSigner(creds, signingService, region, seed)}
}

// verify checks one envelope. The signed bytes are the encoded :date header alone and the raw
// envelope payload (the encoded inner message, or nothing for the end-of-input marker).
func (v *chunkVerifier) verify(ctx context.Context, msg eventstream.Message) error {
	date, ok := msg.Headers.Get(hdrDate).(eventstream.TimestampValue)
	if !ok {
		return fmt.Errorf("%w: missing %s header", errSignature, hdrDate)
	}
	got, ok := msg.Headers.Get(hdrChunkSignature).(eventstream.BytesValue)
	if !ok {
		return fmt.Errorf("%w: missing %s header", errSignature, hdrChunkSignature)
	}
	if skew := time.Since(time.Time(date)).Abs(); skew > maxClockSkew {
		return fmt.Errorf("%w: %s is %s away from server time", errSignature, hdrDate, skew.Round(time.Second))
	}
	v.hdr.Reset()
	if err := eventstream.EncodeHeaders(&v.hdr, eventstream.Headers{{Name: hdrDate, Value: date}}); err != nil {
		return fmt.Errorf("encode %s: %w", hdrDate, err)
	}
	want, err := v.signer.GetSignature(ctx, v.hdr.Bytes(), msg.Payload, time.Time(date))
	if err != nil {
		return fmt.Errorf("compute chunk signature: %w", err)
	}
	// Constant-time comparison: this is a signature check, even on a fake.
	if !hmac.Equal(want, got) {
		return errSignature
	}
	return nil
}

// chunkPayload is the JSON body of a "chunk" event in both directions.
type chunkPayload struct {
	Bytes []byte `json:"bytes"`
}

// decodeChunkPayload returns the Nova JSON inside a chunk payload {"bytes":"<base64>"}. The SDK writes
// exactly that shape, which is decoded directly: encoding/json's reflection and validity scan were the
// local Bedrock's largest cost under load (server/cmd/loadtest). A string that decodes as base64 holds
// only base64's alphabet, which JSON reads unchanged, once newlines are ruled out (base64 skips them, JSON
// refuses them). Anything else, errors included, goes through encoding/json, in its own words.
func decodeChunkPayload(payload []byte) ([]byte, error) {
	if inner, ok := bytes.CutPrefix(payload, []byte(`{"bytes":"`)); ok {
		if inner, ok := bytes.CutSuffix(inner, []byte(`"}`)); ok && bytes.IndexByte(inner, '\n') < 0 && bytes.IndexByte(inner, '\r') < 0 {
			if nova, err := base64.StdEncoding.AppendDecode(nil, inner); err == nil {
				return nova, nil
			}
		}
	}
	var p chunkPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, err
	}
	return p.Bytes, nil
}

// encodeChunkPayload returns {"bytes":"<base64 of nova>"} without going through reflection: it is
// on the hot path of every output event.
func encodeChunkPayload(dst *bytes.Buffer, nova []byte) []byte {
	dst.Reset()
	dst.Grow(len(`{"bytes":""}`) + base64.StdEncoding.EncodedLen(len(nova)))
	dst.WriteString(`{"bytes":"`)
	enc := base64.NewEncoder(base64.StdEncoding, dst)
	enc.Write(nova)
	enc.Close()
	dst.WriteString(`"}`)
	return dst.Bytes()
}

// chunkMessage is the unsigned event message that carries one Nova output event.
func chunkMessage(payload []byte) eventstream.Message {
	return eventstream.Message{
		Headers: eventstream.Headers{
			{Name: hdrEventType, Value: eventstream.StringValue(eventTypeChunk)},
			{Name: hdrContentType, Value: eventstream.StringValue(contentTypeJSON)},
			{Name: hdrMessageType, Value: eventstream.StringValue(messageTypeEvent)},
		},
		Payload: payload,
	}
}

// exceptionBody is the payload of a modeled exception. OriginalStatusCode and OriginalMessage are
// only set for modelStreamErrorException.
type exceptionBody struct {
	Message            string `json:"message"`
	OriginalStatusCode *int   `json:"originalStatusCode,omitempty"`
	OriginalMessage    string `json:"originalMessage,omitempty"`
}

// exceptionMessage is a modeled exception; member is the lowerCamel union member name
// ("validationException"), which every SDK version maps to its typed error.
func exceptionMessage(member string, body exceptionBody) (eventstream.Message, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return eventstream.Message{}, fmt.Errorf("encode exception: %w", err)
	}
	return eventstream.Message{
		Headers: eventstream.Headers{
			{Name: hdrMessageType, Value: eventstream.StringValue(messageTypeExcept)},
			{Name: hdrExceptionType, Value: eventstream.StringValue(member)},
			{Name: hdrContentType, Value: eventstream.StringValue(contentTypeJSON)},
		},
		Payload: payload,
	}, nil
}

// protocolErrorMessage is an unmodeled error; the SDK reports it as *smithy.GenericAPIError.
func protocolErrorMessage(code, message string) eventstream.Message {
	return eventstream.Message{
		Headers: eventstream.Headers{
			{Name: hdrMessageType, Value: eventstream.StringValue(messageTypeError)},
			{Name: hdrErrorCode, Value: eventstream.StringValue(code)},
			{Name: hdrErrorMessage, Value: eventstream.StringValue(message)},
		},
	}
}

// headerString returns a string header's value, or "" when it is absent or not a string.
func headerString(h eventstream.Headers, name string) string {
	if v, ok := h.Get(name).(eventstream.StringValue); ok {
		return string(v)
	}
	return ""
}
