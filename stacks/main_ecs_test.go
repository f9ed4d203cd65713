package stacks_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"novasonic/stacks"
	"novasonic/stacks/templatecheck"
)

// runMainEcs runs `go run main_ecs.go` with the context the CDK CLI would pass for `-c key=value`, writing
// the cloud assembly to outdir. It returns stderr and the error.
func runMainEcs(t *testing.T, context map[string]any, outdir string) (string, error) {
	t.Helper()
	return runMain(t, "main_ecs.go", context, outdir)
}

// runMain runs `go run <main>` at the repository root the way runMainEcs does.
func runMain(t *testing.T, main string, context map[string]any, outdir string) (string, error) {
	t.Helper()
	contextJSON, err := json.Marshal(context)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", main)
	cmd.Dir = ".."
	// The CLI passes -c values in CDK_CONTEXT_JSON and the output directory in CDK_OUTDIR.
	cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+string(contextJSON), "CDK_OUTDIR="+outdir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	return stderr.String(), err
}

func TestMainEcsRejectsBadConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs main_ecs.go")
	}
	// GIVEN the context `cdk synth -c minTasks=many` hands the app
	// WHEN the app runs
	stderr, err := runMainEcs(t, map[string]any{"minTasks": "many"}, t.TempDir())

	// THEN synth fails before building any stack, naming the key, the value and the expected form
	if err == nil {
		t.Fatal("main_ecs.go succeeded with minTasks=many")
	}
	if want := `minTasks must be a whole number from 1 to 100, got "many"`; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
}

// prodContext is the production stage's context in these tests: the stage, and two chosen zones (the
// case a user reaches for when the region's first zones cannot host CloudFront VPC origins).
var prodContext = map[string]any{"stage": "prod", "availabilityZones": "us-east-1b,us-east-1c"}

// prodAssembly is the cloud assembly main_ecs.go writes for prodContext, made once per test binary: a full
// synth with cdk-nag through the real main.
var prodAssembly assembly

// prodTemplate returns NovaSonicSolutionBackendStack-prod as main_ecs.go synthesizes it for prodContext.
func prodTemplate(t *testing.T) templatecheck.Template {
	t.Helper()
	return prodAssembly.template(t, "main_ecs.go", prodContext, prodStackName)
}

// assembly is a cloud assembly written by one of the mains, once per test binary.
type assembly struct {
	once   sync.Once
	dir    string
	stderr string
	err    error
}

// template runs main with context into the assembly's directory, once, and returns stack's template.
func (a *assembly) template(t *testing.T, main string, context map[string]any, stack string) templatecheck.Template {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs " + main)
	}
	a.once.Do(func() {
		// Not t.TempDir: the directory outlives the test that happens to synthesize first; TestMain
		// removes it.
		if a.dir, a.err = os.MkdirTemp("", "cdk.out."+strings.TrimSuffix(main, ".go")); a.err != nil {
			return
		}
		a.stderr, a.err = runMain(t, main, context, a.dir)
	})
	if a.err != nil {
		t.Fatalf("go run %s with context %v: %v\n%s", main, context, a.err, a.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(a.dir, stack+".template.json"))
	if err != nil {
		entries, _ := os.ReadDir(a.dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%v; the assembly holds %v", err, names)
	}
	tmpl, err := templatecheck.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// prodStackName is the stack name the production stage must get.
const prodStackName = stacks.BackendStackName + "-prod"
