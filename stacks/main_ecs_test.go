package stacks_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMainEcsRejectsBadConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs main_ecs.go")
	}
	// GIVEN the context `cdk synth -c minTasks=many` hands the app (the CLI passes it in CDK_CONTEXT_JSON)
	cmd := exec.Command("go", "run", "main_ecs.go")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), `CDK_CONTEXT_JSON={"minTasks":"many"}`, "CDK_OUTDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr

	// WHEN the app runs
	err := cmd.Run()

	// THEN synth fails before building any stack, naming the key, the value and the expected form
	if err == nil {
		t.Fatal("main_ecs.go succeeded with minTasks=many")
	}
	if want := `minTasks must be a whole number from 1 to 100, got "many"`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
	}
}
