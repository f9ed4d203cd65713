package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// BedrockActions are the actions a Nova Sonic conversation needs. The Bedrock API reference names
// bedrock:InvokeModel as the permission for InvokeModelWithBidirectionalStream, while IAM also lists an
// action named after the call; both are granted, on the one model ARN, so neither reading of the
// documentation can break conversations.
var BedrockActions = []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithBidirectionalStream"}

// BedrockAccessProps configures a BedrockAccess.
type BedrockAccessProps struct {
	// Grantee receives the permission: the ECS task role, or the EKS IRSA service account. Required.
	Grantee awsiam.IGrantable
	// BedrockRegion is the region the gateway calls Bedrock in, which may differ from the stack's. The
	// bidirectional stream does not cross regions, so the grant names this region only. Required.
	BedrockRegion *string
	// ModelId is the foundation model id, for example amazon.nova-2-sonic-v1:0. Required.
	ModelId *string
}

// BedrockAccess grants the streaming Bedrock permission on one foundation model in one region, and
// nothing else: no wildcard resource, no other model.
type BedrockAccess struct {
	constructs.Construct
	// ModelArn is arn:<partition>:bedrock:<BedrockRegion>::foundation-model/<ModelId>.
	ModelArn *string
	// Grant is the statement added to the grantee's policy.
	Grant awsiam.Grant
}

// NewBedrockAccess adds the grant to props.Grantee.
func NewBedrockAccess(scope constructs.Construct, id string, props *BedrockAccessProps) *BedrockAccess {
	if props == nil {
		props = &BedrockAccessProps{}
	}
	requireProps("NewBedrockAccess", id,
		required{"Grantee", props.Grantee == nil},
		required{"BedrockRegion", unsetString(props.BedrockRegion)},
		required{"ModelId", unsetString(props.ModelId)})
	this := constructs.NewConstruct(scope, &id)
	// Foundation-model ARNs have no account.
	modelArn := awscdk.Stack_Of(this).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("bedrock"),
		Region:       props.BedrockRegion,
		Account:      jsii.String(""),
		Resource:     jsii.String("foundation-model"),
		ResourceName: props.ModelId,
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	grant := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      props.Grantee,
		Actions:      jsii.Strings(BedrockActions...),
		ResourceArns: &[]*string{modelArn},
	})
	return &BedrockAccess{Construct: this, ModelArn: modelArn, Grant: grant}
}
