//go:build ignore

// Command main_eks synthesizes NovaSonicSolutionEKSBackendStack, the gateway on EKS on Fargate behind the
// same CloudFront front door as the ECS stack. Deploy it with `cdk deploy --app "go run main_eks.go"`;
// `go run main_eks.go` synthesizes without the CLI. The stack is environment-agnostic: the account and
// region come from the deploying profile, and synth needs no AWS credentials. Configuration is read from
// the CDK context; see README_EKS.md.
package main

import (
	"fmt"
	"os"

	"github.com/aws/jsii-runtime-go"

	"novasonic/stacks"
)

func main() {
	app := stacks.NewApp()
	cfg, err := stacks.LoadConfig(app.Node())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		jsii.Close()
		os.Exit(1)
	}
	stacks.AddNagChecks(app)
	stacks.NewEKSStack(app, stacks.StackName(stacks.EKSStackName, cfg), &stacks.EKSStackProps{Config: cfg})
	app.Synth(nil)
	jsii.Close()
}
