package stacks_test

import (
	"encoding/json"
	"flag"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"novasonic/stacks"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// TestMain closes the jsii kernel once; the tests share one node process and never run in parallel.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synthesized is one stack synthesized once per test binary: synth with cdk-nag costs seconds.
type synthesized struct {
	once     sync.Once
	stack    awscdk.Stack
	template assertions.Template
	json     map[string]any
	err      any
}

var backend synthesized

// backendStack synthesizes NovaSonicSolutionBackendStack with the default configuration and cdk-nag,
// exactly as main_ecs.go does.
func backendStack(t *testing.T) *synthesized {
	t.Helper()
	backend.once.Do(func() {
		defer func() { backend.err = recover() }()
		app := stacks.NewApp()
		stacks.AddNagChecks(app)
		backend.stack = stacks.NewBackendStack(app, stacks.BackendStackName, &stacks.BackendStackProps{
			Config: stacks.DefaultConfig(),
		})
		backend.template = assertions.Template_FromStack(backend.stack, nil)
		raw, err := json.Marshal(backend.template.ToJSON())
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(raw, &backend.json); err != nil {
			panic(err)
		}
	})
	if backend.err != nil {
		// cdk-nag errors are annotations that fail synth outright; their ERROR lines are printed above.
		t.Fatalf("synthesize %s: %v", stacks.BackendStackName, backend.err)
	}
	return &backend
}

// check runs a jsii assertion, which panics on mismatch, and turns the panic into a test failure.
func check(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: %v", what, r)
		}
	}()
	assertion()
}

// resourcesOfType returns the template's resources of one type, keyed by logical ID.
func (s *synthesized) resourcesOfType(resourceType string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == resourceType {
			out[id] = res
		}
	}
	return out
}

// props returns a resource's Properties.
func props(resource map[string]any) map[string]any {
	p, _ := resource["Properties"].(map[string]any)
	return p
}

// obj is a shorthand for a JSON object in expected template fragments.
type obj = map[string]any
