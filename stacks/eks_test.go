package stacks_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"novasonic/kube"
	"novasonic/stacks"
	"novasonic/stacks/templatecheck"
)

// kubeObjects returns the objects the template's KubernetesManifest resources apply.
func kubeObjects(t *testing.T, tmpl templatecheck.Template) []templatecheck.KubernetesObject {
	t.Helper()
	objects, err := templatecheck.KubernetesObjects(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

// kubeObject returns the one object of a kind and name.
func kubeObject(t *testing.T, tmpl templatecheck.Template, kind, namespace, name string) templatecheck.KubernetesObject {
	t.Helper()
	var found []templatecheck.KubernetesObject
	for _, o := range kubeObjects(t, tmpl) {
		if o.Kind == kind && o.Namespace == namespace && o.Name == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects %s %s/%s, want 1", len(found), kind, namespace, name)
	}
	return found[0]
}

// only returns the one resource of a type and its logical ID.
func only(t *testing.T, tmpl templatecheck.Template, resourceType string) (string, map[string]any) {
	t.Helper()
	found := tmpl.Resources(resourceType)
	if len(found) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(found), resourceType)
	}
	for id, r := range found {
		return id, r
	}
	return "", nil
}

// field walks a decoded JSON value along keys.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func TestEKSNagClean(t *testing.T) {
	// GIVEN the EKS stack with AwsSolutions checks, as main_eks.go builds it
	s := eksStack(t)

	// THEN cdk-nag reports nothing that is not suppressed with a reason
	for _, finding := range nagFindings(t, s) {
		t.Error(finding)
	}
}

// eksSuppressed are the cdk-nag findings the EKS stack suppresses, by rule and construct path: each on the
// one resource that has it, most of them resources the CDK creates inside its constructs. A new one must
// be added here on purpose, after reading its reason.
var eksSuppressed = []string{
	// Shared with the ECS stack (constructs/website.go, frontdoor.go, auth.go).
	"AwsSolutions-CFR1 FrontDoor/Distribution/Resource",
	"AwsSolutions-CFR2 FrontDoor/Distribution/Resource",
	"AwsSolutions-CFR4 FrontDoor/Distribution/Resource",
	"AwsSolutions-COG2 Auth/UserPool/Resource",
	"AwsSolutions-COG8 Auth/UserPool/Resource",
	"AwsSolutions-ELB2 FrontDoor/LoadBalancer/Resource",
	"AwsSolutions-IAM4 AWS679f53fac002430cb0da5b7982bd2287/ServiceRole/Resource",
	"AwsSolutions-IAM4 Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C512MiB/ServiceRole/Resource",
	"AwsSolutions-IAM5 Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C512MiB/ServiceRole/DefaultPolicy/Resource",
	"AwsSolutions-IAM5 FrontDoor/OriginSecurityGroupLookup/CustomResourcePolicy/Resource",
	"AwsSolutions-L1 Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C512MiB/Resource",
	// The cluster's (constructs/ekscluster.go): managed policies EKS requires, the CDK's kubectl handler
	// and its provider framework, and the load balancer controller's published policy.
	"AwsSolutions-IAM4 Kubernetes/Cluster/KubectlProvider/Handler/ServiceRole/Resource",
	"AwsSolutions-IAM4 Kubernetes/Cluster/KubectlProvider/Provider/framework-onEvent/ServiceRole/Resource",
	"AwsSolutions-IAM4 Kubernetes/Cluster/Role/Resource",
	"AwsSolutions-IAM4 Kubernetes/Cluster/fargate-profile-App/PodExecutionRole/Resource",
	"AwsSolutions-IAM4 Kubernetes/Cluster/fargate-profile-kube-system/PodExecutionRole/Resource",
	"AwsSolutions-IAM5 Kubernetes/Cluster/KubectlProvider/Provider/framework-onEvent/ServiceRole/DefaultPolicy/Resource",
	"AwsSolutions-IAM5 NovaSonicSolutionEKSBackendStackKubernetesClusterFE5CC555-AlbController/alb-sa/Role/DefaultPolicy/Resource",
	"AwsSolutions-L1 Kubernetes/Cluster/KubectlProvider/Handler/Resource",
}

