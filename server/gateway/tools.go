package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Tool is a tool the gateway runs itself when Nova Sonic asks for it. The replaced system's servers ran
// its browser client's tools (getDateAndTimeTool, getWeatherTool) and that client never answers a
// toolUse, so a gateway that only forwarded toolUse would leave its tool turns unanswered.
type Tool interface {
	// Name is the name the model calls the tool by: the toolSpec name in promptStart's toolConfiguration.
	Name() string
	// Run answers one call. input is the toolUse content, a JSON document from the model; the result is
	// sent to the model as the toolResult content and must be JSON. Run must return soon after ctx ends.
	Run(ctx context.Context, input []byte) (json.RawMessage, error)
}

// toolCall is one toolUse the gateway answers.
type toolCall struct {
	tool      Tool
	toolUseID string
	input     []byte
	leg       *leg // the stream that asked: only it can take the result
}

// toolState is a session's server-side tool calls.
type toolState struct {
	// pending is the toolUse waiting for its TOOL content block to end (receive loop only).
	pending *toolCall

	mu sync.Mutex
	// handled are the toolUseIds the gateway answers: a browser's tool result for one of them is dropped,
	// so that Bedrock gets exactly one toolResult per toolUse whichever client is connected.
	handled map[string]bool

	wg      sync.WaitGroup // running calls; teardown waits for them
	running atomic.Int32   // calls under way: a handover to a new stream waits for them
}

func (t *toolState) markHandled(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.handled == nil {
		t.handled = make(map[string]bool)
	}
	t.handled[id] = true
}

func (t *toolState) isHandled(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.handled[id]
}

// toolNotice tells the browser the gateway answered a tool use, so a client can show tool activity. It has
// no "event" key: the replaced system's client logs such messages and otherwise ignores them.
type toolNotice struct {
	Type      string `json:"type"` // always "toolResult"
	ToolUseID string `json:"toolUseId"`
	ToolName  string `json:"toolName"`
	Status    string `json:"status"` // "success" or "error"
}

// onToolUse is called by the receive loop for each toolUse: a tool the gateway has is remembered, to be
// run when its TOOL content block ends, and every toolUse still goes to the browser, which shows it.
func (s *session) onToolUse(l *leg, name, toolUseID string, input []byte) {
	tool, ok := s.srv.tools[name]
	if !ok || toolUseID == "" {
		return // the browser's to answer
	}
	s.tools.markHandled(toolUseID)
	s.tools.pending = &toolCall{tool: tool, toolUseID: toolUseID, input: input, leg: l}
}

// onToolContentEnd starts the pending call, if any, when the model's TOOL content block ends. The call
// runs beside the receive loop, so the model's other output keeps flowing while it runs.
func (s *session) onToolContentEnd(ctx context.Context) {
	call := s.tools.pending
	if call == nil {
		return
	}
	s.tools.pending = nil
	s.tools.running.Add(1)
	s.tools.wg.Go(func() {
		defer s.tools.running.Add(-1)
		s.runTool(ctx, call)
	})
}

// runTool runs one call within Limits.ToolTimeout and sends exactly one toolResult for it: the tool's
// result, or {"error": "..."} when it fails or runs out of time.
func (s *session) runTool(ctx context.Context, call *toolCall) {
	name := call.tool.Name()
	callCtx, cancel := context.WithTimeout(ctx, s.srv.limits.ToolTimeout)
	start := time.Now()
	result, err := call.tool.Run(callCtx, call.input)
	timedOut := errors.Is(callCtx.Err(), context.DeadlineExceeded)
	cancel()
	if ctx.Err() != nil {
		return // the session is ending: nobody waits for the answer
	}
	outcome := "success"
	switch {
	case timedOut:
		outcome, result = "timeout", errorResult("the tool did not answer in time")
	case err != nil:
		outcome, result = "error", errorResult(err.Error())
	case !json.Valid(result):
		outcome, result = "error", errorResult("the tool returned a result that is not JSON")
	}
	s.srv.metrics.ToolCalls.WithLabelValues(name, outcome).Inc()
	s.srv.metrics.ToolCallDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	s.log.Info("tool call", "tool", name, "tool_use_id", call.toolUseID, "outcome", outcome,
		"duration_ms", time.Since(start).Milliseconds(), "error", errString(err))
	// The notice goes out before the result is sent, so the browser learns of the answer before it can
	// hear the model use it.
	status := "success"
	if outcome != "success" {
		status = "error"
	}
	notice, _ := json.Marshal(toolNotice{Type: "toolResult", ToolUseID: call.toolUseID, ToolName: name, Status: status})
	_, _ = s.out.tryPush(outMessage{data: notice})
	s.enqueue(ctx, inputItem{toolResult: &toolResult{toolUseID: call.toolUseID, content: result, leg: call.leg}})
}

// toolResult is a tool's answer waiting for the sender, which addresses it to the prompt open when it is
// sent (the browser's promptName) or drops it if the prompt has ended meanwhile.
type toolResult struct {
	toolUseID string
	content   json.RawMessage
	leg       *leg
}

// events are the three input events that answer a toolUse in promptName, under a content name of the
// gateway's own.
func (r *toolResult) events(promptName string) []inputEvent {
	contentName := "gateway-tool-" + newSessionID()
	return []inputEvent{
		gatewayEvent(evContentStart, map[string]any{
			"promptName": promptName, "contentName": contentName, "interactive": false, "type": "TOOL", "role": "TOOL",
			"toolResultInputConfiguration": map[string]any{
				"toolUseId": r.toolUseID, "type": "TEXT", "textInputConfiguration": map[string]string{"mediaType": "text/plain"},
			},
		}, promptName, contentName),
		// The toolResult content is a JSON document sent as a string, as Nova Sonic expects.
		gatewayEvent(evToolResult, map[string]any{"promptName": promptName, "contentName": contentName, "content": string(r.content)}, promptName, contentName),
		gatewayEvent(evContentEnd, map[string]any{"promptName": promptName, "contentName": contentName}, promptName, contentName),
	}
}

func errorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gatewayEvent builds an input event the gateway itself sends to Bedrock.
func gatewayEvent(name string, body map[string]any, promptName, contentName string) inputEvent {
	b, err := json.Marshal(map[string]any{"event": map[string]any{name: body}})
	if err != nil {
		panic("encode " + name + ": " + err.Error()) // maps of strings and bools always encode
	}
	return inputEvent{Name: name, Payload: b, Fields: eventFields{PromptName: promptName, ContentName: contentName}}
}
