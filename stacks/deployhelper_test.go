package stacks_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"novasonic/stacks"
)

// The deploy scripts check values and pick defaults before the app runs, in deploy/helper.js. These
// tests hold that file to the app's own configuration code, so a script never passes what synth rejects
// nor shows a default the app does not use.

// deployHelper runs deploy/helper.js with args in dir.
func deployHelper(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	helper, err := filepath.Abs(filepath.Join("..", "deploy", "helper.js"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", append([]string{helper}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("node %s: %v", helper, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestDeployHelperDefaultsAreTheConfigs(t *testing.T) {
	// GIVEN a cdk.json without configuration keys, and the repository's own cdk.json
	bare := t.TempDir()
	if err := os.WriteFile(filepath.Join(bare, "cdk.json"), []byte(`{"app": "go run main_ecs.go", "context": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		t.Fatal(err)
	}
	fromCdkJSON, err := stacks.ParseConfig(lookup(cdk.Context))
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		dir  string
		want stacks.Config
	}{
		"no context":            {bare, stacks.DefaultConfig()},
		"repository's cdk.json": {"..", fromCdkJSON},
	} {
		t.Run(name, func(t *testing.T) {
			// WHEN the helper prints the defaults the scripts offer
			out, status := deployHelper(t, tc.dir, "defaults")

			// THEN they are the stage, Bedrock region and model the app uses
			want := "stage=" + tc.want.Stage + "\nbedrockRegion=" + tc.want.BedrockRegion + "\nmodelId=" + tc.want.ModelID + "\n"
			if status != 0 || out != want {
				t.Errorf("helper.js defaults = %q (exit %d), want %q", out, status, want)
			}
		})
	}
}

func TestDeployHelperValidatesLikeTheConfig(t *testing.T) {
	for _, tc := range []struct{ flag, key, value string }{
		{"--stage", stacks.KeyStage, "dev"},
		{"--stage", stacks.KeyStage, "prod-eu-2"},
		{"--stage", stacks.KeyStage, "Prod"},
		{"--stage", stacks.KeyStage, "2nd"},
		{"--stage", stacks.KeyStage, "under_score"},
		{"--stage", stacks.KeyStage, "a-stage-name-of-17"},
		{"--bedrock-region", stacks.KeyBedrockRegion, "us-east-1"},
		{"--bedrock-region", stacks.KeyBedrockRegion, "us-gov-west-1"},
		{"--bedrock-region", stacks.KeyBedrockRegion, "eu-west-1a"},
		{"--bedrock-region", stacks.KeyBedrockRegion, "moon"},
		// The stack's region follows the same pattern; the app never sees it, the CDK CLI does.
		{"--region", stacks.KeyBedrockRegion, "ap-southeast-2"},
		{"--region", stacks.KeyBedrockRegion, "EU-WEST-1"},
	} {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			// WHEN the helper and the app's configuration parser judge the same value
			out, status := deployHelper(t, "..", "validate", tc.flag, tc.value)
			_, err := stacks.ParseConfig(lookup(map[string]any{tc.key: tc.value}))

			// THEN they agree, and a refusal asks for the same form in the same words
			if (status == 0) != (err == nil) {
				t.Fatalf("helper.js exit %d (%q), config error %v", status, out, err)
			}
			if err != nil {
				helperWant := strings.TrimPrefix(strings.TrimSpace(out), tc.flag)
				configWant := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "invalid configuration (cdk.json context or -c key=value): "), tc.key)
				if helperWant != configWant {
					t.Errorf("helper.js says %q, config says %q", helperWant, configWant)
				}
			}
		})
	}
}
