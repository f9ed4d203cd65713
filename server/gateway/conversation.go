package gateway

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// A Bedrock stream lives at most eight minutes and can fail mid-conversation, but the browser's
// conversation must go on. So the gateway remembers what a new stream needs to continue it (the session
// and prompt configuration, the system prompt, the open audio content, and the conversation so far as
// chat history) and replays it on the next stream under the browser's own promptName and contentName
// (continuation.go does the switching).

// Nova Sonic's chat-history limits, as the replaced samples' maintainers state them (reference notes,
// operations.md §1.1, marked "verify"): at most 40 messages, of at most 1 KiB each. The gateway replays the
// latest messages within them; the local Bedrock enforces the same figures.
const (
	historyMaxMessages     = 40
	historyMaxMessageBytes = 1024
)

// historyMessage is one message of the conversation: a user's turn (their transcript, or text they
// typed) or the assistant's (what it said).
type historyMessage struct {
	role string // "USER" or "ASSISTANT"
	text string
}

// outputContent is an output content block of the current stream that has not ended yet.
type outputContent struct {
	contentType, role, stage string
	text                     strings.Builder
}

// conversation is a session's memory for continuation. The sender records what it sends to the current
// stream, the current stream's receiver records its output, and the opener of the next stream reads the
// replay; hence the lock.
type conversation struct {
	mu sync.Mutex

	sessionStart, promptStart *inputEvent
	promptOpen                bool
	system                    []inputEvent // the SYSTEM content's events, once it has ended
	systemOpen                string       // the SYSTEM content's name while it is open
	systemEvents              []inputEvent
	audio                     []inputEvent      // contentStart of each open AUDIO content, in order
	userText                  map[string]string // browser USER TEXT contents being sent, by contentName
	toolContents              map[string]string // browser TOOL contents being sent: contentName → toolUseId

	history []historyMessage

	outputs map[string]*outputContent // the current stream's open output contents, by contentId
	// browserTools are the tool uses the browser must answer and has not: a handover waits for them, as a
	// new stream would refuse a result for a tool use it never made.
	browserTools map[string]bool
	// staleTools are tool uses of a stream that failed: the browser's late answers to them are dropped.
	staleTools map[string]bool
}

// recordInput remembers what a new stream needs from an event the browser sent to the current stream.
func (c *conversation) recordInput(ev inputEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev.Fields.Content = nil // points into the read buffer; payloads are the session's own
	f := ev.Fields
	switch ev.Name {
	case evSessionStart:
		c.sessionStart = &ev
	case evPromptStart:
		c.promptStart, c.promptOpen = &ev, true
	case evContentStart:
		switch {
		case f.Role == "SYSTEM" && c.system == nil:
			c.systemOpen, c.systemEvents = f.ContentName, []inputEvent{ev}
		case contentType(f.Type) == contentAudio:
			c.audio = append(c.audio, ev)
		case contentType(f.Type) == contentText && f.Role == "USER":
			if c.userText == nil {
				c.userText = map[string]string{}
			}
			c.userText[f.ContentName] = ""
		case contentType(f.Type) == contentTool:
			if c.toolContents == nil {
				c.toolContents = map[string]string{}
			}
			c.toolContents[f.ContentName] = f.ToolUseID
		}
	case evTextInput:
		if f.ContentName == c.systemOpen {
			c.systemEvents = append(c.systemEvents, ev)
		}
	case evContentEnd:
		switch name := f.ContentName; {
		case name == c.systemOpen:
			c.system, c.systemOpen = append(c.systemEvents, ev), ""
			c.systemEvents = nil
		case c.userText != nil && hasKey(c.userText, name):
			c.addHistory("USER", c.userText[name])
			delete(c.userText, name)
		case c.toolContents != nil && hasKey(c.toolContents, name):
			delete(c.browserTools, c.toolContents[name])
			delete(c.toolContents, name)
		default:
			for i, a := range c.audio {
				if a.Fields.ContentName == name {
					c.audio = append(c.audio[:i], c.audio[i+1:]...)
					break
				}
			}
		}
	case evPromptEnd, evSessionEnd:
		c.promptOpen = false
	}
}

