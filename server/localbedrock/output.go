package localbedrock

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Stop reasons of output contentEnd and completionEnd events.
const (
	// StopEndTurn ends the assistant's turn.
	StopEndTurn = "END_TURN"
	// StopPartialTurn ends a block inside a turn (the service ends USER transcripts with it).
	StopPartialTurn = "PARTIAL_TURN"
	// StopInterrupted ends a block cut short by barge-in; the client must flush queued audio.
	StopInterrupted = "INTERRUPTED"
	// StopToolUse ends a TOOL block: the client must run the tool and send its result.
	StopToolUse = "TOOL_USE"
)

// Generation stages of output TEXT blocks, carried in additionalModelFields.
const (
	// StageSpeculative marks a preview of what the assistant is about to say.
	StageSpeculative = "SPECULATIVE"
	// StageFinal marks a transcript of what was actually said (or heard, for USER).
	StageFinal = "FINAL"
)

// InterruptedText is the textOutput content Nova Sonic v1 clients look for on barge-in.
const InterruptedText = `{ "interrupted" : true }`

// outputAudioChunkMillis is the audio duration of one audioOutput event: 100 ms, 4800 bytes at
// 24 kHz, the chunk size of the team's measured load test against the real SDK.
const outputAudioChunkMillis = 100

// Output writes Nova Sonic output events for one prompt with the field names and shapes the
// service uses: every event carries sessionId, promptName and completionId, content blocks have a
// fresh contentId, TEXT blocks carry additionalModelFields as a JSON string. Behaviours use it to
// script realistic turns.
type Output struct {
	s            *Stream
	promptName   string
	completionID string
	audioConfig  audioConfiguration
	usage        usageTotals
	// audioHead is the encoded start of audioOutput events for the AUDIO block audioHeadOf.
	audioHead   []byte
	audioHeadOf string
}

// NewOutput starts the output of the prompt named promptName. audioSampleRate is the
// audioOutputConfiguration.sampleRateHertz from the client's promptStart (0 means 24000).
func (s *Stream) NewOutput(promptName string, audioSampleRate int) *Output {
	if audioSampleRate == 0 {
		audioSampleRate = 24000
	}
	return &Output{
		s:            s,
		promptName:   promptName,
		completionID: newUUID(),
		audioConfig: audioConfiguration{
			MediaType: "audio/lpcm", SampleRateHertz: audioSampleRate, SampleSizeBits: 16, ChannelCount: 1,
			Encoding: "base64", AudioType: "SPEECH",
		},
	}
}

// CompletionID is the completionId on every event of this output.
func (o *Output) CompletionID() string { return o.completionID }

// AudioSampleRate is the sample rate of audioOutput content.
func (o *Output) AudioSampleRate() int { return o.audioConfig.SampleRateHertz }

// ids are the identifiers every output event carries.
type ids struct {
	SessionID    string `json:"sessionId"`
	PromptName   string `json:"promptName"`
	CompletionID string `json:"completionId"`
}

func (o *Output) ids() ids {
	return ids{SessionID: o.s.sessionID, PromptName: o.promptName, CompletionID: o.completionID}
}

// CompletionStart sends completionStart.
func (o *Output) CompletionStart() error {
	return o.s.Send("completionStart", o.ids())
}

// CompletionEnd sends completionEnd with stopReason.
func (o *Output) CompletionEnd(stopReason string) error {
	return o.s.Send("completionEnd", struct {
		ids
		StopReason string `json:"stopReason"`
	}{o.ids(), stopReason})
}

type mediaType struct {
	MediaType string `json:"mediaType"`
}

type contentStartEvent struct {
	ids
	ContentID                  string              `json:"contentId"`
	Type                       string              `json:"type"`
	Role                       string              `json:"role"`
	AdditionalModelFields      string              `json:"additionalModelFields,omitempty"`
	TextOutputConfiguration    *mediaType          `json:"textOutputConfiguration,omitempty"`
	AudioOutputConfiguration   *audioConfiguration `json:"audioOutputConfiguration,omitempty"`
	ToolUseOutputConfiguration *mediaType          `json:"toolUseOutputConfiguration,omitempty"`
}

