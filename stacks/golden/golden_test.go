package golden_test

import (
	"os"
	"path/filepath"
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

func TestFirstDiff(t *testing.T) {
	for name, tc := range map[string]struct{ want, got, diff string }{
		"equal":        {"a\nb\n", "a\nb\n", ""},
		"changed line": {"a\nb\nc\n", "a\nB\nc\n", "line 2:\n  want: b\n  got:  B"},
		"longer":       {"a\n", "a\nb\n", "line 2:\n  want: \n  got:  b"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := golden.FirstDiff([]byte(tc.want), []byte(tc.got)); got != tc.diff {
				t.Errorf("FirstDiff = %q, want %q", got, tc.diff)
			}
		})
	}
}

func TestPath(t *testing.T) {
	if got, want := golden.Path("stacks/testdata", "NovaSonicSolutionBackendStack"), filepath.Join("stacks", "testdata", "NovaSonicSolutionBackendStack.template.json"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}
