package constructs

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// LogGroupPolicyProps configures ApplyLogGroupPolicy.
type LogGroupPolicyProps struct {
	// RetentionDays is how long every log group keeps its events, in days; one of the values CloudWatch
	// Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
	// 2922, 3288, 3653). Required.
	RetentionDays float64
	// RemovalPolicy applies to every log group. Required.
	RemovalPolicy awscdk.RemovalPolicy
}

// cloudWatchRetentionDays are the retention periods CloudWatch Logs accepts.
var cloudWatchRetentionDays = []float64{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// ApplyLogGroupPolicy gives every CloudWatch Logs group under scope one retention and one removal policy:
// ours, and the ones the CDK creates for its own Lambda functions (AwsCustomResource, BucketDeployment),
// which it otherwise keeps for two years and retains after the stack is gone. A Lambda function without a
// group in the template (the CDK's custom-resource providers: auto-delete objects, restrict-default-SG)
// would log to /aws/lambda/<name>, a group Lambda creates on first use that never expires and outlives the
// stack; it gets a group of its own under the same policy.
//
// Both stacks apply it to themselves with the stage's values, so a log group added later, by us or by a
// CDK upgrade, follows the stage without anyone remembering to.
func ApplyLogGroupPolicy(scope constructs.IConstruct, props *LogGroupPolicyProps) {
	if props == nil || !slices.Contains(cloudWatchRetentionDays, props.RetentionDays) || props.RemovalPolicy == "" {
		panic(fmt.Errorf("log group policy: RetentionDays must be one of %v and RemovalPolicy set, got %+v", cloudWatchRetentionDays, props))
	}
	// Mutating priority: it runs before read-only aspects such as cdk-nag.
	awscdk.Aspects_Of(scope).Add(&logGroupPolicy{props: *props}, &awscdk.AspectOptions{Priority: awscdk.AspectPriority_MUTATING()})
}

// logGroupPolicy is the aspect behind ApplyLogGroupPolicy.
type logGroupPolicy struct {
	props LogGroupPolicyProps
}

// Visit implements awscdk.IAspect.
func (p *logGroupPolicy) Visit(node constructs.IConstruct) {
	resource, ok := node.(awscdk.CfnResource)
	if !ok {
		return
	}
	switch *resource.CfnResourceType() {
	case "AWS::Logs::LogGroup":
		p.apply(resource)
	case "AWS::Lambda::Function":
		p.giveOwnLogGroup(resource)
	}
}

// apply sets the retention and the removal policy of one log group. An override, so it wins over what the
// group's own construct rendered.
func (p *logGroupPolicy) apply(group awscdk.CfnResource) {
	group.AddPropertyOverride(jsii.String("RetentionInDays"), p.props.RetentionDays)
	group.ApplyRemovalPolicy(p.props.RemovalPolicy, nil)
}

// managedLogGroupID is the id under which the CDK creates a Lambda function's own log group (the
// @aws-cdk/aws-lambda:useCdkManagedLogGroup feature flag); that group is named after the function.
const managedLogGroupID = "LogGroup"

// giveOwnLogGroup creates a log group for a function that has none in the template and points the
// function's LoggingConfig at it, so the function depends on the group and never logs elsewhere.
func (p *logGroupPolicy) giveOwnLogGroup(function awscdk.CfnResource) {
	if fn, ok := function.(awslambda.CfnFunction); ok && fn.LoggingConfig() != nil {
		return // it names its group already
	}
	parent, ok := function.Node().Scope().(constructs.Construct)
	if !ok {
		panic(fmt.Sprintf("log group policy: the parent of %s is not a construct", *function.Node().Path()))
	}
	if parent.Node().TryFindChild(jsii.String(managedLogGroupID)) != nil {
		return // the CDK's own group, which the aspect visits as a log group
	}
	group := awslogs.NewCfnLogGroup(parent, jsii.String(managedLogGroupID), &awslogs.CfnLogGroupProps{})
	p.apply(group)
	function.AddPropertyOverride(jsii.String("LoggingConfig.LogGroup"), group.Ref())
}
