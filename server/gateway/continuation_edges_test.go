package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"novasonic/server/localbedrock"
)

// The edge cases of continuation, on virtual time with the production timing (rotation at 7 minutes).
// Each Bedrock stream is passive (passiveNova): it records what it receives, and the test makes it speak.

// passiveNova records what the session sends until the half-close, then ends like Bedrock.
func passiveNova(f *fakeStream) {
	for {
		if _, ok := f.take(); !ok {
			f.end(nil)
			return
		}
	}
}

// nova makes a fake stream say things the way Nova Sonic does.
type nova struct {
	f *fakeStream
	n int // content ids
}

func (n *nova) id() string { n.n++; return fmt.Sprintf("c%d", n.n) }

// text sends a TEXT content of role and stage with text, ending with stopReason.
func (n *nova) text(role, stage, text, stopReason string) {
	id := n.id()
	n.f.emit("contentStart", map[string]any{"contentId": id, "type": "TEXT", "role": role,
		"additionalModelFields": `{"generationStage":"` + stage + `"}`})
	n.f.emit("textOutput", map[string]any{"contentId": id, "role": role, "content": text})
	n.f.emit("contentEnd", map[string]any{"contentId": id, "type": "TEXT", "stopReason": stopReason})
}

// startAudio opens an ASSISTANT AUDIO content and sends one chunk of it; it returns its id.
func (n *nova) startAudio() string {
	id := n.id()
	n.f.emit("contentStart", map[string]any{"contentId": id, "type": "AUDIO", "role": "ASSISTANT"})
	n.f.emit("audioOutput", map[string]any{"contentId": id, "content": "AAAA"})
	return id
}

// turn is a whole turn: the user's transcript, the assistant's speech and its final text.
func (n *nova) turn(user, assistant string) {
	n.text("USER", "FINAL", user, "PARTIAL_TURN")
	id := n.startAudio()
	n.f.emit("contentEnd", map[string]any{"contentId": id, "type": "AUDIO", "stopReason": "END_TURN"})
	n.text("ASSISTANT", "FINAL", assistant, "END_TURN")
}

// conversationOnVirtualTime opens a conversation on a virtual gateway with the given model and returns
// the browser's connection, the frames it receives, and a function that sends numbered audio frames.
func conversationOnVirtualTime(t *testing.T, model *fakeModel, mutate ...func(*Options)) (*virtualGateway, *websocket.Conn, <-chan string, func(seq uint32, loud bool) bool) {
	t.Helper()
	gw := startVirtualGateway(t, model, defaultTiming, mutate...)
	conn := gw.dial(t, "Bearer any-token")
	received := make(chan string, 4096)
	go func() {
		defer close(received)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			received <- string(data)
		}
	}()
	for _, ev := range openingEvents() {
		send(t, conn, ev)
	}
	// audio sends a numbered frame; false once the gateway has closed the conversation.
	audio := func(seq uint32, loud bool) bool {
		frame := localbedrock.SequencedFrame(seq, loud)
		return conn.WriteMessage(websocket.TextMessage, []byte(`{"event":{"audioInput":{"promptName":"`+promptName+`","contentName":"`+
			audioName+`","content":"`+base64.StdEncoding.EncodeToString(frame)+`"}}}`)) == nil
	}
	return gw, conn, received, audio
}

// framesOf are the numbered audio frames a stream received, in order.
func framesOf(t *testing.T, events []string) []uint32 {
	t.Helper()
	var out []uint32
	for _, ev := range events {
		var body map[string]map[string]struct{ Content string }
		if eventName(ev) != evAudioInput || json.Unmarshal([]byte(ev), &body) != nil {
			continue
		}
		pcm, _ := base64.StdEncoding.DecodeString(body["event"][evAudioInput].Content)
		if seq, _, ok := localbedrock.FrameSequence(pcm); ok {
			out = append(out, seq)
		}
	}
	return out
}

