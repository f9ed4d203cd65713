// Command templatecheck synthesizes each stack with the CDK CLI, the way `cdk synth` does for a user
// (cdk.json's context, cdk-nag on, whose errors fail the synth), and compares its template with the
// golden file in stacks/testdata/, asset hashes masked (package golden). An infrastructure change
// therefore fails until its golden file is updated in the same change, while an edit under server/ alone,
// which only changes asset hashes, passes. `make template-check` runs it and CI uploads the cdk.out/ it
// writes; `make diff` is something else: it compares with the deployed stack.
//
//	go run ./stacks/cmd/templatecheck [-cdk PATH] [-out DIR] [-stack NAME]...
//
// The EKS stack joins the check as soon as main_eks.go exists; until then it is skipped with a message.
// Exit status 0 when every stack matches, 1 when one differs or fails to synthesize, 2 for bad flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"novasonic/stacks/golden"
)

// stack is one of the repository's CDK apps and the stack it synthesizes.
type stack struct {
	// Name is the stack's name with the default stage, which names the golden file too.
	Name string
	// Main is the app's main file at the repository root.
	Main string
	// Optional stacks are skipped while their main file is not in the checkout.
	Optional bool
}

// stacks are checked in this order.
var stacks = []stack{
	{Name: "NovaSonicSolutionBackendStack", Main: "main_ecs.go"},
	{Name: "NovaSonicSolutionEKSBackendStack", Main: "main_eks.go", Optional: true},
}

// options are the command's flags.
type options struct {
	// root is the repository root: cdk.json, the mains and stacks/testdata are found from it.
	root string
	// cdk is the CDK CLI, relative to root unless absolute.
	cdk string
	// out is where each stack's cloud assembly is written, as out/<stack name>/, relative to root.
	out string
	// only restricts the check to these stack names; empty means every stack.
	only []string
}

func main() {
	opts := options{root: "."}
	flag.StringVar(&opts.cdk, "cdk", ".cdk/node_modules/.bin/cdk", "the CDK CLI (make setup installs it)")
	flag.StringVar(&opts.out, "out", "cdk.out", "directory for the cloud assemblies, one per stack")
	flag.Func("stack", "check only this stack (repeatable; default every stack)", func(name string) error {
		opts.only = append(opts.only, name)
		return nil
	})
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "templatecheck: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	os.Exit(run(opts, os.Stdout, os.Stderr))
}

// run checks every selected stack, reports each on stdout, and returns the exit status.
func run(opts options, stdout, stderr io.Writer) int {
	status := 0
	for _, s := range stacks {
		if len(opts.only) > 0 && !slices.Contains(opts.only, s.Name) {
			continue
		}
		if _, err := os.Stat(filepath.Join(opts.root, s.Main)); s.Optional && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stdout, "skip %s: %s is not in this checkout yet\n", s.Name, s.Main)
			continue
		}
		if err := check(opts, s, stderr); err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", s.Name, err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "ok   %s matches %s\n", s.Name, golden.Path(filepath.Join("stacks", "testdata"), s.Name))
	}
	return status
}

// check synthesizes s and compares its template with the golden file. It also writes the masked
// template beside the assembly, so that a reviewer (or the CI artifact) can diff the two whole files.
func check(opts options, s stack, stderr io.Writer) error {
	assembly := filepath.Join(opts.out, s.Name)
	// --app names the main like cdk.json does for ECS, so both stacks are built the same way.
	cmd := exec.Command(opts.cdk, "synth", s.Name, "--app", "go run "+s.Main, "--output", assembly, "--quiet", "--no-notices")
	cmd.Dir = opts.root
	// The CLI's own messages (cdk-nag findings, configuration errors) go to the user as they are.
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cdk synth failed (%v); its messages are above", err)
	}
	got, err := golden.RenderFile(filepath.Join(opts.root, assembly, s.Name+".template.json"))
	if err != nil {
		return err
	}
	masked := filepath.Join(assembly, s.Name+".masked.template.json")
	if err := os.WriteFile(filepath.Join(opts.root, masked), got, 0o644); err != nil {
		return err
	}
	goldenFile := golden.Path(filepath.Join("stacks", "testdata"), s.Name)
	want, err := os.ReadFile(filepath.Join(opts.root, goldenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no golden template %s: create it with `go test ./stacks -run Golden -update` and commit it", goldenFile)
	}
	if err != nil {
		return err
	}
	changes, err := golden.Changes(want, got)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	return fmt.Errorf("the synthesized template differs from %s (asset hashes masked) at %d paths:\n  %s\n"+
		"  Whole diff: diff -u %s %s\n"+
		"  If the infrastructure change is intended, update the golden file in the same change:\n"+
		"  go test ./stacks -run Golden -update, then review and commit the diff. The golden files use the\n"+
		"  default configuration: context keys set in cdk.json change this template too",
		goldenFile, len(changes), strings.Join(changes, "\n  "), goldenFile, masked)
}
