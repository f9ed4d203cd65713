package constructs

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseksv2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"novasonic/kube"
)

// EKSGatewayProps configures an EKSGateway.
type EKSGatewayProps struct {
	// Cluster runs the gateway in its AppNamespace. Required.
	Cluster *EKSCluster
	// Image is the gateway image; it must be built for amd64, the only architecture EKS on Fargate runs.
	// Required.
	Image *ServerImage
	// TargetGroup is the front door's IP target group; a TargetGroupBinding registers the pods in it.
	// Required.
	TargetGroup elbv2.INetworkTargetGroup
	// LoadBalancerSecurityGroup is admitted to the pods on the gateway port for traffic and health checks.
	// Required.
	LoadBalancerSecurityGroup awsec2.ISecurityGroup
	// DeregistrationDelay is TargetGroup's deregistration delay; the pods' preStop hook waits it out
	// (kube.DrainPlan). Required.
	DeregistrationDelay awscdk.Duration
	// MetricsServiceName is the ServiceName dimension of the gateway's CloudWatch metrics
	// (METRICS_SERVICE_NAME), ActiveSessions among them. Give each gateway its own, the ECS stack's of the
	// same stage included, or their metrics mix. Required.
	MetricsServiceName *string
	// MetricsNamespace is the CloudWatch namespace of those metrics. Default: DefaultMetricsNamespace.
	MetricsNamespace *string
	// DrainTimeout is how long the gateway lets conversations continue after SIGTERM (DRAIN_TIMEOUT).
	// Default: 110 seconds, as on ECS.
	DrainTimeout awscdk.Duration
	// Environment is the gateway's environment (Bedrock, Cognito, origins, log level); values may be
	// tokens. PORT, DRAIN_TIMEOUT, METRICS_NAMESPACE and METRICS_SERVICE_NAME are set by this construct.
	// Default: none.
	Environment *map[string]*string
	// PodCPUMillicores and PodMemoryMiB are the Fargate size of each pod. Default: 1000 and 2048.
	PodCPUMillicores, PodMemoryMiB *float64
	// MinReplicas and MaxReplicas bound the autoscaler. Default: 2 and 10.
	MinReplicas, MaxReplicas *float64
	// KEDA, when set, scales the pods on ActiveSessions as well as CPU and memory: a KEDA ScaledObject
	// replaces the HorizontalPodAutoscaler (kube.SessionScaling). Default: nil, an HPA on CPU and memory.
	KEDA *EKSKEDA
	// TargetSessionsPerPod is the average number of conversations per pod session scaling aims at; only
	// read with KEDA. Default: kube.DefaultTargetSessionsPerPod (75, the ECS stack's per-task target).
	TargetSessionsPerPod *float64
}

// EKSGateway is the gateway on an EKSCluster: the IRSA role its pods assume and its Kubernetes objects
// (package kube), applied in the order they need. The role starts with no permissions; grant it Bedrock
// with NewBedrockAccess. The pods are registered in the front door's target group, so CloudFront reaches
// them exactly as it reaches the ECS service.
type EKSGateway struct {
	constructs.Construct
	// ServiceAccountRole is the IAM role of the gateway's service account, trusted by the cluster's OIDC
	// provider for that one service account and nothing else.
	ServiceAccountRole awsiam.Role
	// Objects are the Kubernetes objects as built by package kube.
	Objects *kube.GatewayObjects
	// Namespace, Configuration, TargetGroupBinding, Workload and Autoscaler are the kubectl applies, each
	// depending on the one before: the namespace; the service account, ConfigMap and Service; the binding;
	// the Deployment and disruption budget; the autoscaler (the HPA, or with KEDA the TriggerAuthentication
	// and ScaledObject).
	Namespace, Configuration, TargetGroupBinding, Workload, Autoscaler awseksv2.KubernetesManifest
}

