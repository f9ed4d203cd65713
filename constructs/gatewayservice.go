package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"novasonic/kube"
)

// Names of the metric the gateway publishes (as embedded metric format) for scaling, defined once for both
// stacks in package kube, whose KEDA ScaledObject reads the same metric on EKS.
const (
	// DefaultMetricsNamespace is the CloudWatch namespace of the gateway's metrics.
	DefaultMetricsNamespace = kube.DefaultMetricsNamespace
	// ActiveSessionsMetric is the number of open conversations in one task, published by every task
	// with the dimension ServiceName.
	ActiveSessionsMetric = kube.ActiveSessionsMetric
)

// gatewayContainerName is the container's name in the task definition.
const gatewayContainerName = "gateway"

// GatewayServiceProps configures a GatewayService.
type GatewayServiceProps struct {
	// Vpc is where the tasks run, in its private subnets. Required.
	Vpc awsec2.IVpc
	// Image is the gateway image; the tasks run on its architecture. Required.
	Image *ServerImage
	// TargetGroup is the load balancer target group the service registers its tasks in. Required.
	TargetGroup elbv2.INetworkTargetGroup
	// LoadBalancerSecurityGroup is admitted on the gateway port for traffic and health checks. Required.
	LoadBalancerSecurityGroup awsec2.ISecurityGroup
	// ServiceName names the ECS service and is the ServiceName dimension of the scaling metric, which the
	// gateway learns from METRICS_SERVICE_NAME. A fixed name (not the service's own token) keeps the task
	// definition from depending on the service that depends on it. Required.
	ServiceName *string
	// Environment is added to the gateway's environment (Bedrock, Cognito and origin settings).
	// PORT, METRICS_NAMESPACE and METRICS_SERVICE_NAME are set by this construct.
	// Default: none.
	Environment *map[string]*string
	// Cpu is the task's CPU in units (1024 = 1 vCPU). Default: 1024.
	Cpu *float64
	// MemoryMiB is the task's memory. Default: 2048.
	MemoryMiB *float64
	// MinTasks is the fewest tasks autoscaling keeps. Default: 2 (one per zone).
	MinTasks *float64
	// MaxTasks is the most tasks autoscaling starts. Default: 10.
	MaxTasks *float64
	// DesiredTasks is written into the service. Every deploy then resets the count to it, undoing
	// autoscaling, so leave it unset unless the count must be forced.
	// Default: unset (ECS starts one task and autoscaling raises it to MinTasks).
	DesiredTasks *float64
	// TargetSessionsPerTask is the average number of open conversations per task that autoscaling aims at.
	// Default: 20.
	TargetSessionsPerTask *float64
	// MetricsNamespace is the CloudWatch namespace of ActiveSessions. Default: DefaultMetricsNamespace.
	MetricsNamespace *string
	// LogRetention is how long the gateway's logs are kept. Default: awslogs.RetentionDays_ONE_MONTH.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy applies to the log group. Default: awscdk.RemovalPolicy_RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
}

// GatewayService runs the gateway on ECS Fargate in private subnets, registered in the front door's target
// group. Deploys start new tasks before old ones stop (minimum healthy 100 %) and roll back on failure;
// each stopping task is first drained by the load balancer and then has 120 s to close its conversations.
// Autoscaling follows open conversations per task, with CPU as a scale-out backstop, and scales in slowly;
// the task role may set scale-in protection on its own cluster's tasks, which the gateway does while it
// has live conversations (server/taskprotection), so scale-in stops idle tasks.
type GatewayService struct {
	constructs.Construct
	// Cluster is the ECS cluster, with Container Insights.
	Cluster awsecs.Cluster
	// TaskDefinition is the ARM64 (or amd64) Fargate task definition.
	TaskDefinition awsecs.FargateTaskDefinition
	// Container is the gateway container.
	Container awsecs.ContainerDefinition
	// Service is the Fargate service.
	Service awsecs.FargateService
	// LogGroup receives the gateway's logs, including its embedded-format metrics.
	LogGroup awslogs.LogGroup
	// Scaling is the service's scalable task count.
	Scaling awsecs.ScalableTaskCount
}

