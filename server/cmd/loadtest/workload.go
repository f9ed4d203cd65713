package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"novasonic/server/localbedrock"
)

// The workload: every conversation opens as the web client does, then streams one audioInput of
// frameAudio every frame period, in real time, until the measured window ends, and closes with contentEnd,
// promptEnd and sessionEnd. The model is localbedrock's Echo: each audioInput comes back as one
// audioOutput with the same bytes. So speech flows both ways all the time, which no real conversation
// does (the user and Nova Sonic take turns): a conservative load, with an exact round trip per frame.

// frameAudio is one audioInput's PCM: 32 ms at 16 kHz, 16-bit mono, the size Nova Sonic recommends and the
// web client sends.
const (
	frameAudio  = 1024
	frameMillis = 32
	sampleRate  = 16000
)

// stampBytes of each frame's PCM carry its sequence number (4 bytes, little endian) and a marker. Six
// bytes are exactly eight base64 characters, so a frame is stamped by rewriting those eight in place.
const (
	stampBytes = 6
	stampChars = 8
)

var stampMarker = [2]byte{0x4c, 0x54} // "LT"

// script is one conversation's events, built once: the opening and closing events, and one audioInput
// frame that is stamped with each frame's sequence number before it is sent.
type script struct {
	opening [][]byte
	audio   []byte
	stampAt int // index in audio of the base64 characters that carry the stamp
	closing [][]byte
}

// newScript builds conversation i's events. Each conversation names its prompt and contents as the web
// client does (unique names), so the gateway's and the model's work per conversation is realistic.
func newScript(i int) *script {
	prompt := fmt.Sprintf("prompt-%06d", i)
	system := fmt.Sprintf("system-%06d", i)
	audio := fmt.Sprintf("audio-%06d", i)
	sc := &script{
		opening: [][]byte{
			[]byte(`{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024,"topP":0.9,"temperature":0.7},"turnDetectionConfiguration":{"endpointingSensitivity":"MEDIUM"}}}}`),
			[]byte(`{"event":{"promptStart":{"promptName":"` + prompt + `","textOutputConfiguration":{"mediaType":"text/plain"},"audioOutputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"voiceId":"tiffany","encoding":"base64","audioType":"SPEECH"}}}}`),
			[]byte(`{"event":{"contentStart":{"promptName":"` + prompt + `","contentName":"` + system + `","type":"TEXT","role":"SYSTEM","interactive":false,"textInputConfiguration":{"mediaType":"text/plain"}}}}`),
			[]byte(`{"event":{"textInput":{"promptName":"` + prompt + `","contentName":"` + system + `","content":"You are a friend. Keep your responses short, generally two or three sentences."}}}`),
			[]byte(`{"event":{"contentEnd":{"promptName":"` + prompt + `","contentName":"` + system + `"}}}`),
			[]byte(`{"event":{"contentStart":{"promptName":"` + prompt + `","contentName":"` + audio + `","type":"AUDIO","role":"USER","interactive":true,"audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}`),
		},
		closing: [][]byte{
			[]byte(`{"event":{"contentEnd":{"promptName":"` + prompt + `","contentName":"` + audio + `"}}}`),
			[]byte(`{"event":{"promptEnd":{"promptName":"` + prompt + `"}}}`),
			[]byte(`{"event":{"sessionEnd":{}}}`),
		},
	}
	head := `{"event":{"audioInput":{"promptName":"` + prompt + `","contentName":"` + audio + `","content":"`
	pcm := localbedrock.TonePCM(440, frameMillis*time.Millisecond, sampleRate, 0.2)
	sc.audio = []byte(head + base64.StdEncoding.EncodeToString(pcm[:frameAudio]) + `"}}}`)
	sc.stampAt = len(head)
	return sc
}

// stamp writes seq into the audio frame.
func (sc *script) stamp(seq uint32) {
	var raw [stampBytes]byte
	binary.LittleEndian.PutUint32(raw[:], seq)
	copy(raw[4:], stampMarker[:])
	base64.StdEncoding.Encode(sc.audio[sc.stampAt:sc.stampAt+stampChars], raw[:])
}

var contentKey = []byte(`"content":"`)

// echoedSeq returns the sequence number stamped in an audioOutput event's content, reading only the
// stamp's eight characters: the driver must stay cheap beside the gateway it measures.
func echoedSeq(event []byte) (uint32, bool) {
	if !bytes.Contains(event, []byte(`"audioOutput"`)) {
		return 0, false
	}
	i := bytes.Index(event, contentKey)
	if i < 0 || len(event) < i+len(contentKey)+stampChars {
		return 0, false
	}
	var raw [stampBytes]byte
	if n, err := base64.StdEncoding.Decode(raw[:], event[i+len(contentKey):i+len(contentKey)+stampChars]); err != nil || n != stampBytes ||
		raw[4] != stampMarker[0] || raw[5] != stampMarker[1] {
		return 0, false
	}
	return binary.LittleEndian.Uint32(raw[:]), true
}

// timeline is one run's schedule: the conversations start evenly over ramp, settle, then the window is
// measured; every conversation stops streaming when the window ends.
type timeline struct {
	start         time.Time
	ramp, settle  time.Duration
	window        time.Duration
	conversations int
	frame         time.Duration
}