// historyOf is the chat history a stream was replayed, as "ROLE: text" lines.
func historyOf(events []string) []string {
	roles := map[string]string{}
	var out []string
	for _, ev := range events {
		var body map[string]map[string]map[string]any
		_ = json.Unmarshal([]byte(ev), &body)
		for name, b := range body["event"] {
			switch {
			case name == evContentStart && b["type"] == "AUDIO":
				return out
			case name == evContentStart && b["type"] == "TEXT" && b["interactive"] == false && b["role"] != "SYSTEM":
				roles[fmt.Sprint(b["contentName"])] = fmt.Sprint(b["role"])
			case name == evTextInput && roles[fmt.Sprint(b["contentName"])] != "":
				out = append(out, roles[fmt.Sprint(b["contentName"])]+": "+fmt.Sprint(b["content"]))
			}
		}
	}
	return out
}

// A user who is silent across the rotation time is handed over at once, during the silence: with no
// assistant turn to wait for, the conversation must not wait until the stream's limit.
func TestAQuietConversationIsHandedOverDuringTheSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model := &fakeModel{script: passiveNova}
		_, conn, _, audio := conversationOnVirtualTime(t, model)
		synctest.Wait()
		first := model.opened()[0]
		(&nova{f: first}).turn("hello", "hi there")
		start := time.Now()
		seq := uint32(0)
		for time.Since(start) < rotateAfter+time.Second {
			audio(seq, false) // silence
			seq++
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		streams := model.opened()
		if len(streams) != 2 {
			t.Fatalf("%d streams after %v of silence, want the rotation to a second", len(streams), time.Since(start))
		}
		for _, ev := range closingEvents() {
			send(t, conn, ev)
		}
		assertClosed(t, streams[1])
		assertClosed(t, streams[0])
		a, b := framesOf(t, streams[0].sentEvents()), framesOf(t, streams[1].sentEvents())
		if len(a)+len(b) != int(seq) || a[len(a)-1]+1 != b[0] || b[len(b)-1] != seq-1 {
			t.Fatalf("frames split %d…%d and %d…%d of %d: every frame must reach exactly one stream, in order",
				a[0], a[len(a)-1], b[0], b[len(b)-1], seq)
		}
		if got := historyOf(streams[1].sentEvents()); strings.Join(got, "|") != "USER: hello|ASSISTANT: hi there" {
			t.Fatalf("the second stream was replayed %q", got)
		}
	})
}

// A tool call under way holds the handover back: its result must go to the stream that asked for it.
// The handover follows the assistant's answer.
func TestAToolCallAcrossTheRotationTimeDelaysTheHandover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model := &fakeModel{script: passiveNova}
		tool := blockingTool{name: "getWeatherTool", release: make(chan struct{}), result: `{"weather_data":{"t":8}}`}
		_, conn, received, audio := conversationOnVirtualTime(t, model, func(o *Options) { o.Tools = []Tool{tool} })
		synctest.Wait()
		first := &nova{f: model.opened()[0]}
		audio(0, true)
		time.Sleep(rotateAfter - time.Second)
		first.text("USER", "FINAL", "what is the weather", "PARTIAL_TURN")
		first.f.emit("contentStart", map[string]any{"contentId": "tool", "type": "TOOL", "role": "TOOL"})
		first.f.emit("toolUse", map[string]any{"contentId": "tool", "toolName": "getWeatherTool", "toolUseId": testToolUseID, "content": "{}"})
		first.f.emit("contentEnd", map[string]any{"contentId": "tool", "type": "TOOL", "stopReason": "TOOL_USE"})
		time.Sleep(5 * time.Second) // the tool takes its time (within TOOL_TIMEOUT); the stream is past its rotation time
		audio(1, false)
		synctest.Wait()
		if n := len(model.opened()); n != 1 {
			t.Fatalf("%d streams while the tool call was under way, want the first alone", n)
		}
		close(tool.release)
		synctest.Wait()
		first.turn("", "it is 8 degrees") // the answer that uses the result
		synctest.Wait()
		audio(2, false)
		synctest.Wait()
		streams := model.opened()
		if len(streams) != 2 {
			t.Fatalf("%d streams after the answer, want the handover to a second", len(streams))
		}
		for _, ev := range closingEvents() {
			send(t, conn, ev)
		}
		for range received {
		}
		ids, _ := toolResults(t, streams[0].sentEvents())
		if len(ids) != 1 || ids[0] != testToolUseID {
			t.Fatalf("the first stream got tool results %v, want the one for its tool use", ids)
		}
		if ids, _ := toolResults(t, streams[1].sentEvents()); len(ids) != 0 {
			t.Fatalf("the second stream got tool results %v for a tool use it never made", ids)
		}
	})
}

