package kube

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names of the gateway's objects and the values the image fixes.
const (
	// DefaultNamespace is the namespace the gateway runs in unless Gateway.Namespace says otherwise.
	DefaultNamespace = "nova-sonic"
	// Name names the Deployment, Service, ServiceAccount, TargetGroupBinding, autoscaler and disruption
	// budget, and the container.
	Name = "gateway"
	// EnvironmentConfigMapName is the ConfigMap holding the gateway's environment.
	EnvironmentConfigMapName = "gateway-environment"
	// Port is the port the gateway image listens on for HTTP, WebSocket and its probes.
	Port = 8080
	// portName names Port on the container and the Service.
	portName = "http"
	// HealthPath answers 200 while the process is alive (liveness).
	HealthPath = "/health"
	// ReadinessPath answers 200 only while the gateway accepts new conversations (readiness).
	ReadinessPath = "/ready"
	// NonRootUID is the distroless "nonroot" user and group the Dockerfile runs the gateway as.
	NonRootUID = 65532
	// DefaultMetricsNamespace is the CloudWatch namespace of the gateway's EMF metrics on both stacks.
	DefaultMetricsNamespace = "NovaSonic"
	// ActiveSessionsMetric is the gateway's count of open conversations, written every minute per
	// process with the dimension ServiceName: the signal ECS scales on and SessionScaling reads.
	ActiveSessionsMetric = "ActiveSessions"
)

// Labels and annotations with a meaning outside this package.
const (
	// AppLabel is the label every gateway pod carries; the Deployment, Service, autoscaler and disruption
	// budget select on it alone, so that adding labels later never changes an immutable selector.
	AppLabel = "app.kubernetes.io/name"
	// AppLabelValue is AppLabel's value on the gateway's objects.
	AppLabelValue = "nova-sonic-gateway"
	// ReadinessGateInjectLabel on a namespace makes the AWS Load Balancer Controller add a readiness gate
	// to new pods that a TargetGroupBinding covers: a pod counts as ready only once its target is healthy,
	// so a rollout never removes old pods before the new ones receive traffic.
	ReadinessGateInjectLabel = "elbv2.k8s.aws/pod-readiness-gate-inject"
	// RoleARNAnnotation on a service account is the IAM role its pods assume (IRSA).
	RoleARNAnnotation = "eks.amazonaws.com/role-arn"
	// EnvironmentAnnotation on the pod template repeats the ConfigMap's data. Pods read environment
	// variables only when they start, so without it a changed value would not reach the pods until they
	// happened to be replaced; with it, any change rolls them. A checksum would not do: most values are
	// CloudFormation tokens that only resolve at deploy time.
	EnvironmentAnnotation = "nova-sonic.aws/environment"
)

// ownedEnvironment are the variables this package sets from its own fields; Environment may repeat them
// only with the same value. The metric names are owned because the ScaledObject reads the metric they
// name: the two must never differ.
var ownedEnvironment = []string{"PORT", "DRAIN_TIMEOUT", "METRICS_NAMESPACE", "METRICS_SERVICE_NAME"}

