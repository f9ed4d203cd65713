package stacks

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

// This file is what the two stacks share. NewBackendStack (ECS) uses it today and the EKS stack uses it
// the same way, so the two differ only in their compute:
//
//	stack := newStageStack(scope, id, cfg, props, description) // tags, log-group policy
//	shared := newSharedInfrastructure(stack, cfg)             // network, web bucket, front door, sign-in
//	... the stack's compute, with shared.gatewayEnvironment(drainTimeout) ...
//	shared.grantBedrock(<the gateway's principal>)
//	shared.deployWebClient(repositoryRoot)
//	shared.addAlarms(<the gateway's METRICS_SERVICE_NAME>)    // alarms, topic, dashboard, AlarmTopicArn
//	shared.addCommonOutputs()                                 // then the stack's own outputs
//
// Tests pin the logical IDs of stateful resources, so the construct IDs below must not change.

// newStageStack creates an environment-agnostic stack for cfg's stage: tagged with the project and the
// stage for cost allocation, and with every log group under the stage's retention and removal policy.
// description, which names the stack's compute, is used when props has none.
func newStageStack(scope constructs.Construct, id string, cfg Config, props awscdk.StackProps, description string) awscdk.Stack {
	if props.Description == nil {
		props.Description = jsii.String(description)
	}
	// No Env: synth needs no account, and the deploying profile chooses the account and region.
	stack := awscdk.NewStack(scope, &id, &props)
	awscdk.Tags_Of(stack).Add(jsii.String("Project"), jsii.String("NovaSonic"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("Stage"), jsii.String(cfg.Stage), nil)
	// Every log group, ours and the CDK's own, keeps the stage's retention and goes (or stays) with the
	// stack like the rest of the stage's data; the constructs are not given a retention each.
	appconstructs.ApplyLogGroupPolicy(stack, &appconstructs.LogGroupPolicyProps{
		RetentionDays: cfg.LogRetentionDays(),
		RemovalPolicy: cfg.RemovalPolicy(),
	})
	return stack
}

// repositoryRoot returns root, or when it is empty the repository found from the working directory: the
// Docker build context and the parent of server/web/static.
func repositoryRoot(root string) string {
	if root != "" {
		return root
	}
	root, err := appconstructs.FindRepositoryRoot()
	if err != nil {
		panic(err)
	}
	return root
}

// GatewayMaxConversations is the gateway's MAX_CONVERSATIONS, its default (server/gateway/limits.go): the
// conversations one task or pod holds before it reports not ready. The near-capacity alarm is set
// against it.
const GatewayMaxConversations = 150

// sharedInfrastructure is everything around the gateway that both stacks build identically.
type sharedInfrastructure struct {
	stack awscdk.Stack
	cfg   Config
	// Network is the VPC; the load balancer and the gateway run in its private subnets.
	Network *appconstructs.Network
	// Website holds the web client and the access logs.
	Website *appconstructs.Website
	// FrontDoor is CloudFront and the internal load balancer; the compute registers in its TargetGroup.
	FrontDoor *appconstructs.FrontDoor
	// Auth is the Cognito user pool and the web client's app client.
	Auth *appconstructs.Auth
	// AppURL is the web client's address with the trailing slash: what users open, and where Cognito
	// returns with the authorization code.
	AppURL *string
}

// newSharedInfrastructure creates the network, the web client's buckets, the front door and sign-in in
// stack, configured from cfg.
func newSharedInfrastructure(stack awscdk.Stack, cfg Config) *sharedInfrastructure {
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
	appURL := awscdk.Fn_Join(jsii.String(""), &[]*string{frontDoor.Url, jsii.String("/")})
	auth := appconstructs.NewAuth(stack, "Auth", &appconstructs.AuthProps{
		CallbackUrls:  &[]*string{appURL},
		Mfa:           cfg.CognitoMfa(),
		FeaturePlan:   cfg.CognitoFeaturePlan(),
		RemovalPolicy: cfg.RemovalPolicy(),
	})
	return &sharedInfrastructure{
		stack: stack, cfg: cfg,
		Network: network, Website: website, FrontDoor: frontDoor, Auth: auth, AppURL: appURL,
	}
}

// gatewayEnvironment is the gateway's environment, the same on both platforms; the compute adds only
// what its construct owns (PORT and the metric names on ECS). drainTimeout is how long live conversations
// may go on after SIGTERM; it must end before the platform kills the process: below the container's stop
// timeout on ECS (120 s, Fargate's maximum), below terminationGracePeriodSeconds on EKS.
func (s *sharedInfrastructure) gatewayEnvironment(drainTimeout time.Duration) *map[string]*string {
	// The gateway compares the WebSocket upgrade's Origin with this list; the CloudFront URL is the
	// page's own origin, so it is always allowed.
	allowedOrigins := append([]*string{s.FrontDoor.Url}, *jsii.Strings(s.cfg.AllowedOrigins...)...)
	return &map[string]*string{
		"BEDROCK_REGION":       jsii.String(s.cfg.BedrockRegion),
		"BEDROCK_MODEL_ID":     jsii.String(s.cfg.ModelID),
		"COGNITO_USER_POOL_ID": s.Auth.UserPool.UserPoolId(),
		"COGNITO_CLIENT_ID":    s.Auth.UserPoolClient.UserPoolClientId(),
		"ALLOWED_ORIGINS":      awscdk.Fn_Join(jsii.String(","), &allowedOrigins),
		// Every connection arrives from the load balancer; CloudFront's header carries the viewer.
		"CLIENT_ADDRESS_HEADER": jsii.String(appconstructs.ClientAddressHeader),
		"LOG_LEVEL":             jsii.String("info"),
		// In whole seconds ("110s"), the form the README documents; the gateway parses any Go duration.
		"DRAIN_TIMEOUT": jsii.String(fmt.Sprintf("%ds", int(drainTimeout.Seconds()))),
	}
}

// grantBedrock gives the gateway's principal (the ECS task role, the EKS service account's IRSA role) the
// streaming Bedrock permission on the configured model, and nothing else.
func (s *sharedInfrastructure) grantBedrock(grantee awsiam.IGrantable) {
	appconstructs.NewBedrockAccess(s.stack, "BedrockAccess", &appconstructs.BedrockAccessProps{
		Grantee:       grantee,
		BedrockRegion: jsii.String(s.cfg.BedrockRegion),
		ModelId:       jsii.String(s.cfg.ModelID),
	})
}

// addAlarms creates the gateway's alarms, their SNS topic and a dashboard on the metrics the gateway
// writes under serviceName (its METRICS_SERVICE_NAME), and the AlarmTopicArn output. Both gateways write
// the same EMF lines, so both stacks get the same alarms.
func (s *sharedInfrastructure) addAlarms(serviceName string) *appconstructs.GatewayAlarms {
	alarms := appconstructs.NewGatewayAlarms(s.stack, "Alarms", &appconstructs.GatewayAlarmsProps{
		ServiceName:             jsii.String(serviceName),
		MaxConversationsPerTask: jsii.Number(GatewayMaxConversations),
	})
	addOutput(s.stack, "AlarmTopicArn", "SNS topic of the gateway's alarms: subscribe to be told", alarms.Topic.TopicArn())
	return alarms
}

// webClientConfig is config.js: the keys are the web client's (server/web/static/config.js documents
// them); values are resolved at deploy time, so the page needs no build step per deployment.
func (s *sharedInfrastructure) webClientConfig() map[string]*string {
	return map[string]*string{
		"auth":             jsii.String("cognito"),
		"scopes":           jsii.String("openid email profile"),
		"region":           s.stack.Region(),
		"userPoolId":       s.Auth.UserPool.UserPoolId(),
		"userPoolClientId": s.Auth.UserPoolClient.UserPoolClientId(),
		"cognitoDomain":    s.Auth.Domain.BaseUrl(nil),
		"redirectUri":      s.AppURL,
		"websocketUrl":     s.FrontDoor.WebSocketUrl,
		"voiceId":          jsii.String(s.cfg.VoiceID),
	}
}

// deployWebClient publishes server/web/static under repositoryRoot and config.js.
func (s *sharedInfrastructure) deployWebClient(repositoryRoot string) {
	s.Website.Deploy(&appconstructs.WebsiteDeploymentProps{
		Distribution:     s.FrontDoor.Distribution,
		ContentDirectory: jsii.String(filepath.Join(repositoryRoot, "server", "web", "static")),
		RuntimeConfig:    s.webClientConfig(),
	})
}

// addOutput adds one stack output. Output IDs are part of the interface: scripts and docs/ refer to them,
// and a test checks that every output the documents name exists.
func addOutput(stack awscdk.Stack, id, description string, value *string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
}

// addCommonOutputs adds the outputs both stacks have: where to go, what signs users in, what the gateway
// calls, and how to create the first user. Each stack then adds its compute's own (log group, cluster).
func (s *sharedInfrastructure) addCommonOutputs() {
	// No managed-login URL: the web client starts sign-in itself (state and PKCE challenge kept in the
	// tab) and refuses a code that arrives without them, so the page is where sign-in starts.
	addOutput(s.stack, "CloudFrontUrl", "Open this address and sign in to use the voice client", s.AppURL)
	addOutput(s.stack, "WebSocketUrl", "The gateway's WebSocket endpoint", s.FrontDoor.WebSocketUrl)
	addOutput(s.stack, "UserPoolId", "Cognito user pool", s.Auth.UserPool.UserPoolId())
	addOutput(s.stack, "UserPoolClientId", "Cognito app client of the web client", s.Auth.UserPoolClient.UserPoolClientId())
	addOutput(s.stack, "BedrockRegion", "Region the gateway calls Bedrock in", jsii.String(s.cfg.BedrockRegion))
	addOutput(s.stack, "BedrockModelId", "Nova Sonic model the gateway uses", jsii.String(s.cfg.ModelID))
	addOutput(s.stack, "CreateUserCommand", "Creates a first user; Cognito emails a temporary password", awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("aws cognito-idp admin-create-user --region "), s.stack.Region(),
		jsii.String(" --user-pool-id "), s.Auth.UserPool.UserPoolId(),
		jsii.String(fmt.Sprintf(" --username %[1]s --user-attributes Name=email,Value=%[1]s Name=email_verified,Value=true",
			"you@example.com")),
	}))
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
