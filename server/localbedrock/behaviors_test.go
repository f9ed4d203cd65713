package localbedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

func stopReasons(evs []outEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Name == "contentEnd" {
			out = append(out, e.str("type")+":"+e.str("stopReason"))
		}
	}
	return out
}

func decodedAudio(t *testing.T, evs []outEvent) []byte {
	t.Helper()
	var pcm []byte
	for _, e := range evs {
		if e.Name == "audioOutput" {
			b, err := base64.StdEncoding.DecodeString(e.str("content"))
			if err != nil {
				t.Fatal(err)
			}
			pcm = append(pcm, b...)
		}
	}
	return pcm
}

// TestSimulatorOverSDK talks to the default simulated Nova Sonic through the real SDK: a spoken
// turn is answered with the user's own audio at 24 kHz, and talking over an answer interrupts it.
func TestSimulatorOverSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{})
	p := newNames()
	ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
	ss.send(opening(p, "HIGH")...)

	utterance := concat(speech(600*time.Millisecond), silence(800*time.Millisecond))
	ss.sendAudio(p, utterance)
	turn := ss.until(func(e outEvent) bool { return e.Name == "usageEvent" })
	if got := stopReasons(turn); !slices.Equal(got, []string{"TEXT:PARTIAL_TURN", "TEXT:PARTIAL_TURN", "AUDIO:END_TURN", "TEXT:END_TURN"}) {
		t.Errorf("blocks = %v", got)
	}
	if turn[2].str("content") != "(simulated) you spoke for 0.6 seconds" {
		t.Errorf("transcript = %q", turn[2].str("content"))
	}
	want := resample(utterance[:len(speech(700*time.Millisecond))], 16000, 24000)
	if got := decodedAudio(t, turn); !bytes.Equal(got, want) {
		t.Errorf("answer audio: %d bytes, want the 0.7 s utterance at 24 kHz (%d bytes)", len(got), len(want))
	}

	// Talk over the next answer while it plays.
	ss.sendAudio(p, concat(speech(time.Second), silence(800*time.Millisecond)))
	ss.until(func(e outEvent) bool { return e.Name == "contentStart" && e.str("type") == "AUDIO" })
	ss.sendAudio(p, speech(300*time.Millisecond))
	interrupted := ss.until(func(e outEvent) bool { return e.Name == "usageEvent" })
	if got := stopReasons(interrupted); !slices.Equal(got, []string{"AUDIO:INTERRUPTED", "TEXT:INTERRUPTED"}) {
		t.Errorf("barge-in blocks = %v", got)
	}
	if !slices.ContainsFunc(interrupted, func(e outEvent) bool { return e.Name == "textOutput" && e.str("content") == InterruptedText }) {
		t.Errorf("no %s text in %v", InterruptedText, names(interrupted))
	}
	rest, err := ss.finish(p)
	if err != nil {
		t.Fatalf("Err() = %v", err)
	}
	// The interrupting 300 ms are a turn of their own, ended by the audio contentEnd.
	if !slices.ContainsFunc(rest, func(e outEvent) bool { return e.str("content") == "(simulated) you spoke for 0.3 seconds" }) || rest[len(rest)-1].Name != "completionEnd" {
		t.Errorf("after finish: %v", names(rest))
	}
}