// TextStart opens a TEXT block of role (USER or ASSISTANT) at generation stage (StageFinal or
// StageSpeculative) and returns its contentId.
func (o *Output) TextStart(role, stage string) (string, error) {
	stageJSON, err := json.Marshal(map[string]string{"generationStage": stage})
	if err != nil {
		return "", fmt.Errorf("marshal generationStage: %w", err)
	}
	id := newUUID()
	return id, o.s.Send("contentStart", contentStartEvent{
		ids: o.ids(), ContentID: id, Type: typeText, Role: role,
		AdditionalModelFields:   string(stageJSON),
		TextOutputConfiguration: &mediaType{MediaType: "text/plain"},
	})
}

// Text sends textOutput for an open TEXT block.
func (o *Output) Text(contentID, role, content string) error {
	o.usage.addText(role, content)
	return o.s.Send("textOutput", struct {
		ids
		ContentID string `json:"contentId"`
		Content   string `json:"content"`
		Role      string `json:"role"`
	}{o.ids(), contentID, content, role})
}

// TextBlock sends a whole TEXT block: contentStart, one textOutput, contentEnd with stopReason.
func (o *Output) TextBlock(role, stage, content, stopReason string) error {
	id, err := o.TextStart(role, stage)
	if err != nil {
		return err
	}
	if err := o.Text(id, role, content); err != nil {
		return err
	}
	return o.ContentEnd(id, typeText, stopReason)
}

// AudioStart opens an ASSISTANT AUDIO block with the prompt's audioOutputConfiguration.
func (o *Output) AudioStart() (string, error) {
	id := newUUID()
	cfg := o.audioConfig
	return id, o.s.Send("contentStart", contentStartEvent{
		ids: o.ids(), ContentID: id, Type: typeAudio, Role: roleAssistant, AudioOutputConfiguration: &cfg,
	})
}

// Audio sends one audioOutput event with pcm (16-bit mono little-endian at AudioSampleRate).
func (o *Output) Audio(contentID string, pcm []byte) error {
	o.usage.addSpeech(len(pcm), o.audioConfig.SampleRateHertz)
	if o.audioHead == nil || o.audioHeadOf != contentID {
		head, err := audioOutputHead(o.ids(), contentID)
		if err != nil {
			return err
		}
		o.audioHead, o.audioHeadOf = head, contentID
	}
	return o.s.SendRaw(audioOutputJSON(o.audioHead, pcm))
}

// audioOutputHead is the start of the audioOutput event Stream.Send would marshal, up to the opening
// quote of its content, which comes last as its field order puts it. Only the identifiers go through
// encoding/json, once per AUDIO block: Echo sends an event per input frame, and encoding/json scanning
// every base64 character for escapes was a large part of the local Bedrock's cost under load.
func audioOutputHead(id ids, contentID string) ([]byte, error) {
	head, err := json.Marshal(struct {
		ids
		ContentID string `json:"contentId"`
	}{id, contentID})
	if err != nil {
		return nil, fmt.Errorf("marshal audioOutput: %w", err)
	}
	out := append([]byte(`{"event":{"audioOutput":`), head[:len(head)-1]...) // without its closing brace
	return append(out, `,"content":"`...), nil
}

// audioOutputJSON completes head with pcm: base64 needs no escaping.
func audioOutputJSON(head, pcm []byte) []byte {
	nova := make([]byte, 0, len(head)+base64.StdEncoding.EncodedLen(len(pcm))+4)
	nova = append(nova, head...)
	nova = base64.StdEncoding.AppendEncode(nova, pcm)
	return append(nova, `"}}}`...)
}

// AudioChunkBytes is the size of one realistic audioOutput chunk (100 ms) at AudioSampleRate.
func (o *Output) AudioChunkBytes() int {
	return o.audioConfig.SampleRateHertz * 2 * outputAudioChunkMillis / 1000
}

