package stacks_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"novasonic/stacks/templatecheck"
)

// Patterns of a stack output named in prose: "the `CloudFrontUrl` output", "output `UserPoolId`".
var (
	outputBefore = regexp.MustCompile("`([A-Z][A-Za-z0-9]+)`\\s+outputs?\\b")
	outputAfter  = regexp.MustCompile("(?i)\\boutputs?\\s+`([A-Z][A-Za-z0-9]+)`")
	backticked   = regexp.MustCompile("`([A-Z][A-Za-z0-9]+)`")
	heading      = regexp.MustCompile(`^#+\s+(.*)$`)
)

// namedOutputs returns the stack outputs a Markdown document names: every backticked name in the first
// column of a table under a heading containing "Outputs", and every backticked name written next to the
// word "output" in prose. The table is the document's list; prose mentions must exist too.
func namedOutputs(markdown string) (table, prose []string) {
	inOutputs := false
	for _, line := range strings.Split(markdown, "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			inOutputs = strings.Contains(m[1], "Outputs")
			continue
		}
		if inOutputs && strings.HasPrefix(line, "|") {
			cells := strings.Split(line, "|")
			for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
				table = append(table, m[1])
			}
		}
		for _, re := range []*regexp.Regexp{outputBefore, outputAfter} {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				prose = append(prose, m[1])
			}
		}
	}
	return table, prose
}

func TestNamedOutputsFindsTablesAndProse(t *testing.T) {
	doc := "Open the `WebsiteUrl` output, or see output `UserPoolId`.\n`ActiveSessions` is a metric.\n" +
		"## Outputs\n\n| Output | Value |\n|---|---|\n| `CloudFrontUrl` | the URL |\n| `BedrockRegion`, `BedrockModelId` | what |\n" +
		"## Next\n| `NotAnOutput` | x |\n"
	table, prose := namedOutputs(doc)
	if want := []string{"CloudFrontUrl", "BedrockRegion", "BedrockModelId"}; !slices.Equal(table, want) {
		t.Errorf("table = %q, want %q", table, want)
	}
	if want := []string{"WebsiteUrl", "UserPoolId"}; !slices.Equal(prose, want) {
		t.Errorf("prose = %q, want %q", prose, want)
	}
}

// stackPages maps each stack's page in docs/ to that stack's template. The EKS stack adds its page here;
// README.md and every other document are checked against the outputs of all of them together.
var stackPages = map[string]func(*testing.T) templatecheck.Template{
	"ecs-stack.md": func(t *testing.T) templatecheck.Template { return backendStack(t).tmpl },
}

func TestDocumentedOutputsExist(t *testing.T) {
	// GIVEN every stack's outputs
	outputsOf := map[string]map[string]any{}
	anyStack := map[string]bool{}
	for page, template := range stackPages {
		outputsOf[page] = template(t).Outputs()
		for id := range outputsOf[page] {
			anyStack[id] = true
		}
	}

	// WHEN README.md and every document in docs/ are read
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range append([]string{"../README.md"}, docs...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		table, prose := namedOutputs(string(raw))
		outputs, stackPage := outputsOf[filepath.Base(path)]
		if !stackPage {
			outputs = map[string]any{}
			for id := range anyStack {
				outputs[id] = true
			}
		}
		have := slices.Sorted(maps.Keys(outputs))

		// THEN every output a document names exists (in its own stack, for a stack's page), so a user never
		// looks for an output that is not there
		for _, name := range append(table, prose...) {
			if _, ok := outputs[name]; !ok {
				t.Errorf("%s names the output %s, which does not exist (there are %s)", path, name, strings.Join(have, ", "))
			}
		}
		// AND a stack's page lists every output the stack has
		if stackPage {
			for _, id := range have {
				if !slices.Contains(table, id) {
					t.Errorf("%s does not list the output %s in its Outputs table", path, id)
				}
			}
		}
	}
}
