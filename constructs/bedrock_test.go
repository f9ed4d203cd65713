package constructs_test

import (
	"encoding/json"
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
	// The exact resource: a list with one more entry (a wildcard, another model) is a wider grant.
	for id, policy := range resources(t, template, "AWS::IAM::Policy") {
		statements := policy["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)
		got, _ := json.Marshal(statements[0].(map[string]any)["Resource"])
		want := `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":bedrock:eu-north-1::foundation-model/amazon.nova-2-sonic-v1:0"]]}`
		if len(statements) != 1 || string(got) != want {
			t.Errorf("%s: %d statements, the first on %s; want one, on exactly %s", id, len(statements), got, want)
		}
	}
	if access.ModelArn == nil || access.Grant == nil {
		t.Error("ModelArn and Grant must be set")
	}
}
