package e2e

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The scenarios. Each starts the real gateway command (-local: the simulated Nova Sonic) on a free port and
// a fresh headless Chromium whose microphone plays a generated WAV, clicks through the page like a person,
// and checks what the person would see and hear, the frames on the wire and the page's playback counters.

// conversationScript is a person talking in short sentences with pauses long enough for each answer to
// finish: 1 s of speech, then 2.6 s of silence (the simulator answers 0.85 s into it with about 1.2 s of
// speech). Looped by Chromium.
var conversationScript = []segment{pause(600 * time.Millisecond), speech(time.Second), pause(2600 * time.Millisecond)}

// phone is the viewport of a common phone in portrait (CSS pixels), the 390×844.
const phoneWidth, phoneHeight = 390, 844

// desktop is a small laptop window.
const desktopWidth, desktopHeight = 1000, 760

// diagnostics is what the page's window.novaSonicDiagnostics() returns (controller.js).
type diagnostics struct {
	Wanted           bool     `json:"wanted"`
	State            string   `json:"state"`
	SessionID        string   `json:"sessionId"`
	ServerTools      []string `json:"serverTools"`
	ReconnectAttempt int      `json:"reconnectAttempt"`
	Capturing        bool     `json:"capturing"`
	Playback         struct {
		Chunks          int     `json:"chunks"`
		ReceivedSeconds float64 `json:"receivedSeconds"`
		PlayedSeconds   float64 `json:"playedSeconds"`
		Peak            float64 `json:"peak"`
		OutputLatencyMs float64 `json:"outputLatencyMs"`
		Flushes         []struct {
			Reason         string  `json:"reason"`
			AckMs          float64 `json:"ackMs"`
			DroppedSeconds float64 `json:"droppedSeconds"`
		} `json:"flushes"`
	} `json:"playback"`
}

func (p *tab) diagnostics() diagnostics {
	p.t.Helper()
	return eval[diagnostics](p, `window.novaSonicDiagnostics()`)
}

// JavaScript expressions the scenarios wait on.
const (
	// spokenAnswers counts the assistant lines with final (spoken) text.
	spokenAnswers = `document.querySelectorAll("#transcript .message.assistant .segment:not(.speculative)").length`
	// allPlayed (over diagnostics d): every piece of speech the page received has either gone to the output
	// or been dropped by a flush; nothing is queued.
	allPlayed = `d.playback.receivedSeconds > 0 &&
		d.playback.playedSeconds + d.playback.flushes.reduce((s, f) => s + f.droppedSeconds, 0) >= d.playback.receivedSeconds - 0.001`
	// lastClose is the close code of the page's latest WebSocket, or 0 (socketProbe records it).
	lastClose = `(window.__e2eCloses.at(-1)?.code ?? 0)`
)

// readmeScreenshot: TestREADMEScreenshot writes the page's picture for the READMEs (docs/web-client.png).
var readmeScreenshot = flag.Bool("readme-screenshot", false, "write docs/web-client.png from a short conversation")

// TestREADMEScreenshot takes the READMEs' picture of the page: two turns of a conversation in a laptop
// window. It runs only when asked: go test ./server/web/e2e -run TestREADMEScreenshot -readme-screenshot
func TestREADMEScreenshot(t *testing.T) {
	if !*readmeScreenshot {
		t.Skip("writes docs/web-client.png only with -readme-screenshot")
	}
	_, p := startTalking(t, conversationScript, 900, 700)
	p.waitFor("two answers", spokenAnswers+` >= 2`)
	p.waitFor("the assistant to finish speaking", `document.getElementById("status").textContent === "Listening — speak now"`)
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../../../docs/web-client.png", png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/web-client.png (%d bytes)", len(png))
}

// startTalking starts a gateway (with extra environment variables), opens the page in a width×height
// viewport with the fake microphone playing script, and presses Start.
func startTalking(t *testing.T, script []segment, width, height int64, env ...string) (*gateway, *tab) {
	t.Helper()
	requireBrowser(t)
	gw := startGateway(t, "0", env...)
	wav := writeSpeechWAV(t, t.TempDir(), "microphone.wav", script)
	p := openPage(t, "http://"+gw.Addr+"/", wav, width, height)
	p.click("#start")
	return gw, p
}

