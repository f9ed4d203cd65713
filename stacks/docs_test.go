package stacks_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// stackPages maps each stack's page to that stack's template: docs/ecs-stack.md and README_EKS.md (at the
// root, where users of the replaced sample look for it). README.md and every other document are checked
// against the outputs of all of them together.
var stackPages = map[string]func(*testing.T) templatecheck.Template{
	"ecs-stack.md":  func(t *testing.T) templatecheck.Template { return backendStack(t).tmpl },
	"README_EKS.md": func(t *testing.T) templatecheck.Template { return eksStack(t).tmpl },
}

// documents are the Markdown files whose outputs and configuration keys are checked.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md", "../README_EKS.md"}, docs...)
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

	// WHEN README.md, README_EKS.md and every document in docs/ are read
	for _, path := range documents(t) {
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

// keyRow matches a configuration key in the first column of a Markdown table: "| `podScaling` |".
var keyRow = regexp.MustCompile("(?m)^\\|\\s*`([a-zA-Z]+)`\\s*\\|")

// configKeys returns the values of the Key* constants in config.go, read from its source so that a key
// added there is checked without anyone adding it here.
func configKeys(t *testing.T) map[string]string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			for i, name := range spec.(*ast.ValueSpec).Names {
				if lit, ok := spec.(*ast.ValueSpec).Values[i].(*ast.BasicLit); ok && strings.HasPrefix(name.Name, "Key") {
					keys[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return keys
}

func TestEveryConfigurationKeyIsDocumented(t *testing.T) {
	// GIVEN every context key config.go reads
	keys := configKeys(t)
	if len(keys) < 20 || keys["KeyPodScaling"] != "podScaling" {
		t.Fatalf("read %d keys from config.go (%v); the parser no longer finds them", len(keys), keys)
	}

	// WHEN the configuration tables of docs/ecs-stack.md and README_EKS.md are read
	documented := map[string]string{}
	for _, path := range []string{"../docs/ecs-stack.md", "../README_EKS.md"} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRow.FindAllStringSubmatch(string(raw), -1) {
			documented[m[1]] = path
		}
	}

	// THEN each key has a row in one of them, with its default and meaning
	for name, key := range keys {
		if _, ok := documented[key]; !ok {
			t.Errorf("%s (%q) is in no configuration table of docs/ecs-stack.md or README_EKS.md", name, key)
		}
	}
}
