package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserPath is the Chromium or Chrome the scenarios drive, found by TestMain; browserMissing says why
// there is none.
var browserPath, browserMissing string

// findBrowser looks for the browser the way server/web/e2e/install-chromium.sh does: $CHROME_PATH, then
// Debian's chromium, then Chrome.
func findBrowser() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium, chromium-browser or google-chrome on PATH, and CHROME_PATH is not set")
}

// requireBrowser skips the test, with the reason, where no browser is installed; in CI a missing browser
// fails it instead, because `make setup` installs one there.
func requireBrowser(t *testing.T) {
	t.Helper()
	if browserPath != "" {
		return
	}
	msg := "browser scenarios skipped: " + browserMissing + ". Install Chromium (make setup does it on Debian as root) or set CHROME_PATH."
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Waits in the page are event-driven (a poll of the page's own state on every animation frame) with
// bounds far above what the scenarios need, so that a busy machine slows them down without failing them.
const (
	// waitBound bounds one wait for something the page does by itself (a turn answered, a reconnect).
	waitBound = 60 * time.Second
	// scenarioBound bounds a whole scenario, the browser's start included.
	scenarioBound = 4 * time.Minute
)

// artifactsDir is where screenshots go: git-ignored, beside this file, or $E2E_ARTIFACTS.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatal(err)
	}
	return abs
}

// tab is the one page of a fresh headless Chromium whose microphone plays a WAV file.
type tab struct {
	t   *testing.T
	ctx context.Context
	url string

	mu      sync.Mutex
	sockets map[network.RequestID]*socketLog
	order   []*socketLog
	console []string
	errors  []string
}

// socketLog is what one WebSocket of the page sent and received, as the browser's network layer saw it:
// every JSON frame except audioInput (counted only).
type socketLog struct {
	URL         string
	Sent        []map[string]any
	Received    []map[string]any
	AudioFrames int          // audioInput frames sent
	Answers     []audioBlock // the assistant's AUDIO blocks received, in order
}

// audioBlock is one assistant AUDIO content block: its id and the bytes of PCM it carried.
type audioBlock struct {
	ContentID string
	Bytes     int
}

// Seconds is the block's length at Nova Sonic's output rate (24 kHz, 16-bit mono).
func (b audioBlock) Seconds() float64 { return float64(b.Bytes) / 48000 }

// openPage starts Chromium with the fake microphone playing wav, opens url in a width×height viewport and
// records the page's WebSocket traffic and console.
func openPage(t *testing.T, url, wav string, width, height int64) *tab {
	t.Helper()
	requireBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), scenarioBound)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath),
		chromedp.UserDataDir(t.TempDir()),
		// The flags this machine's Chromium needs (/work/.library/env/machines/go.md): no sandbox as root,
		// no GPU, and no background connections, which a closed network refuses.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		// The fake microphone: permission granted without a prompt, audio from the WAV file (looped).
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		// Headless mutes audio output by default; the playback worklet still renders, which is what the
		// scenarios measure, but nothing should depend on the flag.
		chromedp.Flag("mute-audio", false),
		chromedp.WindowSize(int(width), int(height)),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	p := &tab{t: t, url: url, sockets: map[network.RequestID]*socketLog{}}
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(p.onEvent))
	t.Cleanup(cancelTab)
	p.ctx = tabCtx
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start chromium (%s): %v", browserPath, err)
	}
	if _, err := chromedp.Call(tabCtx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tabCtx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: socketProbe}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.EmulateViewport(width, height), chromedp.Navigate(url))
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errors {
			t.Errorf("uncaught error in the page: %s", e)
		}
		if t.Failed() && len(p.console) > 0 {
			t.Logf("page console:\n%s", strings.Join(p.console, "\n"))
		}
	})
	return p
}

// socketProbe runs in the page before its own scripts and records the close code of every WebSocket,
// which the DevTools protocol does not report. The page's CSP does not apply to it.
const socketProbe = `(() => {
  const Native = window.WebSocket;
  const closes = (window.__e2eCloses = []);
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (e) => closes.push({ url: String(args[0]), code: e.code, wasClean: e.wasClean }));
    }
  };
})();`