// TestConversationOnAPhone: three spoken turns on a 390×844 phone. The page shows each turn, keeps the
// newest in view, plays every answer, and Stop ends the conversation with close code 1000.
func TestConversationOnAPhone(t *testing.T) {
	_, p := startTalking(t, conversationScript, phoneWidth, phoneHeight)

	var d diagnostics
	for turn := 1; turn <= 3; turn++ {
		p.waitFor(fmt.Sprintf("answer %d spoken", turn), fmt.Sprintf("%s >= %d", spokenAnswers, turn))
		d = p.waitDiagnostics(fmt.Sprintf("answer %d played to the end", turn), allPlayed)
		p.assertNewestTurnInView(fmt.Sprintf("after answer %d", turn))
	}
	p.screenshot("three-turns")

	// Each answer is the 1 s utterance played back (plus a little of the pause), as the gateway sent it.
	answers := p.socketsSnapshot()[0].Answers
	if len(answers) < 3 {
		t.Fatalf("%d answers with audio, want 3", len(answers))
	}
	for i, a := range answers[:3] {
		if a.Seconds() < 0.8 {
			t.Errorf("answer %d: %.2f s of speech, want at least 0.8 s", i+1, a.Seconds())
		}
	}
	// Played means went to the audio output: the worklet counts what it rendered, and the peak shows it
	// was speech above the simulator's detection threshold, not silence. Nothing was flushed.
	if len(d.Playback.Flushes) != 0 || d.Playback.PlayedSeconds < d.Playback.ReceivedSeconds-0.001 || d.Playback.Peak < 0.02 {
		t.Errorf("played %.3f s of %.3f s received, peak %.3f, flushes %+v: want everything played, peak ≥ 0.02, no flush",
			d.Playback.PlayedSeconds, d.Playback.ReceivedSeconds, d.Playback.Peak, d.Playback.Flushes)
	}
	t.Logf("measured: answers of %.2f, %.2f and %.2f s; %.2f s of speech received and %.2f s played (peak %.2f) in %d chunks",
		answers[0].Seconds(), answers[1].Seconds(), answers[2].Seconds(),
		d.Playback.ReceivedSeconds, d.Playback.PlayedSeconds, d.Playback.Peak, d.Playback.Chunks)
	roles := strings.Join(eval[[]string](p, `Array.from(document.querySelectorAll("#transcript .message"), (li) => li.dataset.role)`), " ")
	if !strings.HasPrefix(roles, "USER ASSISTANT USER ASSISTANT USER ASSISTANT") {
		t.Errorf("transcript turns %s, want the user and the assistant in turn", roles)
	}

	p.click("#start") // Stop
	p.waitFor("the close", lastClose+` !== 0`)
	p.waitFor("the page back to Ready", `document.getElementById("status").textContent === "Ready"`)
	if code := eval[int](p, lastClose); code != 1000 {
		t.Errorf("Stop closed the socket with %d, want 1000", code)
	}
	sockets := p.socketsSnapshot()
	if len(sockets) != 1 {
		t.Fatalf("%d sockets, want 1", len(sockets))
	}
	if got := eventNames(sockets[0].Sent); !strings.HasSuffix(strings.Join(got, " "), "contentEnd promptEnd sessionEnd") {
		t.Errorf("last frames sent: %v, want contentEnd promptEnd sessionEnd", got[max(0, len(got)-3):])
	}
	if d := p.diagnostics(); d.Capturing {
		t.Error("the microphone is still on after Stop")
	}
	if got := p.transcript(); got[len(got)-1] != "Conversation ended." {
		t.Errorf("last transcript line %q, want %q", got[len(got)-1], "Conversation ended.")
	}
	p.screenshot("stopped")
}

// assertNewestTurnInView checks that the newest transcript line is entirely inside both the viewport and
// the transcript's scrolled box: what a person holding the phone can read without scrolling. It allows
// the page a few frames to settle (the list re-scrolls when a notice above it changes its height).
func (p *tab) assertNewestTurnInView(when string) {
	p.t.Helper()
	const geometry = `(() => {
		const list = document.getElementById("transcript");
		const li = list.lastElementChild.getBoundingClientRect(), l = list.getBoundingClientRect();
		return { top: li.top, bottom: li.bottom, listTop: l.top, listBottom: l.bottom, viewportHeight: window.innerHeight };
	})()`
	inView := `(() => { const g = ` + geometry + `;
		return g.top >= Math.max(0, g.listTop) - 1 && g.bottom <= Math.min(g.viewportHeight, g.listBottom) + 1; })()`
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](inView, chromedp.WithPollingTimeout(waitBound))); err != nil {
		type box struct{ Top, Bottom, ListTop, ListBottom, ViewportHeight float64 }
		b := eval[box](p, geometry)
		p.screenshot("newest-line-hidden")
		p.t.Errorf("%s: the newest line spans y=%.0f..%.0f, but the transcript shows y=%.0f..%.0f of a %.0f px viewport",
			when, b.Top, b.Bottom, b.ListTop, b.ListBottom, b.ViewportHeight)
	}
}

