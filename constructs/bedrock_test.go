package constructs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

func TestBedrockAccess(t *testing.T) {
	// GIVEN a bare stack with a role
	stack := newStack()
	role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})

	// WHEN the role is granted Bedrock access to one model in another region
	access := appconstructs.NewBedrockAccess(stack, "BedrockAccess", &appconstructs.BedrockAccessProps{
		Grantee:       role,
		BedrockRegion: jsii.String("eu-north-1"),
		ModelId:       jsii.String("amazon.nova-2-sonic-v1:0"),
	})

	// THEN one statement allows exactly the two actions, on exactly that model's ARN in that region
	template := synth(t, stack)
	check(t, "policy", func() {
		template.HasResourceProperties(jsii.String("AWS::IAM::Policy"), assertions.Match_ObjectLike(&obj{
			"PolicyDocument": obj{"Statement": []any{assertions.Match_ObjectLike(&obj{
				"Effect":   "Allow",
				"Action":   []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithBidirectionalStream"},
				"Resource": assertions.Match_AnyValue(),
			})}},
		}))
	})
	policies, _ := json.Marshal(resources(t, template, "AWS::IAM::Policy"))
	if !strings.Contains(string(policies), ":bedrock:eu-north-1::foundation-model/amazon.nova-2-sonic-v1:0") {
		t.Errorf("policy does not name the model ARN in eu-north-1: %s", policies)
	}
	if strings.Contains(string(policies), `"Resource":"*"`) {
		t.Errorf("policy grants on *: %s", policies)
	}
	if access.ModelArn == nil || access.Grant == nil {
		t.Error("ModelArn and Grant must be set")
	}
}
