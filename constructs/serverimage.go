package constructs

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Architecture is the CPU architecture the gateway image is built for.
type Architecture string

const (
	// ArchitectureArm64 builds for Graviton: cheaper per vCPU on Fargate. ECS uses it.
	ArchitectureArm64 Architecture = "arm64"
	// ArchitectureAmd64 builds for x86-64. EKS on Fargate has no Arm, so the EKS stack uses it.
	ArchitectureAmd64 Architecture = "amd64"
)

// ServerImageProps configures a ServerImage.
type ServerImageProps struct {
	// Directory is the Docker build context, the repository root that holds the Dockerfile. Its
	// .dockerignore limits both the build context and the files CDK stages into cdk.out.
	// Default: the nearest directory at or above the working directory that holds both go.mod and a
	// Dockerfile, so `go run main_ecs.go`, `cdk synth` and `go test ./stacks` all find it.
	Directory *string
	// Architecture is the platform the image is built for.
	// Default: ArchitectureArm64.
	Architecture Architecture
}

// ServerImage is the gateway's container image, built from the repository's Dockerfile when the stack is
// deployed and pushed to the CDK's asset repository. Synth only stages the build context; it needs no
// Docker engine.
type ServerImage struct {
	constructs.Construct
	// Asset is the image asset; Asset.ImageUri() is the pushed image.
	Asset awsecrassets.DockerImageAsset
	// Architecture is the platform the image was built for; the compute that runs it must match.
	Architecture Architecture
}

// NewServerImage stages the image build.
func NewServerImage(scope constructs.Construct, id string, props *ServerImageProps) *ServerImage {
	if props == nil {
		props = &ServerImageProps{}
	}
	this := constructs.NewConstruct(scope, &id)

	dir := props.Directory
	if dir == nil {
		root, err := FindRepositoryRoot()
		if err != nil {
			panic(fmt.Sprintf("server image: %v", err))
		}
		dir = &root
	}
	arch := props.Architecture
	if arch == "" {
		arch = ArchitectureArm64
	}
	var platform awsecrassets.Platform
	switch arch {
	case ArchitectureArm64:
		platform = awsecrassets.Platform_LINUX_ARM64()
	case ArchitectureAmd64:
		platform = awsecrassets.Platform_LINUX_AMD64()
	default:
		panic(fmt.Sprintf("server image: architecture %q is not supported: use %q or %q", arch, ArchitectureArm64, ArchitectureAmd64))
	}

	asset := awsecrassets.NewDockerImageAsset(this, jsii.String("Image"), &awsecrassets.DockerImageAssetProps{
		Directory: dir,
		Platform:  platform,
		// Belt and braces: .dockerignore already keeps only go.mod, go.sum and server/.
		Exclude: jsii.Strings("cdk.out", ".cdk", ".git"),
	})
	return &ServerImage{Construct: this, Asset: asset, Architecture: arch}
}

// FindRepositoryRoot returns the nearest directory at or above the working directory that holds both
// go.mod and a Dockerfile.
func FindRepositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, "Dockerfile")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no directory above the working directory holds go.mod and a Dockerfile")
		}
		dir = parent
	}
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}
