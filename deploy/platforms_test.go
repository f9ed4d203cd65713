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
	// One wineserver for the whole run, until stopWine kills it. Debian starts each server with -p0: it
	// exits as soon as its last client does, and a command that starts while it is exiting can fail at
	// once (exit status 1, no output: seen once in CI, with the machine busy). Two minutes without a
	// client is far beyond any gap between two tests, and ends the server of a run that was killed.
	persistent := exec.Command(w.server(), "-p120")
	persistent.Env = w.env()
	if err := persistent.Run(); err != nil { // it detaches, so Run returns once it is serving
		return w, fmt.Errorf("wineserver -p120: %v", err)
	}
	// The first start creates the prefix (a Windows directory tree and registry): seconds, once per run.
	// It also starts Wine's services, which the persistent server keeps alive: they inherit this command's
	// output, so that goes to a file, not to a pipe that would never reach its end.
	out, err := os.CreateTemp("", "deploy-wine-start-")
	if err != nil {
		return w, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(w.wine, "cmd", "/c", "exit 0")
	cmd.Env = w.env()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		text, _ := os.ReadFile(out.Name())
		return w, fmt.Errorf("wine cmd: %v\n%s", err, text)
	}
	return w, nil
}

// server is the wineserver that belongs to the wine in use.
func (w wine) server() string {
	server := filepath.Join(filepath.Dir(w.wine), "wineserver")
	if _, err := os.Stat(server); err != nil {
		return "wineserver"
	}
	return server
}

// stopWine ends the prefix's wineserver and deletes the prefix.
func stopWine() {
	if wineSetup.prefix == "" {
		return
	}
	cmd := exec.Command(wineSetup.server(), "-k")
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
