// Package web is the browser client of the speech gateway: a page that captures the microphone, streams
// it to the gateway's WebSocket (/interact-s2s) as Nova Sonic input events, plays Nova Sonic's speech and
// shows the transcript. It is plain HTML, CSS and ES modules with no build step, embedded in the gateway
// binary for local development (`make run`) and published unchanged to S3/CloudFront by the CDK stack,
// which replaces config.js with the deployment's values. See README.md in this directory.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed static
var embedded embed.FS

// Static is the web client's files, rooted at the site root (index.html, config.js, js/, worklets/). The
// CDK stack publishes the same directory, server/web/static, to the site bucket.
func Static() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic("web: " + err.Error()) // "static" is a valid path known at compile time
	}
	return sub
}

// contentTypes are the types of the files the client ships. They are fixed here rather than taken from
// the mime package, whose answer depends on the host's /etc/mime.types: a module script served with a
// wrong type does not run.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// file is one embedded file, read once at start.
type file struct {
	name        string
	data        []byte
	etag        string
	contentType string
}

// Handler serves the web client: index.html at /, every other file at its path, 404 for anything else
// (no directory listings, no fallback page). Every response carries the security headers below; nothing
// is cached without revalidation, because file names carry no content hash and a page must never run
// with a stale config.js or a module from another release. ETags make the revalidation cheap.
func Handler() http.Handler {
	files := make(map[string]*file)
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Static(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		files["/"+p] = &file{
			name: path.Base(p), data: data, contentType: ct,
			etag: `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("web: read embedded files: " + err.Error()) // embedded files are always readable
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), r.Host)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "/" {
			p = "/index.html"
		}
		f, ok := files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("ETag", f.etag)
		h.Set("Cache-Control", "no-cache")
		// ServeContent answers If-None-Match with 304 and supports HEAD and ranges.
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.data))
	})
}

// hostPattern is a Host header safe to copy into the Content-Security-Policy: a DNS name or IP literal
// and an optional port, nothing that could end the directive.
var hostPattern = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

// setSecurityHeaders sets the headers of every response. The policy allows only the page's own files: no
// inline script or style, no external URL, so the page works offline. connect-src names ws:// and wss://
// on the page's own host explicitly because older browsers do not count WebSocket URLs as 'self'.
func setSecurityHeaders(h http.Header, host string) {
	connect := "'self'"
	if hostPattern.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	h.Set("Content-Security-Policy", strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'", // module scripts and the AudioWorklet modules
		"style-src 'self'",
		"img-src 'self'",
		"connect-src " + connect,
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; "))
	h.Set("X-Content-Type-Options", "nosniff")
	// The Cognito redirect brings an authorization code in the URL; no referrer carries it anywhere.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "microphone=(self), camera=(), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