// At the deadline the handover happens in the middle of the assistant's answer. The browser is told the
// answer was interrupted, nothing more of the old stream reaches it (not its queued speech, not what it
// says later), and the new stream's barge-in drops only what is still queued.
func TestAForcedHandoverLeaksNothingOfTheOldStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model := &fakeModel{script: passiveNova}
		_, conn, received, audio := conversationOnVirtualTime(t, model)
		synctest.Wait()
		first := &nova{f: model.opened()[0]}
		audio(0, true)
		time.Sleep(rotateAfter - time.Second)
		first.text("USER", "FINAL", "tell me a long story", "PARTIAL_TURN")
		old := first.startAudio() // and it talks on, past the deadline
		for elapsed := time.Duration(0); elapsed < handoverWindow+2*time.Second; elapsed += time.Second {
			audio(uint32(1+elapsed/time.Second), true) // the user talks too: no silence to hand over in
			time.Sleep(time.Second)
		}
		synctest.Wait()
		streams := model.opened()
		if len(streams) != 2 {
			t.Fatalf("%d streams after the deadline, want the forced handover", len(streams))
		}
		first.f.emit("audioOutput", map[string]any{"contentId": old, "content": "TEFURQ=="}) // late speech of the old stream
		second := &nova{f: streams[1]}
		second.f.emit("contentStart", map[string]any{"contentId": "n1", "type": "AUDIO", "role": "ASSISTANT"})
		second.f.emit("audioOutput", map[string]any{"contentId": "n1", "content": "TkVX"})
		synctest.Wait() // written to the browser: the barge-in below has nothing left to drop
		second.f.emit("contentEnd", map[string]any{"contentId": "n1", "type": "AUDIO", "stopReason": "INTERRUPTED"})
		synctest.Wait()
		for _, ev := range closingEvents() {
			send(t, conn, ev)
		}
		var afterHandover []string
		interrupted := false
		for frame := range received {
			if strings.Contains(frame, `"contentId":"`+old+`"`) && strings.Contains(frame, `"stopReason":"INTERRUPTED"`) {
				interrupted = true
				continue
			}
			if interrupted {
				afterHandover = append(afterHandover, frame)
			}
		}
		if !interrupted {
			t.Fatal("the browser was not told the old stream's answer was interrupted")
		}
		for _, frame := range afterHandover {
			if strings.Contains(frame, `"contentId":"`+old+`"`) || strings.Contains(frame, "TEFURQ==") {
				t.Fatalf("after the handover the browser got %s from the old stream", frame)
			}
		}
		if len(afterHandover) != 3 || !strings.Contains(afterHandover[1], "TkVX") {
			t.Fatalf("after the handover the browser got %q, want the new stream's three events", afterHandover)
		}
	})
}

// A draining gateway rotates nothing: the conversation ends with the drain, and a new stream would only
// be cut at the drain deadline.
func TestADrainingGatewayRotatesNoStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model := &fakeModel{script: passiveNova}
		gw, _, received, audio := conversationOnVirtualTime(t, model)
		synctest.Wait()
		time.Sleep(rotateAfter - time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		drained := make(chan error, 1)
		go func() { drained <- gw.Drain(ctx) }()
		for i := range 150 { // across the rotation time, in silence
			audio(uint32(i), false)
			time.Sleep(time.Second)
		}
		<-drained
		for range received {
		}
		if n := len(model.opened()); n != 1 {
			t.Fatalf("%d streams during the drain, want 1", n)
		}
	})
}

