package kube

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CDK token strings as the stack passes them: they must reach the manifest unchanged.
const (
	imageToken       = "${Token[TOKEN.101]}"
	roleToken        = "${Token[TOKEN.102]}"
	targetGroupToken = "${Token[TOKEN.103]}"
	poolToken        = "${Token[TOKEN.104]}"
)

// testGateway is a gateway as the EKS stack describes it, with the front door's default delay.
func testGateway() Gateway {
	return Gateway{
		Image:          imageToken,
		RoleARN:        roleToken,
		TargetGroupARN: targetGroupToken,
		Environment: map[string]string{
			"BEDROCK_REGION":       "us-east-1",
			"COGNITO_USER_POOL_ID": poolToken,
		},
		MetricsServiceName:  "nova-sonic-gateway-eks-dev",
		DeregistrationDelay: 300 * time.Second,
	}
}

func build(t *testing.T, g Gateway) *GatewayObjects {
	t.Helper()
	objects, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

func TestGatewayObjectsRoundTripStrictly(t *testing.T) {
	// GIVEN the gateway as the stack describes it
	objects := build(t, testGateway())

	// THEN every object survives YAML and strict decoding into its API type unchanged
	roundTrip(t, objects.Namespace)
	roundTrip(t, objects.ServiceAccount)
	roundTrip(t, objects.Environment)
	roundTrip(t, objects.Service)
	roundTrip(t, objects.TargetGroupBinding)
	roundTrip(t, objects.Deployment)
	roundTrip(t, objects.HorizontalPodAutoscaler)
	roundTrip(t, objects.PodDisruptionBudget)
}

func TestGatewayManifestsKeepTokensAndKinds(t *testing.T) {
	objects := build(t, testGateway())
	want := map[any]string{
		objects.Namespace:               "v1/Namespace",
		objects.ServiceAccount:          "v1/ServiceAccount",
		objects.Environment:             "v1/ConfigMap",
		objects.Service:                 "v1/Service",
		objects.TargetGroupBinding:      "elbv2.k8s.aws/v1beta1/TargetGroupBinding",
		objects.Deployment:              "apps/v1/Deployment",
		objects.HorizontalPodAutoscaler: "autoscaling/v2/HorizontalPodAutoscaler",
		objects.PodDisruptionBudget:     "policy/v1/PodDisruptionBudget",
	}
	var all strings.Builder
	for obj, kind := range want {
		m, err := Manifest(obj)
		if err != nil {
			t.Fatal(err)
		}
		if got := m["apiVersion"].(string) + "/" + m["kind"].(string); got != kind {
			t.Errorf("%T is %s, want %s", obj, got, kind)
		}
		raw, _ := json.Marshal(m)
		all.Write(raw)
	}
	for _, token := range []string{imageToken, roleToken, targetGroupToken, poolToken} {
		if !strings.Contains(all.String(), token) {
			t.Errorf("token %s does not reach the manifests unchanged", token)
		}
	}
}

func TestGatewayLabelsAndSelectorsAgree(t *testing.T) {
	o := build(t, testGateway())
	pod := o.Deployment.Spec.Template
	podLabels := k8slabels.Set(pod.Labels)

	deploymentSelector, err := metav1.LabelSelectorAsSelector(o.Deployment.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	pdbSelector, err := metav1.LabelSelectorAsSelector(o.PodDisruptionBudget.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	spreadSelector, err := metav1.LabelSelectorAsSelector(pod.Spec.TopologySpreadConstraints[0].LabelSelector)
	if err != nil {
		t.Fatal(err)
	}
	for name, selects := range map[string]bool{
		"Deployment selector":      deploymentSelector.Matches(podLabels),
		"Service selector":         k8slabels.SelectorFromSet(o.Service.Spec.Selector).Matches(podLabels),
		"PodDisruptionBudget":      pdbSelector.Matches(podLabels),
		"topology spread selector": spreadSelector.Matches(podLabels),
	} {
		if !selects {
			t.Errorf("%s does not select the pod template's labels %v", name, podLabels)
		}
	}
	// Selectors are immutable: they must use the one stable label and nothing else.
	if want := map[string]string{AppLabel: AppLabelValue}; !maps.Equal(o.Deployment.Spec.Selector.MatchLabels, want) ||
		!maps.Equal(o.Service.Spec.Selector, want) || !maps.Equal(o.PodDisruptionBudget.Spec.Selector.MatchLabels, want) {
		t.Errorf("selectors = %v, %v, %v; want exactly %v", o.Deployment.Spec.Selector.MatchLabels, o.Service.Spec.Selector,
			o.PodDisruptionBudget.Spec.Selector.MatchLabels, want)
	}

	// References by name and port.
	container := pod.Spec.Containers[0]
	if pod.Spec.ServiceAccountName != o.ServiceAccount.Name {
		t.Errorf("pod service account %q, want %q", pod.Spec.ServiceAccountName, o.ServiceAccount.Name)
	}
	if ref := container.EnvFrom[0].ConfigMapRef.Name; ref != o.Environment.Name {
		t.Errorf("envFrom %q, want the ConfigMap %q", ref, o.Environment.Name)
	}
	if ref := o.HorizontalPodAutoscaler.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != o.Deployment.Name {
		t.Errorf("autoscaler targets %+v, want the Deployment %q", ref, o.Deployment.Name)
	}
	servicePort := o.Service.Spec.Ports[0]
	if ref := o.TargetGroupBinding.Spec.ServiceRef; ref.Name != o.Service.Name || ref.Port != intstr.FromInt32(servicePort.Port) {
		t.Errorf("binding's serviceRef %+v, want %s:%d", ref, o.Service.Name, servicePort.Port)
	}
	if servicePort.TargetPort != intstr.FromString(container.Ports[0].Name) || container.Ports[0].ContainerPort != Port || servicePort.Port != Port {
		t.Errorf("service port %+v does not reach container port %+v on %d", servicePort, container.Ports[0], Port)
	}

	// Everything but the namespace itself lives in it.
	for _, m := range []string{o.ServiceAccount.Namespace, o.Environment.Namespace, o.Service.Namespace, o.TargetGroupBinding.Namespace,
		o.Deployment.Namespace, o.HorizontalPodAutoscaler.Namespace, o.PodDisruptionBudget.Namespace} {
		if m != o.Namespace.Name || m != DefaultNamespace {
			t.Errorf("object in namespace %q, want %q", m, DefaultNamespace)
		}
	}
}

func TestGatewayNamespaceInjectsTheReadinessGate(t *testing.T) {
	o := build(t, testGateway())
	if got := o.Namespace.Labels["elbv2.k8s.aws/pod-readiness-gate-inject"]; got != "enabled" {
		t.Fatalf("namespace labels %v lack the load balancer controller's readiness gate label", o.Namespace.Labels)
	}
}

func TestGatewayServiceAccountIsTheIRSARole(t *testing.T) {
	sa := build(t, testGateway()).ServiceAccount
	if !maps.Equal(sa.Annotations, map[string]string{"eks.amazonaws.com/role-arn": roleToken}) {
		t.Errorf("annotations = %v, want only the role ARN", sa.Annotations)
	}
	if sa.Name != "gateway" || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %s automounts its token (%v); the gateway never calls the Kubernetes API", sa.Name, sa.AutomountServiceAccountToken)
	}
}

func TestGatewayPodSpec(t *testing.T) {
	// GIVEN a 1 vCPU / 2 GB pod behind a 300 s deregistration delay and the default 110 s drain
	spec := build(t, testGateway()).Deployment.Spec.Template.Spec
	c := spec.Containers[0]

	check := func(what string, got, want any) {
		t.Helper()
		if !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("%s = %+v, want %+v", what, got, want)
		}
	}
	check("liveness probe", c.LivenessProbe, &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")}},
		InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3,
	})
	check("readiness probe", c.ReadinessProbe, &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}},
		PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 2, SuccessThreshold: 1,
	})
	guaranteed := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1742Mi")}
	check("resources", c.Resources, corev1.ResourceRequirements{Requests: guaranteed, Limits: guaranteed})
	check("container security context", c.SecurityContext, &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	})
	check("pod security context", spec.SecurityContext, &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(65532)),
		RunAsGroup:     new(int64(65532)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	})
	// THEN preStop sleeps 300 + 15 s before SIGTERM and the grace period adds 110 + 10 s for the drain
	check("preStop", c.Lifecycle, &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 315}}})
	check("grace period", spec.TerminationGracePeriodSeconds, new(int64(435)))
	check("node selector", spec.NodeSelector, map[string]string{"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"})
	check("automount", spec.AutomountServiceAccountToken, new(false))
	check("image", c.Image, imageToken)
	check("spread", spec.TopologySpreadConstraints[0].TopologyKey+" "+string(spec.TopologySpreadConstraints[0].WhenUnsatisfiable)+" ",
		"topology.kubernetes.io/zone ScheduleAnyway ")
	check("spread skew", spec.TopologySpreadConstraints[0].MaxSkew, int32(1))
}