// nagReport returns the rows of the AwsSolutions report cdk-nag wrote into an assembly directory: rule,
// resource path, compliance, reason.
func nagReport(t *testing.T, dir string) [][]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "AwsSolutions-*-NagReport.csv"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("nag reports in %s: %v %v, want one", dir, paths, err)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 || !slices.Equal(rows[0][:4], []string{"Rule ID", "Resource ID", "Compliance", "Exception Reason"}) {
		t.Fatalf("nag report %s: %v, %d rows", paths[0], err, len(rows))
	}
	return rows[1:]
}

func TestEKSSuppressionsAreNarrowWithReasons(t *testing.T) {
	// GIVEN the EKS stack synthesized with cdk-nag, and the report of every rule on every resource
	s := eksStack(t)
	if s.nagErr != nil {
		t.Skip("synthesis with cdk-nag failed; TestEKSNagClean says why")
	}
	var suppressed []string
	for _, row := range nagReport(t, *s.app.Outdir()) {
		if row[2] == "Suppressed" {
			// THEN each suppressed finding gives a specific reason
			if len(row[3]) < 40 {
				t.Errorf("%s on %s is suppressed without a specific reason: %q", row[0], row[1], row[3])
			}
			line := row[0] + " " + strings.TrimPrefix(row[1], stacks.EKSStackName+"/")
			if !slices.Contains(suppressed, line) {
				suppressed = append(suppressed, line)
			}
		}
	}
	slices.Sort(suppressed)

	// AND the suppressed findings are exactly these, each on its own resource, none for the whole stack
	if want := slices.Sorted(slices.Values(eksSuppressed)); !slices.Equal(suppressed, want) {
		t.Errorf("suppressed findings =\n  %s\nwant\n  %s", strings.Join(suppressed, "\n  "), strings.Join(want, "\n  "))
	}
	if _, ok := field(s.tmpl, "Metadata", "cdk_nag").(map[string]any); ok {
		t.Errorf("stack-wide cdk-nag suppressions: %v", field(s.tmpl, "Metadata", "cdk_nag"))
	}
}

func TestEKSSecurity(t *testing.T) {
	// GIVEN the EKS stack with the default Bedrock region and model
	s := eksStack(t)

	// THEN it keeps the rules every stack of the app keeps: nothing admits the internet, Bedrock only on
	// the model, private TLS-only buckets
	for _, problem := range templatecheck.Security(s.tmpl, defaultBedrock()) {
		t.Error(problem)
	}
}

func TestEKSClusterLogsEverythingAndKeepsItsEndpointPrivate(t *testing.T) {
	// GIVEN the EKS stack with the default configuration
	s := eksStack(t)

	// THEN what cdk-nag's EKS1 and EKS2 stand for holds (cdk-nag does not evaluate them on aws-eks-v2)
	for _, problem := range templatecheck.EKSClusters(s.tmpl) {
		t.Error(problem)
	}
	// AND by default the endpoint is private only, with no public networks at all, and every one of the
	// five control-plane log types is on
	_, cluster := only(t, s.tmpl, "AWS::EKS::Cluster")
	vpc := field(templatecheck.Properties(cluster), "ResourcesVpcConfig").(map[string]any)
	if vpc["EndpointPrivateAccess"] != true || vpc["EndpointPublicAccess"] != false || vpc["PublicAccessCidrs"] != nil {
		t.Errorf("endpoint = private %v, public %v, networks %v; want private only", vpc["EndpointPrivateAccess"], vpc["EndpointPublicAccess"], vpc["PublicAccessCidrs"])
	}
	logTypes, _ := json.Marshal(field(templatecheck.Properties(cluster), "Logging", "ClusterLogging", "EnabledTypes"))
	if string(logTypes) != `[{"Type":"api"},{"Type":"audit"},{"Type":"authenticator"},{"Type":"controllerManager"},{"Type":"scheduler"}]` {
		t.Errorf("control-plane log types = %s, want all five", logTypes)
	}
}

