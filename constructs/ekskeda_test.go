package constructs_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	appconstructs "novasonic/constructs"
)

func TestEKSKEDAHasItsOwnFargateProfile(t *testing.T) {
	// GIVEN the cluster with KEDA and the session-scaled gateway
	_, template := eksWithSessionScaling(t)

	// WHEN the Fargate profiles' selectors are read
	var selected []string
	for _, p := range resources(t, template, "AWS::EKS::FargateProfile") {
		for _, s := range p["Properties"].(map[string]any)["Selectors"].([]any) {
			selected = append(selected, s.(map[string]any)["Namespace"].(string))
		}
	}
	slices.Sort(selected)

	// THEN KEDA's namespace has one, besides kube-system and the gateway's: its pods would stay Pending
	if want := []string{"keda", "kube-system", "nova-sonic"}; !slices.Equal(selected, want) {
		t.Fatalf("profiles select %v, want exactly %v", selected, want)
	}
	// AND the chart installs into that namespace
	chart := kedaChart(t, template)
	if chart["Namespace"] != "keda" {
		t.Errorf("KEDA chart namespace = %v, want keda", chart["Namespace"])
	}
	// AND the log router of KEDA's pods may write to the container log group, as every profile's may
	_, profile := withPrefix(t, template, "AWS::IAM::Policy", "KubernetesClusterfargateprofileKEDAPodExecutionRoleDefaultPolicy")
	groupID, _ := withPrefix(t, template, "AWS::Logs::LogGroup", "KubernetesContainerLogs")
	doc, _ := json.Marshal(profile["Properties"].(map[string]any)["PolicyDocument"])
	if want := `{"Statement":[{"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow","Resource":{"Fn::GetAtt":["` + groupID + `","Arn"]}},`; !strings.HasPrefix(string(doc), want) {
		t.Errorf("KEDA profile's pod execution role policy = %s, want log writes on %s", doc, groupID)
	}
}

// kedaChart returns the Properties of the KEDA Helm release.
func kedaChart(t *testing.T, template assertions.Template) map[string]any {
	t.Helper()
	_, chart := withPrefix(t, template, "Custom::AWSCDK-EKS-HelmChart", "KEDAChart")
	return chart["Properties"].(map[string]any)
}

