package localbedrock

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Simulated turn-taking. Timing is measured in audio time (bytes received), not wall time, so a
// test can send seconds of audio in a burst and get its answer at once; only playback (and so
// barge-in) follows the wall clock, as it does for a listening person.
const (
	// vadFrame is the analysis window of the energy detector.
	vadFrame = 20 * time.Millisecond
	// vadOnRMS and vadOffRMS are the hysteresis thresholds (fraction of full scale, about −34 and
	// −40 dBFS): a frame starts speech above the first and keeps it above the second.
	vadOnRMS  = 0.02
	vadOffRMS = 0.01
	// defaultMinSpeech is the least voiced audio that counts as an utterance rather than a noise.
	defaultMinSpeech = 300 * time.Millisecond
	// defaultBargeIn is how much voiced audio during an answer interrupts it.
	defaultBargeIn = 200 * time.Millisecond
	// maxUtterance bounds the audio kept for one utterance; a longer one is answered at this
	// length, which also bounds memory for a microphone left open in a noisy room.
	maxUtterance = 30 * time.Second
	// defaultAudioLead is how far ahead of real-time playback answer audio is sent: the service
	// delivers audio faster than real time, and the client queues it.
	defaultAudioLead = time.Second
	// textAnswerTone is the synthetic audio that answers text input.
	textAnswerTone = 600 * time.Millisecond
)

// endpointingPause is the silence after speech that ends a turn, per
// turnDetectionConfiguration.endpointingSensitivity. The service documents about 1.5/1.75/2 s;
// the simulator answers sooner so that talking to it feels responsive, keeping the order
// HIGH < MEDIUM < LOW. MEDIUM is the default.
var endpointingPause = map[string]time.Duration{
	"HIGH":   700 * time.Millisecond,
	"MEDIUM": 850 * time.Millisecond,
	"LOW":    time.Second,
}

// SimulatorConfig tunes Simulator. The zero value is the documented default behaviour.
type SimulatorConfig struct {
	// AudioLead is how far ahead of real-time playback answer audio is sent. Default: 1 s.
	AudioLead time.Duration
	// MinSpeech is the least voiced audio that counts as an utterance. Default: 300 ms.
	MinSpeech time.Duration
	// BargeIn is how much voiced audio during an answer interrupts it. Default: 200 ms.
	BargeIn time.Duration
}

// Simulator is the default behaviour: a simulated Nova Sonic a person can talk to.
//
// It detects the end of each spoken turn by energy (16-bit PCM, RMS with hysteresis; a pause of
// 0.7/0.85/1 s for endpointingSensitivity HIGH/MEDIUM/LOW after at least MinSpeech of speech) and
// answers with completionStart (once), a USER FINAL transcript ("(simulated) you spoke for 2.3
// seconds"), ASSISTANT SPECULATIVE text, an AUDIO block that plays the user's own utterance back
// resampled to the prompt's output rate in 100 ms chunks sent AudioLead ahead of real time,
// ASSISTANT FINAL text, contentEnd END_TURN and usageEvent. The AUDIO block stays open until the
// answer would have finished playing; speech during that time interrupts it (contentEnd
// INTERRUPTED and the v1-style `{ "interrupted" : true }` text). USER TEXT input is answered with
// text and a short tone; a text that names one of the prompt's tools triggers a toolUse for it;
// tool results are acknowledged with text. completionEnd follows promptEnd.
func Simulator(cfg SimulatorConfig) Behavior {
	if cfg.AudioLead <= 0 {
		cfg.AudioLead = defaultAudioLead
	}
	if cfg.MinSpeech <= 0 {
		cfg.MinSpeech = defaultMinSpeech
	}
	if cfg.BargeIn <= 0 {
		cfg.BargeIn = defaultBargeIn
	}
	return func(ctx context.Context, s *Stream) error {
		sim := &simulation{cfg: cfg, s: s, pause: endpointingPause["MEDIUM"], contents: map[string]*simContent{}}
		return sim.run(ctx)
	}
}

// simContent is an input content block as the simulation sees it.
type simContent struct {
	typ, role   string
	interactive bool
	toolUseID   string
	text        strings.Builder
	vad         *endpointer
}

// answer is an assistant audio block being played.
type answer struct {
	contentID string
	audio     []byte
	sent      int
	started   time.Time
	finalText string
}

type simulation struct {
	cfg        SimulatorConfig
	s          *Stream
	pause      time.Duration
	prompt     promptInfo
	out        *Output
	completion bool // completionStart sent
	contents   map[string]*simContent
	playing    *answer
	timer      *time.Timer
}

