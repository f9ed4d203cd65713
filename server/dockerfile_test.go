package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The image cannot be built here (no Docker engine), so this test keeps the Dockerfile honest: it runs the
// Dockerfile's own `go build` line for both architectures the stacks ship and checks what comes out.
func TestDockerfileBuildsAStaticGatewayForBothArchitectures(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the gateway twice")
	}
	root := repoRoot(t)
	command := dockerfileBuildCommand(t, filepath.Join(root, "Dockerfile"))

	for arch, machine := range map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64} {
		t.Run(arch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "gateway")
			script := strings.NewReplacer("${TARGETARCH:-arm64}", arch, "/out/gateway", out).Replace(command)
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = root
			// Only what the Docker build stage has: no cgo toolchain choice of ours leaks in.
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-mod=readonly")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", script, err, b)
			}
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machine {
				t.Fatalf("binary is for %v, want %v", f.Machine, machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Fatalf("binary has a %v program header: it is not static and will not run on distroless/static", p.Type)
				}
			}
			if b, _ := os.ReadFile(out); strings.Contains(string(b), root) {
				t.Fatalf("binary contains the build directory %s: -trimpath is missing", root)
			}
		})
	}
}

// The image build must not download the CDK's modules: only ./server's imports are built.
func TestGatewayDoesNotDependOnTheCDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "aws-cdk-go") || strings.Contains(pkg, "jsii-runtime-go") || strings.Contains(pkg, "constructs-go") {
			t.Fatalf("the gateway imports %s: the image build would download the CDK modules", pkg)
		}
	}
}

// dockerfileBuildCommand returns the shell command of the Dockerfile's RUN line that builds the gateway,
// without its BuildKit mount flags.
func dockerfileBuildCommand(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			cmd := regexp.MustCompile(`--mount=\S+`).ReplaceAllString(strings.TrimPrefix(line, "RUN "), "")
			cmd = strings.TrimSpace(cmd)
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./server"} {
				if !strings.Contains(cmd, want) {
					t.Fatalf("the Dockerfile's build line lacks %s: %s", want, cmd)
				}
			}
			return cmd
		}
	}
	t.Fatal("the Dockerfile has no RUN line with go build")
	return ""
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