// Gateway describes the gateway's deployment on EKS on Fargate. Image, RoleARN, TargetGroupARN,
// MetricsServiceName and DeregistrationDelay are required; a zero value elsewhere takes the default its
// comment names.
type Gateway struct {
	// Namespace runs the gateway. Default: DefaultNamespace.
	Namespace string
	// Image is the amd64 gateway image URI (EKS on Fargate has no Arm). Required.
	Image string
	// RoleARN is the IAM role the pods assume through IRSA; it must trust this namespace's Name service
	// account. Required.
	RoleARN string
	// TargetGroupARN is the front door's IP target group the pods are registered in. Required.
	TargetGroupARN string
	// Environment is the gateway's environment: Bedrock, Cognito, allowed origins and log level, shared
	// with the ECS stack. PORT, DRAIN_TIMEOUT, METRICS_NAMESPACE and METRICS_SERVICE_NAME are set here from
	// Port, DrainTimeout, MetricsNamespace and MetricsServiceName. Default: none.
	Environment map[string]string
	// MetricsNamespace is the CloudWatch namespace of the gateway's EMF metrics (METRICS_NAMESPACE).
	// Default: DefaultMetricsNamespace.
	MetricsNamespace string
	// MetricsServiceName is the ServiceName dimension of the gateway's EMF metrics (METRICS_SERVICE_NAME):
	// without it the gateway writes no metrics. It must differ from every other gateway's in the account
	// and region (the ECS stack's of the same stage included), or their ActiveSessions would mix. Required.
	MetricsServiceName string
	// PodCPUMillicores and PodMemoryMiB are the Fargate size each pod is provisioned with; the container's
	// requests are derived by FargateResources. Default: 1000 and 2048 (1 vCPU, 2 GB, the ECS task size).
	PodCPUMillicores, PodMemoryMiB int64
	// MinReplicas is the fewest pods the autoscaler keeps. Default: 2, one per availability zone.
	MinReplicas int32
	// MaxReplicas is the most pods the autoscaler starts. Default: 10.
	MaxReplicas int32
	// DeregistrationDelay is the target group's deregistration delay (FrontDoor's). Required.
	DeregistrationDelay time.Duration
	// DrainTimeout is how long the gateway lets conversations continue after SIGTERM (DRAIN_TIMEOUT).
	// Default: 110 s, as on ECS.
	DrainTimeout time.Duration
	// SessionScaling, when set, scales the Deployment on ActiveSessions through KEDA, with CPU and memory
	// as before: a ScaledObject replaces the HorizontalPodAutoscaler. KEDA must be installed
	// (constructs.EKSKEDA). Default: nil, an HPA on CPU and memory only.
	SessionScaling *SessionScaling
}

// GatewayObjects are the gateway's Kubernetes objects. Apply them in field order: each may depend on the
// ones above it (constructs.NewEKSGateway does). Exactly one autoscaler is set: HorizontalPodAutoscaler,
// or TriggerAuthentication and ScaledObject when Gateway.SessionScaling is set.
type GatewayObjects struct {
	Namespace               *corev1.Namespace
	ServiceAccount          *corev1.ServiceAccount
	Environment             *corev1.ConfigMap
	Service                 *corev1.Service
	TargetGroupBinding      *TargetGroupBinding
	Deployment              *appsv1.Deployment
	PodDisruptionBudget     *policyv1.PodDisruptionBudget
	HorizontalPodAutoscaler *autoscalingv2.HorizontalPodAutoscaler
	TriggerAuthentication   *TriggerAuthentication
	ScaledObject            *ScaledObject
}

// withDefaults returns g with every zero field that has a default filled in.
func (g Gateway) withDefaults() Gateway {
	if g.Namespace == "" {
		g.Namespace = DefaultNamespace
	}
	if g.PodCPUMillicores == 0 {
		g.PodCPUMillicores = 1000
	}
	if g.PodMemoryMiB == 0 {
		g.PodMemoryMiB = 2048
	}
	if g.MinReplicas == 0 {
		g.MinReplicas = 2
	}
	if g.MaxReplicas == 0 {
		g.MaxReplicas = 10
	}
	if g.DrainTimeout == 0 {
		g.DrainTimeout = 110 * time.Second
	}
	if g.MetricsNamespace == "" {
		g.MetricsNamespace = DefaultMetricsNamespace
	}
	if g.SessionScaling != nil {
		scaling := *g.SessionScaling
		if scaling.TargetSessionsPerPod == 0 {
			scaling.TargetSessionsPerPod = DefaultTargetSessionsPerPod
		}
		g.SessionScaling = &scaling
	}
	return g
}

// environment returns Environment plus the variables this package owns, or an error if Environment
// sets one of those differently.
func (g Gateway) environment() (map[string]string, error) {
	env := maps.Clone(g.Environment)
	if env == nil {
		env = map[string]string{}
	}
	owned := map[string]string{
		"PORT":                 fmt.Sprint(Port),
		"DRAIN_TIMEOUT":        fmt.Sprintf("%ds", int64(g.DrainTimeout/time.Second)),
		"METRICS_NAMESPACE":    g.MetricsNamespace,
		"METRICS_SERVICE_NAME": g.MetricsServiceName,
	}
	for _, k := range ownedEnvironment {
		if v, ok := env[k]; ok && v != owned[k] {
			return nil, fmt.Errorf("environment %s=%q disagrees with %q, which this package derives from its own settings: leave %s out",
				k, v, owned[k], k)
		}
		env[k] = owned[k]
	}
	return env, nil
}

