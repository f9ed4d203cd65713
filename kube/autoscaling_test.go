package kube

import (
	"maps"
	"reflect"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// regionOfStack is the stack's region as a CDK token, the way the stack passes it.
const regionOfStack = "${Token[AWS.Region.9]}"

// sessionScaledGateway is the gateway with session scaling, as the EKS stack builds it with
// podScaling=sessions.
func sessionScaledGateway(target int32) Gateway {
	g := testGateway()
	// A name of its own, so that a ScaledObject that reads any fixed name fails.
	g.MetricsServiceName = "nova-sonic-gateway-eks-staging"
	g.SessionScaling = &SessionScaling{Region: regionOfStack, TargetSessionsPerPod: target}
	return g
}

func sessionScaled(t *testing.T, target int32) *GatewayObjects {
	t.Helper()
	return build(t, sessionScaledGateway(target))
}

func TestSessionScalingReplacesTheHPAWithAScaledObject(t *testing.T) {
	// GIVEN the gateway without and with session scaling
	g := sessionScaledGateway(0)
	scaled := build(t, g)
	g.SessionScaling = nil
	plain := build(t, g)

	// THEN without it there is an HPA and nothing of KEDA's, and with it the reverse: two autoscalers on one
	// Deployment would fight over its replica count
	if plain.HorizontalPodAutoscaler == nil || plain.ScaledObject != nil || plain.TriggerAuthentication != nil {
		t.Errorf("without session scaling: HPA %v, ScaledObject %v, TriggerAuthentication %v; want only the HPA",
			plain.HorizontalPodAutoscaler != nil, plain.ScaledObject != nil, plain.TriggerAuthentication != nil)
	}
	if scaled.HorizontalPodAutoscaler != nil || scaled.ScaledObject == nil || scaled.TriggerAuthentication == nil {
		t.Fatalf("with session scaling: HPA %v, ScaledObject %v, TriggerAuthentication %v; want the ScaledObject and its authentication only",
			scaled.HorizontalPodAutoscaler != nil, scaled.ScaledObject != nil, scaled.TriggerAuthentication != nil)
	}

	// AND both KEDA objects survive strict decoding into their types, with KEDA's group and kinds
	so := roundTrip(t, scaled.ScaledObject)
	auth := roundTrip(t, scaled.TriggerAuthentication)
	if so.APIVersion != "keda.sh/v1alpha1" || so.Kind != "ScaledObject" || auth.APIVersion != "keda.sh/v1alpha1" || auth.Kind != "TriggerAuthentication" {
		t.Errorf("kinds = %s %s and %s %s, want keda.sh/v1alpha1 ScaledObject and TriggerAuthentication", so.APIVersion, so.Kind, auth.APIVersion, auth.Kind)
	}
	if so.Namespace != DefaultNamespace || auth.Namespace != DefaultNamespace || so.Name != "gateway" {
		t.Errorf("ScaledObject %s/%s and TriggerAuthentication in %s; want both in the gateway's namespace %s", so.Namespace, so.Name, auth.Namespace, DefaultNamespace)
	}
	// AND everything else is the same as without session scaling
	for name, pair := range map[string][2]any{
		"Deployment": {plain.Deployment, scaled.Deployment}, "ConfigMap": {plain.Environment, scaled.Environment},
		"PodDisruptionBudget": {plain.PodDisruptionBudget, scaled.PodDisruptionBudget},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s changes with session scaling", name)
		}
	}
}

func TestScaledObjectReadsTheGatewaysOwnMetric(t *testing.T) {
	// GIVEN session scaling at 25 conversations a pod
	o := sessionScaled(t, 25)
	spec := o.ScaledObject.Spec
	if len(spec.Triggers) != 3 {
		t.Fatalf("%d triggers, want active sessions, CPU and memory", len(spec.Triggers))
	}
	sessions := spec.Triggers[0]

	// THEN the CloudWatch trigger reads ActiveSessions under the very namespace and ServiceName the gateway
	// writes them with (its ConfigMap), in the stack's region, the last complete minute's average
	want := map[string]string{
		"awsRegion":            regionOfStack,
		"namespace":            o.Environment.Data["METRICS_NAMESPACE"],
		"metricName":           "ActiveSessions",
		"dimensionName":        "ServiceName",
		"dimensionValue":       o.Environment.Data["METRICS_SERVICE_NAME"],
		"metricStat":           "Average",
		"metricStatPeriod":     "60",
		"metricEndTimeOffset":  "60",
		"metricCollectionTime": "300",
		"targetMetricValue":    "25",
		"minMetricValue":       "0",
		"ignoreNullValues":     "false",
	}
	if !maps.Equal(sessions.Metadata, want) {
		t.Errorf("CloudWatch trigger metadata =\n  %v\nwant\n  %v", sessions.Metadata, want)
	}
	if o.Environment.Data["METRICS_NAMESPACE"] != "NovaSonic" || o.Environment.Data["METRICS_SERVICE_NAME"] != "nova-sonic-gateway-eks-staging" {
		t.Errorf("ConfigMap metric names = %q, %q", o.Environment.Data["METRICS_NAMESPACE"], o.Environment.Data["METRICS_SERVICE_NAME"])
	}
	// AND the HPA compares the average as a Value (pods × average / target, what ECS target tracking does),
	// answered from KEDA's cache between its once-a-minute polls
	if sessions.Type != "aws-cloudwatch" || sessions.MetricType != autoscalingv2.ValueMetricType || !sessions.UseCachedMetrics {
		t.Errorf("CloudWatch trigger = type %s, metricType %s, cached %v; want aws-cloudwatch, Value, cached", sessions.Type, sessions.MetricType, sessions.UseCachedMetrics)
	}
	if spec.PollingInterval == nil || *spec.PollingInterval != 60 {
		t.Errorf("polling interval = %v, want 60 s", spec.PollingInterval)
	}
	// AND it authenticates with the TriggerAuthentication, which uses the KEDA operator's IRSA role
	if sessions.AuthenticationRef == nil || sessions.AuthenticationRef.Name != o.TriggerAuthentication.Name ||
		o.TriggerAuthentication.Namespace != o.ScaledObject.Namespace {
		t.Errorf("authenticationRef %+v does not name the TriggerAuthentication %s/%s", sessions.AuthenticationRef,
			o.TriggerAuthentication.Namespace, o.TriggerAuthentication.Name)
	}
	if got := o.TriggerAuthentication.Spec; !reflect.DeepEqual(got, TriggerAuthenticationSpec{PodIdentity: &AuthPodIdentity{Provider: "aws"}}) {
		t.Errorf("TriggerAuthentication spec = %+v, want podIdentity aws and nothing else", got)
	}
}