func TestEKSLogGroupsFollowTheStage(t *testing.T) {
	// GIVEN the default (dev) stage's EKS stack
	s := eksStack(t)

	// THEN every log group, the control plane's and the CDK's own included, keeps logs one week and is
	// deleted with the stack, and no Lambda function logs to a group outside the template
	for _, problem := range templatecheck.LogGroups(s.tmpl, 7, "Delete") {
		t.Error(problem)
	}
	// AND the control plane writes to a group of the template: EKS's own would never expire
	_, cluster := only(t, s.tmpl, "AWS::EKS::Cluster")
	name := templatecheck.Properties(cluster)["Name"]
	var named []string
	for id, g := range s.tmpl.Resources("AWS::Logs::LogGroup") {
		if templatecheck.Properties(g)["LogGroupName"] == fmt.Sprintf("/aws/eks/%v/cluster", name) && slices.Contains(stringsOf(cluster["DependsOn"]), id) {
			named = append(named, id)
		}
	}
	if name != stacks.EKSStackName || len(named) != 1 {
		t.Errorf("cluster %v: control-plane log groups the cluster depends on = %v, want one named /aws/eks/%s/cluster", name, named, stacks.EKSStackName)
	}
}

// stringsOf returns a JSON list of strings.
func stringsOf(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// podNamespaces returns the namespaces in which the template makes pods run, with what runs there.
func podNamespaces(t *testing.T, tmpl templatecheck.Template) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	// Kinds whose objects create pods.
	podKinds := []string{"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}
	for _, o := range kubeObjects(t, tmpl) {
		if slices.Contains(podKinds, o.Kind) {
			out[o.Namespace] = append(out[o.Namespace], o.Kind+" "+o.Name)
		}
	}
	for id, chart := range tmpl.Resources("Custom::AWSCDK-EKS-HelmChart") {
		ns := fmt.Sprint(templatecheck.Properties(chart)["Namespace"])
		out[ns] = append(out[ns], "Helm chart "+id)
	}
	// EKS add-ons (metrics-server) and CoreDNS, which the CDK patches onto Fargate, run in kube-system.
	for id := range tmpl.Resources("AWS::EKS::Addon") {
		out["kube-system"] = append(out["kube-system"], "add-on "+id)
	}
	for _, patch := range tmpl.Resources("Custom::AWSCDK-EKS-KubernetesPatch") {
		p := templatecheck.Properties(patch)
		out[fmt.Sprint(p["ResourceNamespace"])] = append(out[fmt.Sprint(p["ResourceNamespace"])], fmt.Sprint(p["ResourceName"]))
	}
	return out
}

// profiledNamespaces returns the namespaces the Fargate profiles select, failing on label selectors: a pod
// without the labels would stay Pending.
func profiledNamespaces(t *testing.T, tmpl templatecheck.Template) []string {
	t.Helper()
	var selected []string
	for id, p := range tmpl.Resources("AWS::EKS::FargateProfile") {
		for _, s := range templatecheck.Properties(p)["Selectors"].([]any) {
			sel := s.(map[string]any)
			if labels, _ := sel["Labels"].([]any); len(labels) != 0 {
				t.Errorf("profile %s selects by labels %v", id, sel["Labels"])
			}
			selected = append(selected, fmt.Sprint(sel["Namespace"]))
		}
	}
	slices.Sort(selected)
	return selected
}

func TestEKSFargateProfilesSelectEveryNamespaceThatRunsPods(t *testing.T) {
	// GIVEN the EKS stack
	s := eksStack(t)

	// WHEN the namespaces that run pods and those the Fargate profiles select are read
	running := podNamespaces(t, s.tmpl)
	selected := profiledNamespaces(t, s.tmpl)

	// THEN they are the same: every pod has a profile, and no profile invites strays (no "default")
	if got := slices.Sorted(maps.Keys(running)); !slices.Equal(got, selected) || !slices.Equal(selected, []string{"kube-system", "nova-sonic"}) {
		t.Errorf("pods run in %v (%v); profiles select %v; want both exactly [kube-system nova-sonic]", got, running, selected)
	}
}

func TestEKSServiceAccountRoleTrustsOnlyTheGatewayAndHoldsOnlyBedrock(t *testing.T) {
	// GIVEN the EKS stack and the service account its pods run as
	s := eksStack(t)
	deployment := kubeObject(t, s.tmpl, "Deployment", "nova-sonic", "gateway")
	account := kubeObject(t, s.tmpl, "ServiceAccount", "nova-sonic", fmt.Sprint(field(deployment.Object, "spec", "template", "spec", "serviceAccountName")))
	roleRef := fmt.Sprint(field(account.Object, "metadata", "annotations", "eks.amazonaws.com/role-arn"))
	roleID := strings.TrimSuffix(strings.TrimPrefix(roleRef, "${"), ".Arn}")
	role, ok := s.tmpl.Resources("AWS::IAM::Role")[roleID]
	if !ok {
		t.Fatalf("service account %s/%s carries %s, not a role of the stack", account.Namespace, account.Name, roleRef)
	}

	// THEN the role trusts the cluster's OIDC provider, for that namespace and name and the STS audience
	oidcID, _ := only(t, s.tmpl, "AWS::IAM::OIDCProvider")
	statements := field(templatecheck.Properties(role), "AssumeRolePolicyDocument", "Statement").([]any)
	if len(statements) != 1 || templatecheck.Render(field(statements[0], "Principal", "Federated")) != "${"+oidcID+"}" ||
		field(statements[0], "Action") != "sts:AssumeRoleWithWebIdentity" {
		t.Fatalf("trust = %s, want one web-identity statement for %s", templatecheck.Render(statements), oidcID)
	}
	conditionRef := templatecheck.Render(field(statements[0], "Condition", "StringEquals"))
	conditionID := strings.TrimSuffix(strings.TrimPrefix(conditionRef, "${"), ".Value}")
	conditions := field(templatecheck.Properties(s.tmpl.Resources("Custom::AWSCDKCfnJson")[conditionID]), "Value")
	// The provider's issuer, taken from its ARN at deploy time.
	issuer := `{"Fn::Select":[1,{"Fn::Split":[":oidc-provider/",{"Ref":"` + oidcID + `"}]}]}`
	want := fmt.Sprintf(`{"%[1]s:aud":"sts.amazonaws.com","%[1]s:sub":"system:serviceaccount:nova-sonic:gateway"}`, issuer)
	if got := templatecheck.Render(conditions); got != want {
		t.Errorf("trust conditions = %s\nwant %s", got, want)
	}

	// AND its only permission is the Bedrock grant on the one model, attached by the one policy
	var attached []string
	for id, p := range s.tmpl.Resources("AWS::IAM::Policy") {
		if slices.Contains(stringsOf(templatecheck.Properties(p)["Roles"]), "map[Ref:"+roleID+"]") {
			attached = append(attached, id+" "+templatecheck.Render(field(templatecheck.Properties(p), "PolicyDocument", "Statement")))
		}
	}
	if len(attached) != 1 || !strings.HasSuffix(attached[0],
		` [{"Action":["bedrock:InvokeModel","bedrock:InvokeModelWithBidirectionalStream"],"Effect":"Allow","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"]]}}]`) {
		t.Errorf("policies on %s = %q, want only the Bedrock grant", roleID, attached)
	}
	if templatecheck.Properties(role)["ManagedPolicyArns"] != nil || templatecheck.Properties(role)["Policies"] != nil {
		t.Errorf("role %s has managed or inline policies", roleID)
	}
}

func TestEKSTargetGroupBindingNamesTheFrontDoorsTargetGroup(t *testing.T) {
	// GIVEN the EKS stack, whose one target group is the one the front door's listener forwards to
	s := eksStack(t)
	tgID, _ := only(t, s.tmpl, "AWS::ElasticLoadBalancingV2::TargetGroup")
	_, listener := only(t, s.tmpl, "AWS::ElasticLoadBalancingV2::Listener")
	if forward := templatecheck.Render(field(templatecheck.Properties(listener)["DefaultActions"].([]any)[0], "TargetGroupArn")); forward != "${"+tgID+"}" {
		t.Fatalf("the listener forwards to %s, not %s", forward, tgID)
	}

	// THEN the binding registers the gateway Service's pods, as IP targets, in exactly that group
	binding := kubeObject(t, s.tmpl, "TargetGroupBinding", "nova-sonic", "gateway")
	spec, _ := json.Marshal(binding.Object["spec"])
	if want := `{"serviceRef":{"name":"gateway","port":8080},"targetGroupARN":"${` + tgID + `}","targetType":"ip"}`; string(spec) != want {
		t.Errorf("binding spec = %s\nwant %s", spec, want)
	}
	kubeObject(t, s.tmpl, "Service", "nova-sonic", "gateway")
}

func TestEKSAddOnsExistAndArePinned(t *testing.T) {
	// GIVEN the EKS stack
	s := eksStack(t)

	// THEN Kubernetes is 1.36 with the kubectl layer of 1.36
	_, cluster := only(t, s.tmpl, "AWS::EKS::Cluster")
	if v := templatecheck.Properties(cluster)["Version"]; v != "1.36" {
		t.Errorf("Kubernetes version %v, want 1.36", v)
	}
	var layers []string
	for _, l := range s.tmpl.Resources("AWS::Lambda::LayerVersion") {
		layers = append(layers, fmt.Sprint(templatecheck.Properties(l)["Description"]))
	}
	if !slices.Contains(layers, "kubectl and helm for Kubernetes 1.36") {
		t.Errorf("layers %q lack the kubectl layer for 1.36", layers)
	}
	// AND metrics-server is the community add-on at a fixed version
	_, addon := only(t, s.tmpl, "AWS::EKS::Addon")
	if p := templatecheck.Properties(addon); p["AddonName"] != "metrics-server" || p["AddonVersion"] != "v0.8.0-eksbuild.2" {
		t.Errorf("add-on %v %v, want metrics-server v0.8.0-eksbuild.2", p["AddonName"], p["AddonVersion"])
	}
	// AND the load balancer controller's chart and image are pinned to v3.2.2
	_, chart := only(t, s.tmpl, "Custom::AWSCDK-EKS-HelmChart")
	p := templatecheck.Properties(chart)
	image := field(p["Values"], "image")
	values := templatecheck.Render(p["Values"])
	if p["Chart"] != "aws-load-balancer-controller" || p["Version"] != "3.2.2" || !strings.Contains(values, `"tag":"v3.2.2"`) {
		t.Errorf("load balancer controller = %v %v, image %v (%s); want chart 3.2.2 and image v3.2.2", p["Chart"], p["Version"], image, values)
	}
	// AND the log router's configuration ships to the stack's container log group
	kubeObject(t, s.tmpl, "Namespace", "", "aws-observability")
	router := kubeObject(t, s.tmpl, "ConfigMap", "aws-observability", "aws-logging")
	logGroup := templatecheck.Render(field(s.tmpl.Outputs()["LogGroupName"], "Value"))
	if output := fmt.Sprint(field(router.Object, "data", "output.conf")); strings.Count(output, "log_group_name "+logGroup+"\n") != 2 {
		t.Errorf("log router outputs = %q, want both to write to %s", output, logGroup)
	}
}

func TestEKSGatewayEnvironmentAndDrain(t *testing.T) {
	// GIVEN the EKS stack
	s := eksStack(t)

	// THEN the gateway's ConfigMap is the ECS environment, exactly, with the EKS stack's metric name
	data := field(kubeObject(t, s.tmpl, "ConfigMap", "nova-sonic", "gateway-environment").Object, "data").(map[string]any)
	var environment []string
	for _, k := range slices.Sorted(maps.Keys(data)) {
		environment = append(environment, k+"="+fmt.Sprint(data[k]))
	}
	want := []string{
		"ALLOWED_ORIGINS=https://${FrontDoorDistribution20F29BA2.DomainName}",
		"BEDROCK_MODEL_ID=amazon.nova-2-sonic-v1:0",
		"BEDROCK_REGION=us-east-1",
		"CLIENT_ADDRESS_HEADER=CloudFront-Viewer-Address",
		"COGNITO_CLIENT_ID=${AuthUserPoolWebClient147E4E38}",
		"COGNITO_USER_POOL_ID=${AuthUserPool8115E87F}",
		"DRAIN_TIMEOUT=110s",
		"LOG_LEVEL=info",
		"METRICS_NAMESPACE=NovaSonic",
		"METRICS_SERVICE_NAME=nova-sonic-gateway-eks-dev",
		"PORT=8080",
	}
	if !slices.Equal(environment, want) {
		t.Errorf("gateway environment =\n  %s\nwant\n  %s", strings.Join(environment, "\n  "), strings.Join(want, "\n  "))
	}

	// AND the pods' drain follows from the front door's deregistration delay and that DRAIN_TIMEOUT:
	// preStop sleeps through the delay, the grace period covers the drain
	_, tg := only(t, s.tmpl, "AWS::ElasticLoadBalancingV2::TargetGroup")
	var delay time.Duration
	for _, a := range templatecheck.Properties(tg)["TargetGroupAttributes"].([]any) {
		if field(a, "Key") == "deregistration_delay.timeout_seconds" {
			seconds, _ := strconv.Atoi(fmt.Sprint(field(a, "Value")))
			delay = time.Duration(seconds) * time.Second
		}
	}
	drain, err := time.ParseDuration(fmt.Sprint(data["DRAIN_TIMEOUT"]))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := kube.DrainPlan(delay, drain)
	if err != nil {
		t.Fatal(err)
	}
	pod := field(kubeObject(t, s.tmpl, "Deployment", "nova-sonic", "gateway").Object, "spec", "template", "spec")
	container := field(pod, "containers").([]any)[0]
	sleep, grace := field(container, "lifecycle", "preStop", "sleep", "seconds"), field(pod, "terminationGracePeriodSeconds")
	if sleep != plan.PreStopSleep.Seconds() || grace != plan.TerminationGracePeriod.Seconds() || sleep != 315.0 || grace != 435.0 {
		t.Errorf("preStop sleep %v s and grace %v s; want %v and %v from a %v delay and a %v drain (315 and 435)",
			sleep, grace, plan.PreStopSleep.Seconds(), plan.TerminationGracePeriod.Seconds(), delay, drain)
	}
	// AND the pods run on amd64, the only architecture EKS on Fargate has, from an image built for it
	if arch := field(pod, "nodeSelector", "kubernetes.io/arch"); arch != "amd64" {
		t.Errorf("node selector arch = %v, want amd64", arch)
	}
	assets, err := os.ReadFile(filepath.Join(*s.app.Outdir(), stacks.EKSStackName+".assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DockerImages map[string]struct{ Source struct{ Platform string } }
	}
	if err := json.Unmarshal(assets, &manifest); err != nil || len(manifest.DockerImages) != 1 {
		t.Fatalf("asset manifest: %v, %d images", err, len(manifest.DockerImages))
	}
	for _, image := range manifest.DockerImages {
		if image.Source.Platform != "linux/amd64" {
			t.Errorf("the gateway image is built for %q, want linux/amd64", image.Source.Platform)
		}
	}
}

func TestEKSMetricNameIsNotTheECSStacks(t *testing.T) {
	// GIVEN both stacks of the default stage, which may run in one account
	ecs, eks := backendStack(t), eksStack(t)
	var ecsName string
	for _, td := range ecs.tmpl.Resources("AWS::ECS::TaskDefinition") {
		for _, e := range field(templatecheck.Properties(td)["ContainerDefinitions"].([]any)[0], "Environment").([]any) {
			if field(e, "Name") == "METRICS_SERVICE_NAME" {
				ecsName = fmt.Sprint(field(e, "Value"))
			}
		}
	}
	eksName := fmt.Sprint(field(kubeObject(t, eks.tmpl, "ConfigMap", "nova-sonic", "gateway-environment").Object, "data", "METRICS_SERVICE_NAME"))

	// THEN their ActiveSessions carry different ServiceName dimensions, so neither scales on the other's
	if ecsName == "" || eksName == ecsName {
		t.Errorf("METRICS_SERVICE_NAME is %q on ECS and %q on EKS; want two different names", ecsName, eksName)
	}
}

func TestEKSAlarmsWatchTheEKSGateway(t *testing.T) {
	// GIVEN the EKS stack, whose gateway writes its metrics as nova-sonic-gateway-eks-dev
	s := eksStack(t)
	topicID, _ := only(t, s.tmpl, "AWS::SNS::Topic")

	// THEN it has the ECS stack's alarms, each on that ServiceName, never on the ECS gateway's, and each
	// notifies the topic the AlarmTopicArn output names
	alarms := s.tmpl.Resources("AWS::CloudWatch::Alarm")
	if len(alarms) != 4 {
		t.Errorf("%d alarms, want the four of constructs.GatewayAlarms", len(alarms))
	}
	for id, a := range alarms {
		rendered := templatecheck.Render(templatecheck.Properties(a))
		if !strings.Contains(rendered, `{"Name":"ServiceName","Value":"nova-sonic-gateway-eks-dev"}`) || strings.Contains(rendered, `"nova-sonic-gateway-dev"`) {
			t.Errorf("alarm %s does not watch nova-sonic-gateway-eks-dev: %s", id, rendered)
		}
		if actions := templatecheck.Render(templatecheck.Properties(a)["AlarmActions"]); actions != `[{"Ref":"`+topicID+`"}]` {
			t.Errorf("alarm %s notifies %s, want the topic %s", id, actions, topicID)
		}
	}
	if got := templatecheck.Render(field(s.tmpl.Outputs()["AlarmTopicArn"], "Value")); got != "${"+topicID+"}" {
		t.Errorf("AlarmTopicArn = %s, want the alarms' topic", got)
	}
}

func TestEKSAutoscalerIsTheHPAByDefault(t *testing.T) {
	// GIVEN the EKS stack with the default configuration (podScaling cpu-memory)
	s := eksStack(t)

	// THEN the gateway has one HPA on CPU and memory, and nothing of KEDA's is installed: it costs extra
	hpa := kubeObject(t, s.tmpl, "HorizontalPodAutoscaler", "nova-sonic", "gateway")
	if got := templatecheck.Render(field(hpa.Object, "spec", "metrics")); !strings.Contains(got, `"name":"cpu"`) || !strings.Contains(got, `"name":"memory"`) {
		t.Errorf("HPA metrics = %s, want CPU and memory", got)
	}
	for _, o := range kubeObjects(t, s.tmpl) {
		if strings.HasPrefix(o.APIVersion, "keda.sh/") {
			t.Errorf("%s %s/%s applied without session scaling", o.Kind, o.Namespace, o.Name)
		}
	}
	if n := len(s.tmpl.Resources("Custom::AWSCDK-EKS-HelmChart")); n != 1 {
		t.Errorf("%d Helm charts, want only the load balancer controller's", n)
	}
}

func TestEKSSecurityGroupRules(t *testing.T) {
	// GIVEN the EKS stack
	s := eksStack(t)

	// THEN the security groups hold exactly these rules: CloudFront's VPC-origin group reaches the load
	// balancer on 80, the load balancer reaches the pods (the cluster security group) on 8080, and the
	// control plane's additional group has the CDK's default egress (EKS's own cluster group, on the same
	// network interfaces, allows all egress anyway)
	want := []string{
		"egress FrontDoorLoadBalancerSecurityGroup tcp 8080-8080 to sg ${KubernetesCluster0CA8310C.ClusterSecurityGroupId}",
		"egress KubernetesClusterControlPlaneSecurityGroup -1 <nil>-<nil> to 0.0.0.0/0",
		"ingress FrontDoorLoadBalancerSecurityGroup tcp 80-80 from sg ${FrontDoorOriginSecurityGroupLookupB8307781.SecurityGroups.0.GroupId}",
		"ingress KubernetesCluster0CA8310C.ClusterSecurityGroupId tcp 8080-8080 from sg ${FrontDoorLoadBalancerSecurityGroup616A7628.GroupId}",
	}
	checkSecurityGroupRules(t, s, want)
}

func TestEKSFrontDoor(t *testing.T) {
	// GIVEN the EKS stack: the same front door as ECS
	checkFrontDoor(t, eksStack(t))
}

func TestEKSWebClientConfig(t *testing.T) {
	// GIVEN the EKS stack: the same sign-in and config.js as ECS
	checkWebClientConfig(t, eksStack(t))
}

func TestEKSStatefulLogicalIDs(t *testing.T) {
	// GIVEN the EKS stack
	// THEN the stateful resources keep their logical IDs (the shared ones the same as on ECS): a change
	// would replace them on the next deploy, the cluster with everything in it
	checkLogicalIDs(t, eksStack(t), map[string]string{
		"KubernetesCluster0CA8310C":          "AWS::EKS::Cluster",
		"KubernetesContainerLogsCC94D664":    "AWS::Logs::LogGroup",
		"KubernetesControlPlaneLogsCB53B778": "AWS::Logs::LogGroup",
	})
}

func TestEKSOutputs(t *testing.T) {
	// GIVEN the EKS stack
	s := eksStack(t)

	// THEN it has the ECS stack's outputs where they mean the same, and the cluster's own
	want := []string{"AlarmTopicArn", "BedrockModelId", "BedrockRegion", "CloudFrontUrl", "ClusterName", "CreateUserCommand",
		"LogGroupName", "UpdateKubeconfigCommand", "UserPoolClientId", "UserPoolId", "WebSocketUrl"}
	outputs := s.tmpl.Outputs()
	if got := slices.Sorted(maps.Keys(outputs)); !slices.Equal(got, want) {
		t.Errorf("outputs = %v\nwant %v", got, want)
	}
	value := func(id string) string { return templatecheck.Render(field(outputs[id], "Value")) }
	clusterID, _ := only(t, s.tmpl, "AWS::EKS::Cluster")
	if got, want := value("UpdateKubeconfigCommand"), "aws eks update-kubeconfig --region ${AWS::Region} --name ${"+clusterID+"}"; got != want {
		t.Errorf("UpdateKubeconfigCommand = %q, want %q", got, want)
	}
	if got := value("ClusterName"); got != "${"+clusterID+"}" {
		t.Errorf("ClusterName = %s, want the cluster's", got)
	}
	if got := value("LogGroupName"); got != "${KubernetesContainerLogsCC94D664}" {
		t.Errorf("LogGroupName = %s, want the container log group", got)
	}
	// AND the shared outputs are the ECS stack's, value for value
	ecs := backendStack(t).tmpl.Outputs()
	for _, id := range []string{"BedrockModelId", "BedrockRegion", "CloudFrontUrl", "CreateUserCommand", "UserPoolClientId", "UserPoolId", "WebSocketUrl"} {
		if got, want := value(id), templatecheck.Render(field(ecs[id], "Value")); got != want {
			t.Errorf("output %s = %s on EKS, %s on ECS", id, got, want)
		}
	}
}

func TestEKSWithoutAdminRoleWarns(t *testing.T) {
	// GIVEN the EKS stack without eksAdminRoleArn
	s := eksStack(t)

	// THEN synth warns that nobody can run kubectl
	check(t, "warning", func() {
		assertions.Annotations_FromStack(s.stack).HasWarning(jsii.String("/"+stacks.EKSStackName+"/Kubernetes"),
			assertions.Match_StringLikeRegexp(jsii.String("no admin role")))
	})
}

func TestEKSGolden(t *testing.T) {
	// GIVEN the EKS stack
	checkGolden(t, eksStack(t), stacks.EKSStackName)
}
