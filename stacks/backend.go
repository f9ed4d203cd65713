package stacks

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

// BackendStackName is the ECS stack's name, kept from the system it replaces so runbooks still apply.
const BackendStackName = "NovaSonicSolutionBackendStack"

// BackendStackProps configures the ECS stack.
type BackendStackProps struct {
	awscdk.StackProps
	// Config is the app configuration from LoadConfig. Required.
	Config Config
	// RepositoryRoot is the Docker build context and the parent of server/web/static.
	// Default: appconstructs.FindRepositoryRoot().
	RepositoryRoot string
}

// NewBackendStack creates the ECS Fargate stack: network, sign-in, web client, front door, and the
// gateway service with its Bedrock grant, plus the outputs a user needs after deploying.
func NewBackendStack(scope constructs.Construct, id string, props *BackendStackProps) awscdk.Stack {
	cfg := props.Config
	stackProps := props.StackProps
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("Nova Sonic speech-to-speech gateway on ECS Fargate behind CloudFront")
	}
	// No Env: the stack is environment-agnostic, so synth needs no account and the deploying profile
	// chooses the account and region.
	stack := awscdk.NewStack(scope, &id, &stackProps)
	// Tags reach every taggable resource, for cost allocation by project and stage.
	awscdk.Tags_Of(stack).Add(jsii.String("Project"), jsii.String("NovaSonic"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("Stage"), jsii.String(cfg.Stage), nil)
	// Every log group, ours and the CDK's own, keeps the stage's retention and goes (or stays) with the
	// stack like the rest of the stage's data; so the constructs below are not given a retention each.
	appconstructs.ApplyLogGroupPolicy(stack, &appconstructs.LogGroupPolicyProps{
		RetentionDays: cfg.LogRetentionDays(),
		RemovalPolicy: cfg.RemovalPolicy(),
	})

	root := props.RepositoryRoot
	if root == "" {
		var err error
		if root, err = appconstructs.FindRepositoryRoot(); err != nil {
			panic(err)
		}
	}

	// Construct IDs are short fixed nouns: they become logical IDs, and renaming one replaces resources.
	network := appconstructs.NewNetwork(stack, "Network", &appconstructs.NetworkProps{
		NatGateways:       jsii.Number(float64(cfg.NatGateways)),
		AvailabilityZones: optionalStrings(cfg.AvailabilityZones),
		RemovalPolicy:     cfg.RemovalPolicy(),
	})
	website := appconstructs.NewWebsite(stack, "Website", &appconstructs.WebsiteProps{
		RemovalPolicy: cfg.RemovalPolicy(),
	})
	frontDoor := appconstructs.NewFrontDoor(stack, "FrontDoor", &appconstructs.FrontDoorProps{
		Vpc:          network.Vpc,
		SiteBucket:   website.Bucket,
		LogBucket:    website.LogBucket,
		GeoAllowList: optionalStrings(cfg.GeoAllowList),
		WebAclArn:    optionalString(cfg.WebACLArn),
	})
	// The web client's own address is where managed login returns with the authorization code.
	appURL := awscdk.Fn_Join(jsii.String(""), &[]*string{frontDoor.Url, jsii.String("/")})
	auth := appconstructs.NewAuth(stack, "Auth", &appconstructs.AuthProps{
		CallbackUrls:  &[]*string{appURL},
		Mfa:           cfg.CognitoMfa(),
		FeaturePlan:   cfg.CognitoFeaturePlan(),
		RemovalPolicy: cfg.RemovalPolicy(),
	})
	// Graviton: Fargate ARM64 costs less per vCPU and the gateway is a static Go binary.
	image := appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{
		Directory:    jsii.String(root),
		Architecture: appconstructs.ArchitectureArm64,
	})

	// A fixed name: the gateway publishes ActiveSessions under it and autoscaling reads it back. The
	// service's own name token would make the task definition depend on the service.
	serviceName := "nova-sonic-gateway-" + cfg.Stage
	// The gateway compares the WebSocket upgrade's Origin with this list; the CloudFront URL is the
	// page's own origin, so it is always allowed.
	allowedOrigins := append([]*string{frontDoor.Url}, *jsii.Strings(cfg.AllowedOrigins...)...)
	gateway := appconstructs.NewGatewayService(stack, "Gateway", &appconstructs.GatewayServiceProps{
		Vpc:                       network.Vpc,
		Image:                     image,
		TargetGroup:               frontDoor.TargetGroup,
		LoadBalancerSecurityGroup: frontDoor.LoadBalancerSecurityGroup,
		ServiceName:               jsii.String(serviceName),
		Environment: &map[string]*string{
			"BEDROCK_REGION":       jsii.String(cfg.BedrockRegion),
			"BEDROCK_MODEL_ID":     jsii.String(cfg.ModelID),
			"COGNITO_USER_POOL_ID": auth.UserPool.UserPoolId(),
			"COGNITO_CLIENT_ID":    auth.UserPoolClient.UserPoolClientId(),
			"ALLOWED_ORIGINS":      awscdk.Fn_Join(jsii.String(","), &allowedOrigins),
			"LOG_LEVEL":            jsii.String("info"),
			// Below the container's 120 s stop timeout, so conversations are closed before SIGKILL.
			"DRAIN_TIMEOUT": jsii.String("110s"),
		},
		Cpu:                   jsii.Number(float64(cfg.TaskCPU)),
		MemoryMiB:             jsii.Number(float64(cfg.TaskMemoryMiB)),
		MinTasks:              jsii.Number(float64(cfg.MinTasks)),
		MaxTasks:              jsii.Number(float64(cfg.MaxTasks)),
		DesiredTasks:          optionalNumber(cfg.DesiredTasks),
		TargetSessionsPerTask: jsii.Number(float64(cfg.TargetSessionsPerTask)),
		RemovalPolicy:         cfg.RemovalPolicy(),
	})
	// The task role is the gateway's only credential (the SDK's default chain finds it).
	appconstructs.NewBedrockAccess(stack, "BedrockAccess", &appconstructs.BedrockAccessProps{
		Grantee:       gateway.TaskDefinition.TaskRole(),
		BedrockRegion: jsii.String(cfg.BedrockRegion),
		ModelId:       jsii.String(cfg.ModelID),
	})

	// The keys are the web client's (server/web/static/config.js documents them); values are resolved at
	// deploy time, so the page needs no build step per deployment.
	website.Deploy(&appconstructs.WebsiteDeploymentProps{
		Distribution:     frontDoor.Distribution,
		ContentDirectory: jsii.String(filepath.Join(root, "server", "web", "static")),
		RuntimeConfig: map[string]*string{
			"auth":             jsii.String("cognito"),
			"scopes":           jsii.String("openid email profile"),
			"region":           stack.Region(),
			"userPoolId":       auth.UserPool.UserPoolId(),
			"userPoolClientId": auth.UserPoolClient.UserPoolClientId(),
			"cognitoDomain":    auth.Domain.BaseUrl(nil),
			"redirectUri":      appURL,
			"websocketUrl":     frontDoor.WebSocketUrl,
			"voiceId":          jsii.String(cfg.VoiceID),
		},
	})

	// Output IDs are part of the interface: scripts and docs/ecs-stack.md refer to them.
	output := func(id, description string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	// No managed-login URL: the web client starts sign-in itself (state and PKCE challenge kept in the
	// tab) and refuses a code that arrives without them, so the page is where sign-in starts.
	output("CloudFrontUrl", "Open this address and sign in to use the voice client", appURL)
	output("WebSocketUrl", "The gateway's WebSocket endpoint", frontDoor.WebSocketUrl)
	output("UserPoolId", "Cognito user pool", auth.UserPool.UserPoolId())
	output("UserPoolClientId", "Cognito app client of the web client", auth.UserPoolClient.UserPoolClientId())
	output("BedrockRegion", "Region the gateway calls Bedrock in", jsii.String(cfg.BedrockRegion))
	output("BedrockModelId", "Nova Sonic model the gateway uses", jsii.String(cfg.ModelID))
	output("LogGroupName", "Gateway logs", gateway.LogGroup.LogGroupName())
	output("ClusterName", "ECS cluster", gateway.Cluster.ClusterName())
	output("ServiceName", "ECS service", gateway.Service.ServiceName())
	output("CreateUserCommand", "Creates a first user; Cognito emails a temporary password", awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("aws cognito-idp admin-create-user --region "), stack.Region(),
		jsii.String(" --user-pool-id "), auth.UserPool.UserPoolId(),
		jsii.String(fmt.Sprintf(" --username %[1]s --user-attributes Name=email,Value=%[1]s Name=email_verified,Value=true",
			"you@example.com")),
	}))
	return stack
}

// optionalString returns nil for an empty string, which CDK props read as "not set".
func optionalString(s string) *string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return jsii.String(s)
}

// optionalStrings returns nil for an empty list.
func optionalStrings(s []string) *[]*string {
	if len(s) == 0 {
		return nil
	}
	return jsii.Strings(s...)
}

// optionalNumber returns nil for zero, the Config's "unset".
func optionalNumber(n int) *float64 {
	if n == 0 {
		return nil
	}
	return jsii.Number(float64(n))
}
