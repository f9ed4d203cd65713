// Package stacks wires the shared constructs into the deployable stacks and holds the app's typed
// configuration. The mains (main_ecs.go, main_eks.go) create the App with NewApp, load the Config, attach
// cdk-nag and synthesize; tests build the very same App.
package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// NewApp returns an App with FeatureFlags and the CLI's metadata settings, and version reporting off (the AWS::CDK::Metadata resource
// would make the template depend on the CDK release). Context from cdk.json and -c arrives through the
// CLI's environment and would override these flags only where cdk.json disagrees, which a test forbids.
func NewApp() awscdk.App {
	context := make(map[string]any, len(FeatureFlags)+2)
	for k, v := range FeatureFlags {
		context[k] = v
	}
	// The CDK CLI turns these on for `cdk synth`; set them here too so every route writes the same
	// template. Path metadata shows the construct tree in the CloudFormation console.
	context["aws:cdk:enable-path-metadata"] = true
	context["aws:cdk:enable-asset-metadata"] = true
	app := awscdk.NewApp(&awscdk.AppProps{
		Context:            &context,
		AnalyticsReporting: jsii.Bool(false),
	})
	return app
}

// AddNagChecks attaches cdk-nag's AwsSolutions rules to every stack in app; findings become error and
// warning annotations at synth.
func AddNagChecks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
