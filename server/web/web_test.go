package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "localhost:8080"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkSecurityHeaders asserts the headers every response must carry.
func checkSecurityHeaders(t *testing.T, res *http.Response, target string) {
	t.Helper()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'",
		"connect-src 'self' ws://localhost:8080 wss://localhost:8080", "frame-ancestors 'none'", "base-uri 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", target, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy allows inline or eval: %q", target, csp)
	}
	if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", target, got)
	}
	if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy = %q, want no-referrer", target, got)
	}
}

func TestServesFilesWithTypesAndHeaders(t *testing.T) {
	h := Handler()
	cases := []struct {
		target, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="js/app.js">`},
		{"/config.js", "text/javascript; charset=utf-8", "window.NOVA_SONIC_CONFIG"},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/worklets/capture-processor.js", "text/javascript; charset=utf-8", `registerProcessor("capture-processor"`},
		{"/worklets/playback-processor.js", "text/javascript; charset=utf-8", `registerProcessor("playback-processor"`},
	}
	for _, c := range cases {
		res := get(t, h, http.MethodGet, c.target, nil)
		b := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", c.target, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", c.target, got, c.contentType)
		}
		if !strings.Contains(b, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.target, c.contains)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", c.target, got)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", c.target)
		}
		checkSecurityHeaders(t, res, c.target)
	}
}

func TestEveryJavaScriptFileIsServedAsJavaScript(t *testing.T) {
	h := Handler()
	n := 0
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		n++
		res := get(t, h, http.MethodGet, "/"+p, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("GET /%s: status %d, Content-Type %q", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		checkSecurityHeaders(t, res, "/"+p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("found only %d JavaScript files", n)
	}
}

func TestConfigJSHoldsLocalDefaults(t *testing.T) {
	res := get(t, Handler(), http.MethodGet, "/config.js", nil)
	b := body(t, res)
	for _, want := range []string{
		"window.NOVA_SONIC_CONFIG = {", "websocketUrl: null", `auth: "local"`, `voiceId: "matthew"`,
		// Every key is documented at the top of the file.
		"websocketUrl ", "auth ", "region ", "userPoolId ", "userPoolClientId ", "cognitoDomain ", "voiceId ",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("config.js lacks %q", want)
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := Handler()
	for _, target := range []string{"/nope", "/js/", "/js", "/worklets/", "/index.html/", "/../web.go", "/static/index.html"} {
		if res := get(t, h, http.MethodGet, target, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, res.StatusCode)
		}
	}
	res := get(t, h, http.MethodPost, "/", nil)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	checkSecurityHeaders(t, res, "POST /")
	res = get(t, h, http.MethodHead, "/config.js", nil)
	if res.StatusCode != http.StatusOK || body(t, res) != "" || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD /config.js: status %d", res.StatusCode)
	}
	// index.html is served at its own path too (the CloudFront default root object is index.html).
	if res := get(t, h, http.MethodGet, "/index.html", nil); res.StatusCode != http.StatusOK {
		t.Errorf("GET /index.html: status %d", res.StatusCode)
	}
}

func TestETagRevalidation(t *testing.T) {
	h := Handler()
	etag := get(t, h, http.MethodGet, "/js/app.js", nil).Header.Get("ETag")
	res := get(t, h, http.MethodGet, "/js/app.js", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
}

func TestHostIsNotTrustedIntoThePolicy(t *testing.T) {
	for _, host := range []string{"evil.example; script-src *", "a b", "x'y"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, req)
		csp := rec.Header().Get("Content-Security-Policy")
		if strings.Contains(csp, "*") || strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self';") {
			t.Errorf("Host %q: Content-Security-Policy %q", host, csp)
		}
	}
	for _, host := range []string{"127.0.0.1:8080", "[::1]:8080", "gateway.internal"} {
		if !hostPattern.MatchString(host) {
			t.Errorf("Host %q should be allowed into connect-src", host)
		}
	}
}

var (
	attrRef     = regexp.MustCompile(`\s(?:src|href)="([^"]*)"`)
	jsImport    = regexp.MustCompile(`(?m)(?:^import\b[^;]*?\bfrom\s*|^import\s*|\bimport\()\s*"([^"]+)"`)
	jsURL       = regexp.MustCompile(`new URL\("([^"]+)",\s*import\.meta\.url\)`)
	inlineEvent = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	inlineStyle = regexp.MustCompile(`(?i)\sstyle\s*=|<style`)
	scriptTag   = regexp.MustCompile(`(?i)<script\b[^>]*>`)
)

// TestReferencedFilesExist follows every reference from index.html and every relative module import
// and worklet URL in the JavaScript, and checks the target is embedded. It also holds the page to the
// Content-Security-Policy: no inline script, handler or style, and no external URL.
func TestReferencedFilesExist(t *testing.T) {
	index, err := fs.ReadFile(Static(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(index)
	refs := attrRef.FindAllStringSubmatch(html, -1)
	if len(refs) < 4 {
		t.Fatalf("index.html references only %d files", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "//") || strings.HasPrefix(ref, "/") || strings.ContainsAny(ref, "?#") {
			t.Errorf("index.html: %q is not a relative path to a shipped file (no external URLs: the CSP and offline use forbid them)", ref)
			continue
		}
		if _, err := fs.Stat(Static(), ref); err != nil {
			t.Errorf("index.html references %q, which does not exist", ref)
		}
	}
	for _, tag := range scriptTag.FindAllString(html, -1) {
		if !strings.Contains(tag, "src=") {
			t.Errorf("index.html has an inline script %q; the CSP blocks it", tag)
		}
	}
	if inlineEvent.MatchString(html) || inlineStyle.MatchString(html) {
		t.Error("index.html has an inline event handler or style; the CSP blocks them")
	}

	err = fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		src, err := fs.ReadFile(Static(), p)
		if err != nil {
			return err
		}
		if regexp.MustCompile(`https?://[a-z]`).Match(src) && p != "config.js" {
			for _, u := range regexp.MustCompile(`["'\x60]https?://[^"'\x60]*`).FindAll(src, -1) {
				t.Errorf("%s: hard-coded URL %s (configuration belongs in config.js)", p, u)
			}
		}
		var targets []string
		for _, m := range jsImport.FindAllSubmatch(src, -1) {
			targets = append(targets, string(m[1]))
		}
		for _, m := range jsURL.FindAllSubmatch(src, -1) {
			targets = append(targets, string(m[1]))
		}
		for _, target := range targets {
			if !strings.HasPrefix(target, "./") && !strings.HasPrefix(target, "../") {
				t.Errorf("%s imports %q: only relative paths work without a bundler", p, target)
				continue
			}
			resolved := path.Join(path.Dir(p), target)
			if _, err := fs.Stat(Static(), resolved); err != nil {
				t.Errorf("%s refers to %q (%s), which does not exist", p, target, resolved)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJavaScript checks that every file parses (node --check) and runs the unit tests in jstest/ with
// node's test runner. The files are ES modules without a package.json (none is shipped to the site), so
// they are copied beside one that says so. Skipped where node is not installed.
func TestJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "static"), Static()); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "jstest"), os.DirFS("jstest")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var tests []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".js" {
			return err
		}
		if out, err := exec.Command(node, "--check", p).CombinedOutput(); err != nil {
			rel, _ := filepath.Rel(dir, p)
			t.Errorf("node --check %s: %v\n%s", rel, err, out)
		}
		if strings.HasSuffix(p, ".test.js") {
			tests = append(tests, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) == 0 {
		t.Fatal("no JavaScript tests found in jstest/")
	}
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, tests...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("node --test:\n%s", out)
	}
}