// ContentEnd closes a block of type (TEXT, AUDIO or TOOL) with stopReason.
func (o *Output) ContentEnd(contentID, typ, stopReason string) error {
	return o.s.Send("contentEnd", struct {
		ids
		ContentID  string `json:"contentId"`
		StopReason string `json:"stopReason"`
		Type       string `json:"type"`
	}{o.ids(), contentID, stopReason, typ})
}

// ToolUse sends a whole TOOL block asking the client to run toolName with input (a JSON string),
// ending with stopReason TOOL_USE, and returns the toolUseId the result must carry.
func (o *Output) ToolUse(toolName, input string) (string, error) {
	id, toolUseID := newUUID(), newUUID()
	err := o.s.Send("contentStart", contentStartEvent{
		ids: o.ids(), ContentID: id, Type: typeTool, Role: roleTool,
		ToolUseOutputConfiguration: &mediaType{MediaType: "application/json"},
	})
	if err != nil {
		return "", err
	}
	err = o.s.Send("toolUse", struct {
		ids
		ContentID string `json:"contentId"`
		Content   string `json:"content"`
		ToolName  string `json:"toolName"`
		ToolUseID string `json:"toolUseId"`
	}{o.ids(), id, input, toolName, toolUseID})
	if err != nil {
		return "", err
	}
	return toolUseID, o.ContentEnd(id, typeTool, StopToolUse)
}

// UserInput counts input usage: audio seconds at sampleRate and text, for the next UsageEvent.
func (o *Output) UserInput(audioBytes, sampleRate int, text string) {
	o.usage.delta.Input.SpeechTokens += speechTokens(audioBytes, sampleRate)
	o.usage.delta.Input.TextTokens += textTokens(text)
}

// UsageEvent sends usageEvent with the tokens counted since the previous one (details.delta)
// and since the start (details.total and the totals).
func (o *Output) UsageEvent() error {
	u := &o.usage
	u.total.Input.SpeechTokens += u.delta.Input.SpeechTokens
	u.total.Input.TextTokens += u.delta.Input.TextTokens
	u.total.Output.SpeechTokens += u.delta.Output.SpeechTokens
	u.total.Output.TextTokens += u.delta.Output.TextTokens
	in := u.total.Input.SpeechTokens + u.total.Input.TextTokens
	out := u.total.Output.SpeechTokens + u.total.Output.TextTokens
	ev := struct {
		ids
		Details struct {
			Delta tokenUsage `json:"delta"`
			Total tokenUsage `json:"total"`
		} `json:"details"`
		TotalInputTokens  int `json:"totalInputTokens"`
		TotalOutputTokens int `json:"totalOutputTokens"`
		TotalTokens       int `json:"totalTokens"`
	}{ids: o.ids(), TotalInputTokens: in, TotalOutputTokens: out, TotalTokens: in + out}
	ev.Details.Delta, ev.Details.Total = u.delta, u.total
	u.delta = tokenUsage{}
	return o.s.Send("usageEvent", ev)
}

// tokenCounts are the per-modality tokens of one direction.
type tokenCounts struct {
	SpeechTokens int `json:"speechTokens"`
	TextTokens   int `json:"textTokens"`
}

// tokenUsage is usageEvent.details.delta / .total.
type tokenUsage struct {
	Input  tokenCounts `json:"input"`
	Output tokenCounts `json:"output"`
}

// usageTotals accumulates simulated token counts.
type usageTotals struct {
	delta, total tokenUsage
}

func (u *usageTotals) addText(role, content string) {
	if role == roleAssistant {
		u.delta.Output.TextTokens += textTokens(content)
	}
}

func (u *usageTotals) addSpeech(pcmBytes, sampleRate int) {
	u.delta.Output.SpeechTokens += speechTokens(pcmBytes, sampleRate)
}

// speechTokens simulates about 25 tokens per second of audio (an assumption; the service does
// not publish its rate).
func speechTokens(pcmBytes, sampleRate int) int {
	if sampleRate == 0 {
		return 0
	}
	return pcmBytes * 25 / (2 * sampleRate)
}

// textTokens simulates about one token per four characters.
func textTokens(s string) int { return (len(s) + 3) / 4 }