func TestGatewayDeploymentRollsLikeECS(t *testing.T) {
	d := build(t, testGateway()).Deployment
	want := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
		MaxSurge: new(intstr.FromString("100%")), MaxUnavailable: new(intstr.FromInt32(0)),
	}}
	if !reflect.DeepEqual(d.Spec.Strategy, want) {
		t.Errorf("strategy = %+v, want %+v", d.Spec.Strategy, want)
	}
	// The autoscaler owns the count; a count in the manifest would reset it on every deploy.
	if d.Spec.Replicas != nil {
		t.Errorf("replicas = %d, want none", *d.Spec.Replicas)
	}
}

func TestGatewayEnvironment(t *testing.T) {
	// GIVEN the shared environment and a 90 s drain
	g := testGateway()
	g.DrainTimeout = 90 * time.Second
	o := build(t, g)

	// THEN the ConfigMap holds it plus the port, the DRAIN_TIMEOUT the drain arithmetic used and the metric
	// names a ScaledObject would read
	want := map[string]string{
		"BEDROCK_REGION": "us-east-1", "COGNITO_USER_POOL_ID": poolToken,
		"METRICS_NAMESPACE": "NovaSonic", "METRICS_SERVICE_NAME": "nova-sonic-gateway-eks-dev",
		"PORT": "8080", "DRAIN_TIMEOUT": "90s",
	}
	if !maps.Equal(o.Environment.Data, want) {
		t.Errorf("environment = %v, want %v", o.Environment.Data, want)
	}
	if got := *o.Deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 315+90+10 {
		t.Errorf("grace period %d does not follow the 90 s drain", got)
	}
	// AND the pod template carries the same values, so that a change rolls the pods
	wantAnnotation := "BEDROCK_REGION=us-east-1\nCOGNITO_USER_POOL_ID=" + poolToken +
		"\nDRAIN_TIMEOUT=90s\nMETRICS_NAMESPACE=NovaSonic\nMETRICS_SERVICE_NAME=nova-sonic-gateway-eks-dev\nPORT=8080"
	if got := o.Deployment.Spec.Template.Annotations["nova-sonic.aws/environment"]; got != wantAnnotation {
		t.Errorf("environment annotation = %q, want %q", got, wantAnnotation)
	}
	// AND the caller's map is not modified
	if _, ok := g.Environment["PORT"]; ok {
		t.Error("Build wrote into the caller's Environment")
	}
}

