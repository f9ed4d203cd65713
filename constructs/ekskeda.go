package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseksv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"novasonic/kube"
)

// KEDA's Helm chart, pinned. Chart and application versions are the same number.
const (
	// KEDAChartRepository is KEDA's own chart repository.
	KEDAChartRepository = "https://kedacore.github.io/charts"
	// DefaultKEDAChartVersion is the newest KEDA release that could be checked from this repository
	// (its chart and source repositories, August 2026). KEDA tests each release against three Kubernetes
	// versions; 2.20's window is 1.33 to 1.35, one behind the cluster's 1.36 (README_EKS.md says when
	// to move on).
	DefaultKEDAChartVersion = "2.20.2"
)

// EKSKEDAProps configures an EKSKEDA.
type EKSKEDAProps struct {
	// Cluster is where KEDA is installed, in kube.KEDANamespace with a Fargate profile of its own.
	// Required.
	Cluster *EKSCluster
	// ChartVersion is the KEDA chart's version. Default: DefaultKEDAChartVersion.
	ChartVersion *string
}

// EKSKEDA is KEDA installed from its Helm chart on an EKSCluster, so that a ScaledObject can scale the
// gateway on its ActiveSessions CloudWatch metric (EKSGatewayProps.KEDA). The operator and the metrics API
// server run on Fargate in their own namespace; the admission webhooks are off (kube.KEDAChart says why).
// The operator reads CloudWatch with an IRSA role that may call only cloudwatch:GetMetricData.
type EKSKEDA struct {
	constructs.Construct
	// Profile is the Fargate profile of kube.KEDANamespace.
	Profile awseksv2.FargateProfile
	// OperatorRole is the IAM role of the operator's service account.
	OperatorRole awsiam.Role
	// Chart is the Helm release; it brings the ScaledObject and TriggerAuthentication CRDs, and it is
	// installed only once its pods are ready.
	Chart awseksv2.HelmChart
}

// NewEKSKEDA creates KEDA's Fargate profile and IAM role and installs its chart.
func NewEKSKEDA(scope constructs.Construct, id string, props *EKSKEDAProps) *EKSKEDA {
	if props == nil {
		props = &EKSKEDAProps{}
	}
	requireProps("NewEKSKEDA", id, required{"Cluster", props.Cluster == nil})
	this := constructs.NewConstruct(scope, &id)
	version := DefaultKEDAChartVersion
	if props.ChartVersion != nil {
		version = *props.ChartVersion
	}

	profile := props.Cluster.AddFargateProfile("KEDA", kube.KEDANamespace)

	role := props.Cluster.serviceAccountRole(this, kube.KEDANamespace, kube.KEDAOperatorServiceAccount)
	// What the aws-cloudwatch scaler calls, and nothing else. GetMetricData has no resource-level
	// permissions and no condition key that names a namespace or metric, so the resource is "*".
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("cloudwatch:GetMetricData"),
		Resources: jsii.Strings("*"),
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("cloudwatch:GetMetricData, the only action granted, supports no resource ARNs or conditions " +
			"that could name the ActiveSessions metric; it reads metrics and changes nothing"),
		AppliesTo: &[]interface{}{"Resource::*"},
	}}, jsii.Bool(true))

	values, err := kube.KEDAChart{OperatorRoleARN: *role.RoleArn()}.Values()
	if err != nil {
		panic(err.Error())
	}
	chart := awseksv2.NewHelmChart(this, jsii.String("Chart"), &awseksv2.HelmChartProps{
		Cluster:         props.Cluster.Cluster,
		Chart:           jsii.String("keda"),
		Repository:      jsii.String(KEDAChartRepository),
		Version:         jsii.String(version),
		Release:         jsii.String("keda"),
		Namespace:       jsii.String(kube.KEDANamespace),
		CreateNamespace: jsii.Bool(true),
		// Ready pods before CloudFormation moves on, so the ScaledObject is applied to a serving KEDA; an
		// upgrade that does not get there is rolled back by Helm.
		Wait:    jsii.Bool(true),
		Atomic:  jsii.Bool(true),
		Timeout: awscdk.Duration_Minutes(jsii.Number(15)),
		Values:  &values,
	})
	// Its pods need their profile to be scheduled, and the log router's configuration to be logged.
	chart.Node().AddDependency(profile, props.Cluster.LogRouter)

	return &EKSKEDA{Construct: this, Profile: profile, OperatorRole: role, Chart: chart}
}