func TestScaledObjectKeepsTheHPAsBaselineBoundsAndBehaviour(t *testing.T) {
	// GIVEN the same gateway with an HPA and with session scaling, 3 to 7 pods
	g := testGateway()
	g.MinReplicas, g.MaxReplicas = 3, 7
	hpa := build(t, g).HorizontalPodAutoscaler.Spec
	g.SessionScaling = &SessionScaling{Region: regionOfStack}
	so := build(t, g).ScaledObject

	// THEN the ScaledObject scales the same Deployment within the same bounds
	if ref := so.Spec.ScaleTargetRef; ref == nil || *ref != (ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: "gateway"}) {
		t.Errorf("scaleTargetRef = %+v, want the Deployment gateway", ref)
	}
	if *so.Spec.MinReplicaCount != 3 || *so.Spec.MaxReplicaCount != 7 || *hpa.MinReplicas != 3 || hpa.MaxReplicas != 7 {
		t.Errorf("bounds: ScaledObject %d to %d, HPA %d to %d; want 3 to 7 for both", *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount,
			*hpa.MinReplicas, hpa.MaxReplicas)
	}
	// AND it keeps CPU and memory with the HPA's targets, and the HPA's slow scale-down
	wantResources := []ScaleTrigger{
		{Type: "cpu", Name: "cpu", MetricType: autoscalingv2.UtilizationMetricType, Metadata: map[string]string{"value": "50"}},
		{Type: "memory", Name: "memory", MetricType: autoscalingv2.UtilizationMetricType, Metadata: map[string]string{"value": "80"}},
	}
	if !reflect.DeepEqual(so.Spec.Triggers[1:], wantResources) {
		t.Errorf("resource triggers = %+v, want %+v", so.Spec.Triggers[1:], wantResources)
	}
	if *hpa.Metrics[0].Resource.Target.AverageUtilization != 50 || *hpa.Metrics[1].Resource.Target.AverageUtilization != 80 {
		t.Errorf("HPA targets %d and %d differ from the ScaledObject's", *hpa.Metrics[0].Resource.Target.AverageUtilization, *hpa.Metrics[1].Resource.Target.AverageUtilization)
	}
	if so.Spec.Advanced == nil || so.Spec.Advanced.HorizontalPodAutoscalerConfig == nil ||
		!reflect.DeepEqual(so.Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior, hpa.Behavior) {
		t.Errorf("ScaledObject behaviour = %+v, want the HPA's %+v", so.Spec.Advanced, hpa.Behavior)
	}
	// AND the default target is the ECS stack's 75 conversations
	if got := so.Spec.Triggers[0].Metadata["targetMetricValue"]; got != "75" {
		t.Errorf("default target = %s, want 75", got)
	}
}

func TestKEDAChartValuesFitFargate(t *testing.T) {
	// GIVEN the chart for an operator role (a token, as the stack passes it)
	values, err := KEDAChart{OperatorRoleARN: roleToken}.Values()
	if err != nil {
		t.Fatal(err)
	}

	// THEN the operator's service account carries the role, the webhook pod is off, and both pods ask
	// for exactly Fargate's smallest size less its overhead, with limits equal to requests
	smallest := map[string]any{"cpu": "250m", "memory": "206Mi"}
	resources := map[string]any{"requests": smallest, "limits": smallest}
	want := map[string]any{
		"podIdentity": map[string]any{"aws": map[string]any{"irsa": map[string]any{"enabled": true, "roleArn": roleToken}}},
		"webhooks":    map[string]any{"enabled": false},
		"resources":   map[string]any{"operator": resources, "metricServer": resources},
	}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("values =\n  %v\nwant\n  %v", values, want)
	}
	if _, err := (KEDAChart{}).Values(); err == nil {
		t.Error("a chart without the operator's role was accepted")
	}
}
