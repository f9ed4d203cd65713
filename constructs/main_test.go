package constructs_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"novasonic/stacks"
)

// TestMain closes the jsii kernel once: every test in this binary shares one node process, and tests never
// run in parallel because the jsii runtime does not support it.
func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// newStack returns a bare, environment-agnostic stack in a fresh app with the app's feature flags.
func newStack() awscdk.Stack {
	return awscdk.NewStack(stacks.NewApp(), jsii.String("Test"), nil)
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

// synth returns the stack's template; a synth error fails the test.
func synth(t *testing.T, stack awscdk.Stack) assertions.Template {
	t.Helper()
	var template assertions.Template
	check(t, "synth", func() { template = assertions.Template_FromStack(stack, nil) })
	return template
}

// resources returns the template's resources of one type, keyed by logical ID, as plain JSON values.
func resources(t *testing.T, template assertions.Template, resourceType string) map[string]map[string]any {
	t.Helper()
	raw, err := json.Marshal(template.FindResources(jsii.String(resourceType), nil))
	if err != nil {
		t.Fatalf("marshal resources: %v", err)
	}
	out := map[string]map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal resources: %v", err)
	}
	return out
}

// obj is a shorthand for a JSON object in expected template fragments.
type obj = map[string]any

// writeFile writes a test fixture.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
