package stacks_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"novasonic/stacks"
)

func TestCdkJSONMatchesCode(t *testing.T) {
	// GIVEN cdk.json, which the CDK CLI reads
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}

	// THEN the CLI runs the ECS main, and its feature flags are exactly the ones NewApp sets, so
	// `cdk synth`, `go run main_ecs.go` and these tests build the same template.
	if cdk.App != "go run main_ecs.go" {
		t.Errorf(`cdk.json app = %q, want "go run main_ecs.go"`, cdk.App)
	}
	flags := map[string]any{}
	for k, v := range cdk.Context {
		if len(k) > 0 && k[0] == '@' {
			flags[k] = v
		}
	}
	want, _ := json.Marshal(stacks.FeatureFlags)
	var wantFlags map[string]any
	_ = json.Unmarshal(want, &wantFlags)
	if !reflect.DeepEqual(flags, wantFlags) {
		for k, v := range wantFlags {
			if !reflect.DeepEqual(flags[k], v) {
				t.Errorf("cdk.json %s = %v, code sets %v", k, flags[k], v)
			}
		}
		for k := range flags {
			if _, ok := wantFlags[k]; !ok {
				t.Errorf("cdk.json sets %s, code does not", k)
			}
		}
	}
	// Configuration keys in cdk.json must parse, or `cdk synth` fails where `go test` passed.
	if _, err := stacks.ParseConfig(func(k string) any { return cdk.Context[k] }); err != nil {
		t.Errorf("cdk.json context: %v", err)
	}
}
