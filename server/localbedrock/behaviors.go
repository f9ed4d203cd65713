package localbedrock

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Turn is one scripted answer, for NormalTurn and BargeIn. Empty fields get defaults.
type Turn struct {
	// UserText is the USER FINAL transcript. Default: "hello".
	UserText string
	// AssistantText is the ASSISTANT SPECULATIVE and FINAL text. Default: "Hello! This is a
	// scripted answer."
	AssistantText string
	// Audio is the answer audio at the prompt's output rate, sent in 100 ms audioOutput chunks.
	// Default: one second of a 440 Hz tone.
	Audio []byte
}

func (t Turn) withDefaults(rate int) Turn {
	if t.UserText == "" {
		t.UserText = "hello"
	}
	if t.AssistantText == "" {
		t.AssistantText = "Hello! This is a scripted answer."
	}
	if t.Audio == nil {
		t.Audio = TonePCM(440, time.Second, rate, 0.2)
	}
	return t
}

// script is the state the ready-made behaviours share: the prompt learned from input, and the
// output for it.
type script struct {
	s      *Stream
	prompt promptInfo
	out    *Output
}

func newScript(s *Stream) *script { return &script{s: s} }

// recv receives the next event and keeps track of the prompt.
func (sc *script) recv(ctx context.Context) (InputEvent, error) {
	ev, err := sc.s.Recv(ctx)
	if err != nil {
		return ev, err
	}
	sc.prompt.observe(ev)
	if ev.Name == evPromptStart {
		sc.out = sc.s.NewOutput(ev.PromptName, sc.prompt.outputRate)
	}
	return ev, nil
}

// until receives events until one named name arrives.
func (sc *script) until(ctx context.Context, name string) (InputEvent, error) {
	for {
		ev, err := sc.recv(ctx)
		if err != nil || ev.Name == name {
			return ev, err
		}
	}
}

// drain receives until the client half-closes, answering promptEnd with completionEnd, and
// returns nil then: the normal end of a scripted session.
func (sc *script) drain(ctx context.Context) error {
	for {
		ev, err := sc.recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Name == evPromptEnd && sc.out != nil {
			if err := sc.out.CompletionEnd(StopEndTurn); err != nil {
				return err
			}
		}
	}
}

// opening sends completionStart, the USER transcript and the SPECULATIVE text, opens the AUDIO
// block and sends the first half (at least one chunk) of the turn's audio. It returns the AUDIO
// contentId and the audio not yet sent.
func (sc *script) opening(t Turn, half bool) (string, []byte, error) {
	o := sc.out
	if err := o.CompletionStart(); err != nil {
		return "", nil, err
	}
	if err := o.TextBlock(roleUser, StageFinal, t.UserText, StopPartialTurn); err != nil {
		return "", nil, err
	}
	if err := o.TextBlock(roleAssistant, StageSpeculative, t.AssistantText, StopPartialTurn); err != nil {
		return "", nil, err
	}
	id, err := o.AudioStart()
	if err != nil {
		return "", nil, err
	}
	rest := t.Audio
	stop := len(rest)
	if half {
		stop = max(min(o.AudioChunkBytes(), len(rest)), len(rest)/2)
	}
	for sent := 0; sent < stop; {
		n := min(o.AudioChunkBytes(), stop-sent)
		if err := o.Audio(id, rest[sent:sent+n]); err != nil {
			return "", nil, err
		}
		sent += n
	}
	return id, rest[stop:], nil
}

// NormalTurn answers the first audioInput with one complete turn: completionStart, USER FINAL
// transcript (PARTIAL_TURN), ASSISTANT SPECULATIVE text (PARTIAL_TURN), an AUDIO block of
// audioOutput chunks (END_TURN), ASSISTANT FINAL text (END_TURN) and usageEvent. It then receives
// until the client half-closes, answering promptEnd with completionEnd.
func NormalTurn(t Turn) Behavior {
	return func(ctx context.Context, s *Stream) error {
		sc := newScript(s)
		if _, err := sc.until(ctx, evAudioInput); err != nil {
			return err
		}
		t := t.withDefaults(sc.out.AudioSampleRate())
		id, _, err := sc.opening(t, false)
		if err != nil {
			return err
		}
		if err := sc.out.ContentEnd(id, typeAudio, StopEndTurn); err != nil {
			return err
		}
		if err := sc.out.TextBlock(roleAssistant, StageFinal, t.AssistantText, StopEndTurn); err != nil {
			return err
		}
		if err := sc.out.UsageEvent(); err != nil {
			return err
		}
		return sc.drain(ctx)
	}
}