// A new stream that refuses the replayed conversation ends it with Bedrock's verdict, once: no loop of
// new streams.
func TestAReplayBedrockRefusesEndsTheConversation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		streams := 0
		model := &fakeModel{script: func(f *fakeStream) {
			streams++
			if streams == 1 {
				passiveNova(f)
				return
			}
			f.take()
			f.end(&types.ValidationException{Message: aws.String("First message in chat history should not be Assistant")})
		}}
		_, _, received, audio := conversationOnVirtualTime(t, model)
		synctest.Wait()
		(&nova{f: model.opened()[0]}).turn("hello", "hi")
		for i := uint32(0); audio(i, false); i++ {
			time.Sleep(time.Second)
		}
		var frames []string
		for f := range received {
			frames = append(frames, f)
		}
		if e := lastError(t, frames); e.CloseCode != int(CloseBadRequest) || !strings.Contains(e.Message, "chat history") {
			t.Fatalf("ended with %+v, want 4400 with Bedrock's reason", e)
		}
		if n := len(model.opened()); n != 2 {
			t.Fatalf("%d streams, want 2: the refused replay is not retried", n)
		}
	})
}

// A stream failing mid-turn ("system instability") is replaced, the conversation replayed, and the audio
// the user said meanwhile reaches the new stream: the browser sees the unfinished answer interrupted and
// the conversation going on.
func TestAFailureMidTurnIsRecoveredWithTheConversation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m *Metrics
		model := &fakeModel{script: passiveNova}
		_, conn, received, audio := conversationOnVirtualTime(t, model, withMetrics(&m))
		synctest.Wait()
		first := &nova{f: model.opened()[0]}
		audio(0, true)
		first.turn("hello", "hi there")
		first.text("USER", "FINAL", "and then", "PARTIAL_TURN")
		interruptedID := first.startAudio()
		synctest.Wait()
		first.f.end(&types.ModelStreamErrorException{Message: aws.String("System instability detected. Please retry")})
		audio(1, true) // the user goes on talking while the gateway replaces the stream
		audio(2, true)
		synctest.Wait()
		time.Sleep(time.Second) // past the backoff
		synctest.Wait()
		streams := model.opened()
		if len(streams) != 2 {
			t.Fatalf("%d streams after the failure, want a second", len(streams))
		}
		audio(3, true)
		synctest.Wait()
		for _, ev := range closingEvents() {
			send(t, conn, ev)
		}
		var frames []string
		for f := range received {
			frames = append(frames, f)
		}
		assertClosed(t, streams[1])
		if got := historyOf(streams[1].sentEvents()); strings.Join(got, "|") != "USER: hello|ASSISTANT: hi there|USER: and then" {
			t.Fatalf("the new stream was replayed %q", got)
		}
		if a, b := framesOf(t, streams[0].sentEvents()), framesOf(t, streams[1].sentEvents()); len(a) != 1 || a[0] != 0 ||
			fmt.Sprint(b) != "[1 2 3]" {
			t.Fatalf("frames %v then %v: the audio said during the recovery must reach the new stream, in order", a, b)
		}
		joined := strings.Join(frames, "\n")
		if !strings.Contains(joined, `"contentId":"`+interruptedID+`"`) || !strings.Contains(joined, `"stopReason":"INTERRUPTED"`) {
			t.Fatal("the browser was not told the failed stream's answer was interrupted")
		}
		if e := frames[len(frames)-1]; strings.Contains(e, `"type":"error"`) {
			t.Fatalf("the conversation ended with %s, want it to go on", e)
		}
		if testutil.ToFloat64(m.Recoveries.WithLabelValues("model_stream_error")) != 1 {
			t.Fatal("the recovery was not counted")
		}
	})
}