// withPrefix returns the one resource of a type whose logical ID starts with prefix.
func withPrefix(t *testing.T, template assertions.Template, resourceType, prefix string) (string, map[string]any) {
	t.Helper()
	var ids []string
	var found map[string]any
	for id, r := range resources(t, template, resourceType) {
		if strings.HasPrefix(id, prefix) {
			ids, found = append(ids, id), r
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s resources with prefix %s: %v, want one", resourceType, prefix, ids)
	}
	return ids[0], found
}

func TestEKSKEDAChartIsPinnedAndFitsFargate(t *testing.T) {
	_, template := eksWithSessionScaling(t)
	chart := kedaChart(t, template)

	// THEN the chart comes from KEDA's repository at the pinned version, waits for its pods and rolls back
	// a failed upgrade
	for key, want := range map[string]any{
		"Chart": "keda", "Repository": "https://kedacore.github.io/charts", "Version": "2.20.2", "Release": "keda",
		"CreateNamespace": true, "Wait": true, "Atomic": true, "Timeout": "900s",
	} {
		if chart[key] != want {
			t.Errorf("KEDA chart %s = %v, want %v", key, chart[key], want)
		}
	}
	if appconstructs.DefaultKEDAChartVersion != "2.20.2" {
		t.Errorf("DefaultKEDAChartVersion = %s; README_EKS.md and the pinned-versions table name 2.20.2", appconstructs.DefaultKEDAChartVersion)
	}
	// AND its values are kube.KEDAChart's, with the operator role's ARN filled in
	values, _ := json.Marshal(chart["Values"])
	roleID := roleWithPrefix(t, template, "KEDAServiceAccountRole")
	for _, want := range []string{
		`\"webhooks\":{\"enabled\":false}`,
		`\"irsa\":{\"enabled\":true,\"roleArn\":\"",{"Fn::GetAtt":["` + roleID + `","Arn"]},"\"}`,
		`\"operator\":{\"limits\":{\"cpu\":\"250m\",\"memory\":\"206Mi\"},\"requests\":{\"cpu\":\"250m\",\"memory\":\"206Mi\"}}`,
		`\"metricServer\":{\"limits\":{\"cpu\":\"250m\",\"memory\":\"206Mi\"},\"requests\":{\"cpu\":\"250m\",\"memory\":\"206Mi\"}}`,
	} {
		if !strings.Contains(string(values), want) {
			t.Errorf("KEDA chart values lack %s:\n%s", want, values)
		}
	}
	// AND it is installed after its profile and the log router
	_, chartResource := withPrefix(t, template, "Custom::AWSCDK-EKS-HelmChart", "KEDAChart")
	routerID, _, _ := manifestByPath(t, template, "KubernetesLogRouter")
	if !slices.Contains(dependsOn(chartResource), routerID) || !hasDependencyWithPrefix(chartResource, "KubernetesClusterfargateprofileKEDA") {
		t.Errorf("KEDA chart depends on %v; want its Fargate profile and %s", dependsOn(chartResource), routerID)
	}
}

// roleWithPrefix returns the logical ID of the one IAM role whose ID starts with prefix.
func roleWithPrefix(t *testing.T, template assertions.Template, prefix string) string {
	t.Helper()
	id, _ := withPrefix(t, template, "AWS::IAM::Role", prefix)
	return id
}

func TestEKSKEDAOperatorRoleTrustsOnlyTheOperatorAndReadsOnlyMetrics(t *testing.T) {
	_, template := eksWithSessionScaling(t)
	all := templateJSON(t, template)
	roleID := roleWithPrefix(t, template, "KEDAServiceAccountRole")
	var trustID string
	for id, r := range all {
		if r["Type"] == "Custom::AWSCDKCfnJson" && strings.HasPrefix(id, "KEDAServiceAccountTrust") {
			trustID = id
		}
	}

	// THEN the role trusts the cluster's OIDC provider for keda/keda-operator, with the STS audience
	trust, _ := json.Marshal(all[roleID]["Properties"].(map[string]any)["AssumeRolePolicyDocument"])
	oidcID, _ := onlyResource(t, template, "AWS::IAM::OIDCProvider")
	wantTrust := `{"Statement":[{"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"Fn::GetAtt":["` + trustID +
		`","Value"]}},"Effect":"Allow","Principal":{"Federated":{"Ref":"` + oidcID + `"}}}],"Version":"2012-10-17"}`
	if string(trust) != wantTrust {
		t.Errorf("trust = %s\nwant %s", trust, wantTrust)
	}
	conditions, _ := json.Marshal(all[trustID]["Properties"].(map[string]any)["Value"])
	if !strings.Contains(string(conditions), `:sub\":\"system:serviceaccount:keda:keda-operator\"`) ||
		!strings.Contains(string(conditions), `:aud\":\"sts.amazonaws.com\"`) || strings.Count(string(conditions), `\":\"`) != 2 {
		t.Errorf("trust conditions = %s, want aud and sub of keda/keda-operator only", conditions)
	}

	// AND its only permission is reading metric data
	attached := policiesOn(all, roleID)
	want := `{"Statement":[{"Action":"cloudwatch:GetMetricData","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}`
	if len(attached) != 1 || attached[0] != want {
		t.Errorf("policies on the KEDA operator role = %v\nwant only %s", attached, want)
	}
	if all[roleID]["Properties"].(map[string]any)["ManagedPolicyArns"] != nil {
		t.Errorf("the KEDA operator role has managed policies")
	}

	// AND the one wildcard is suppressed for cdk-nag by exactly that finding, with its reason
	_, policy := withPrefix(t, template, "AWS::IAM::Policy", "KEDAServiceAccountRoleDefaultPolicy")
	suppressions, _ := json.Marshal(policy["Metadata"].(map[string]any)["cdk_nag"])
	if !strings.HasPrefix(string(suppressions), `{"rules_to_suppress":[{"applies_to":["Resource::*"],"id":"AwsSolutions-IAM5","reason":"cloudwatch:GetMetricData, the only action granted`) ||
		strings.Count(string(suppressions), `"id"`) != 1 {
		t.Errorf("KEDA role policy suppressions = %s, want only IAM5 for Resource::* with the GetMetricData reason", suppressions)
	}
}

func TestEKSGatewayWithKEDAScalesOnItsActiveSessions(t *testing.T) {
	_, template := eksWithSessionScaling(t)

	// THEN the gateway has a session scaler and no HPA of its own
	for id := range resources(t, template, "Custom::AWSCDK-EKS-KubernetesResource") {
		if strings.HasPrefix(id, "GatewayAutoscaler") {
			t.Errorf("%s: an HPA is applied next to the ScaledObject; two autoscalers would fight", id)
		}
	}
	_, scaler, manifest := manifestByPath(t, template, "GatewaySessionScaler")
	// AND it reads the gateway's own metric in the stack's region, with the target given
	for _, want := range []string{
		`\"kind\":\"TriggerAuthentication\"`, `\"kind\":\"ScaledObject\"`,
		`\"dimensionValue\":\"nova-sonic-gateway-eks-test\"`, `\"metricName\":\"ActiveSessions\"`, `\"namespace\":\"NovaSonic\"`,
		`\"targetMetricValue\":\"25\"`, `\"awsRegion\":\"",{"Ref":"AWS::Region"},"\"`,
	} {
		if !strings.Contains(manifest, want) {
			t.Errorf("session scaler lacks %s: %s", want, manifest)
		}
	}
	_, _, configuration := manifestByPath(t, template, "GatewayConfiguration")
	if !strings.Contains(configuration, `\"METRICS_SERVICE_NAME\":\"nova-sonic-gateway-eks-test\"`) {
		t.Errorf("the gateway's ConfigMap does not publish under the name the ScaledObject reads: %s", configuration)
	}
	// AND it is applied after the Deployment, metrics-server and KEDA's chart (its CRDs), so it is deleted
	// before them
	workloadID, _, _ := manifestByPath(t, template, "GatewayWorkload")
	addonID, _ := onlyResource(t, template, "AWS::EKS::Addon")
	for _, dep := range []string{workloadID, addonID} {
		if !slices.Contains(dependsOn(scaler), dep) {
			t.Errorf("session scaler does not depend on %s (DependsOn %v)", dep, dependsOn(scaler))
		}
	}
	if !hasDependencyWithPrefix(scaler, "KEDAChart") {
		t.Errorf("session scaler does not depend on the KEDA chart (DependsOn %v)", dependsOn(scaler))
	}
}

func TestEKSKEDANagClean(t *testing.T) {
	// GIVEN the session-scaled cluster with AwsSolutions checks (a finding fails synth)
	stack, _ := eksWithSessionScaling(t)

	// THEN no cdk-nag error or warning is left unsuppressed
	nagClean(t, stack)
}
