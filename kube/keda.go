package kube

import (
	"errors"
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KEDA's API group and version, served by the CRDs of its Helm chart.
const (
	KEDAAPIVersion            = "keda.sh/v1alpha1"
	ScaledObjectKind          = "ScaledObject"
	TriggerAuthenticationKind = "TriggerAuthentication"
)

// Where KEDA runs. The EKS stack gives KEDANamespace a Fargate profile of its own and trusts
// KEDAOperatorServiceAccount, the chart's operator account, in the IAM role that reads CloudWatch.
const (
	// KEDANamespace is the namespace the KEDA chart is installed in.
	KEDANamespace = "keda"
	// KEDAOperatorServiceAccount is the chart's default name for the operator's service account; the
	// operator is the KEDA component that queries CloudWatch.
	KEDAOperatorServiceAccount = "keda-operator"
)

// The types below are KEDA's keda.sh/v1alpha1 ScaledObject and TriggerAuthentication, reduced to the fields
// this stack sets. k8s.io/api has no type for them, and importing KEDA's own module would pull its operator,
// every scaler's SDK and a second Kubernetes client into every build. Field names and JSON tags follow
// KEDA's apis/keda/v1alpha1 at the pinned chart's version (v2.20.2); fields left out keep their defaults.

// ScaledObject makes KEDA create and own a HorizontalPodAutoscaler for ScaleTargetRef, fed by its triggers.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the scaling target, bounds, HPA behaviour and triggers.
	Spec ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is the part of KEDA's ScaledObjectSpec this stack uses.
type ScaledObjectSpec struct {
	// ScaleTargetRef is the workload KEDA scales.
	ScaleTargetRef *ScaleTarget `json:"scaleTargetRef"`
	// PollingInterval is how often, in seconds, KEDA queries each trigger (and refreshes the cached value
	// of triggers with UseCachedMetrics).
	PollingInterval *int32 `json:"pollingInterval,omitempty"`
	// MinReplicaCount and MaxReplicaCount become the HPA's bounds.
	MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
	MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
	// Advanced passes settings through to the HPA that KEDA creates.
	Advanced *AdvancedConfig `json:"advanced,omitempty"`
	// Triggers are the metrics; the HPA follows whichever asks for the most replicas.
	Triggers []ScaleTrigger `json:"triggers"`
}

// ScaleTarget names the scaled workload.
type ScaleTarget struct {
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// AdvancedConfig holds the HPA settings KEDA copies into the HPA it creates.
type AdvancedConfig struct {
	HorizontalPodAutoscalerConfig *HorizontalPodAutoscalerConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
}

// HorizontalPodAutoscalerConfig is the HPA's scaling behaviour, in the autoscaling/v2 type.
type HorizontalPodAutoscalerConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// ScaleTrigger is one metric source of a ScaledObject.
type ScaleTrigger struct {
	// Type is the scaler: cpu, memory, aws-cloudwatch, ...
	Type string `json:"type"`
	// Name tells the triggers apart in KEDA's status and metrics.
	Name string `json:"name,omitempty"`
	// UseCachedMetrics answers the HPA's queries (every 15 s) from the value KEDA read at its last poll,
	// instead of querying the source again.
	UseCachedMetrics bool `json:"useCachedMetrics,omitempty"`
	// Metadata is the scaler's configuration; every value is a string.
	Metadata map[string]string `json:"metadata"`
	// AuthenticationRef names the TriggerAuthentication the scaler authenticates with.
	AuthenticationRef *AuthenticationRef `json:"authenticationRef,omitempty"`
	// MetricType is how the HPA compares the value with the target.
	MetricType autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// AuthenticationRef names a TriggerAuthentication in the ScaledObject's namespace.
type AuthenticationRef struct {
	Name string `json:"name"`
}

// TriggerAuthentication tells a scaler where its credentials come from.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec names the credential source.
	Spec TriggerAuthenticationSpec `json:"spec"`
}

// TriggerAuthenticationSpec is the part of KEDA's TriggerAuthenticationSpec this stack uses.
type TriggerAuthenticationSpec struct {
	// PodIdentity takes credentials from a workload identity rather than from secrets.
	PodIdentity *AuthPodIdentity `json:"podIdentity,omitempty"`
}

// AuthPodIdentity selects the identity provider.
type AuthPodIdentity struct {
	// Provider is the identity provider; PodIdentityProviderAWS uses the KEDA operator's own IRSA role
	// unless a role ARN is given, which this stack never does.
	Provider PodIdentityProvider `json:"provider"`
}

// PodIdentityProvider is a KEDA identity provider.
type PodIdentityProvider string

// PodIdentityProviderAWS is IRSA: the KEDA operator's service account is annotated with an IAM role.
const PodIdentityProviderAWS PodIdentityProvider = "aws"

// KEDAChart describes the KEDA Helm release for EKS on Fargate.
type KEDAChart struct {
	// OperatorRoleARN is the IAM role the operator's service account is annotated with (IRSA); a CDK
	// token is fine. It must trust KEDANamespace's KEDAOperatorServiceAccount. Required.
	OperatorRoleARN string
}

// Values returns the chart's values. Everything else keeps the chart's defaults: CRDs installed, one
// operator and one metrics API server, both non-root with read-only root filesystems.
func (c KEDAChart) Values() (map[string]any, error) {
	if strings.TrimSpace(c.OperatorRoleARN) == "" {
		return nil, errors.New("kube keda chart: the operator's role ARN is required")
	}
	// Fargate sizes each pod from its requests and runs it with guaranteed QoS, so requests equal limits,
	// sized for Fargate's smallest pod (0.25 vCPU, 0.5 GB) with room for its overhead and the log router.
	// The chart's defaults (100m/100Mi requests, 1 CPU/1000Mi limits) would give a 0.25 vCPU pod whose
	// container may believe it has a whole CPU and a gigabyte.
	smallest, err := FargateResources(250, 512)
	if err != nil {
		return nil, fmt.Errorf("kube keda chart: %w", err)
	}
	resources, err := jsonObject(smallest)
	if err != nil {
		return nil, fmt.Errorf("kube keda chart: %w", err)
	}
	return map[string]any{
		"podIdentity": map[string]any{"aws": map[string]any{"irsa": map[string]any{
			"enabled": true,
			"roleArn": c.OperatorRoleARN,
		}}},
		// The admission webhooks only validate ScaledObjects as they are applied. The stack applies one,
		// built and tested here; the webhook pod would cost a third Fargate pod, and a webhook that is not
		// serving would block that apply (the failure the replaced sample hit with another controller).
		"webhooks": map[string]any{"enabled": false},
		"resources": map[string]any{
			"operator":     resources,
			"metricServer": resources,
		},
	}, nil
}
