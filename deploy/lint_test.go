package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// actionlint is pinned: a newer release may add checks, which then arrive in a change of their own.
const actionlint = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// shellScripts are the repository's shell scripts: every *.sh file git knows (new ones included) and
// .ci/run.
func shellScripts(t *testing.T) []string {
	t.Helper()
	list := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "*.sh", ".ci/run")
	list.Dir = repoRoot
	out, err := list.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var scripts []string
	for _, name := range strings.Fields(string(out)) {
		if _, err := os.Stat(filepath.Join(repoRoot, name)); err == nil {
			scripts = append(scripts, name)
		}
	}
	return scripts
}

func TestShellScriptsPassShellcheck(t *testing.T) {
	shellcheck, err := exec.LookPath("shellcheck")
	requireTool(t, "shellcheck", err)
	// GIVEN every shell script, deploy.sh among them
	scripts := shellScripts(t)
	for _, want := range []string{"deploy.sh", "deploy/install-test-tools.sh", ".ci/run"} {
		if !strings.Contains(" "+strings.Join(scripts, " ")+" ", " "+want+" ") {
			t.Fatalf("%s is not among the scripts checked: %q", want, scripts)
		}
	}

	// WHEN shellcheck reads them, with every optional check of style level and above
	cmd := exec.Command(shellcheck, append([]string{"--severity=style"}, scripts...)...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()

	// THEN it finds nothing
	if err != nil {
		t.Errorf("shellcheck %s: %v\n%s", strings.Join(scripts, " "), err, out)
	}
}

// workflows are the GitHub Actions workflow files.
func workflows(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in .github/workflows (%v)", err)
	}
	return files
}

func TestWorkflowsPassActionlint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds actionlint")
	}
	// actionlint checks each step's shell script with shellcheck, but silently skips that without it.
	_, err := exec.LookPath("shellcheck")
	requireTool(t, "shellcheck", err)
	// GIVEN the workflows
	files := workflows(t)

	// WHEN the pinned actionlint reads them
	cmd := exec.Command("go", append([]string{"run", actionlint, "-no-color"}, files...)...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()

	// THEN it finds nothing
	if err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}

// pinnedUse is a step's `uses:` pinned to a full commit SHA, with the release it is in a comment.
var pinnedUse = regexp.MustCompile(`^\s*(- )?uses: [A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40} # v[0-9]+\.[0-9]+\.[0-9]+$`)

func TestWorkflowActionsArePinnedToCommits(t *testing.T) {
	// GIVEN the workflows
	for _, file := range workflows(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// THEN every action they use is pinned to a commit (a tag can be moved to other code), and says
		// which release that commit is
		uses := 0
		for i, line := range strings.Split(string(raw), "\n") {
			if !strings.Contains(line, "uses:") || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			uses++
			if !pinnedUse.MatchString(line) {
				t.Errorf("%s:%d: %q is not pinned as `uses: owner/action@<40-hex commit> # vX.Y.Z`", filepath.Base(file), i+1, strings.TrimSpace(line))
			}
		}
		if uses == 0 {
			t.Errorf("%s uses no actions; is this the workflow?", file)
		}
	}
}