func TestGatewayAutoscalerScalesOutFastAndInSlowly(t *testing.T) {
	hpa := build(t, testGateway()).HorizontalPodAutoscaler.Spec
	if *hpa.MinReplicas != 2 || hpa.MaxReplicas != 10 {
		t.Errorf("replicas %d to %d, want 2 to 10", *hpa.MinReplicas, hpa.MaxReplicas)
	}
	wantMetrics := []autoscalingv2.MetricSpec{
		{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))}}},
		{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(80))}}},
	}
	if !reflect.DeepEqual(hpa.Metrics, wantMetrics) {
		t.Errorf("metrics = %+v, want CPU 50 %% and memory 80 %%", hpa.Metrics)
	}
	wantDown := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: new(int32(600)),
		SelectPolicy:               new(autoscalingv2.MinChangePolicySelect),
		Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 300}},
	}
	if !reflect.DeepEqual(hpa.Behavior.ScaleDown, wantDown) {
		t.Errorf("scale-down = %+v, want one pod per 5 min after 10 min of low load", hpa.Behavior.ScaleDown)
	}
	wantUp := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: new(int32(0)),
		SelectPolicy:               new(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60},
			{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 60},
		},
	}
	if !reflect.DeepEqual(hpa.Behavior.ScaleUp, wantUp) {
		t.Errorf("scale-up = %+v, want the larger of 100 %% or 2 pods a minute", hpa.Behavior.ScaleUp)
	}
}

func TestGatewayDisruptionBudgetAllowsOnePodAtATime(t *testing.T) {
	pdb := build(t, testGateway()).PodDisruptionBudget.Spec
	want := policyv1.PodDisruptionBudgetSpec{MaxUnavailable: new(intstr.FromInt32(1)), Selector: pdb.Selector}
	if !reflect.DeepEqual(pdb, want) {
		t.Errorf("budget = %+v, want maxUnavailable 1 only", pdb)
	}
}

