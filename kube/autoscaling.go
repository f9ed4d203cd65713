package kube

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the autoscaler aims at. Both autoscalers (the HPA, and the HPA KEDA creates from the ScaledObject)
// use the same CPU and memory targets and the same behaviour; session scaling only adds a metric.
const (
	// CPUUtilizationPercent and MemoryUtilizationPercent are the average utilization of the pods'
	// requests the autoscaler keeps, from metrics-server. CPU is the HPA's only load signal without KEDA,
	// so it aims lower than the ECS stack's CPU backstop (70 %): 50 % of one vCPU is about 100
	// conversations (BENCHMARKS.md, Sizing), between the session target and MAX_CONVERSATIONS.
	CPUUtilizationPercent    = 50
	MemoryUtilizationPercent = 80
	// DefaultTargetSessionsPerPod is SessionScaling's default: the ECS stack's targetSessionsPerTask.
	DefaultTargetSessionsPerPod = 75
)

// Timing of session scaling, in seconds. The gateway writes ActiveSessions once a minute per pod, and
// CloudWatch needs up to a minute more to turn the line into a metric, so the scaler reads the last
// complete minute that is at least a minute old: the same one-to-two-minute lag as ECS target tracking.
const (
	// sessionMetricPeriodSec is the CloudWatch period of the query: one gateway write per pod.
	sessionMetricPeriodSec = 60
	// sessionMetricEndOffsetSec skips the minute still being written and ingested; an incomplete minute
	// would average only the pods whose lines arrived first.
	sessionMetricEndOffsetSec = 60
	// sessionMetricWindowSec is how far back the query reaches (a multiple of the period, as KEDA requires);
	// the scaler takes the newest of the returned points, so a late minute does not leave it without data.
	sessionMetricWindowSec = 300
	// sessionPollingIntervalSec is how often KEDA queries CloudWatch; the HPA's 15 s queries read the
	// cached value in between (useCachedMetrics). New data arrives once a minute, so polling faster would
	// only cost GetMetricData calls.
	sessionPollingIntervalSec = 60
)

// SessionScaling scales the gateway on its ActiveSessions metric through KEDA's aws-cloudwatch scaler,
// the signal the ECS stack scales on. The KEDA operator reads CloudWatch with its own IRSA role
// (TriggerAuthentication with the aws provider), so the gateway's role keeps only its Bedrock grant.
type SessionScaling struct {
	// Region is the region of the gateway's log group and so of its metric: the stack's region (a CDK
	// token is fine). Required.
	Region string
	// TargetSessionsPerPod is the average number of open conversations per pod the autoscaler aims at.
	// Default: DefaultTargetSessionsPerPod.
	TargetSessionsPerPod int32
}

// cloudWatchAuthenticationName names the TriggerAuthentication of the CloudWatch trigger.
const cloudWatchAuthenticationName = Name + "-cloudwatch"

// scalingBehavior is how fast both autoscalers move.
func scalingBehavior() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		// Out fast: a new Fargate pod takes about a minute to become ready.
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: new(int32(0)),
			SelectPolicy:               new(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60},
				{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 60},
			},
		},
		// In slowly: every removed pod drains its conversations for minutes, so the load must have
		// stayed low for ten minutes (the ECS scale-in cooldown) and pods go one at a time.
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: new(int32(600)),
			SelectPolicy:               new(autoscalingv2.MinChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 300},
			},
		},
	}
}

func (g Gateway) horizontalPodAutoscaler() *autoscalingv2.HorizontalPodAutoscaler {
	utilization := func(name corev1.ResourceName, percent int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   name,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(percent)},
			},
		}
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: g.meta(Name),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: Name},
			MinReplicas:    new(g.MinReplicas),
			MaxReplicas:    g.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{
				utilization(corev1.ResourceCPU, CPUUtilizationPercent),
				utilization(corev1.ResourceMemory, MemoryUtilizationPercent),
			},
			Behavior: scalingBehavior(),
		},
	}
}

func (g Gateway) triggerAuthentication() *TriggerAuthentication {
	return &TriggerAuthentication{
		TypeMeta:   metav1.TypeMeta{APIVersion: KEDAAPIVersion, Kind: TriggerAuthenticationKind},
		ObjectMeta: g.meta(cloudWatchAuthenticationName),
		// The aws provider without a role: the KEDA operator's own IRSA role, which may only read metrics.
		Spec: TriggerAuthenticationSpec{PodIdentity: &AuthPodIdentity{Provider: PodIdentityProviderAWS}},
	}
}

// scaledObject is the session-scaling autoscaler. KEDA creates an HPA from it (keda-hpa-gateway) and owns
// it; the HPA follows whichever trigger asks for the most pods.
func (g Gateway) scaledObject() *ScaledObject {
	utilization := func(resource corev1.ResourceName, percent int) ScaleTrigger {
		return ScaleTrigger{
			Type: string(resource), Name: string(resource), MetricType: autoscalingv2.UtilizationMetricType,
			Metadata: map[string]string{"value": fmt.Sprint(percent)},
		}
	}
	s := g.SessionScaling
	sessions := ScaleTrigger{
		Type: "aws-cloudwatch",
		Name: "active-sessions",
		// The average over the pods, compared as a Value: the HPA then wants ceil(pods × average / target),
		// exactly what ECS target tracking on the Average does. A Sum with an AverageValue target would give
		// the same number, but a pod whose write slips across a minute boundary counts twice or not at all
		// in a Sum, while an average does not care.
		MetricType:        autoscalingv2.ValueMetricType,
		UseCachedMetrics:  true,
		AuthenticationRef: &AuthenticationRef{Name: cloudWatchAuthenticationName},
		Metadata: map[string]string{
			"awsRegion":            s.Region,
			"namespace":            g.MetricsNamespace,
			"metricName":           ActiveSessionsMetric,
			"dimensionName":        "ServiceName",
			"dimensionValue":       g.MetricsServiceName,
			"metricStat":           "Average",
			"metricStatPeriod":     fmt.Sprint(sessionMetricPeriodSec),
			"metricEndTimeOffset":  fmt.Sprint(sessionMetricEndOffsetSec),
			"metricCollectionTime": fmt.Sprint(sessionMetricWindowSec),
			"targetMetricValue":    fmt.Sprint(s.TargetSessionsPerPod),
			// Required by the scaler, but unused: with ignoreNullValues false, no data is an error, and
			// an HPA with a failing metric scales out on the others but never in. Reading "no data" as 0
			// instead would let a broken log router shrink the gateway to its minimum.
			"minMetricValue":   "0",
			"ignoreNullValues": "false",
		},
	}
	return &ScaledObject{
		TypeMeta:   metav1.TypeMeta{APIVersion: KEDAAPIVersion, Kind: ScaledObjectKind},
		ObjectMeta: g.meta(Name),
		Spec: ScaledObjectSpec{
			ScaleTargetRef:  &ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: Name},
			PollingInterval: new(int32(sessionPollingIntervalSec)),
			MinReplicaCount: new(g.MinReplicas),
			MaxReplicaCount: new(g.MaxReplicas),
			Advanced:        &AdvancedConfig{HorizontalPodAutoscalerConfig: &HorizontalPodAutoscalerConfig{Behavior: scalingBehavior()}},
			Triggers: []ScaleTrigger{
				sessions,
				utilization(corev1.ResourceCPU, CPUUtilizationPercent),
				utilization(corev1.ResourceMemory, MemoryUtilizationPercent),
			},
		},
	}
}