// onEvent records the WebSocket frames and console output. It runs in chromedp's event loop: no commands.
func (p *tab) onEvent(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		p.console = append(p.console, string(ev.Type)+": "+strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		p.errors = append(p.errors, msg)
	case *network.EventWebSocketCreated:
		s := &socketLog{URL: ev.URL}
		p.sockets[ev.RequestID] = s
		p.order = append(p.order, s)
	case *network.EventWebSocketFrameSent:
		s, m, e := p.frame(ev.RequestID, ev.Response)
		switch {
		case m == nil:
		case e["audioInput"] != nil:
			s.AudioFrames++
		default:
			s.Sent = append(s.Sent, m)
		}
	case *network.EventWebSocketFrameReceived:
		s, m, e := p.frame(ev.RequestID, ev.Response)
		switch {
		case m == nil:
		case e["audioOutput"] != nil:
			out, _ := e["audioOutput"].(map[string]any)
			id, _ := out["contentId"].(string)
			content, _ := out["content"].(string)
			if len(s.Answers) == 0 || s.Answers[len(s.Answers)-1].ContentID != id {
				s.Answers = append(s.Answers, audioBlock{ContentID: id})
			}
			s.Answers[len(s.Answers)-1].Bytes += base64.StdEncoding.DecodedLen(len(content))
		default:
			s.Received = append(s.Received, m)
		}
	}
}

// frame decodes a JSON frame of one of the page's sockets: the socket's log, the message, and its Nova
// Sonic event ({"event":{name:body}}) if it is one. m is nil for a socket or frame that is not ours.
func (p *tab) frame(id network.RequestID, f *network.WebSocketFrame) (s *socketLog, m, event map[string]any) {
	s = p.sockets[id]
	if s == nil || f == nil || json.Unmarshal(f.PayloadData, &m) != nil {
		return nil, nil, nil
	}
	event, _ = m["event"].(map[string]any)
	return s, m, event
}

// do runs actions and fails the test on an error.
func (p *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value into T.
func eval[T any](p *tab, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy in the page, and says what it waited for if it
// never is.
func (p *tab) waitFor(what, expr string) {
	p.t.Helper()
	waitValue[any](p, what, expr)
}

// waitDiagnostics waits until cond, a JavaScript expression over d (the page's diagnostics), holds and
// returns the diagnostics of that moment: a consistent snapshot, not one read a little later.
func (p *tab) waitDiagnostics(what, cond string) diagnostics {
	p.t.Helper()
	return waitValue[diagnostics](p, what,
		fmt.Sprintf(`(() => { const d = window.novaSonicDiagnostics(); return (%s) ? d : null; })()`, cond))
}

// waitValue polls expr in the page on every animation frame until it is truthy, and returns that value.
func waitValue[T any](p *tab, what, expr string) T {
	p.t.Helper()
	start := time.Now()
	v, err := chromedp.Run(p.ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(waitBound)))
	if err != nil {
		p.screenshot("timeout")
		p.t.Fatalf("waiting for %s (%s): %v\nstatus: %q\ntranscript:\n%s", what, expr, err,
			p.text("#status"), strings.Join(p.transcript(), "\n"))
	}
	p.t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
	return v
}

// run evaluates JavaScript in the page for its effect.
func (p *tab) run(js string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](js))
}

// text is the text content of the first element matching a CSS selector ("" if none).
func (p *tab) text(sel string) string {
	return eval[string](p, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel))
}

// transcript is the transcript's lines as the user reads them.
func (p *tab) transcript() []string {
	return eval[[]string](p, `Array.from(document.querySelectorAll("#transcript > li"), (li) => li.textContent)`)
}

// click clicks an element like a user (a trusted event, so the page may start audio).
func (p *tab) click(sel string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// screenshot saves the viewport as artifacts/<test>-<name>.png and logs the path.
func (p *tab) screenshot(name string) string {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	file := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(p.t.Name()+"-"+name, "_") + ".png"
	path := filepath.Join(artifactsDir(p.t), file)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

// socketsSnapshot copies the WebSocket logs recorded so far, oldest socket first.
func (p *tab) socketsSnapshot() []socketLog {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]socketLog, len(p.order))
	for i, s := range p.order {
		out[i] = *s
		out[i].Sent = append([]map[string]any(nil), s.Sent...)
		out[i].Received = append([]map[string]any(nil), s.Received...)
		out[i].Answers = append([]audioBlock(nil), s.Answers...)
	}
	return out
}
