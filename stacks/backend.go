package stacks

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

// BackendStackName is the ECS stack's name in the default stage, kept from the system it replaces so
// runbooks still apply. StackName gives the name in other stages.
const BackendStackName = "NovaSonicSolutionBackendStack"

// ecsDrainTimeout is how long the gateway lets live conversations go on after SIGTERM on ECS: below the
// container's 120 s stop timeout (Fargate's maximum), so conversations are closed with a close code before
// SIGKILL.
const ecsDrainTimeout = 110 * time.Second

// BackendStackProps configures the ECS stack.
type BackendStackProps struct {
	awscdk.StackProps
	// Config is the app configuration from LoadConfig. Required.
	Config Config
	// RepositoryRoot is the Docker build context and the parent of server/web/static.
	// Default: appconstructs.FindRepositoryRoot().
	RepositoryRoot string
}

// NewBackendStack creates the ECS Fargate stack: the shared network, sign-in, web client and front door
// (shared.go), and the gateway service with its Bedrock grant, plus the outputs a user needs after
// deploying. Name it with StackName(BackendStackName, cfg).
func NewBackendStack(scope constructs.Construct, id string, props *BackendStackProps) awscdk.Stack {
	cfg := props.Config
	root := repositoryRoot(props.RepositoryRoot)

	stack := newStageStack(scope, id, cfg, props.StackProps, "Nova Sonic speech-to-speech gateway on ECS Fargate behind CloudFront")
	shared := newSharedInfrastructure(stack, cfg)

	// Graviton: Fargate ARM64 costs less per vCPU and the gateway is a static Go binary.
	image := appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{
		Directory:    jsii.String(root),
		Architecture: appconstructs.ArchitectureArm64,
	})
	// A fixed name, with the stage so stages never share it: the gateway publishes ActiveSessions under it
	// and autoscaling reads it back. The service's own name token would make the task definition depend on
	// the service.
	serviceName := "nova-sonic-gateway-" + cfg.Stage
	gateway := appconstructs.NewGatewayService(stack, "Gateway", &appconstructs.GatewayServiceProps{
		Vpc:                       shared.Network.Vpc,
		Image:                     image,
		TargetGroup:               shared.FrontDoor.TargetGroup,
		LoadBalancerSecurityGroup: shared.FrontDoor.LoadBalancerSecurityGroup,
		ServiceName:               jsii.String(serviceName),
		Environment:               shared.gatewayEnvironment(ecsDrainTimeout),
		Cpu:                       jsii.Number(float64(cfg.TaskCPU)),
		MemoryMiB:                 jsii.Number(float64(cfg.TaskMemoryMiB)),
		MinTasks:                  jsii.Number(float64(cfg.MinTasks)),
		MaxTasks:                  jsii.Number(float64(cfg.MaxTasks)),
		DesiredTasks:              optionalNumber(cfg.DesiredTasks),
		TargetSessionsPerTask:     jsii.Number(float64(cfg.TargetSessionsPerTask)),
		RemovalPolicy:             cfg.RemovalPolicy(),
	})
	// The task role is the gateway's only credential (the SDK's default chain finds it).
	shared.grantBedrock(gateway.TaskDefinition.TaskRole())
	shared.deployWebClient(root)

	shared.addAlarms(serviceName)

	shared.addCommonOutputs()
	addOutput(stack, "LogGroupName", "Gateway logs", gateway.LogGroup.LogGroupName())
	addOutput(stack, "ClusterName", "ECS cluster", gateway.Cluster.ClusterName())
	addOutput(stack, "ServiceName", "ECS service", gateway.Service.ServiceName())
	return stack
}