// NewGatewayService creates the cluster, task definition, service and autoscaling.
func NewGatewayService(scope constructs.Construct, id string, props *GatewayServiceProps) *GatewayService {
	if props == nil {
		props = &GatewayServiceProps{}
	}
	requireProps("NewGatewayService", id,
		required{"Vpc", props.Vpc == nil},
		required{"Image", props.Image == nil},
		required{"TargetGroup", props.TargetGroup == nil},
		required{"LoadBalancerSecurityGroup", props.LoadBalancerSecurityGroup == nil},
		required{"ServiceName", unsetString(props.ServiceName)})
	this := constructs.NewConstruct(scope, &id)
	namespace := props.MetricsNamespace
	if namespace == nil {
		namespace = jsii.String(DefaultMetricsNamespace)
	}
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}

	cluster := awsecs.NewCluster(this, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                 props.Vpc,
		ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})

	cpuArchitecture := awsecs.CpuArchitecture_ARM64()
	if props.Image.Architecture == ArchitectureAmd64 {
		cpuArchitecture = awsecs.CpuArchitecture_X86_64()
	}
	taskDefinition := awsecs.NewFargateTaskDefinition(this, jsii.String("TaskDefinition"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            orNumber(props.Cpu, 1024),
		MemoryLimitMiB: orNumber(props.MemoryMiB, 2048),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       cpuArchitecture,
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})

	logGroup := awslogs.NewLogGroup(this, jsii.String("LogGroup"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removalPolicyOrRetain(props.RemovalPolicy),
	})

	environment := map[string]*string{}
	if props.Environment != nil {
		for k, v := range *props.Environment {
			environment[k] = v
		}
	}
	environment["PORT"] = jsii.String(fmt.Sprint(GatewayPort))
	environment["METRICS_NAMESPACE"] = namespace
	environment["METRICS_SERVICE_NAME"] = props.ServiceName

	container := taskDefinition.AddContainer(jsii.String("Gateway"), &awsecs.ContainerDefinitionOptions{
		ContainerName: jsii.String(gatewayContainerName),
		Image:         awsecs.ContainerImage_FromDockerImageAsset(props.Image.Asset),
		Essential:     jsii.Bool(true),
		PortMappings: &[]*awsecs.PortMapping{{
			ContainerPort: jsii.Number(GatewayPort),
			Protocol:      awsecs.Protocol_TCP,
		}},
		Environment: &environment,
		// The image is distroless, without a shell or curl: the binary checks itself over loopback.
		HealthCheck: &awsecs.HealthCheck{
			Command:     jsii.Strings("CMD", "/gateway", "-healthcheck"),
			Interval:    awscdk.Duration_Seconds(jsii.Number(10)),
			Timeout:     awscdk.Duration_Seconds(jsii.Number(5)),
			Retries:     jsii.Number(3),
			StartPeriod: awscdk.Duration_Seconds(jsii.Number(10)),
		},
		// Fargate's maximum. The gateway drains within DRAIN_TIMEOUT (110 s by default) after SIGTERM;
		// SIGKILL follows only if it overruns.
		StopTimeout:            awscdk.Duration_Seconds(jsii.Number(120)),
		ReadonlyRootFilesystem: jsii.Bool(true),
		Logging: awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{
			LogGroup:     logGroup,
			StreamPrefix: jsii.String("gateway"),
			// A slow CloudWatch must never stall the audio relay; the buffer absorbs bursts.
			Mode:          awsecs.AwsLogDriverMode_NON_BLOCKING,
			MaxBufferSize: awscdk.Size_Mebibytes(jsii.Number(25)),
		}),
	})

	// Outbound HTTPS only: Bedrock, Cognito's keys, ECR and CloudWatch. DNS to the VPC resolver is not
	// subject to security groups.
	sg := awsec2.NewSecurityGroup(this, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              props.Vpc,
		Description:      jsii.String("Nova Sonic gateway tasks: ingress from the NLB only, egress HTTPS"),
		AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("AWS APIs over HTTPS"), jsii.Bool(false))

	service := awsecs.NewFargateService(this, jsii.String("Service"), &awsecs.FargateServiceProps{
		Cluster:        cluster,
		TaskDefinition: taskDefinition,
		ServiceName:    props.ServiceName,
		DesiredCount:   props.DesiredTasks,
		VpcSubnets:     &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS},
		SecurityGroups: &[]awsec2.ISecurityGroup{sg},
		AssignPublicIp: jsii.Bool(false),
		// New tasks must be healthy before old ones are drained, and a deploy that cannot get there
		// rolls back by itself.
		MinHealthyPercent: jsii.Number(100),
		MaxHealthyPercent: jsii.Number(200),
		CircuitBreaker:    &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		// Two 10 s health checks plus start-up.
		HealthCheckGracePeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		PropagateTags:          awsecs.PropagatedTagSource_SERVICE,
	})
	service.AttachToNetworkTargetGroup(props.TargetGroup)
	service.Connections().AllowFrom(props.LoadBalancerSecurityGroup, awsec2.Port_Tcp(jsii.Number(GatewayPort)),
		jsii.String("Load balancer traffic and health checks"))

	// The gateway reports ActiveSessions as embedded-metric-format lines on stdout; the awslogs driver's
	// CloudWatch Logs extracts the metric, so the task role needs no CloudWatch permission at all.

	// Scale-in protection (server/taskprotection): the ECS agent calls UpdateTaskProtection with the task
	// role's credentials. Only tasks of this cluster: task ARNs are task/<cluster name>/<task id>.
	taskDefinition.AddToTaskRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:UpdateTaskProtection"),
		Resources: jsii.Strings(*awscdk.Stack_Of(this).FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("ecs"),
			Resource:     jsii.String("task"),
			ResourceName: awscdk.Fn_Join(jsii.String(""), &[]*string{cluster.ClusterName(), jsii.String("/*")}),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})),
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(taskDefinition.TaskRole(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("ecs:UpdateTaskProtection is granted on the tasks of this service's own cluster; " +
			"task ids are not known before the tasks start, so the ARN ends in a wildcard"),
		AppliesTo: &[]interface{}{cdknag.RegexAppliesTo{
			Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task\/<.*Cluster[0-9A-F]{8}>\/\*$/`),
		}},
	}}, jsii.Bool(true))

	scaling := service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: orNumber(props.MinTasks, 2),
		MaxCapacity: orNumber(props.MaxTasks, 10),
	})
	// Target tracking scales in only when every policy agrees, and this one disallows it for CPU, so
	// scale-in follows conversations alone, at most once every ten minutes.
	scaling.ScaleToTrackCustomMetric(jsii.String("ActiveSessions"), &awsecs.TrackCustomMetricProps{
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     namespace,
			MetricName:    jsii.String(ActiveSessionsMetric),
			DimensionsMap: &map[string]*string{"ServiceName": props.ServiceName},
			Statistic:     jsii.String("Average"),
			Period:        awscdk.Duration_Minutes(jsii.Number(1)),
		}),
		TargetValue:      orNumber(props.TargetSessionsPerTask, 75),
		ScaleOutCooldown: awscdk.Duration_Seconds(jsii.Number(60)),
		ScaleInCooldown:  awscdk.Duration_Minutes(jsii.Number(10)),
	})
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{
		TargetUtilizationPercent: jsii.Number(70),
		ScaleOutCooldown:         awscdk.Duration_Seconds(jsii.Number(60)),
		DisableScaleIn:           jsii.Bool(true),
	})

	cdknag.NagSuppressions_AddResourceSuppressions(taskDefinition, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-ECS2"),
		Reason: jsii.String("the environment holds only non-secret identifiers (region, model id, Cognito " +
			"pool and client ids, allowed origin, metric names); the gateway has no secrets"),
	}}, jsii.Bool(false))
	// The execution role exists because the image comes from ECR and the logs go to CloudWatch.
	if executionRole := taskDefinition.ExecutionRole(); executionRole != nil {
		cdknag.NagSuppressions_AddResourceSuppressions(executionRole, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("ecr:GetAuthorizationToken, which ECS needs to pull the image, has no resource ARN"),
			AppliesTo: &[]interface{}{"Resource::*"},
		}}, jsii.Bool(true))
	}

	return &GatewayService{
		Construct:      this,
		Cluster:        cluster,
		TaskDefinition: taskDefinition,
		Container:      container,
		Service:        service,
		LogGroup:       logGroup,
		Scaling:        scaling,
	}
}

// orNumber returns v, or def when v is nil.
func orNumber(v *float64, def float64) *float64 {
	if v == nil {
		return jsii.Number(def)
	}
	return v
}