// NewEKSGateway creates the role, admits the load balancer to the pods and applies the gateway's objects.
func NewEKSGateway(scope constructs.Construct, id string, props *EKSGatewayProps) *EKSGateway {
	switch {
	case props == nil || props.Cluster == nil || props.Image == nil || props.TargetGroup == nil ||
		props.LoadBalancerSecurityGroup == nil || props.DeregistrationDelay == nil || unsetString(props.MetricsServiceName):
		panic("eks gateway: Cluster, Image, TargetGroup, LoadBalancerSecurityGroup, DeregistrationDelay and MetricsServiceName are required")
	case props.Image.Architecture != ArchitectureAmd64:
		panic(fmt.Sprintf("eks gateway: the image is built for %s, but EKS on Fargate runs only amd64: build it with ArchitectureAmd64", props.Image.Architecture))
	}
	this := constructs.NewConstruct(scope, &id)
	cluster := props.Cluster.Cluster
	namespace := props.Cluster.AppNamespace

	role := props.Cluster.serviceAccountRole(this, namespace, kube.Name)

	drainTimeout := props.DrainTimeout
	if drainTimeout == nil {
		drainTimeout = awscdk.Duration_Seconds(jsii.Number(110))
	}
	metricsNamespace := DefaultMetricsNamespace
	if props.MetricsNamespace != nil {
		metricsNamespace = *props.MetricsNamespace
	}
	environment := map[string]string{}
	if props.Environment != nil {
		for k, v := range *props.Environment {
			environment[k] = *v
		}
	}
	var sessionScaling *kube.SessionScaling
	if props.KEDA != nil {
		// The metric is in the region of the log group the log router writes to: the stack's.
		sessionScaling = &kube.SessionScaling{
			Region:               *awscdk.Stack_Of(this).Region(),
			TargetSessionsPerPod: int32(orNumberValue(props.TargetSessionsPerPod)),
		}
	}
	objects, err := kube.Gateway{
		Namespace:           namespace,
		Image:               *props.Image.Asset.ImageUri(),
		RoleARN:             *role.RoleArn(),
		TargetGroupARN:      *props.TargetGroup.TargetGroupArn(),
		Environment:         environment,
		MetricsNamespace:    metricsNamespace,
		MetricsServiceName:  *props.MetricsServiceName,
		PodCPUMillicores:    int64(orNumberValue(props.PodCPUMillicores)),
		PodMemoryMiB:        int64(orNumberValue(props.PodMemoryMiB)),
		MinReplicas:         int32(orNumberValue(props.MinReplicas)),
		MaxReplicas:         int32(orNumberValue(props.MaxReplicas)),
		DeregistrationDelay: seconds(props.DeregistrationDelay),
		DrainTimeout:        seconds(drainTimeout),
		SessionScaling:      sessionScaling,
	}.Build()
	if err != nil {
		panic(err.Error())
	}

	// Pods on Fargate carry the cluster security group. Admitting the load balancer's group there (and
	// letting it out to the pods) is the whole network path: the TargetGroupBinding has no networking
	// section, so the controller never edits security groups.
	awsec2.NewConnections(&awsec2.ConnectionsProps{SecurityGroups: &[]awsec2.ISecurityGroup{cluster.ClusterSecurityGroup()}}).
		AllowFrom(props.LoadBalancerSecurityGroup, awsec2.Port_Tcp(jsii.Number(kube.Port)), jsii.String("Load balancer traffic and health checks to gateway pods"))

	// The order matters, and kubectl alone does not know it:
	//   - the log router before the namespace, so that every gateway pod is logged from its start;
	//   - the namespace before what lives in it;
	//   - the load balancer controller (its Helm release waits until its webhooks serve) before the
	//     Service and the TargetGroupBinding, whose CRD and webhook it brings;
	//   - the binding before the pods, because the controller adds the readiness gate to a pod only if a
	//     binding covers it when the pod is created;
	//   - the Deployment before its autoscaler, and metrics-server (and KEDA, whose CRDs the ScaledObject
	//     needs) before the autoscaler that reads them.
	// Deletion runs in reverse: the autoscaler while KEDA can still remove its finalizer, the pods, then
	// the binding while the controller can still deregister the targets and remove its finalizer.
	ns := kubernetesManifest(this, "Namespace", cluster, objects.Namespace)
	ns.Node().AddDependency(props.Cluster.LogRouter)
	configuration := kubernetesManifest(this, "Configuration", cluster, objects.ServiceAccount, objects.Environment, objects.Service)
	configuration.Node().AddDependency(ns, cluster.AlbController())
	binding := kubernetesManifest(this, "TargetGroupBinding", cluster, objects.TargetGroupBinding)
	binding.Node().AddDependency(configuration, cluster.AlbController())
	workload := kubernetesManifest(this, "Workload", cluster, objects.Deployment, objects.PodDisruptionBudget)
	workload.Node().AddDependency(binding)
	// Each autoscaler is its own manifest under its own id, so switching between them deletes the other:
	// kubectl's prune, which the CDK uses for objects dropped from a manifest, never deletes HPAs.
	var autoscaler awseksv2.KubernetesManifest
	if objects.ScaledObject != nil {
		autoscaler = kubernetesManifest(this, "SessionScaler", cluster, objects.TriggerAuthentication, objects.ScaledObject)
		autoscaler.Node().AddDependency(workload, props.Cluster.MetricsServer, props.KEDA.Chart)
	} else {
		autoscaler = kubernetesManifest(this, "Autoscaler", cluster, objects.HorizontalPodAutoscaler)
		autoscaler.Node().AddDependency(workload, props.Cluster.MetricsServer)
	}

	return &EKSGateway{
		Construct:          this,
		ServiceAccountRole: role,
		Objects:            objects,
		Namespace:          ns,
		Configuration:      configuration,
		TargetGroupBinding: binding,
		Workload:           workload,
		Autoscaler:         autoscaler,
	}
}

// seconds converts a Duration that is a plain value (not a token) into a time.Duration.
func seconds(d awscdk.Duration) time.Duration {
	return time.Duration(*d.ToSeconds(nil) * float64(time.Second))
}

// orNumberValue returns *v, or 0 (the kube package's "use the default") when v is nil.
func orNumberValue(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}