// TestBargeIn: the person talks over a long answer. Playback is flushed: the rest of the answer is never
// played. The time from the page receiving the interruption to silence is measured and reported.
func TestBargeIn(t *testing.T) {
	// 2.5 s of speech; the answer (about 2.7 s) starts 0.85 s into the pause; the second sentence starts
	// 0.3 s after that and interrupts it once it has 200 ms of speech.
	_, p := startTalking(t, []segment{
		pause(500 * time.Millisecond), speech(2500 * time.Millisecond), pause(1150 * time.Millisecond),
		speech(time.Second), pause(4 * time.Second),
	}, desktopWidth, desktopHeight)
	p.waitFor("the barge-in", `window.novaSonicDiagnostics().playback.flushes.some((f) => f.reason === "bargeIn")`)
	p.waitFor("the interrupted line marked", `document.querySelector("#transcript .message.assistant.interrupted .interrupted-mark") !== null`)
	p.waitFor("the answer to the second sentence",
		`document.querySelector("#transcript .message.assistant.interrupted ~ .message.assistant .segment:not(.speculative)") !== null`)
	d := p.waitDiagnostics("that answer played to the end", allPlayed)
	p.screenshot("after-barge-in")

	var flush *struct {
		Reason         string  `json:"reason"`
		AckMs          float64 `json:"ackMs"`
		DroppedSeconds float64 `json:"droppedSeconds"`
	}
	for i := range d.Playback.Flushes {
		if d.Playback.Flushes[i].Reason == "bargeIn" {
			flush = &d.Playback.Flushes[i]
			break
		}
	}
	if flush == nil {
		t.Fatalf("no barge-in flush in %+v", d.Playback.Flushes)
	}
	// The simulator sends speech a second ahead of playback, so a good part of the answer was queued when
	// the interruption came; flushing must have thrown it away.
	if flush.DroppedSeconds <= 0 {
		t.Errorf("the barge-in flush dropped %.3f s of queued speech, want some", flush.DroppedSeconds)
	}
	// Every sample received was either played or dropped by a flush: nothing of the interrupted answer
	// played after the flush (its late chunks are not even queued).
	dropped := 0.0
	for _, f := range d.Playback.Flushes {
		dropped += f.DroppedSeconds
	}
	if diff := d.Playback.ReceivedSeconds - d.Playback.PlayedSeconds - dropped; math.Abs(diff) > 0.001 {
		t.Errorf("received %.3f s = played %.3f s + dropped %.3f s + %.3f s unaccounted",
			d.Playback.ReceivedSeconds, d.Playback.PlayedSeconds, dropped, diff)
	}
	const renderQuantumMs = 128.0 / 24000 * 1000
	t.Logf("measured: barge-in silenced playback within %.1f ms of the page receiving the interruption "+
		"(worklet confirmed the flush after %.1f ms, + one render quantum %.1f ms, + output latency %.1f ms); "+
		"%.2f s of queued speech dropped",
		flush.AckMs+renderQuantumMs+d.Playback.OutputLatencyMs, flush.AckMs, renderQuantumMs, d.Playback.OutputLatencyMs,
		flush.DroppedSeconds)
}

