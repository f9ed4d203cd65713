package deploy_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// standinScript is the one stand-in program behind every stand-in tool, for both scripts.
var standinScript = filepath.Join(repoRoot, "deploy", "testdata", "standin.js")

// bash runs deploy.sh.
type bash struct{ node string }

func bashPlatform(t *testing.T) bash {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return bash{node: node}
}

func (bash) script() string              { return "./deploy.sh" }
func (bash) eol() string                 { return "\n" }
func (bash) normalize(arg string) string { return arg }

func (b bash) command(t *testing.T, fx *fixture, sc scenario) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(fx.root, ".test", "bin")
	launcher := func(path, tool string) {
		writeFile(t, path, fmt.Sprintf("#!/bin/sh\nexec '%s' '%s' %s \"$@\"\n", b.node, standinScript, tool))
	}
	for _, tool := range standinTools {
		if !without(sc, tool) {
			launcher(filepath.Join(bin, tool), tool)
		}
	}
	if !sc.noCDK {
		launcher(filepath.Join(fx.root, ".cdk", "node_modules", ".bin", "cdk"), "cdk")
	}
	// PATH holds the stand-ins and only the programs deploy.sh runs itself, so a real aws or kubectl on
	// this machine can never stand in for a missing one.
	sys := filepath.Join(fx.root, ".test", "sys")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "cat", "node"} {
		if without(sc, tool) {
			continue
		}
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(path, filepath.Join(sys, tool)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(fx.root, "deploy.sh"), sc.args...)
	// Elsewhere than the checkout: the script must find its own directory.
	cmd.Dir = t.TempDir()
	cmd.Env = []string{
		"HOME=" + t.TempDir(),
		"PATH=" + bin + ":" + sys,
		"STANDIN_LOG=" + fx.log,
		"STANDIN_RULES=" + fx.rules,
	}
	for k, v := range sc.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// wine runs deploy.bat with Wine's cmd. Its stand-ins are .cmd launchers of the same standin.js, run by
// a Windows node.exe: Go 1.26's Windows programs need an API Wine 8 lacks (ProcessPrng), node.exe does
// not.
type wine struct{ wine, prefix, nodeExe string }

var (
	wineOnce  sync.Once
	wineSetup wine
	wineErr   error
)

// winePlatform returns the shared Wine set-up, creating its prefix on first use, or skips the test (fails
// it in CI) when Wine or the Windows node.exe is not installed.
func winePlatform(t *testing.T) wine {
	t.Helper()
	wineOnce.Do(func() { wineSetup, wineErr = startWine() })
	requireTool(t, "Wine with a Windows node.exe", wineErr)
	return wineSetup
}

func startWine() (wine, error) {
	w := wine{nodeExe: filepath.Join(repoRoot, ".cache", "windows-node", "node.exe")}
	if _, err := os.Stat(w.nodeExe); err != nil {
		return w, err
	}
	for _, candidate := range []string{"wine64", "wine", "/usr/lib/wine/wine64"} {
		if path, err := exec.LookPath(candidate); err == nil {
			w.wine = path
			break
		}
	}
	if w.wine == "" {
		return w, errors.New("no wine64 or wine")
	}
	prefix, err := os.MkdirTemp("", "deploy-wine-")
	if err != nil {
		return w, err
	}
	w.prefix = prefix
	// The first start creates the prefix (a Windows directory tree and registry): seconds, once per run.
	cmd := exec.Command(w.wine, "cmd", "/c", "exit 0")
	cmd.Env = w.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return w, fmt.Errorf("wine cmd: %v\n%s", err, out)
	}
	return w, nil
}

// stopWine ends the prefix's wineserver and deletes the prefix.
func stopWine() {
	if wineSetup.prefix == "" {
		return
	}
	server := filepath.Join(filepath.Dir(wineSetup.wine), "wineserver")
	if _, err := os.Stat(server); err != nil {
		server = "wineserver"
	}
	cmd := exec.Command(server, "-k")
	cmd.Env = wineSetup.env()
	_ = cmd.Run()
	// wineserver -k returns before every Wine process has let go of the prefix.
	for i := 0; i < 50 && os.RemoveAll(wineSetup.prefix) != nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

func (w wine) env() []string {
	return []string{
		"HOME=" + os.Getenv("HOME"),
		"PATH=/usr/bin:/bin",
		"WINEPREFIX=" + w.prefix,
		"WINEDEBUG=-all",
		// Wine's default prefix claims Windows 7, which node.exe 20 refuses to start on.
		"NODE_SKIP_PLATFORM_CHECK=1",
	}
}

func (wine) script() string              { return "deploy.bat" }
func (wine) eol() string                 { return "\r\n" }
func (wine) normalize(arg string) string { return strings.ReplaceAll(arg, `\`, "/") }

func (w wine) command(t *testing.T, fx *fixture, sc scenario) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(fx.root, ".test", "winbin")
	launcher := func(path, tool string) {
		writeFile(t, path, fmt.Sprintf("@\"%s\" \"%s\" %s %%*\r\n", winPath(w.nodeExe), winPath(standinScript), tool))
	}
	for _, tool := range standinTools {
		if !without(sc, tool) {
			launcher(filepath.Join(bin, tool+".cmd"), tool)
		}
	}
	if !sc.noCDK {
		launcher(filepath.Join(fx.root, ".cdk", "node_modules", ".bin", "cdk.cmd"), "cdk")
	}
	// Wine puts WINEPATH before its own system directories and leaves the Linux PATH out, so the real
	// tools of this machine are out of reach here too.
	path := winPath(bin)
	if !without(sc, "node") {
		path += ";" + winPath(filepath.Dir(w.nodeExe))
	}
	cmd := exec.Command(w.wine, append([]string{"cmd", "/c", winPath(filepath.Join(fx.root, "deploy.bat"))}, sc.args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(w.env(),
		"WINEPATH="+path,
		"STANDIN_LOG="+winPath(fx.log),
		"STANDIN_RULES="+winPath(fx.rules),
	)
	for k, v := range sc.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// winPath is path as Windows programs under Wine see it: drive Z: is the Linux root.
func winPath(path string) string {
	return "Z:" + strings.ReplaceAll(path, "/", `\`)
}

// TestMain stops Wine after the tests, if any of them started it.
func TestMain(m *testing.M) {
	code := m.Run()
	stopWine()
	os.Exit(code)
}