// TestScriptedBehaviors runs the ready-made scripts through the real SDK.
func TestScriptedBehaviors(t *testing.T) {
	t.Run("barge-in", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		srv := startServer(t, Options{Behavior: BargeIn(Turn{})})
		p := newNames()
		ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
		ss.send(opening(p, "")...)
		ss.sendAudio(p, speech(32*time.Millisecond))
		ss.until(named("audioOutput"))
		ss.sendAudio(p, speech(32*time.Millisecond))
		got := ss.until(named("usageEvent"))
		if r := stopReasons(got); !slices.Equal(r, []string{"AUDIO:INTERRUPTED", "TEXT:INTERRUPTED"}) {
			t.Errorf("stop reasons = %v", r)
		}
		if _, err := ss.finish(p); err != nil {
			t.Error(err)
		}
	})
	t.Run("tool use", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		srv := startServer(t, Options{Behavior: ToolUse("getWeather", `{"city":"Paris"}`)})
		p := newNames()
		ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
		ss.send(opening(p, "")...)
		ss.sendAudio(p, speech(32*time.Millisecond))
		got := ss.until(func(e outEvent) bool { return e.Name == "contentEnd" && e.str("type") == "TOOL" })
		use := got[len(got)-2]
		if use.Name != "toolUse" || use.str("toolName") != "getWeather" || use.str("content") != `{"city":"Paris"}` || got[len(got)-1].str("stopReason") != StopToolUse {
			t.Fatalf("tool use = %v", got[len(got)-2:])
		}
		ss.send(fmt.Sprintf(`{"event":{"contentStart":{"promptName":%q,"contentName":"r","type":"TOOL","role":"TOOL","interactive":false,"toolResultInputConfiguration":{"toolUseId":%q,"type":"TEXT","textInputConfiguration":{"mediaType":"text/plain"}}}}}`, p.prompt, use.str("toolUseId")),
			fmt.Sprintf(`{"event":{"toolResult":{"promptName":%q,"contentName":"r","content":"{\"tempC\":21}"}}}`, p.prompt),
			contentEnd(p, "r"))
		answer := ss.until(named("usageEvent"))
		if !slices.ContainsFunc(answer, func(e outEvent) bool { return strings.Contains(e.str("content"), `{"tempC":21}`) }) {
			t.Errorf("answer = %v", answer)
		}
		if _, err := ss.finish(p); err != nil {
			t.Error(err)
		}
	})
	t.Run("slow output", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		srv := startServer(t, Options{Behavior: SlowOutput(20*time.Millisecond, NormalTurn(Turn{}))})
		p := newNames()
		ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
		ss.send(opening(p, "")...)
		ss.sendAudio(p, speech(32*time.Millisecond))
		start := time.Now()
		got := ss.until(named("usageEvent"))
		if took := time.Since(start); took < time.Duration(len(got)-1)*20*time.Millisecond {
			t.Errorf("%d events in %v, want at least 20 ms apart", len(got), took)
		}
		if _, err := ss.finish(p); err != nil {
			t.Error(err)
		}
	})
}

// TestConcurrentStreams runs many streams on one SDK client (a fresh codec per call, the
// smithy-go#714 workaround) and checks that every stream gets back exactly its own bytes.
func TestConcurrentStreams(t *testing.T) {
	const streams, frames = 24, 40
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{Behavior: Echo()})
	client := newClient(srv)
	var wg sync.WaitGroup
	sent := make([][]byte, streams)
	for i := range streams {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			pcm := make([]byte, frames*1024)
			for j := range pcm {
				pcm[j] = byte(rng.Uint32())
			}
			sent[i] = pcm
			p := newNames()
			ss := openSession(ctx, t, client, ModelNova2Sonic)
			ss.send(opening(p, "")...)
			ss.sendAudio(p, pcm)
			rest, err := ss.finish(p)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
				return
			}
			if got := decodedAudio(t, rest); !bytes.Equal(got, pcm) {
				t.Errorf("stream %d: echoed %d bytes differ from the %d sent", i, len(got), len(pcm))
			}
		})
	}
	wg.Wait()
	recs := waitIdle(ctx, t, srv)
	if len(recs) != streams {
		t.Fatalf("%d records, want %d", len(recs), streams)
	}
	matched := 0
	for _, rec := range recs {
		if rec.End != EndHalfClose || rec.SignatureFailures != 0 {
			t.Errorf("stream %s ended %q with %d signature failures", rec.RequestID, rec.End, rec.SignatureFailures)
		}
		if slices.ContainsFunc(sent, func(pcm []byte) bool { return bytes.Equal(pcm, rec.Audio()) }) {
			matched++
		}
	}
	if matched != streams || srv.SignatureFailures() != 0 {
		t.Errorf("%d of %d records hold exactly one stream's audio; %d signature failures", matched, streams, srv.SignatureFailures())
	}
}