// BargeIn starts a turn like NormalTurn, sends half of its audio, and when the next audioInput
// arrives (the user talking over the answer) stops it: contentEnd INTERRUPTED for the AUDIO block,
// then an ASSISTANT FINAL block whose textOutput is `{ "interrupted" : true }` (the Nova v1
// marker) ending INTERRUPTED, then usageEvent. It then receives until the client half-closes.
func BargeIn(t Turn) Behavior {
	return func(ctx context.Context, s *Stream) error {
		sc := newScript(s)
		if _, err := sc.until(ctx, evAudioInput); err != nil {
			return err
		}
		id, _, err := sc.opening(t.withDefaults(sc.out.AudioSampleRate()), true)
		if err != nil {
			return err
		}
		if _, err := sc.until(ctx, evAudioInput); err != nil {
			return err
		}
		if err := sc.out.ContentEnd(id, typeAudio, StopInterrupted); err != nil {
			return err
		}
		if err := sc.out.TextBlock(roleAssistant, StageFinal, InterruptedText, StopInterrupted); err != nil {
			return err
		}
		if err := sc.out.UsageEvent(); err != nil {
			return err
		}
		return sc.drain(ctx)
	}
}

// ToolUse answers the first audioInput by asking for a tool: completionStart, a USER FINAL
// transcript, then a TOOL block (contentStart TOOL, toolUse with toolName, a fresh toolUseId and
// input as its JSON-string content, contentEnd TOOL_USE). It waits for the client's TOOL content
// (contentStart with the same toolUseId, toolResult, contentEnd) and answers with ASSISTANT
// SPECULATIVE and FINAL text quoting the result, and usageEvent. A result for another toolUseId
// ends the stream with validationException.
func ToolUse(toolName, input string) Behavior {
	return func(ctx context.Context, s *Stream) error {
		sc := newScript(s)
		if _, err := sc.until(ctx, evAudioInput); err != nil {
			return err
		}
		o := sc.out
		if err := o.CompletionStart(); err != nil {
			return err
		}
		if err := o.TextBlock(roleUser, StageFinal, "please use "+toolName, StopPartialTurn); err != nil {
			return err
		}
		toolUseID, err := o.ToolUse(toolName, input)
		if err != nil {
			return err
		}
		start, err := sc.untilToolContent(ctx)
		if err != nil {
			return err
		}
		if start.ToolUseID != toolUseID {
			return s.SendException("validationException", fmt.Sprintf("%s: toolUseId %q does not match the pending tool use %q", invalidInput, start.ToolUseID, toolUseID))
		}
		result, err := sc.until(ctx, evToolResult)
		if err != nil {
			return err
		}
		if _, err := sc.until(ctx, evContentEnd); err != nil {
			return err
		}
		reply := "The tool returned " + result.Content
		if err := o.TextBlock(roleAssistant, StageSpeculative, reply, StopPartialTurn); err != nil {
			return err
		}
		if err := o.TextBlock(roleAssistant, StageFinal, reply, StopEndTurn); err != nil {
			return err
		}
		if err := o.UsageEvent(); err != nil {
			return err
		}
		return sc.drain(ctx)
	}
}

// untilToolContent receives until a TOOL contentStart.
func (sc *script) untilToolContent(ctx context.Context) (InputEvent, error) {
	for {
		ev, err := sc.until(ctx, evContentStart)
		if err != nil || ev.Type == typeTool {
			return ev, err
		}
	}
}

// Exception sends the modeled exception member (lowerCamel, for example "throttlingException")
// with message as soon as the stream starts. Combine with After to send it mid-stream.
func Exception(member, message string) Behavior {
	return func(ctx context.Context, s *Stream) error {
		return s.SendException(member, message)
	}
}

