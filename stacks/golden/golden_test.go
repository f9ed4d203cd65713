package golden_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"novasonic/stacks/golden"
)

func TestRenderMasksAssetHashesOnly(t *testing.T) {
	// GIVEN a template with an asset hash in an S3 key and an image tag, and a 63-digit value that is no
	// SHA-256
	hash := "3037e83e05fcc02386be4f250b14373364eaa582fcff7ae3c63de143eff3ce13"
	template := map[string]any{
		"Resources": map[string]any{
			"Image": map[string]any{"Tag": hash, "Key": hash + ".zip"},
			"Other": map[string]any{"Value": hash[:63], "Html": "<b>"},
		},
	}

	// WHEN it is rendered
	got, err := golden.Render(template)
	if err != nil {
		t.Fatal(err)
	}

	// THEN the hashes are masked, everything else is kept, keys are sorted and the file ends in a newline,
	// exactly as the golden files are written
	want := `{
  "Resources": {
    "Image": {
      "Key": "<asset-hash>.zip",
      "Tag": "<asset-hash>"
    },
    "Other": {
      "Html": "\u003cb\u003e",
      "Value": "` + hash[:63] + `"
    }
  }
}
`
	if string(got) != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
}

func TestRenderFileEqualsRender(t *testing.T) {
	// GIVEN a template as `cdk synth` writes it: its own key order and indentation
	path := filepath.Join(t.TempDir(), "Stack.template.json")
	if err := os.WriteFile(path, []byte(`{"Resources":{"B":{"Type":"AWS::S3::Bucket"},"A":{"Type":"AWS::SNS::Topic"}},"Outputs":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}

	// WHEN the file is rendered
	got, err := golden.RenderFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// THEN it is the same as rendering the decoded template
	want, _ := golden.Render(map[string]any{
		"Outputs":   map[string]any{},
		"Resources": map[string]any{"A": map[string]any{"Type": "AWS::SNS::Topic"}, "B": map[string]any{"Type": "AWS::S3::Bucket"}},
	})
	if string(got) != string(want) {
		t.Errorf("RenderFile =\n%s\nwant\n%s", got, want)
	}
}

// A failing check lists every changed path, with asset hashes masked on both sides.
func TestChangesListsEveryChangedPath(t *testing.T) {
	render := func(v map[string]any) []byte {
		b, err := golden.Render(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := render(map[string]any{"Resources": map[string]any{"A": map[string]any{"Type": "AWS::SNS::Topic", "P": 1}, "B": map[string]any{"Type": "AWS::S3::Bucket"}}})
	same := render(map[string]any{"Resources": map[string]any{"A": map[string]any{"Type": "AWS::SNS::Topic", "P": 1}, "B": map[string]any{"Type": "AWS::S3::Bucket"}}})
	got := render(map[string]any{"Resources": map[string]any{"A": map[string]any{"Type": "AWS::SNS::Topic", "P": 2}, "C": map[string]any{"Type": "AWS::S3::Bucket"}}})
	if changes, err := golden.Changes(want, same); err != nil || len(changes) != 0 {
		t.Fatalf("equal templates: %v, %v", changes, err)
	}
	changes, err := golden.Changes(want, got)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(changes, "\n")
	for _, path := range []string{"Resources.A.P", "Resources.B", "Resources.C"} {
		if !strings.Contains(joined, path) {
			t.Errorf("changes %q do not name %s", changes, path)
		}
	}
}

func TestPath(t *testing.T) {
	if got, want := golden.Path("stacks/testdata", "NovaSonicSolutionBackendStack"), filepath.Join("stacks", "testdata", "NovaSonicSolutionBackendStack.template.json"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}