// rawWriter is a ResponseWriter that keeps the raw response bytes, or discards them.
type rawWriter struct {
	header  http.Header
	buf     bytes.Buffer
	discard bool
}

func (w *rawWriter) Header() http.Header { return w.header }
func (w *rawWriter) WriteHeader(int)     {}
func (w *rawWriter) Flush()              {}
func (w *rawWriter) Write(b []byte) (int, error) {
	if w.discard {
		return len(b), nil
	}
	return w.buf.Write(b)
}

// BenchmarkEncodeOutputEvent measures one 100 ms audioOutput event: Nova JSON, base64 twice,
// event-stream framing, write and flush.
func BenchmarkEncodeOutputEvent(b *testing.B) {
	w := &rawWriter{header: http.Header{}, discard: true}
	s := &Stream{ctx: context.Background(), sessionID: newUUID(), out: newResponseOutput(w, &streamRecord{})}
	o := s.NewOutput(newUUID(), 24000)
	pcm := TonePCM(440, 100*time.Millisecond, 24000, 0.3)
	b.SetBytes(int64(len(pcm)))
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Audio("c", pcm); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOutputFraming pins the output message headers the SDK routes on.
func TestOutputFraming(t *testing.T) {
	w := &rawWriter{header: http.Header{}}
	s := &Stream{ctx: context.Background(), out: newResponseOutput(w, &streamRecord{})}
	if err := s.SendRaw([]byte(`{"event":{"x":{}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SendException("throttlingException", "slow"); err != nil {
		t.Fatal(err)
	}
	if err := s.SendRaw([]byte(`{}`)); err == nil {
		t.Error("send after an exception succeeded")
	}
	fr := newFrameReader(&w.buf)
	var got []string
	for {
		msg, err := fr.next()
		if err != nil {
			break
		}
		var hs []string
		for _, h := range msg.Headers {
			hs = append(hs, h.Name+"="+h.Value.(eventstream.StringValue).String())
		}
		got = append(got, strings.Join(hs, " "))
	}
	want := []string{
		":event-type=chunk :content-type=application/json :message-type=event",
		":message-type=exception :exception-type=throttlingException :content-type=application/json",
	}
	if !slices.Equal(got, want) {
		t.Errorf("headers:\n got %q\nwant %q", got, want)
	}
	if w.header.Get("Content-Type") != eventStreamMIME {
		t.Errorf("Content-Type = %q", w.header.Get("Content-Type"))
	}
}

func TestSequencedFramesCarryTheirNumber(t *testing.T) {
	for _, seq := range []uint32{0, 1, 937, 1<<31 + 5} {
		for _, speech := range []bool{true, false} {
			got, gotSpeech, ok := FrameSequence(SequencedFrame(seq, speech))
			if !ok || got != seq || gotSpeech != speech {
				t.Errorf("frame %d (speech %v) reads as %d, %v, %v", seq, speech, got, gotSpeech, ok)
			}
		}
	}
	if _, _, ok := FrameSequence(speech(32 * time.Millisecond)); ok {
		t.Error("a tone read as a sequenced frame")
	}
}

// Converse answers each run of speech frames, names them, and ignores silence.
func TestConverseAnswersEachRunOfSpeechFrames(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{Behavior: Converse(3)})
	p := newNames()
	ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
	ss.send(opening(p, "")...)
	for seq := range uint32(8) {
		ss.send(audioInput(p, SequencedFrame(seq, seq != 3))) // frame 3 is a pause
	}
	var transcripts []string
	for range 2 {
		for _, ev := range ss.until(named("usageEvent")) {
			if ev.Name == "textOutput" && ev.str("role") == roleUser {
				transcripts = append(transcripts, ev.str("content"))
			}
		}
	}
	if strings.Join(transcripts, ",") != "frames 0-2,frames 4-6" {
		t.Fatalf("USER transcripts %q, want frames 0-2 and frames 4-6", transcripts)
	}
	if _, err := ss.finish(p); err != nil {
		t.Fatal(err)
	}
}
