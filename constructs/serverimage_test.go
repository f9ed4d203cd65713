package constructs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
	"novasonic/stacks"
)

func TestServerImagePlatform(t *testing.T) {
	for name, tc := range map[string]struct {
		arch     appconstructs.Architecture
		platform string
	}{
		"default is arm64 for ECS": {"", `"platform": "linux/arm64"`},
		"amd64 for EKS on Fargate": {appconstructs.ArchitectureAmd64, `"platform": "linux/amd64"`},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN a build context with a Dockerfile and a bare stack in an app that synthesizes to a temp dir
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
			app := stacks.NewApp()
			stack := awscdk.NewStack(app, jsii.String("Test"), nil)
			// A stack must hold a resource to pass CloudFormation validation; the image alone is an asset.
			awscdk.NewCfnWaitConditionHandle(stack, jsii.String("Placeholder"), nil)

			// WHEN a ServerImage is created for the architecture
			image := appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{
				Directory: jsii.String(dir), Architecture: tc.arch,
			})
			check(t, "synth", func() { app.Synth(&awscdk.StageSynthesisOptions{Force: jsii.Bool(true)}) })

			// THEN the asset manifest builds the image for that platform
			manifest, err := os.ReadFile(filepath.Join(*app.Outdir(), "Test.assets.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(manifest), tc.platform) {
				t.Errorf("asset manifest lacks %s:\n%s", tc.platform, manifest)
			}
			if want := tc.arch; want != "" && image.Architecture != want || want == "" && image.Architecture != appconstructs.ArchitectureArm64 {
				t.Errorf("Architecture = %q", image.Architecture)
			}
		})
	}
}

func TestFindRepositoryRoot(t *testing.T) {
	// GIVEN the test runs in constructs/ of the repository
	// WHEN the root is looked up
	root, err := appconstructs.FindRepositoryRoot()

	// THEN it is the parent directory, which holds the Dockerfile
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if root != filepath.Dir(wd) {
		t.Errorf("root = %s, want %s", root, filepath.Dir(wd))
	}
}
