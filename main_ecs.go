//go:build ignore

// Command main_ecs synthesizes NovaSonicSolutionBackendStack, the gateway on ECS Fargate behind CloudFront.
// cdk.json runs it (`cdk synth`, `cdk deploy`); `go run main_ecs.go` does the same without the CLI. The
// stack is environment-agnostic: the account and region come from the deploying profile, and synth needs
// no AWS credentials. Configuration is read from the CDK context; see docs/ecs-stack.md.
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
	stacks.NewBackendStack(app, stacks.StackName(stacks.BackendStackName, cfg), &stacks.BackendStackProps{Config: cfg})
	app.Synth(nil)
	jsii.Close()
}