// Build validates g and returns its objects.
func (g Gateway) Build() (*GatewayObjects, error) {
	g = g.withDefaults()
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"image", g.Image}, {"role ARN", g.RoleARN}, {"target group ARN", g.TargetGroupARN}, {"metrics service name", g.MetricsServiceName},
	} {
		if strings.TrimSpace(f.value) == "" {
			errs = append(errs, fmt.Errorf("the gateway's %s is required", f.name))
		}
	}
	if g.MinReplicas < 1 || g.MaxReplicas < g.MinReplicas {
		errs = append(errs, fmt.Errorf("replicas %d to %d: need at least 1 and a maximum no smaller than the minimum", g.MinReplicas, g.MaxReplicas))
	}
	resources, err := FargateResources(g.PodCPUMillicores, g.PodMemoryMiB)
	errs = append(errs, err)
	drain, err := DrainPlan(g.DeregistrationDelay, g.DrainTimeout)
	errs = append(errs, err)
	env, err := g.environment()
	errs = append(errs, err)
	if s := g.SessionScaling; s != nil {
		if strings.TrimSpace(s.Region) == "" {
			errs = append(errs, errors.New("session scaling needs the CloudWatch region of the metric"))
		}
		if s.TargetSessionsPerPod < 1 {
			errs = append(errs, fmt.Errorf("session scaling target %d: need at least 1 conversation per pod", s.TargetSessionsPerPod))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kube gateway: %w", err)
	}

	objects := &GatewayObjects{
		Namespace:           g.namespace(),
		ServiceAccount:      g.serviceAccount(),
		Environment:         g.configMap(env),
		Service:             g.service(),
		TargetGroupBinding:  g.targetGroupBinding(),
		Deployment:          g.deployment(resources, drain, env),
		PodDisruptionBudget: g.podDisruptionBudget(),
	}
	if g.SessionScaling == nil {
		objects.HorizontalPodAutoscaler = g.horizontalPodAutoscaler()
	} else {
		objects.TriggerAuthentication = g.triggerAuthentication()
		objects.ScaledObject = g.scaledObject()
	}
	return objects, nil
}

// selectorLabels select the gateway's pods.
func selectorLabels() map[string]string {
	return map[string]string{AppLabel: AppLabelValue}
}

// labels go on every gateway object.
func labels() map[string]string {
	l := selectorLabels()
	l["app.kubernetes.io/part-of"] = "nova-sonic"
	l["app.kubernetes.io/component"] = "gateway"
	l["app.kubernetes.io/managed-by"] = "aws-cdk"
	return l
}

func (g Gateway) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: g.Namespace, Labels: labels()}
}

func (g Gateway) namespace() *corev1.Namespace {
	l := labels()
	l[ReadinessGateInjectLabel] = "enabled"
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: g.Namespace, Labels: l},
	}
}

func (g Gateway) serviceAccount() *corev1.ServiceAccount {
	m := g.meta(Name)
	m.Annotations = map[string]string{RoleARNAnnotation: g.RoleARN}
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: m,
		// The gateway never calls the Kubernetes API. The IRSA webhook mounts its own web-identity token
		// (a separate projected volume), so AWS credentials do not need this one.
		AutomountServiceAccountToken: new(false),
	}
}

func (g Gateway) configMap(env map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: g.meta(EnvironmentConfigMapName),
		Data:       env,
	}
}

