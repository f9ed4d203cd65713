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

	appconstructs "novasonic/constructs"
	"novasonic/stacks"
	"novasonic/stacks/templatecheck"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// TestMain closes the jsii kernel once; the tests share one node process and never run in parallel.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	jsii.Close()
	for _, a := range []*assembly{&prodAssembly, &eksProdAssembly} {
		if a.dir != "" {
			_ = os.RemoveAll(a.dir)
		}
	}
	os.Exit(code)
}

// synthesized is one stack synthesized once per test binary, with cdk-nag attached as its main builds it: a
// synth costs seconds. An unsuppressed cdk-nag error fails synthesis outright; it must fail only the nag
// test, not hide every other property behind one message, so then the stack is synthesized again without
// cdk-nag for the other tests, and nagErr keeps the first failure for the nag test.
type synthesized struct {
	once     sync.Once
	app      awscdk.App
	stack    awscdk.Stack
	template assertions.Template
	tmpl     templatecheck.Template
	nagErr   any
	err      any
}

// The two stacks with the default configuration.
var backend, eks synthesized

// backendStack returns NovaSonicSolutionBackendStack with the default configuration, as main_ecs.go builds it.
func backendStack(t *testing.T) *synthesized {
	t.Helper()
	return synthesize(t, &backend, stacks.BackendStackName, func(app awscdk.App, cfg stacks.Config) awscdk.Stack {
		return stacks.NewBackendStack(app, stacks.StackName(stacks.BackendStackName, cfg), &stacks.BackendStackProps{Config: cfg})
	})
}

// eksStack returns NovaSonicSolutionEKSBackendStack with the default configuration, as main_eks.go builds it.
func eksStack(t *testing.T) *synthesized {
	t.Helper()
	return synthesize(t, &eks, stacks.EKSStackName, func(app awscdk.App, cfg stacks.Config) awscdk.Stack {
		return stacks.NewEKSStack(app, stacks.StackName(stacks.EKSStackName, cfg), &stacks.EKSStackProps{Config: cfg})
	})
}

// synthesize builds s once with build: first with cdk-nag, and again without it only if that failed.
func synthesize(t *testing.T, s *synthesized, name string, build func(awscdk.App, stacks.Config) awscdk.Stack) *synthesized {
	t.Helper()
	s.once.Do(func() {
		if s.nagErr = s.build(build, true); s.nagErr != nil {
			s.err = s.build(build, false)
		}
	})
	if s.err != nil {
		t.Fatalf("synthesize %s without cdk-nag: %v", name, s.err)
	}
	return s
}

// build synthesizes the stack into s and returns what it panicked with, if anything.
func (s *synthesized) build(build func(awscdk.App, stacks.Config) awscdk.Stack, nag bool) (failure any) {
	defer func() { failure = recover() }()
	s.app = stacks.NewApp()
	if nag {
		stacks.AddNagChecks(s.app)
	}
	s.stack = build(s.app, stacks.DefaultConfig())
	s.template = assertions.Template_FromStack(s.stack, nil)
	raw, err := json.Marshal(s.template.ToJSON())
	if err != nil {
		panic(err)
	}
	if s.tmpl, err = templatecheck.Parse(raw); err != nil {
		panic(err)
	}
	return nil
}

// nagFindings returns the AwsSolutions errors and warnings of s's synthesis with cdk-nag: the failure of
// that synthesis, or its annotations.
func nagFindings(t *testing.T, s *synthesized) []string {
	t.Helper()
	if s.nagErr != nil {
		return []string{fmt.Sprintf("synthesis with cdk-nag failed: %v", s.nagErr)}
	}
	var findings []string
	check(t, "annotations", func() {
		annotations := assertions.Annotations_FromStack(s.stack)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-"))
		for _, m := range *annotations.FindError(jsii.String("*"), nag) {
			findings = append(findings, "unsuppressed cdk-nag error "+describe(m))
		}
		for _, m := range *annotations.FindWarning(jsii.String("*"), nag) {
			findings = append(findings, "unsuppressed cdk-nag warning "+describe(m))
		}
	})
	return findings
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

// defaultBedrock is the one Bedrock grant a stack of the default configuration may hold
// (templatecheck.Security).
func defaultBedrock() templatecheck.Bedrock {
	cfg := stacks.DefaultConfig()
	return templatecheck.Bedrock{Region: cfg.BedrockRegion, ModelID: cfg.ModelID, Actions: appconstructs.BedrockActions}
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