// ModelStreamError sends modelStreamErrorException with its originalStatusCode and
// originalMessage as soon as the stream starts.
func ModelStreamError(message string, originalStatusCode int, originalMessage string) Behavior {
	return func(ctx context.Context, s *Stream) error {
		return s.SendModelStreamError(message, originalStatusCode, originalMessage)
	}
}

// ProtocolError sends an unmodeled error message (:message-type error) as soon as the stream
// starts; the SDK reports *smithy.GenericAPIError with code.
func ProtocolError(code, message string) Behavior {
	return func(ctx context.Context, s *Stream) error {
		return s.SendProtocolError(code, message)
	}
}

// Reject fails every request before the stream with an HTTP error, for example
// Reject(403, "AccessDeniedException", "…") or Reject(429, "ThrottlingException", "…").
func Reject(status int, errorType, message string) Behavior {
	return func(ctx context.Context, s *Stream) error {
		return s.Reject(status, errorType, message)
	}
}

// After receives n input events, then runs next with the rest of the stream.
func After(n int, next Behavior) Behavior {
	return func(ctx context.Context, s *Stream) error {
		for range n {
			if _, err := s.Recv(ctx); err != nil {
				return err
			}
		}
		return next(ctx, s)
	}
}

// AbruptEnd ends the response without an exception after n input events (0: at once). The SDK
// reports this as a clean end: Events closes and Err() is nil.
func AbruptEnd(n int) Behavior {
	return After(n, func(ctx context.Context, s *Stream) error { return nil })
}

// AbruptEndOnAudio ends the response without an exception when the first audioInput arrives.
func AbruptEndOnAudio() Behavior {
	return func(ctx context.Context, s *Stream) error {
		_, err := newScript(s).until(ctx, evAudioInput)
		return err
	}
}

// SlowOutput runs next with delay before every output event, for clients' slow-model paths.
func SlowOutput(delay time.Duration, next Behavior) Behavior {
	return func(ctx context.Context, s *Stream) error {
		s.sendDelay = delay
		return next(ctx, s)
	}
}

// Listen receives every input event and sends nothing, until the client half-closes: a model
// that never answers. Useful with short timeouts.
func Listen() Behavior {
	return func(ctx context.Context, s *Stream) error {
		return newScript(s).drain(ctx)
	}
}

// Echo answers input byte for byte, for exact end-to-end comparisons: the first audioInput of
// each AUDIO content opens an ASSISTANT AUDIO block, every audioInput is sent back as one
// audioOutput with exactly the same bytes, and the input contentEnd closes the block (END_TURN).
// Every USER textInput is sent back in an ASSISTANT FINAL text block. completionStart precedes
// the first answer; promptEnd is answered with completionEnd.
func Echo() Behavior {
	return func(ctx context.Context, s *Stream) error {
		sc := newScript(s)
		audioBlocks := map[string]string{} // input contentName → output contentId
		roles := map[string]string{}       // input contentName → role
		started := false
		for {
			ev, err := sc.recv(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if ev.Name == evContentStart {
				roles[ev.ContentName] = ev.Role
			}
			userText := ev.Name == evTextInput && roles[ev.ContentName] == roleUser
			if !started && (ev.Name == evAudioInput || userText) {
				started = true
				if err := sc.out.CompletionStart(); err != nil {
					return err
				}
			}
			switch ev.Name {
			case evAudioInput:
				id, open := audioBlocks[ev.ContentName]
				if !open {
					if id, err = sc.out.AudioStart(); err != nil {
						return err
					}
					audioBlocks[ev.ContentName] = id
				}
				err = sc.out.Audio(id, ev.Audio)
			case evTextInput:
				if userText {
					err = sc.out.TextBlock(roleAssistant, StageFinal, ev.Content, StopEndTurn)
				}
			case evContentEnd:
				if id, open := audioBlocks[ev.ContentName]; open {
					delete(audioBlocks, ev.ContentName)
					err = sc.out.ContentEnd(id, typeAudio, StopEndTurn)
				}
			case evPromptEnd:
				err = sc.out.CompletionEnd(StopEndTurn)
			}
			if err != nil {
				return err
			}
		}
	}
}