func (g Gateway) service() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: g.meta(Name),
		Spec: corev1.ServiceSpec{
			// ClusterIP: the load balancer belongs to CloudFormation (the front door); the
			// TargetGroupBinding registers this Service's pod IPs in its target group.
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(),
			Ports: []corev1.ServicePort{{
				Name: portName, Port: Port, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

func (g Gateway) targetGroupBinding() *TargetGroupBinding {
	return &TargetGroupBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: TargetGroupBindingAPIVersion, Kind: TargetGroupBindingKind},
		ObjectMeta: g.meta(Name),
		Spec: TargetGroupBindingSpec{
			TargetGroupARN: g.TargetGroupARN,
			TargetType:     TargetTypeIP,
			ServiceRef:     ServiceReference{Name: Name, Port: intstr.FromInt32(Port)},
		},
	}
}

func (g Gateway) deployment(resources corev1.ResourceRequirements, drain Drain, env map[string]string) *appsv1.Deployment {
	maxSurge := intstr.FromString("100%")
	maxUnavailable := intstr.FromInt32(0)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: g.meta(Name),
		Spec: appsv1.DeploymentSpec{
			// No replicas: the autoscaler owns the count. kubectl apply sets every field the manifest names,
			// so a count here would reset the autoscaler's on every deploy. A new Deployment starts with one
			// pod and the autoscaler raises it to MinReplicas within seconds.
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels()},
			// Like the ECS service (minimum healthy 100 %, maximum 200 %): a full set of new pods becomes
			// ready, and healthy in the target group through the readiness gate, before old ones drain.
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &maxSurge, MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(),
					Annotations: map[string]string{EnvironmentAnnotation: environmentDigest(env)},
				},
				Spec: g.podSpec(resources, drain),
			},
		},
	}
}

// environmentDigest renders env as sorted KEY=value lines, for EnvironmentAnnotation.
func environmentDigest(env map[string]string) string {
	lines := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		lines = append(lines, k+"="+env[k])
	}
	return strings.Join(lines, "\n")
}

func (g Gateway) podSpec(resources corev1.ResourceRequirements, drain Drain) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName:           Name,
		AutomountServiceAccountToken: new(false),
		// EKS on Fargate runs only linux/amd64; the image is built for it.
		NodeSelector: map[string]string{"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"},
		// Fargate ignores topology spread constraints (EKS user guide, Fargate profiles) and spreads pods
		// over the profile's subnets, one per zone, by itself. The constraint states the intent for the
		// scheduler wherever it is honoured; ScheduleAnyway keeps it from ever holding a pod back.
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       "topology.kubernetes.io/zone",
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: selectorLabels()},
		}},
		TerminationGracePeriodSeconds: new(int64(drain.TerminationGracePeriod / time.Second)),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			RunAsUser:      new(int64(NonRootUID)),
			RunAsGroup:     new(int64(NonRootUID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{g.container(resources, drain)},
	}
}

func (g Gateway) container(resources corev1.ResourceRequirements, drain Drain) corev1.Container {
	return corev1.Container{
		Name:  Name,
		Image: g.Image,
		Ports: []corev1.ContainerPort{{Name: portName, ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
		EnvFrom: []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: EnvironmentConfigMapName}},
		}},
		Resources: resources,
		// The same checks as the ECS container health check (10 s interval, 5 s timeout, 3 tries after a
		// 10 s start period); a busy audio relay must not be restarted for one slow answer.
		LivenessProbe: &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: HealthPath, Port: intstr.FromString(portName)}},
			InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3,
		},
		// Readiness turns false as soon as the gateway drains; every 5 s keeps Service endpoints close to it.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: ReadinessPath, Port: intstr.FromString(portName)}},
			PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 2, SuccessThreshold: 1,
		},
		// The image has no shell, so the wait is the kubelet's own sleep action (DrainPlan says why).
		Lifecycle: &corev1.Lifecycle{
			PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: int64(drain.PreStopSleep / time.Second)}},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			ReadOnlyRootFilesystem:   new(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func (g Gateway) podDisruptionBudget() *policyv1.PodDisruptionBudget {
	maxUnavailable := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: g.meta(Name),
		Spec: policyv1.PodDisruptionBudgetSpec{
			// Fargate evicts pods to patch its infrastructure and honours this budget: one pod at a time.
			MaxUnavailable: &maxUnavailable,
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels()},
		},
	}
}