func TestGatewayTargetGroupBinding(t *testing.T) {
	o := build(t, testGateway())
	// The Service only gives the binding its endpoints: the load balancer is the front door's.
	if o.Service.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type %s, want ClusterIP", o.Service.Spec.Type)
	}
	tgb := o.TargetGroupBinding
	want := TargetGroupBindingSpec{
		TargetGroupARN: targetGroupToken,
		TargetType:     "ip",
		ServiceRef:     ServiceReference{Name: "gateway", Port: intstr.FromInt32(8080)},
	}
	if tgb.APIVersion != "elbv2.k8s.aws/v1beta1" || tgb.Kind != "TargetGroupBinding" || !reflect.DeepEqual(tgb.Spec, want) {
		t.Errorf("binding = %s %s %+v, want %+v", tgb.APIVersion, tgb.Kind, tgb.Spec, want)
	}
}

func TestGatewaySettings(t *testing.T) {
	// GIVEN a namespace, a 0.5 vCPU / 1 GB pod and 3 to 6 replicas
	g := testGateway()
	g.Namespace, g.PodCPUMillicores, g.PodMemoryMiB, g.MinReplicas, g.MaxReplicas = "voice", 500, 1024, 3, 6
	o := build(t, g)

	// THEN each reaches its object
	if o.Namespace.Name != "voice" || o.Deployment.Namespace != "voice" {
		t.Errorf("namespace = %s, Deployment in %s; want voice", o.Namespace.Name, o.Deployment.Namespace)
	}
	if *o.HorizontalPodAutoscaler.Spec.MinReplicas != 3 || o.HorizontalPodAutoscaler.Spec.MaxReplicas != 6 {
		t.Errorf("autoscaler %d to %d; want 3 to 6", *o.HorizontalPodAutoscaler.Spec.MinReplicas, o.HorizontalPodAutoscaler.Spec.MaxReplicas)
	}
	r := o.Deployment.Spec.Template.Spec.Containers[0].Resources.Requests
	if cpu, mem := r[corev1.ResourceCPU], r[corev1.ResourceMemory]; cpu.String() != "500m" || mem.String() != "718Mi" {
		t.Errorf("requests = %v, want 500m and 718Mi", r)
	}
}

func TestGatewayRejectsIncompleteOrConflictingSettings(t *testing.T) {
	tests := map[string]struct {
		change func(*Gateway)
		want   string
	}{
		"no image":               {func(g *Gateway) { g.Image = "" }, "image is required"},
		"no role":                {func(g *Gateway) { g.RoleARN = " " }, "role ARN is required"},
		"no target group":        {func(g *Gateway) { g.TargetGroupARN = "" }, "target group ARN is required"},
		"max below min":          {func(g *Gateway) { g.MinReplicas, g.MaxReplicas = 4, 3 }, "replicas 4 to 3"},
		"not a Fargate size":     {func(g *Gateway) { g.PodMemoryMiB = 1024 }, "not a Fargate size"},
		"no deregistration data": {func(g *Gateway) { g.DeregistrationDelay = -1 }, "deregistration delay"},
		"conflicting drain":      {func(g *Gateway) { g.Environment["DRAIN_TIMEOUT"] = "60s" }, `DRAIN_TIMEOUT="60s" disagrees with "110s"`},
		"conflicting port":       {func(g *Gateway) { g.Environment["PORT"] = "9090" }, `PORT="9090" disagrees with "8080"`},
		"no metrics name":        {func(g *Gateway) { g.MetricsServiceName = "" }, "metrics service name is required"},
		"conflicting metrics name": {func(g *Gateway) { g.Environment["METRICS_SERVICE_NAME"] = "nova-sonic-gateway-dev" },
			`METRICS_SERVICE_NAME="nova-sonic-gateway-dev" disagrees with "nova-sonic-gateway-eks-dev"`},
		"conflicting metrics namespace": {func(g *Gateway) { g.Environment["METRICS_NAMESPACE"] = "Other" }, `METRICS_NAMESPACE="Other" disagrees with "NovaSonic"`},
		"session scaling without a region": {func(g *Gateway) { g.SessionScaling = &SessionScaling{Region: " "} },
			"session scaling needs the CloudWatch region"},
		"session scaling below one conversation": {func(g *Gateway) { g.SessionScaling = &SessionScaling{Region: "eu-west-1", TargetSessionsPerPod: -1} },
			"session scaling target -1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := testGateway()
			tt.change(&g)
			_, err := g.Build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The same values as the package's own are accepted.
	g := testGateway()
	g.Environment["DRAIN_TIMEOUT"], g.Environment["PORT"] = "110s", "8080"
	g.Environment["METRICS_NAMESPACE"], g.Environment["METRICS_SERVICE_NAME"] = "NovaSonic", "nova-sonic-gateway-eks-dev"
	if _, err := g.Build(); err != nil {
		t.Fatalf("agreeing PORT and DRAIN_TIMEOUT rejected: %v", err)
	}
}
