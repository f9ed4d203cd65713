package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Tools the tests give the gateway.
type (
	// blockingTool answers with result once released, or fails when its context ends.
	blockingTool struct {
		name    string
		release chan struct{}
		result  string
	}
	// failingTool fails at once.
	failingTool struct{ name string }
)

func (b blockingTool) Name() string { return b.name }
func (b blockingTool) Run(ctx context.Context, _ []byte) (json.RawMessage, error) {
	select {
	case <-b.release:
		return json.RawMessage(b.result), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f failingTool) Name() string { return f.name }
func (f failingTool) Run(context.Context, []byte) (json.RawMessage, error) {
	return nil, errors.New("the weather service answered with status 503")
}

const testToolUseID = "tool-use-1"

// take receives the session's next payload, remembering it for sentEvents.
func (f *fakeStream) take() (string, bool) {
	select {
	case b := <-f.received:
		f.mu.Lock()
		f.sent = append(f.sent, string(b))
		f.mu.Unlock()
		return string(b), true
	case <-f.halfClosed:
		return "", false
	}
}

// toolTurn is a Nova Sonic that, once audio arrives, asks for tool name with input, keeps talking
// (audioWhileWaiting events) while it waits for the result, then says what the result was, and ends
// after the half-close.
func toolTurn(name, input string, audioWhileWaiting int) func(*fakeStream) {
	return func(f *fakeStream) {
		defer func() {
			<-f.halfClosed
			f.end(nil)
		}()
		for {
			ev, ok := f.take()
			if !ok {
				return
			}
			if eventName(ev) == evAudioInput {
				break
			}
		}
		f.emit("contentStart", map[string]any{"type": "TOOL", "role": "TOOL", "toolUseOutputConfiguration": map[string]string{"mediaType": "application/json"}})
		f.emit("toolUse", map[string]any{"toolName": name, "toolUseId": testToolUseID, "content": input})
		f.emit("contentEnd", map[string]any{"type": "TOOL", "stopReason": "TOOL_USE"})
		for range audioWhileWaiting {
			f.emit("audioOutput", map[string]any{"content": "AAAA"})
		}
		var result string
		for {
			ev, ok := f.take()
			if !ok {
				return
			}
			switch eventName(ev) {
			case evToolResult:
				var body map[string]map[string]struct{ Content string }
				_ = json.Unmarshal([]byte(ev), &body)
				result = body["event"][evToolResult].Content
			case evContentEnd:
				if result != "" {
					f.emit("textOutput", map[string]any{"role": "ASSISTANT", "content": "The tool returned " + result})
					return
				}
			}
		}
	}
}

// toolResults are the toolResult blocks Bedrock received: for each, the toolUseId its contentStart
// answered and the content.
func toolResults(t *testing.T, sent []string) (ids, contents []string) {
	t.Helper()
	for _, ev := range sent {
		var body struct {
			Event struct {
				ContentStart *struct {
					Type                         string
					ToolResultInputConfiguration struct{ ToolUseID string } `json:"toolResultInputConfiguration"`
				} `json:"contentStart"`
				ToolResult *struct{ PromptName, Content string } `json:"toolResult"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(ev), &body); err != nil {
			t.Fatal(err)
		}
		if cs := body.Event.ContentStart; cs != nil && cs.Type == "TOOL" {
			ids = append(ids, cs.ToolResultInputConfiguration.ToolUseID)
		}
		if tr := body.Event.ToolResult; tr != nil {
			if tr.PromptName != promptName {
				t.Fatalf("toolResult for prompt %q, want the open prompt %q", tr.PromptName, promptName)
			}
			contents = append(contents, tr.Content)
		}
	}
	return ids, contents
}

// browserSession opens a conversation on a virtual gateway and collects what the browser receives.
func browserSession(t *testing.T, gw *virtualGateway) (send func(string), received <-chan string) {
	t.Helper()
	conn := gw.dial(t, "Bearer any-token")
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			out <- string(data)
		}
	}()
	sendFrame := func(frame string) { _ = conn.WriteMessage(1, []byte(frame)) }
	for _, ev := range append(openingEvents(), audioInput(make([]byte, 64))) {
		sendFrame(ev)
	}
	return sendFrame, out
}

// A tool the gateway has is run beside the conversation: the model's other output reaches the browser
// while the tool runs, and Bedrock gets exactly one toolResult for the toolUse, in the open prompt. The
// browser sees the toolUse (to show it) and a notice that the gateway answered it.
func TestAServerToolIsAnsweredOnceWhileOutputKeepsFlowing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m *Metrics
		tool := blockingTool{name: "getWeatherTool", release: make(chan struct{}), result: `{"weather_data":{"temperature":8.1}}`}
		model := &fakeModel{script: toolTurn("getWeatherTool", `{"latitude":"47.6","longitude":"-122.3"}`, 5)}
		gw := startVirtualGateway(t, model, defaultTiming, withMetrics(&m), func(o *Options) { o.Tools = []Tool{tool} })
		send, received := browserSession(t, gw)

		var names []string
		for len(names) < 3+5 { // the TOOL block, five audio events
			names = append(names, eventName(<-received))
		}
		if got := strings.Join(names, ","); got != "contentStart,toolUse,contentEnd,audioOutput,audioOutput,audioOutput,audioOutput,audioOutput" {
			t.Fatalf("while the tool runs the browser got %s", got)
		}
		synctest.Wait()
		if ids, _ := toolResults(t, model.opened()[0].sentSoFar()); len(ids) != 0 {
			t.Fatal("a toolResult was sent before the tool answered")
		}

		close(tool.release)
		notice := <-received
		var n toolNotice
		if json.Unmarshal([]byte(notice), &n) != nil || n != (toolNotice{Type: "toolResult", ToolUseID: testToolUseID, ToolName: "getWeatherTool", Status: "success"}) {
			t.Fatalf("after the tool answered the browser got %s, want the tool notice", notice)
		}
		if answer := <-received; !strings.Contains(answer, `The tool returned {\"weather_data\"`) {
			t.Fatalf("the model's answer %s does not use the tool's result", answer)
		}
		send(`{"event":{"sessionEnd":{}}}`)
		for range received {
		}
		ids, contents := toolResults(t, model.opened()[0].sentEvents())
		if len(ids) != 1 || ids[0] != testToolUseID || len(contents) != 1 || contents[0] != tool.result {
			t.Fatalf("Bedrock got tool results %v %q, want exactly one for %s with the tool's result", ids, contents, testToolUseID)
		}
		if testutil.ToFloat64(m.ToolCalls.WithLabelValues("getWeatherTool", "success")) != 1 {
			t.Fatal("the tool call was not counted")
		}
	})
}

// Whatever happens to the tool, the model gets one answer: an error it can talk about.
func TestAToolThatFailsOrRunsOutOfTimeIsAnsweredWithAnError(t *testing.T) {
	// Tools are made inside each bubble: a goroutine blocked on a channel made outside it would stop the
	// virtual clock.
	tests := []struct {
		name        string
		tool        func() Tool
		wantContent string
		outcome     string
		after       time.Duration // virtual time from the toolUse to the answer
	}{
		{"fails", func() Tool { return failingTool{name: "getWeatherTool"} }, `{"error":"the weather service answered with status 503"}`, "error", 0},
		{"never answers", func() Tool { return blockingTool{name: "getWeatherTool", release: make(chan struct{})} },
			`{"error":"the tool did not answer in time"}`, "timeout", DefaultLimits().ToolTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var m *Metrics
				model := &fakeModel{script: toolTurn("getWeatherTool", `{}`, 0)}
				gw := startVirtualGateway(t, model, defaultTiming, withMetrics(&m), func(o *Options) { o.Tools = []Tool{tt.tool()} })
				send, received := browserSession(t, gw)
				until(t, received, "toolUse")
				start := time.Now()
				// The tool runs from the toolUse on: a failing tool's notice may come before or after the
				// end of the TOOL block.
				var n toolNotice
				for frame := range received {
					if eventName(frame) == "" {
						if err := json.Unmarshal([]byte(frame), &n); err != nil {
							t.Fatalf("frame %s: %v", frame, err)
						}
						break
					}
				}
				if n.Type != "toolResult" || n.Status != "error" {
					t.Fatalf("notice %+v, want a toolResult notice with status error", n)
				}
				if took := time.Since(start); took != tt.after {
					t.Fatalf("answered after %v, want %v", took, tt.after)
				}
				// The notice goes out just before the result is queued for Bedrock: let the sender send it
				// before the browser ends the session, or the result is (rightly) dropped as too late.
				synctest.Wait()
				send(`{"event":{"sessionEnd":{}}}`)
				for range received {
				}
				_, contents := toolResults(t, model.opened()[0].sentEvents())
				if len(contents) != 1 || contents[0] != tt.wantContent {
					t.Fatalf("Bedrock got %q, want one result %s", contents, tt.wantContent)
				}
				if testutil.ToFloat64(m.ToolCalls.WithLabelValues("getWeatherTool", tt.outcome)) != 1 {
					t.Fatalf("outcome %s not counted", tt.outcome)
				}
			})
		})
	}
}

