// Package golden renders synthesized CloudFormation templates the way the golden files in
// stacks/testdata/ hold them: indented JSON with sorted keys and every asset hash masked. An asset hash
// changes with every edit of the gateway's source (server/) or the web client, which is no
// infrastructure change. The stack tests (stacks/*_test.go) and the CI template check
// (stacks/cmd/templatecheck) both render through this package, so they agree on what counts as a change.
// Plain Go: no jsii, so the template check builds in seconds.
package golden

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"novasonic/stacks/templatecheck"
)

// Mask replaces every asset hash in a rendered template.
const Mask = "<asset-hash>"

// assetHash matches the content hashes of assets (S3 keys, image tags, staging directories) and the
// marker hashes the CDK puts around them: 64 lowercase hex digits, a SHA-256.
var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// Render returns template as indented JSON with its keys sorted and asset hashes masked, ending in a
// newline. template is the decoded JSON of a template (map[string]any).
func Render(template any) ([]byte, error) {
	raw, err := json.MarshalIndent(template, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render template: %w", err)
	}
	return append(assetHash.ReplaceAll(raw, []byte(Mask)), '\n'), nil
}

// RenderFile renders the template file `cdk synth` wrote at path.
func RenderFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var template map[string]any
	if err := json.Unmarshal(raw, &template); err != nil {
		return nil, fmt.Errorf("read template %s: %w", path, err)
	}
	return Render(template)
}

// Path returns the golden file of stackName in dir (stacks/testdata).
func Path(dir, stackName string) string {
	return filepath.Join(dir, stackName+".template.json")
}

// Changes lists every path at which the rendered templates want and got differ (templatecheck.Diff), so
// that a failing check shows the whole change, not its first line; empty when they are equal.
func Changes(want, got []byte) ([]string, error) {
	if bytes.Equal(want, got) {
		return nil, nil
	}
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return nil, fmt.Errorf("golden template: %w", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return nil, fmt.Errorf("synthesized template: %w", err)
	}
	if changes := templatecheck.Diff(w, g); len(changes) > 0 {
		return changes, nil
	}
	return []string{"(formatting only: re-render the golden file)"}, nil
}