func (tl timeline) startOf(i int) time.Time {
	return tl.start.Add(tl.ramp * time.Duration(i) / time.Duration(max(tl.conversations, 1)))
}
func (tl timeline) windowStart() time.Time { return tl.start.Add(tl.ramp + tl.settle) }
func (tl timeline) stop() time.Time        { return tl.windowStart().Add(tl.window) }

// maxFrames bounds the frames one conversation sends: the whole timeline, with room to spare.
func (tl timeline) maxFrames() int {
	return int((tl.ramp+tl.settle+tl.window)/tl.frame) + 2
}

// streamAudio writes one stamped audio frame per frame period until the timeline stops, on an absolute
// schedule: a late frame does not delay the next one, as a microphone's would not.
func streamAudio(ctx context.Context, sc *script, tl timeline, t *tally, write func(frame []byte) error) error {
	due := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for seq := 0; due.Before(tl.stop()) && seq < len(t.sentAt); seq++ {
		timer.Reset(time.Until(due))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		sc.stamp(uint32(seq))
		t.sending(seq, due, time.Now(), tl)
		if err := write(sc.audio); err != nil {
			return err
		}
		due = due.Add(tl.frame)
	}
	return nil
}

// tally is what one conversation saw, filled by its sender and its receiver.
type tally struct {
	// sentAt holds each frame's send time (nanoseconds since base) for its round trip; atomic because the
	// receiver reads what the sender wrote.
	base   time.Time
	sentAt []atomic.Int64

	// Written by the sender only.
	sent        int
	lag         []time.Duration // how late each window frame left against its schedule: the harness's health
	connectTime time.Duration   // connection and authorization (the gateway) or stream opening (the floor)
	// Written by the receiver only.
	echoed     int
	outOfOrder int
	rtt        []time.Duration // round trips of the frames sent in the window
	lastSeq    int64
	// failure is why the conversation did not end normally; "" if it did.
	failure string
}

func newTally(tl timeline) *tally {
	return &tally{base: tl.start, sentAt: make([]atomic.Int64, tl.maxFrames()), lastSeq: -1}
}

// sending records frame seq as sent now, scheduled for due, and reports whether it is in the window.
func (t *tally) sending(seq int, due, now time.Time, tl timeline) {
	t.sentAt[seq].Store(int64(now.Sub(t.base)))
	t.sent++
	if !due.Before(tl.windowStart()) {
		t.lag = append(t.lag, now.Sub(due))
	}
}

// echo records the echo of frame seq, received now.
func (t *tally) echo(seq uint32, now time.Time, tl timeline) {
	t.echoed++
	if int64(seq) != t.lastSeq+1 {
		t.outOfOrder++
	}
	t.lastSeq = int64(seq)
	if int(seq) >= len(t.sentAt) {
		return
	}
	sent := t.base.Add(time.Duration(t.sentAt[seq].Load()))
	if !sent.Before(tl.windowStart()) && sent.Before(tl.stop()) {
		t.rtt = append(t.rtt, now.Sub(sent))
	}
}

// runStats sums the tallies of one run.
type runStats struct {
	Conversations int `json:"conversations"`
	// Failed conversations did not end with a normal close; Failures lists their reasons, by count.
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures,omitempty"`
	// FramesSent and FramesEchoed over the whole run; Missing are frames sent whose echo never came
	// back, OutOfOrder echoes that did not follow the previous one.
	FramesSent   int `json:"framesSent"`
	FramesEchoed int `json:"framesEchoed"`
	Missing      int `json:"missing"`
	OutOfOrder   int `json:"outOfOrder"`
	// RoundTrip quantiles over the window's frames, from send to echo.
	RoundTrip quantiles `json:"roundTrip"`
	// SendLag is how late the driver sent frames against their real-time schedule: when it grows, the
	// driver's core, not the system under test, is the bottleneck.
	SendLag quantiles `json:"sendLag"`
	// ConnectTime is connection and authorization (gateway) or the stream's opening (floor).
	ConnectTime quantiles `json:"connectTime"`
}

// quantiles of a set of durations, in milliseconds.
type quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50ms"`
	P99   float64 `json:"p99ms"`
	Max   float64 `json:"maxms"`
}

func quantilesOf(ds []time.Duration) quantiles {
	if len(ds) == 0 {
		return quantiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(s))), len(s)-1)
		return ms(s[i])
	}
	return quantiles{Count: len(s), P50: at(0.50), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(tallies []*tally) runStats {
	st := runStats{Conversations: len(tallies), Failures: map[string]int{}}
	var rtt, lag, connect []time.Duration
	for _, t := range tallies {
		if t.failure != "" {
			st.Failed++
			st.Failures[t.failure]++
		}
		st.FramesSent += t.sent
		st.FramesEchoed += t.echoed
		st.Missing += max(t.sent-t.echoed, 0)
		st.OutOfOrder += t.outOfOrder
		rtt = append(rtt, t.rtt...)
		lag = append(lag, t.lag...)
		if t.connectTime > 0 {
			connect = append(connect, t.connectTime)
		}
	}
	st.RoundTrip, st.SendLag, st.ConnectTime = quantilesOf(rtt), quantilesOf(lag), quantilesOf(connect)
	if len(st.Failures) == 0 {
		st.Failures = nil
	}
	return st
}