// A tool the gateway does not have is the browser's to answer: its toolUse is forwarded as before and
// the gateway sends no result of its own. A browser that answers a tool the gateway answers (an older
// client) has its answer dropped: Bedrock gets one result per toolUse.
func TestToolsTheGatewayHasAndHasNot(t *testing.T) {
	browserAnswer := []string{
		`{"event":{"contentStart":{"promptName":"` + promptName + `","contentName":"tool-b","interactive":false,"type":"TOOL","role":"TOOL","toolResultInputConfiguration":{"toolUseId":"` + testToolUseID + `","type":"TEXT","textInputConfiguration":{"mediaType":"text/plain"}}}}}`,
		`{"event":{"toolResult":{"promptName":"` + promptName + `","contentName":"tool-b","content":"{\"from\":\"browser\"}"}}}`,
		`{"event":{"contentEnd":{"promptName":"` + promptName + `","contentName":"tool-b"}}}`,
	}
	tests := []struct {
		name      string
		tools     func() []Tool
		wantFrom  string
		wantDrops float64
	}{
		{"unknown to the gateway", func() []Tool { return nil }, `{"from":"browser"}`, 0},
		{"answered by the gateway too", func() []Tool {
			return []Tool{blockingTool{name: "getDateAndTimeTool", release: closedChan(), result: `{"from":"gateway"}`}}
		}, `{"from":"gateway"}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var m *Metrics
				model := &fakeModel{script: toolTurn("getDateAndTimeTool", `{}`, 0)}
				gw := startVirtualGateway(t, model, defaultTiming, withMetrics(&m), func(o *Options) { o.Tools = tt.tools() })
				send, received := browserSession(t, gw)
				until(t, received, "toolUse")
				synctest.Wait() // the gateway's own answer, if any, goes first
				for _, ev := range browserAnswer {
					send(ev)
				}
				for f := until(t, received, "textOutput"); !strings.Contains(f, "The tool returned"); f = until(t, received, "textOutput") {
				}
				send(`{"event":{"sessionEnd":{}}}`)
				for range received {
				}
				ids, contents := toolResults(t, model.opened()[0].sentEvents())
				if len(ids) != 1 || len(contents) != 1 || contents[0] != tt.wantFrom {
					t.Fatalf("Bedrock got results for %v: %q, want exactly one, %s", ids, contents, tt.wantFrom)
				}
				if got := testutil.ToFloat64(m.Dropped.WithLabelValues(DropDuplicateToolResult)); got != tt.wantDrops {
					t.Fatalf("dropped browser answers counted %v, want %v", got, tt.wantDrops)
				}
			})
		})
	}
}

// until reads what the browser received up to the first event named name, and returns that frame.
func until(t *testing.T, received <-chan string, name string) string {
	t.Helper()
	for frame := range received {
		if eventName(frame) == name {
			return frame
		}
	}
	t.Fatalf("the connection closed before a %s event", name)
	return ""
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