// TestGatewayKilledAndRestarted: the gateway dies without a word (SIGKILL). The page says so in plain words
// and offers Reconnect, distinct from Start over; after the gateway is back, Reconnect continues the
// conversation with its history.
func TestGatewayKilledAndRestarted(t *testing.T) {
	gwA, p := startTalking(t, conversationScript, phoneWidth, phoneHeight)
	p.waitFor("a first answer", spokenAnswers+` >= 1`)
	first := p.diagnostics().SessionID

	gwA.Kill()
	p.waitFor("the page to explain", `!document.getElementById("notice").hidden`)
	p.assertNewestTurnInView("with the notice open")
	p.screenshot("gateway-killed")
	want := "The connection to the voice service was lost. Is the gateway still running? Start it again with make run (or make gateway)."
	if got := p.text("#notice-text"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	type button struct {
		Text, Class string
		Hidden      bool
	}
	buttons := eval[map[string]button](p, `Object.fromEntries(["start", "reconnect"].map((id) => {
		const b = document.getElementById(id); return [id, { text: b.textContent, class: b.className, hidden: b.hidden }]; }))`)
	if b := buttons["start"]; b.Text != "Start over" || !strings.Contains(b.Class, "secondary") || strings.Contains(b.Class, "primary") {
		t.Errorf("main button %+v, want a secondary \"Start over\"", b)
	}
	if b := buttons["reconnect"]; b.Text != "Reconnect" || b.Hidden || !strings.Contains(b.Class, "primary") {
		t.Errorf("Reconnect button %+v, want a visible primary \"Reconnect\"", b)
	}
	wantHint := "Reconnect continues this conversation: the assistant is given the transcript so far. Start over begins a new one."
	if got := strings.Join(strings.Fields(p.text("#reconnect-hint")), " "); got != wantHint || eval[bool](p, `document.getElementById("reconnect-hint").hidden`) {
		t.Errorf("reconnect hint %q, want %q shown", got, wantHint)
	}
	if got := p.text("#status"); got != "Not connected" {
		t.Errorf("status %q, want Not connected", got)
	}
	if d := p.diagnostics(); d.Capturing || !eval[bool](p, `document.getElementById("session-info").hidden`) {
		t.Errorf("after the loss: microphone on %v, session id shown %v; want both off", d.Capturing, !eval[bool](p, `document.getElementById("session-info").hidden`))
	}

	startGateway(t, gwA.Port())
	answersBefore := eval[int](p, spokenAnswers)
	p.click("#reconnect")
	p.waitFor("the new session", fmt.Sprintf(`(() => { const d = window.novaSonicDiagnostics(); return d.state === "live" && d.sessionId !== "" && d.sessionId !== %q; })()`, first))
	p.waitFor("an answer after the reconnect", fmt.Sprintf("%s > %d", spokenAnswers, answersBefore))
	p.assertNewestTurnInView("after the reconnect")
	p.screenshot("reconnected")

	sockets := p.socketsSnapshot()
	if len(sockets) != 2 {
		t.Fatalf("%d sockets, want 2 (before and after the restart)", len(sockets))
	}
	p.assertHistoryCarriedOver(sockets[1])
	p.assertNotes([]string{
		"New conversation — voice matthew",
		want,
		"Reconnected; the conversation continues.",
	})
	if got := p.text("#session-info"); got != "Session "+p.diagnostics().SessionID {
		t.Errorf("session line %q after the reconnect, want the new session's id", got)
	}
}

// TestDrainReconnectsByItself: the gateway is replaced (SIGTERM, DRAIN_TIMEOUT=3s) while a new one starts on
// the same address, as ECS or Kubernetes do. The page is told, reconnects by itself when the old gateway
// closes with 1012 (microphone off and no stale session id meanwhile) and the conversation goes on.
func TestDrainReconnectsByItself(t *testing.T) {
	gwA, p := startTalking(t, conversationScript, phoneWidth, phoneHeight, "DRAIN_TIMEOUT=3s")
	p.waitFor("a first answer", spokenAnswers+` >= 1`)
	first := p.diagnostics().SessionID
	// Record what the page shows at every status change from here on.
	p.run(`window.__e2eStatus = [];
		new MutationObserver(() => {
			const d = window.novaSonicDiagnostics();
			window.__e2eStatus.push({ status: document.getElementById("status").textContent,
				session: document.getElementById("session-info").hidden ? "" : document.getElementById("session-info").textContent,
				capturing: d.capturing });
		}).observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });`)

	drainStart := time.Now()
	gwA.Terminate()
	p.waitFor("the restart notice", `Array.from(document.querySelectorAll("#transcript .note"), (n) => n.textContent).includes("The voice service is restarting; the conversation will reconnect by itself.")`)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := waitPortFree(ctx, gwA.Port()); err != nil {
		t.Fatal(err)
	}
	startGateway(t, gwA.Port())
	p.waitFor("the reconnect", fmt.Sprintf(`(() => { const d = window.novaSonicDiagnostics(); return d.state === "live" && d.sessionId !== "" && d.sessionId !== %q; })()`, first))
	reconnected := time.Since(drainStart)
	answersAfter := eval[int](p, spokenAnswers)
	p.waitFor("an answer after the reconnect", fmt.Sprintf("%s > %d", spokenAnswers, answersAfter))
	p.assertNewestTurnInView("after the drain")
	p.screenshot("after-drain")
	exitCtx, cancelExit := context.WithTimeout(context.Background(), waitBound)
	defer cancelExit()
	if state, err := gwA.Exited(exitCtx); err != nil || !state.Success() {
		t.Errorf("the drained gateway: %v %v, want a clean exit", state, err)
	}

	// The gateway closes with 1012. On a busy machine the browser may see 1006 instead: the gateway closes
	// its TCP connection while audio frames are still arriving, the reset discards its unread close frame,
	// and the page must still reconnect, on the draining notice it did read (conversation.js #meant).
	switch codes := eval[[]int](p, `window.__e2eCloses.map((c) => c.code)`); {
	case len(codes) == 1 && codes[0] == 1012:
	case len(codes) == 1 && codes[0] == 1006:
		t.Logf("note: the browser saw 1006, not 1012: the gateway's close frame was lost to a TCP reset; the page reconnected on the draining notice")
	default:
		t.Errorf("close codes %v, want [1012] from the drained gateway (or [1006] after its draining notice)", codes)
	}
	type shown struct {
		Status, Session string
		Capturing       bool
	}
	var reconnecting []shown
	for _, s := range eval[[]shown](p, `window.__e2eStatus`) {
		if s.Status == "The voice service is restarting. Reconnecting…" {
			reconnecting = append(reconnecting, s)
		}
	}
	if len(reconnecting) == 0 {
		t.Error("the page never said it was reconnecting")
	}
	for _, s := range reconnecting {
		if s.Session != "" || s.Capturing {
			t.Errorf("while reconnecting the page showed session %q and had the microphone on %v; want neither", s.Session, s.Capturing)
		}
	}
	if d := p.diagnostics(); !d.Capturing {
		t.Error("the microphone did not come back with the conversation")
	}
	sockets := p.socketsSnapshot()
	if len(sockets) != 2 {
		t.Fatalf("%d sockets, want 2", len(sockets))
	}
	if !hasMessageType(sockets[0].Received, "draining") {
		t.Error(`the drained gateway sent no {"type":"draining"}`)
	}
	p.assertHistoryCarriedOver(sockets[1])
	p.assertNotes([]string{
		"New conversation — voice matthew",
		"The voice service is restarting; the conversation will reconnect by itself.",
		"Reconnected; the conversation continues.",
	})
	t.Logf("measured: back in a new session %v after SIGTERM (DRAIN_TIMEOUT 3 s)", reconnected.Round(time.Millisecond))
}

// assertHistoryCarriedOver checks that the new session was opened with the earlier turns as chat history:
// non-interactive USER and ASSISTANT text blocks after the system prompt and before the audio.
func (p *tab) assertHistoryCarriedOver(s socketLog) {
	p.t.Helper()
	var blocks []string
	texts := map[string]string{} // contentName → role
	for _, m := range s.Sent {
		e, _ := m["event"].(map[string]any)
		if start, ok := e["contentStart"].(map[string]any); ok && start["type"] == "TEXT" && start["role"] != "SYSTEM" {
			if start["interactive"] != false {
				p.t.Errorf("history block %v is interactive; the model would answer it", start)
			}
			texts[fmt.Sprint(start["contentName"])] = fmt.Sprint(start["role"])
		}
		if in, ok := e["textInput"].(map[string]any); ok {
			if role, ok := texts[fmt.Sprint(in["contentName"])]; ok {
				blocks = append(blocks, role+": "+fmt.Sprint(in["content"]))
			}
		}
	}
	if len(blocks) < 2 || !strings.HasPrefix(blocks[0], "USER: (simulated) you spoke for") ||
		blocks[1] != "ASSISTANT: (simulated) This is what you said." {
		p.t.Errorf("history sent to the new session: %q; want the earlier turns, USER first", blocks)
	}
}

// assertNotes checks the transcript's notes (lines that are not speech) are exactly these, in order: no
// near-duplicates.
func (p *tab) assertNotes(want []string) {
	p.t.Helper()
	got := eval[[]string](p, `Array.from(document.querySelectorAll("#transcript .note"), (n) => n.textContent)`)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		p.t.Errorf("transcript notes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// eventNames lists the Nova Sonic event names (or message types) of frames.
func eventNames(frames []map[string]any) []string {
	var names []string
	for _, m := range frames {
		if e, ok := m["event"].(map[string]any); ok {
			for name := range e {
				names = append(names, name)
			}
		} else {
			names = append(names, fmt.Sprint(m["type"]))
		}
	}
	return names
}

func hasMessageType(frames []map[string]any, typ string) bool {
	for _, m := range frames {
		if m["type"] == typ {
			return true
		}
	}
	return false
}
