package stacks

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

// EKSStackName is the EKS stack's name in the default stage, kept from the system it replaces.
// StackName gives the name in other stages.
const EKSStackName = "NovaSonicSolutionEKSBackendStack"

// eksDrainTimeout is how long the gateway lets live conversations go on after SIGTERM on EKS: the same as
// on ECS, so a conversation gets the same time to end on both. Kubernetes has no 120 s cap, but it needs
// none: the pods' preStop sleep (the deregistration delay plus a margin) already comes before SIGTERM, and
// the grace period is derived from both (kube.DrainPlan). The one value feeds DRAIN_TIMEOUT and the plan.
const eksDrainTimeout = 110 * time.Second

// EKSStackProps configures the EKS stack.
type EKSStackProps struct {
	awscdk.StackProps
	// Config is the app configuration from LoadConfig. Required.
	Config Config
	// RepositoryRoot is the Docker build context and the parent of server/web/static.
	// Default: appconstructs.FindRepositoryRoot().
	RepositoryRoot string
}

// NewEKSStack creates the EKS on Fargate stack: the shared network, sign-in, web client and front door
// (shared.go), exactly as the ECS stack has them, and the gateway as pods of an EKS cluster registered in
// the front door's target group, with the Bedrock grant on the pods' IRSA role; KEDA too when the
// configuration scales on sessions. Name it with StackName(EKSStackName, cfg).
func NewEKSStack(scope constructs.Construct, id string, props *EKSStackProps) awscdk.Stack {
	cfg := props.Config
	root := repositoryRoot(props.RepositoryRoot)

	stack := newStageStack(scope, id, cfg, props.StackProps, "Nova Sonic speech-to-speech gateway on EKS on Fargate behind CloudFront")
	shared := newSharedInfrastructure(stack, cfg)

	// The same Dockerfile as ECS, built for x86: EKS on Fargate runs no Arm.
	image := appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{
		Directory:    jsii.String(root),
		Architecture: appconstructs.ArchitectureAmd64,
	})
	var adminRole awsiam.IRole
	if cfg.EKSAdminRoleARN != "" {
		// Imported, not changed: the stack only names it in an access entry.
		adminRole = awsiam.Role_FromRoleArn(stack, jsii.String("AdminRole"), jsii.String(cfg.EKSAdminRoleARN),
			&awsiam.FromRoleArnOptions{Mutable: jsii.Bool(false)})
	}
	cluster := appconstructs.NewEKSCluster(stack, "Kubernetes", &appconstructs.EKSClusterProps{
		Vpc:                 shared.Network.Vpc,
		EndpointPublicCidrs: optionalStrings(cfg.EKSEndpointPublicCIDRs),
		AdminRole:           adminRole,
		RemovalPolicy:       cfg.RemovalPolicy(),
	})
	// The ECS stack's dimension scheme (ServiceName in the NovaSonic namespace) with a name of its own:
	// both stacks of one stage may run in one account, and their metrics must not mix.
	serviceName := "nova-sonic-gateway-eks-" + cfg.Stage
	var keda *appconstructs.EKSKEDA
	if cfg.SessionScaling() {
		keda = appconstructs.NewEKSKEDA(stack, "KEDA", &appconstructs.EKSKEDAProps{Cluster: cluster})
	}
	gateway := appconstructs.NewEKSGateway(stack, "Gateway", &appconstructs.EKSGatewayProps{
		Cluster:                   cluster,
		Image:                     image,
		TargetGroup:               shared.FrontDoor.TargetGroup,
		LoadBalancerSecurityGroup: shared.FrontDoor.LoadBalancerSecurityGroup,
		DeregistrationDelay:       shared.FrontDoor.DeregistrationDelay,
		MetricsServiceName:        jsii.String(serviceName),
		DrainTimeout:              awscdk.Duration_Seconds(jsii.Number(eksDrainTimeout.Seconds())),
		Environment:               shared.gatewayEnvironment(eksDrainTimeout),
		PodCPUMillicores:          jsii.Number(float64(cfg.PodCPUMillicores)),
		PodMemoryMiB:              jsii.Number(float64(cfg.PodMemoryMiB)),
		MinReplicas:               jsii.Number(float64(cfg.MinReplicas)),
		MaxReplicas:               jsii.Number(float64(cfg.MaxReplicas)),
		KEDA:                      keda,
		TargetSessionsPerPod:      jsii.Number(float64(cfg.TargetSessionsPerPod)),
	})
	// The IRSA role is the pods' only AWS credential (the SDK's default chain reads its web identity).
	shared.grantBedrock(gateway.ServiceAccountRole)
	shared.deployWebClient(root)
	shared.addAlarms(serviceName)

	shared.addCommonOutputs()
	addOutput(stack, "LogGroupName", "Gateway logs (every container's output, through Fargate's log router)", cluster.LogGroup.LogGroupName())
	addOutput(stack, "ClusterName", "EKS cluster", cluster.Cluster.ClusterName())
	addOutput(stack, "UpdateKubeconfigCommand", "Points kubectl at the cluster", updateKubeconfigCommand(stack, cluster, cfg))
	return stack
}

// updateKubeconfigCommand is the aws eks update-kubeconfig command for the cluster, assuming the admin
// role when there is one (the role the access entry names).
func updateKubeconfigCommand(stack awscdk.Stack, cluster *appconstructs.EKSCluster, cfg Config) *string {
	parts := []*string{
		jsii.String("aws eks update-kubeconfig --region "), stack.Region(),
		jsii.String(" --name "), cluster.Cluster.ClusterName(),
	}
	if cfg.EKSAdminRoleARN != "" {
		parts = append(parts, jsii.String(" --role-arn "+cfg.EKSAdminRoleARN))
	}
	return awscdk.Fn_Join(jsii.String(""), &parts)
}
