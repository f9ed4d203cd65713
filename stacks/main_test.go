package stacks_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"novasonic/stacks"
	"novasonic/stacks/templatecheck"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// TestMain closes the jsii kernel once; the tests share one node process and never run in parallel.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	jsii.Close()
	if prodAssembly.dir != "" {
		_ = os.RemoveAll(prodAssembly.dir)
	}
	os.Exit(code)
}

// synthesized is one stack synthesized once per test binary: a synth costs seconds.
type synthesized struct {
	once     sync.Once
	app      awscdk.App
	stack    awscdk.Stack
	template assertions.Template
	tmpl     templatecheck.Template
	err      any
}

// The ECS stack with the default configuration, synthesized twice: once as main_ecs.go builds it, with
// cdk-nag, for the nag test alone; once without cdk-nag for every other test. An unsuppressed nag error
// fails synthesis outright, and it must fail only the nag test, not hide every other property behind one
// message.
var backend, naggedBackend synthesized

// backendStack returns NovaSonicSolutionBackendStack with the default configuration, without cdk-nag.
func backendStack(t *testing.T) *synthesized {
	t.Helper()
	return synthesize(t, &backend, false)
}

// naggedBackendStack returns the same stack with cdk-nag's AwsSolutions checks attached, exactly as
// main_ecs.go builds it.
func naggedBackendStack(t *testing.T) *synthesized {
	t.Helper()
	return synthesize(t, &naggedBackend, true)
}

func synthesize(t *testing.T, s *synthesized, nag bool) *synthesized {
	t.Helper()
	s.once.Do(func() {
		defer func() { s.err = recover() }()
		s.app = stacks.NewApp()
		if nag {
			stacks.AddNagChecks(s.app)
		}
		cfg := stacks.DefaultConfig()
		s.stack = stacks.NewBackendStack(s.app, stacks.StackName(stacks.BackendStackName, cfg), &stacks.BackendStackProps{Config: cfg})
		s.template = assertions.Template_FromStack(s.stack, nil)
		raw, err := json.Marshal(s.template.ToJSON())
		if err != nil {
			panic(err)
		}
		if s.tmpl, err = templatecheck.Parse(raw); err != nil {
			panic(err)
		}
	})
	if s.err != nil {
		t.Fatalf("synthesize %s (cdk-nag %v): %v", stacks.BackendStackName, nag, s.err)
	}
	return s
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
	return s.tmpl.Resources(resourceType)
}

// props returns a resource's Properties.
func props(resource map[string]any) map[string]any {
	return templatecheck.Properties(resource)
}

// obj is a shorthand for a JSON object in expected template fragments.
type obj = map[string]any

// describe renders an annotation (construct path, level and message) for a failure message.
func describe(data any) string {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Sprint(data)
	}
	return string(b)
}
