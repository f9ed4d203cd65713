package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const ecsStack = "NovaSonicSolutionBackendStack"

func TestTemplateCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the ECS stack three times with the CDK CLI")
	}
	// GIVEN a fresh copy of the checkout, with the CDK CLI make setup installed
	root := copyCheckout(t)
	check := func(only ...string) (string, int) {
		var stdout, stderr bytes.Buffer
		status := run(options{root: root, cdk: ".cdk/node_modules/.bin/cdk", out: "cdk.out", only: only}, &stdout, &stderr)
		return stdout.String() + stderr.String(), status
	}
	rawTemplate := func() []byte {
		raw, err := os.ReadFile(filepath.Join(root, "cdk.out", ecsStack, ecsStack+".template.json"))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	// WHEN the check runs on it unchanged
	out, status := check()

	// THEN every stack matches its golden template; the EKS stack is checked once main_eks.go exists
	if status != 0 {
		t.Fatalf("fresh checkout: status %d, want 0\n%s", status, out)
	}
	if !strings.Contains(out, "ok   NovaSonicSolutionBackendStack matches stacks/testdata/NovaSonicSolutionBackendStack.template.json\n") {
		t.Errorf("no ok line for the ECS stack:\n%s", out)
	}
	wantEKS := "skip NovaSonicSolutionEKSBackendStack: main_eks.go is not in this checkout yet\n"
	if _, err := os.Stat(filepath.Join(root, "main_eks.go")); err == nil {
		wantEKS = "ok   NovaSonicSolutionEKSBackendStack matches stacks/testdata/NovaSonicSolutionEKSBackendStack.template.json\n"
	}
	if !strings.Contains(out, wantEKS) {
		t.Errorf("output lacks %q:\n%s", wantEKS, out)
	}
	before := rawTemplate()

	// WHEN only the gateway's source changes
	appendTo(t, filepath.Join(root, "server", "main.go"), "\n// An edit under server/ changes the image, not the infrastructure.\n")
	out, status = check(ecsStack)

	// THEN the check still passes, although the synthesized template changed: its image asset hash
	if status != 0 {
		t.Errorf("after an edit under server/: status %d, want 0\n%s", status, out)
	}
	if bytes.Equal(before, rawTemplate()) {
		t.Error("the edit under server/ did not change the synthesized template, so this proves nothing about masking")
	}

	// WHEN the stack itself changes
	replaceIn(t, filepath.Join(root, "stacks", "backend.go"),
		`"Nova Sonic speech-to-speech gateway on ECS Fargate behind CloudFront"`,
		`"Nova Sonic gateway, changed"`)
	out, status = check(ecsStack)

	// THEN the check fails, naming the stack, the golden file and every changed path, and how to update it
	if status != 1 {
		t.Errorf("after a stack change: status %d, want 1\n%s", status, out)
	}
	for _, want := range []string{
		"FAIL NovaSonicSolutionBackendStack: the synthesized template differs from stacks/testdata/NovaSonicSolutionBackendStack.template.json",
		`  Description: want "Nova Sonic speech-to-speech gateway on ECS Fargate behind CloudFront", got "Nova Sonic gateway, changed"`,
		"go test ./stacks -run Golden -update",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// copyCheckout copies the repository's files (tracked, and new ones not ignored) into a temporary
// directory, the way a fresh clone would have them, and links the CDK CLI installed by make setup.
func copyCheckout(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(repo, ".cdk", "node_modules")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("the CDK CLI is not installed (%v): run make setup", err)
	}
	list := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	list.Dir = repo
	files, err := list.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	root := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		from := filepath.Join(repo, name)
		info, err := os.Stat(from)
		if err != nil {
			// Deleted in the work tree but not yet in the index: a fresh clone of this change lacks it too.
			continue
		}
		raw, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, raw, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(cdk, filepath.Join(root, ".cdk", "node_modules")); err != nil {
		t.Fatal(err)
	}
	return root
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("%s has no %s", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(raw, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}