func (sim *simulation) run(ctx context.Context) error {
	sim.timer = time.NewTimer(time.Hour)
	sim.timer.Stop()
	defer sim.timer.Stop()
	input := sim.s.Input()
	for {
		var pace <-chan time.Time
		if sim.playing != nil {
			pace = sim.timer.C
		}
		var err error
		select {
		case ev, ok := <-input:
			if !ok {
				if in := sim.s.InputErr(); in != io.EOF {
					return in
				}
				return nil
			}
			err = sim.handle(ev)
		case <-pace:
			err = sim.advance(time.Now())
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if err != nil {
			return err
		}
	}
}

func (sim *simulation) handle(ev InputEvent) error {
	sim.prompt.observe(ev)
	switch ev.Name {
	case evSessionStart:
		if p, ok := endpointingPause[sim.prompt.sensitivity]; ok {
			sim.pause = p
		}
	case evPromptStart:
		sim.out = sim.s.NewOutput(ev.PromptName, sim.prompt.outputRate)
	case evContentStart:
		c := &simContent{typ: ev.Type, role: ev.Role, interactive: ev.Interactive, toolUseID: ev.ToolUseID}
		if ev.Type == typeAudio {
			c.vad = newEndpointer(sim.prompt.inputRate, sim.cfg.MinSpeech, sim.cfg.BargeIn, sim.pause)
		}
		sim.contents[ev.ContentName] = c
	case evTextInput, evToolResult:
		if c := sim.contents[ev.ContentName]; c != nil && c.text.Len() < maxTextBytes {
			c.text.WriteString(ev.Content)
		}
	case evAudioInput:
		if c := sim.contents[ev.ContentName]; c != nil && c.vad != nil {
			return sim.listen(c.vad, c.vad.feed(ev.Audio))
		}
	case evContentEnd:
		return sim.contentEnd(ev.ContentName)
	case evPromptEnd:
		if err := sim.stopAnswer(); err != nil {
			return err
		}
		if sim.completion {
			sim.completion = false
			return sim.out.CompletionEnd(StopEndTurn)
		}
	}
	return nil
}

// maxTextBytes bounds the text kept per input content block.
const maxTextBytes = 64 << 10

func (sim *simulation) contentEnd(name string) error {
	c := sim.contents[name]
	delete(sim.contents, name)
	if c == nil {
		return nil
	}
	switch {
	case c.vad != nil:
		return sim.listen(c.vad, c.vad.flush())
	case c.typ == typeText && c.role == roleUser && c.interactive:
		return sim.answerText(c.text.String())
	case c.typ == typeTool:
		return sim.answerToolResult(c.toolUseID, c.text.String())
	}
	return nil
}

// listen acts on what the endpointer heard: speech while an answer plays interrupts it, and a
// finished utterance is answered.
func (sim *simulation) listen(vad *endpointer, heard vadResult) error {
	if heard.bargeIn && sim.playing != nil {
		if err := sim.finishAnswer(StopInterrupted); err != nil {
			return err
		}
	}
	if heard.utterance == nil {
		return nil
	}
	spoke := heard.spoke.Seconds()
	return sim.answerSpeech(heard.utterance, vad.sampleRate, fmt.Sprintf("(simulated) you spoke for %.1f seconds", spoke))
}

func (sim *simulation) ensureCompletion() error {
	if sim.completion {
		return nil
	}
	sim.completion = true
	return sim.out.CompletionStart()
}

func (sim *simulation) answerSpeech(pcm []byte, rate int, transcript string) error {
	if err := sim.stopAnswer(); err != nil {
		return err
	}
	if err := sim.ensureCompletion(); err != nil {
		return err
	}
	sim.out.UserInput(len(pcm), rate, "")
	if err := sim.out.TextBlock(roleUser, StageFinal, transcript, StopPartialTurn); err != nil {
		return err
	}
	reply := "(simulated) This is what you said."
	if err := sim.out.TextBlock(roleAssistant, StageSpeculative, reply, StopPartialTurn); err != nil {
		return err
	}
	return sim.play(resample(pcm, rate, sim.out.AudioSampleRate()), reply)
}

func (sim *simulation) answerText(text string) error {
	if err := sim.stopAnswer(); err != nil {
		return err
	}
	if err := sim.ensureCompletion(); err != nil {
		return err
	}
	sim.out.UserInput(0, 0, text)
	if tool := sim.prompt.toolNamedIn(text); tool != "" {
		_, err := sim.out.ToolUse(tool, "{}")
		return err
	}
	reply := fmt.Sprintf("(simulated) You wrote: %s", truncate(text, 200))
	if err := sim.out.TextBlock(roleAssistant, StageSpeculative, reply, StopPartialTurn); err != nil {
		return err
	}
	rate := sim.out.AudioSampleRate()
	return sim.play(TonePCM(440, textAnswerTone, rate, 0.2), reply)
}

func (sim *simulation) answerToolResult(toolUseID, result string) error {
	if err := sim.ensureCompletion(); err != nil {
		return err
	}
	sim.out.UserInput(0, 0, result)
	reply := fmt.Sprintf("(simulated) The tool %s returned: %s", toolUseID, truncate(result, 200))
	if err := sim.out.TextBlock(roleAssistant, StageFinal, reply, StopEndTurn); err != nil {
		return err
	}
	return sim.out.UsageEvent()
}

// play opens the AUDIO block and sends the first AudioLead of audio at once.
func (sim *simulation) play(audio []byte, finalText string) error {
	id, err := sim.out.AudioStart()
	if err != nil {
		return err
	}
	sim.playing = &answer{contentID: id, audio: audio, started: time.Now(), finalText: finalText}
	return sim.advance(time.Now())
}

// advance sends the audio chunks due by now and ends the answer once it has finished playing.
func (sim *simulation) advance(now time.Time) error {
	a := sim.playing
	chunk := sim.out.AudioChunkBytes()
	rate := sim.out.AudioSampleRate()
	for a.sent < len(a.audio) {
		due := a.started.Add(PCMDuration(a.audio[:a.sent], rate) - sim.cfg.AudioLead)
		if due.After(now) {
			sim.timer.Reset(due.Sub(now))
			return nil
		}
		end := min(a.sent+chunk, len(a.audio))
		if err := sim.out.Audio(a.contentID, a.audio[a.sent:end]); err != nil {
			return err
		}
		a.sent = end
	}
	// Everything is sent; the block stays open until the listener has heard it, so that speech
	// until then is a barge-in.
	if playedAt := a.started.Add(PCMDuration(a.audio, rate)); playedAt.After(now) {
		sim.timer.Reset(playedAt.Sub(now))
		return nil
	}
	return sim.finishAnswer(StopEndTurn)
}

// stopAnswer interrupts an answer that is still playing.
func (sim *simulation) stopAnswer() error {
	if sim.playing == nil {
		return nil
	}
	return sim.finishAnswer(StopInterrupted)
}

// finishAnswer closes the AUDIO block with stopReason and sends the FINAL text and usage.
func (sim *simulation) finishAnswer(stopReason string) error {
	a := sim.playing
	sim.playing = nil
	sim.timer.Stop()
	if err := sim.out.ContentEnd(a.contentID, typeAudio, stopReason); err != nil {
		return err
	}
	text := a.finalText
	if stopReason == StopInterrupted {
		text = InterruptedText
	}
	if err := sim.out.TextBlock(roleAssistant, StageFinal, text, stopReason); err != nil {
		return err
	}
	return sim.out.UsageEvent()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// promptInfo is what output events need to know about the session, learned from its input.
type promptInfo struct {
	name        string
	outputRate  int
	inputRate   int
	sensitivity string
	tools       []string
}

// observe updates p from one input event.
func (p *promptInfo) observe(ev InputEvent) {
	switch {
	case ev.Name == evSessionStart:
		var f inputFields
		if json.Unmarshal(ev.Body, &f) == nil && f.TurnDetectionConfiguration != nil {
			p.sensitivity = f.TurnDetectionConfiguration.EndpointingSensitivity
		}
	case ev.Name == evPromptStart:
		var f struct {
			inputFields
			ToolConfiguration struct {
				Tools []struct {
					ToolSpec struct {
						Name string `json:"name"`
					} `json:"toolSpec"`
				} `json:"tools"`
			} `json:"toolConfiguration"`
		}
		if json.Unmarshal(ev.Body, &f) != nil {
			return
		}
		p.name = ev.PromptName
		if f.AudioOutputConfiguration != nil {
			p.outputRate = f.AudioOutputConfiguration.SampleRateHertz
		}
		for _, t := range f.ToolConfiguration.Tools {
			p.tools = append(p.tools, t.ToolSpec.Name)
		}
	case ev.Name == evContentStart && ev.Type == typeAudio:
		var f inputFields
		if json.Unmarshal(ev.Body, &f) == nil && f.AudioInputConfiguration != nil {
			p.inputRate = f.AudioInputConfiguration.SampleRateHertz
		}
	}
}

// toolNamedIn returns the first configured tool whose name appears in text.
func (p *promptInfo) toolNamedIn(text string) string {
	for _, t := range p.tools {
		if t != "" && strings.Contains(text, t) {
			return t
		}
	}
	return ""
}

// vadResult is what one piece of audio told the endpointer.
type vadResult struct {
	bargeIn   bool          // enough speech to interrupt an answer started in this piece
	utterance []byte        // a finished utterance, if one ended in this piece
	spoke     time.Duration // its length from the first to the last voiced frame
}

// endpointer finds utterances in a stream of PCM by frame energy. Its clock is the audio itself.
type endpointer struct {
	sampleRate int
	frameBytes int
	minSpeech  time.Duration
	bargeIn    time.Duration
	pause      time.Duration

	pending    []byte // partial frame carried to the next feed
	inSpeech   bool   // hysteresis state of the last frame
	collecting bool
	utterance  []byte
	voiced     time.Duration // voiced audio in the utterance
	lastVoiced int           // byte length of the utterance up to its last voiced frame
	silence    time.Duration // trailing silence
	announced  bool          // barge-in already reported for this utterance
}

func newEndpointer(sampleRate int, minSpeech, bargeIn, pause time.Duration) *endpointer {
	if sampleRate == 0 {
		sampleRate = 16000
	}
	return &endpointer{
		sampleRate: sampleRate,
		frameBytes: 2 * samplesIn(vadFrame, sampleRate),
		minSpeech:  minSpeech, bargeIn: bargeIn, pause: pause,
	}
}

// feed analyses pcm frame by frame. At most one utterance ends per call; audio after it starts
// the next one.
func (e *endpointer) feed(pcm []byte) vadResult {
	var res vadResult
	data := pcm
	if len(e.pending) > 0 {
		data = append(e.pending, pcm...)
		e.pending = nil
	}
	for len(data) >= e.frameBytes {
		frame := data[:e.frameBytes]
		data = data[e.frameBytes:]
		if r := e.frame(frame); r.bargeIn {
			res.bargeIn = true
		} else if r.utterance != nil && res.utterance == nil {
			res.utterance, res.spoke = r.utterance, r.spoke
		}
	}
	e.pending = append([]byte(nil), data...)
	return res
}

// flush ends the current utterance at the end of the audio content, if it has enough speech.
func (e *endpointer) flush() vadResult {
	e.pending = nil
	if !e.collecting || e.voiced < e.minSpeech {
		e.reset()
		return vadResult{}
	}
	return e.end()
}

func (e *endpointer) frame(frame []byte) vadResult {
	level := rms(frame)
	voiced := level >= vadOnRMS || (e.inSpeech && level >= vadOffRMS)
	e.inSpeech = voiced
	if !e.collecting {
		if !voiced {
			return vadResult{}
		}
		e.collecting = true
	}
	if len(e.utterance) < 2*samplesIn(maxUtterance, e.sampleRate) {
		e.utterance = append(e.utterance, frame...)
	}
	if voiced {
		e.voiced += vadFrame
		e.silence = 0
		e.lastVoiced = len(e.utterance)
	} else {
		e.silence += vadFrame
	}
	if !e.announced && e.voiced >= e.bargeIn {
		e.announced = true
		return vadResult{bargeIn: true}
	}
	full := len(e.utterance) >= 2*samplesIn(maxUtterance, e.sampleRate)
	if e.silence >= e.pause || full {
		if e.voiced < e.minSpeech {
			e.reset() // a noise, not speech
			return vadResult{}
		}
		return e.end()
	}
	return vadResult{}
}

func (e *endpointer) end() vadResult {
	spoke := PCMDuration(e.utterance[:e.lastVoiced], e.sampleRate)
	// Keep a little of the trailing silence so the playback does not end abruptly.
	keep := min(len(e.utterance), e.lastVoiced+2*samplesIn(100*time.Millisecond, e.sampleRate))
	res := vadResult{utterance: e.utterance[:keep], spoke: spoke}
	e.reset()
	return res
}

func (e *endpointer) reset() {
	e.collecting, e.announced = false, false
	e.utterance, e.voiced, e.lastVoiced, e.silence = nil, 0, 0, 0
}