// recordUserText adds the text of a browser's USER textInput (recordInput does not see content).
func (c *conversation) recordUserText(contentName string, text []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userText != nil && hasKey(c.userText, contentName) {
		c.userText[contentName] += string(text)
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// turnEvents are what an output event means for continuation.
type turnEvents struct {
	// userTurn: the user's final transcript arrived (the model has their turn).
	userTurn bool
	// assistantTurnEnded: the assistant finished its turn and no output content is open: a handover
	// point.
	assistantTurnEnded bool
}

// recordOutput follows the current stream's output: the user's transcripts and the assistant's final
// text become history, and the end of the assistant's turn is a handover point.
func (c *conversation) recordOutput(info outputInfo, serverTool func(name string) bool) turnEvents {
	c.mu.Lock()
	defer c.mu.Unlock()
	var te turnEvents
	switch info.name {
	case "contentStart":
		if c.outputs == nil {
			c.outputs = map[string]*outputContent{}
		}
		c.outputs[info.contentID] = &outputContent{contentType: info.contentType, role: info.role, stage: info.stage}
	case "textOutput":
		if o := c.outputs[info.contentID]; o != nil && !info.interrupted {
			o.text.WriteString(info.text)
		}
	case "toolUse":
		if !serverTool(info.toolName) {
			if c.browserTools == nil {
				c.browserTools = map[string]bool{}
			}
			c.browserTools[info.toolUseID] = true
		}
	case "contentEnd":
		o := c.outputs[info.contentID]
		if o == nil {
			return te
		}
		delete(c.outputs, info.contentID)
		if o.contentType != string(contentText) {
			return te
		}
		switch {
		case o.role == "USER":
			c.addHistory("USER", o.text.String())
			te.userTurn = true
		case o.role == "ASSISTANT" && o.stage == "FINAL":
			c.addHistory("ASSISTANT", o.text.String())
			te.assistantTurnEnded = len(c.outputs) == 0 && info.stopReason != "PARTIAL_TURN"
		}
	}
	return te
}

// openOutputs ends the output contents still open: the stream they belong to is gone, and the browser
// is told they were interrupted (so that it flushes the speech it queued) by the events returned.
func (c *conversation) openOutputs() []outputInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []outputInfo
	for id, o := range c.outputs {
		out = append(out, outputInfo{contentID: id, contentType: o.contentType, role: o.role})
	}
	c.outputs = nil
	return out
}

// outputOpen reports whether the assistant (or the user's transcript) is mid-content.
func (c *conversation) outputOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.outputs) > 0
}

// browserToolsPending reports whether a tool use is waiting for the browser's answer.
func (c *conversation) browserToolsPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.browserTools) > 0
}

// forgetToolUses marks the tool uses still waiting for the browser as stale: the stream that made them
// failed, and its successor would refuse their results.
func (c *conversation) forgetToolUses() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.browserTools {
		if c.staleTools == nil {
			c.staleTools = map[string]bool{}
		}
		c.staleTools[id] = true
	}
	c.browserTools = nil
}

// isStaleTool reports whether a tool use belongs to a stream that failed.
func (c *conversation) isStaleTool(toolUseID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.staleTools[toolUseID]
}

// promptName is the browser's open prompt, for events the gateway writes to the browser.
func (c *conversation) promptName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.promptStart == nil {
		return ""
	}
	return c.promptStart.Fields.PromptName
}

// rotatable reports whether the conversation can be handed to a new stream ahead of time: its prompt is
// open and its system prompt complete.
func (c *conversation) rotatable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionStart != nil && c.promptOpen && c.system != nil && c.systemOpen == ""
}

func (c *conversation) addHistory(role, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	if n := len(c.history); n > 0 && c.history[n-1].role == role {
		c.history[n-1].text += " " + text
		return
	}
	c.history = append(c.history, historyMessage{role: role, text: text})
	// Keep a few more than are replayed: merging and the USER-first rule trim some.
	if len(c.history) > 2*historyMaxMessages {
		c.history = append(c.history[:0], c.history[len(c.history)-historyMaxMessages-1:]...)
	}
}

// replay returns the events that open the next stream as a continuation of this one, with the prompt
// and content names the browser uses: sessionStart, promptStart (its tools and voice), the system
// prompt, the conversation so far as non-interactive history, and the contentStart of each open audio
// content. A conversation that failed before all of that was sent is replayed as far as it got (the
// sender sends the rest). leg numbers the history contents' names, which are the gateway's own.
func (c *conversation) replay(leg int) []inputEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessionStart == nil {
		return nil
	}
	events := []inputEvent{*c.sessionStart}
	if c.promptStart == nil || !c.promptOpen {
		return events
	}
	events = append(events, *c.promptStart)
	if c.system == nil {
		return append(events, c.systemEvents...) // the system prompt is still being sent
	}
	events = append(events, c.system...)
	promptName := c.promptStart.Fields.PromptName
	for i, m := range normalizedHistory(c.history) {
		name := "gateway-history-" + strconv.Itoa(leg) + "-" + strconv.Itoa(i)
		events = append(events,
			gatewayEvent(evContentStart, map[string]any{
				"promptName": promptName, "contentName": name, "type": "TEXT", "role": m.role, "interactive": false,
				"textInputConfiguration": map[string]string{"mediaType": "text/plain"},
			}, promptName, name),
			gatewayEvent(evTextInput, map[string]any{"promptName": promptName, "contentName": name, "content": m.text}, promptName, name),
			gatewayEvent(evContentEnd, map[string]any{"promptName": promptName, "contentName": name}, promptName, name))
	}
	return append(events, c.audio...)
}

// normalizedHistory is history as Nova Sonic accepts it: the latest messages within its limits,
// starting with a USER message, roles alternating (consecutive messages of one role are merged when
// recorded), each cut to historyMaxMessageBytes.
func normalizedHistory(history []historyMessage) []historyMessage {
	h := history
	if len(h) > historyMaxMessages {
		h = h[len(h)-historyMaxMessages:]
	}
	for len(h) > 0 && h[0].role != "USER" {
		h = h[1:]
	}
	out := make([]historyMessage, len(h))
	for i, m := range h {
		out[i] = historyMessage{role: m.role, text: cutUTF8(m.text, historyMaxMessageBytes)}
	}
	return out
}

// cutUTF8 shortens s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
