package constructs_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
	"novasonic/stacks/templatecheck"
)

func TestLogGroupPolicyReachesEveryLogGroup(t *testing.T) {
	// GIVEN a bare stack with a log group of ours kept for a month and retained, a Lambda function whose
	// log group the CDK creates (two years, retained), and an auto-deleting bucket, whose CDK provider
	// function has no log group in the template at all
	stack := newStack()
	awslogs.NewLogGroup(stack, jsii.String("Ours"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	awslambda.NewFunction(stack, jsii.String("Function"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("exports.handler = async () => {};")),
	})
	awss3.NewBucket(stack, jsii.String("Bucket"), &awss3.BucketProps{
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY, AutoDeleteObjects: jsii.Bool(true),
	})

	// WHEN the stage's policy is applied: two weeks, deleted with the stack
	appconstructs.ApplyLogGroupPolicy(stack, &appconstructs.LogGroupPolicyProps{
		RetentionDays: 14, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	// THEN all three functions' and groups' logs follow it: three groups in the template, each kept two
	// weeks and deleted with the stack, and the provider function logs to the group made for it
	template := synth(t, stack)
	raw, _ := json.Marshal(template.ToJSON())
	tmpl, err := templatecheck.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tmpl.Resources("AWS::Logs::LogGroup")); n != 3 {
		t.Errorf("%d log groups, want 3 (ours, the function's, the provider's)", n)
	}
	for _, p := range templatecheck.LogGroups(tmpl, 14, "Delete") {
		t.Error(p)
	}
	for id, fn := range tmpl.Resources("AWS::Lambda::Function") {
		logging, _ := templatecheck.Properties(fn)["LoggingConfig"].(map[string]any)
		provider := strings.HasPrefix(id, "CustomS3AutoDeleteObjectsCustomResourceProvider")
		if got := templatecheck.Render(logging["LogGroup"]); provider != strings.HasPrefix(got, "${CustomS3AutoDeleteObjectsCustomResourceProviderLogGroup") {
			t.Errorf("function %s logs to %s; want the provider's own group for the provider only", id, got)
		}
	}
}

func TestLogGroupPolicyRefusesARetentionCloudWatchLacks(t *testing.T) {
	// GIVEN a bare stack WHEN the policy asks for 10 days, which CloudWatch Logs does not offer
	// THEN it panics with an error naming the allowed values
	defer func() {
		r := recover()
		if msg := fmt.Sprint(r); !strings.Contains(msg, "log group policy: RetentionDays must be one of [1 3 5 7 14 30") {
			t.Errorf("panic = %v, want the allowed retention values", r)
		}
	}()
	appconstructs.ApplyLogGroupPolicy(newStack(), &appconstructs.LogGroupPolicyProps{RetentionDays: 10, RemovalPolicy: awscdk.RemovalPolicy_DESTROY})
}
