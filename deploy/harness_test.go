package deploy_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Bounds for a busy machine: they only stop a hung script, they never decide a result.
const (
	// promptTimeout is how long a script may take to print its next prompt (Wine's first start of the
	// day is the slow case).
	promptTimeout = 3 * time.Minute
	// runTimeout bounds one whole run of a script.
	runTimeout = 5 * time.Minute
	// pollInterval is how often the output file is read while waiting for a prompt.
	pollInterval = 20 * time.Millisecond
)

// repoRoot is the repository root, where the scripts live.
var repoRoot = mustAbs("..")

func mustAbs(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		panic(err)
	}
	return abs
}

// rule is one answer of the stand-in tools; testdata/standin.js documents the fields.
type rule struct {
	Tool           string   `json:"tool"`
	Args           []string `json:"args,omitempty"`
	Stdout         string   `json:"stdout,omitempty"`
	Stderr         string   `json:"stderr,omitempty"`
	Exit           int      `json:"exit,omitempty"`
	WriteFileAfter string   `json:"writeFileAfter,omitempty"`
	FileContent    string   `json:"fileContent,omitempty"`
}

// call is one command a script ran, as a stand-in recorded it.
type call struct {
	Tool string            `json:"tool"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

func (c call) String() string {
	return fmt.Sprintf("%s %q %v", c.Tool, c.Args, c.Env)
}

// answer is typed, like a person would, once the script has printed Prompt.
type answer struct{ Prompt, Text string }

// scenario is one run of a deploy script and what it must do.
type scenario struct {
	name    string
	args    []string
	answers []answer
	// rules are tried before those of the healthy account (healthyAccount).
	rules []rule
	// env is added to the scripts' otherwise empty environment.
	env map[string]string
	// without names the tools left off PATH: aws, docker, kubectl, go, npm or node.
	without []string
	// noEKSMain leaves main_eks.go out of the checkout; noCDK leaves the CDK CLI uninstalled.
	noEKSMain, noCDK bool

	wantExit  int
	wantCalls []call
	// wantOutput must each appear in stdout and stderr together; {script} stands for the script's own
	// name as it prints it (./deploy.sh, deploy.bat).
	wantOutput []string
	// notOutput must not appear.
	notOutput []string
}

// platform runs one of the two scripts.
type platform interface {
	// script is how the script names itself in its messages.
	script() string
	// eol ends a typed answer.
	eol() string
	// command prepares a run of the script in fx with the stand-ins of sc on PATH.
	command(t *testing.T, fx *fixture, sc scenario) *exec.Cmd
	// normalize turns a recorded argument into deploy.sh's spelling (path separators).
	normalize(arg string) string
}

// fixture is a throw-away checkout holding only what the scripts read, so that runs cannot touch the
// repository's own cdk.out/ or .cdk/.
type fixture struct {
	root, rules, log, output string
}

// newFixture copies the scripts, the helper, cdk.json and the mains into a temporary directory and
// writes the stand-ins' rules.
func newFixture(t *testing.T, sc scenario) *fixture {
	t.Helper()
	// Not t.TempDir: its name comes from the test's, and cmd splits a path at the commas in it.
	root, err := os.MkdirTemp("", "deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, name := range []string{"deploy.sh", "deploy.bat", "deploy/helper.js", "cdk.json", "main_ecs.go"} {
		copyFile(t, filepath.Join(repoRoot, name), filepath.Join(root, name))
	}
	if !sc.noEKSMain {
		// The scripts only check that the EKS app exists; the stand-in CDK never runs it. Copy the real one
		// once it is in the repository.
		if _, err := os.Stat(filepath.Join(repoRoot, "main_eks.go")); err == nil {
			copyFile(t, filepath.Join(repoRoot, "main_eks.go"), filepath.Join(root, "main_eks.go"))
		} else {
			writeFile(t, filepath.Join(root, "main_eks.go"), "//go:build ignore\n\npackage main\n")
		}
	}
	fx := &fixture{
		root:   root,
		rules:  filepath.Join(root, ".test", "rules.json"),
		log:    filepath.Join(root, ".test", "calls.jsonl"),
		output: filepath.Join(root, ".test", "output.txt"),
	}
	raw, err := json.Marshal(append(append([]rule{}, sc.rules...), healthyAccount()...))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, fx.rules, string(raw))
	writeFile(t, fx.log, "")
	return fx
}

// result is what a run left behind.
type result struct {
	exit   int
	output string
	calls  []call
}

// run runs sc on p: it starts the script, types each answer once its prompt shows, then waits for the
// end and reads what the stand-ins recorded.
func run(t *testing.T, p platform, sc scenario) result {
	t.Helper()
	fx := newFixture(t, sc)
	cmd := p.command(t, fx, sc)
	// A file, not a pipe: Windows node.exe under Wine fails to write to a pipe (EBADF).
	out, err := os.Create(fx.output)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func(format string, args ...any) {
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf(format+"\noutput so far:\n%s", append(args, readOutput(t, fx))...)
	}

	offset := 0
	for _, a := range sc.answers {
		at, err := waitForPrompt(fx.output, offset, a.Prompt, exited)
		if err != nil {
			stop("waiting for prompt %q: %v", a.Prompt, err)
		}
		offset = at + len(a.Prompt)
		if _, err := io.WriteString(stdin, a.Text+p.eol()); err != nil {
			stop("answering %q: %v", a.Prompt, err)
		}
	}
	// An ended stdin: any further question reads an empty answer.
	stdin.Close()
	select {
	case <-exited:
	case <-time.After(runTimeout):
		stop("the script did not finish within %v", runTimeout)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		t.Fatalf("run: %v", waitErr)
	}
	return result{exit: cmd.ProcessState.ExitCode(), output: readOutput(t, fx), calls: readCalls(t, fx, p)}
}

// waitForPrompt polls the output file until prompt appears at or after offset, and returns where.
func waitForPrompt(path string, offset int, prompt string, exited <-chan struct{}) (int, error) {
	deadline := time.After(promptTimeout)
	for {
		raw, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		if offset <= len(raw) {
			if i := strings.Index(string(raw[offset:]), prompt); i >= 0 {
				return offset + i, nil
			}
		}
		select {
		case <-exited:
			return 0, errors.New("the script ended without asking")
		case <-deadline:
			return 0, fmt.Errorf("not asked within %v", promptTimeout)
		case <-time.After(pollInterval):
		}
	}
}

func readOutput(t *testing.T, fx *fixture) string {
	raw, err := os.ReadFile(fx.output)
	if err != nil {
		t.Fatal(err)
	}
	// cmd ends lines with CRLF.
	return strings.ReplaceAll(string(raw), "\r\n", "\n")
}

func readCalls(t *testing.T, fx *fixture, p platform) []call {
	t.Helper()
	f, err := os.Open(fx.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []call
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		var c call
		if err := json.Unmarshal(lines.Bytes(), &c); err != nil {
			t.Fatalf("stand-in record %q: %v", lines.Text(), err)
		}
		for i, a := range c.Args {
			c.Args[i] = p.normalize(a)
		}
		calls = append(calls, c)
	}
	return calls
}

// check compares a run with what sc wants.
func check(t *testing.T, p platform, sc scenario, got result) {
	t.Helper()
	if got.exit != sc.wantExit {
		t.Errorf("exit status %d, want %d", got.exit, sc.wantExit)
	}
	if !reflect.DeepEqual(got.calls, sc.wantCalls) {
		t.Errorf("commands differ\n%s", diffCalls(got.calls, sc.wantCalls))
	}
	for _, want := range sc.wantOutput {
		want = strings.ReplaceAll(want, "{script}", p.script())
		if !strings.Contains(got.output, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, unwanted := range sc.notOutput {
		if strings.Contains(got.output, unwanted) {
			t.Errorf("output has %q", unwanted)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got.output)
	}
}

// diffCalls lists both command sequences side by side from the first difference.
func diffCalls(got, want []call) string {
	var b strings.Builder
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i].String()
		}
		if i < len(want) {
			w = want[i].String()
		}
		mark := " "
		if g != w {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %d\n    got:  %s\n    want: %s\n", mark, i, g, w)
	}
	return b.String()
}

// standinTools are the executables the stand-in replaces on PATH; the CDK CLI is placed where the
// scripts look for it instead (.cdk/node_modules/.bin).
var standinTools = []string{"aws", "docker", "kubectl", "go", "npm"}

// without reports whether sc leaves tool off PATH.
func without(sc scenario, tool string) bool {
	for _, w := range sc.without {
		if w == tool {
			return true
		}
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// requireTool skips a test that needs a tool `make test-tools` could not install (err says why), except
// in CI, where a skipped check would pass unseen.
func requireTool(t *testing.T, tool string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed (%v): run `make test-tools` (deploy/install-test-tools.sh)", tool, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
