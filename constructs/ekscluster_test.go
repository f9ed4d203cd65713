package constructs_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
	"novasonic/stacks"
)

// eksFixture is a stack synthesized once for the tests that share it: every EKS synth copies the 37 MB
// kubectl layer and costs seconds.
type eksFixture struct {
	once     sync.Once
	stack    awscdk.Stack
	template assertions.Template
	err      any
}

var defaultEKS, openEKS, sessionScaledEKS eksFixture

// synth builds the fixture's stack with build, once, and fails the test if that panicked.
func (f *eksFixture) synth(t *testing.T, build func(stack awscdk.Stack)) (awscdk.Stack, assertions.Template) {
	t.Helper()
	f.once.Do(func() {
		defer func() { f.err = recover() }()
		app := stacks.NewApp()
		stacks.AddNagChecks(app)
		f.stack = awscdk.NewStack(app, jsii.String("Test"), nil)
		build(f.stack)
		f.template = assertions.Template_FromStack(f.stack, nil)
	})
	if f.err != nil {
		// cdk-nag errors fail synth; their ERROR lines are printed above.
		t.Fatalf("synthesize: %v", f.err)
	}
	return f.stack, f.template
}

// eksWithGateway is the EKS cluster with defaults and the gateway behind a front door, as the EKS stack
// builds them, checked by cdk-nag.
func eksWithGateway(t *testing.T) (awscdk.Stack, assertions.Template) {
	t.Helper()
	return defaultEKS.synth(t, func(stack awscdk.Stack) { buildEKSWithGateway(stack, false) })
}

// eksWithSessionScaling is the same with KEDA installed and the gateway scaled on ActiveSessions at 25
// conversations a pod.
func eksWithSessionScaling(t *testing.T) (awscdk.Stack, assertions.Template) {
	t.Helper()
	return sessionScaledEKS.synth(t, func(stack awscdk.Stack) { buildEKSWithGateway(stack, true) })
}

func buildEKSWithGateway(stack awscdk.Stack, sessionScaling bool) {
	network := appconstructs.NewNetwork(stack, "Network", nil)
	website := appconstructs.NewWebsite(stack, "Website", nil)
	frontDoor := appconstructs.NewFrontDoor(stack, "FrontDoor", &appconstructs.FrontDoorProps{
		Vpc: network.Vpc, SiteBucket: website.Bucket, LogBucket: website.LogBucket,
	})
	image := appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{Architecture: appconstructs.ArchitectureAmd64})
	cluster := appconstructs.NewEKSCluster(stack, "Kubernetes", &appconstructs.EKSClusterProps{Vpc: network.Vpc})
	props := &appconstructs.EKSGatewayProps{
		Cluster:                   cluster,
		Image:                     image,
		TargetGroup:               frontDoor.TargetGroup,
		LoadBalancerSecurityGroup: frontDoor.LoadBalancerSecurityGroup,
		DeregistrationDelay:       awscdk.Duration_Seconds(jsii.Number(300)),
		MetricsServiceName:        jsii.String("nova-sonic-gateway-eks-test"),
		Environment:               &map[string]*string{"BEDROCK_REGION": jsii.String("us-east-1")},
	}
	if sessionScaling {
		props.KEDA = appconstructs.NewEKSKEDA(stack, "KEDA", &appconstructs.EKSKEDAProps{Cluster: cluster})
		props.TargetSessionsPerPod = jsii.Number(25)
	}
	gateway := appconstructs.NewEKSGateway(stack, "Gateway", props)
	appconstructs.NewBedrockAccess(stack, "BedrockAccess", &appconstructs.BedrockAccessProps{
		Grantee: gateway.ServiceAccountRole, BedrockRegion: jsii.String("us-east-1"), ModelId: jsii.String("amazon.nova-2-sonic-v1:0"),
	})
}

// eksOpenToOffice is a cluster whose endpoint is also public, for two office networks, with an admin role.
func eksOpenToOffice(t *testing.T) (awscdk.Stack, assertions.Template) {
	t.Helper()
	return openEKS.synth(t, func(stack awscdk.Stack) {
		network := appconstructs.NewNetwork(stack, "Network", nil)
		appconstructs.NewEKSCluster(stack, "Kubernetes", &appconstructs.EKSClusterProps{
			Vpc:                 network.Vpc,
			EndpointPublicCidrs: jsii.Strings("203.0.113.0/24", "198.51.100.7/32"),
			AdminRole:           awsiam.Role_FromRoleArn(stack, jsii.String("Admin"), jsii.String("arn:aws:iam::111122223333:role/platform-admin"), nil),
		})
	})
}

// templateJSON returns the template's resources as plain JSON values, keyed by logical ID.
func templateJSON(t *testing.T, template assertions.Template) map[string]map[string]any {
	t.Helper()
	raw, err := json.Marshal(template.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Resources map[string]map[string]any }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Resources
}

// onlyResource returns the one resource of a type, failing if there is not exactly one.
func onlyResource(t *testing.T, template assertions.Template, resourceType string) (string, map[string]any) {
	t.Helper()
	found := resources(t, template, resourceType)
	if len(found) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(found), resourceType)
	}
	for id, r := range found {
		return id, r
	}
	return "", nil
}

// manifestByPath returns the KubernetesManifest resource whose logical ID starts with prefix, and its
// Manifest property rendered as text (tokens appear as {"Ref": ...} fragments).
func manifestByPath(t *testing.T, template assertions.Template, prefix string) (string, map[string]any, string) {
	t.Helper()
	for id, r := range resources(t, template, "Custom::AWSCDK-EKS-KubernetesResource") {
		if strings.HasPrefix(id, prefix) {
			text, _ := json.Marshal(r["Properties"].(map[string]any)["Manifest"])
			return id, r, string(text)
		}
	}
	t.Fatalf("no Kubernetes manifest %s*", prefix)
	return "", nil, ""
}

// asJSON renders a synthesis message (or anything else) for a failure message.
func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// policiesOn returns the policy documents of the AWS::IAM::Policy resources attached to a role.
func policiesOn(all map[string]map[string]any, roleID string) []string {
	var attached []string
	for _, r := range all {
		if r["Type"] != "AWS::IAM::Policy" {
			continue
		}
		if refs, _ := json.Marshal(r["Properties"].(map[string]any)["Roles"]); strings.Contains(string(refs), `"`+roleID+`"`) {
			doc, _ := json.Marshal(r["Properties"].(map[string]any)["PolicyDocument"])
			attached = append(attached, string(doc))
		}
	}
	return attached
}

// dependsOn returns a resource's DependsOn list.
func dependsOn(r map[string]any) []string {
	var out []string
	for _, d := range r["DependsOn"].([]any) {
		out = append(out, d.(string))
	}
	return out
}

// hasDependencyWithPrefix reports whether r depends on a resource whose logical ID starts with prefix.
func hasDependencyWithPrefix(r map[string]any, prefix string) bool {
	return slices.ContainsFunc(dependsOn(r), func(d string) bool { return strings.HasPrefix(d, prefix) })
}

func TestEKSClusterFargateProfilesSelectEveryNamespaceThatRunsPods(t *testing.T) {
	// GIVEN the cluster with the gateway
	_, template := eksWithGateway(t)

	// WHEN the Fargate profiles' selectors are read
	var selected []string
	for _, p := range resources(t, template, "AWS::EKS::FargateProfile") {
		for _, s := range p["Properties"].(map[string]any)["Selectors"].([]any) {
			sel := s.(map[string]any)
			if labels, _ := sel["Labels"].([]any); len(labels) != 0 {
				t.Errorf("selector %v narrows by labels; pods without them would stay Pending", sel)
			}
			selected = append(selected, sel["Namespace"].(string))
		}
	}
	slices.Sort(selected)

	// THEN they select exactly the namespaces that run pods: kube-system (CoreDNS, the load balancer
	// controller's Helm release, metrics-server) and the gateway's
	if want := []string{"kube-system", "nova-sonic"}; !slices.Equal(selected, want) {
		t.Fatalf("profiles select %v, want exactly %v", selected, want)
	}
	podNamespaces := map[string]string{"metrics-server add-on and CoreDNS": "kube-system"}
	_, chart := onlyResource(t, template, "Custom::AWSCDK-EKS-HelmChart")
	podNamespaces["load balancer controller"] = chart["Properties"].(map[string]any)["Namespace"].(string)
	_, _, workload := manifestByPath(t, template, "GatewayWorkload")
	if !strings.Contains(workload, `\"kind\":\"Deployment\",\"metadata\":{`) || !strings.Contains(workload, `\"namespace\":\"nova-sonic\"`) {
		t.Fatalf("the gateway's Deployment is not in nova-sonic: %s", workload)
	}
	podNamespaces["gateway Deployment"] = "nova-sonic"
	for what, ns := range podNamespaces {
		if !slices.Contains(selected, ns) {
			t.Errorf("the %s runs in %s, which no Fargate profile selects", what, ns)
		}
	}
}

func TestEKSClusterLogsAllFiveControlPlaneTypes(t *testing.T) {
	_, template := eksWithGateway(t)
	check(t, "control-plane logging", func() {
		template.HasResourceProperties(jsii.String("AWS::EKS::Cluster"), assertions.Match_ObjectLike(&obj{
			"Logging": obj{"ClusterLogging": obj{"EnabledTypes": []any{
				obj{"Type": "api"}, obj{"Type": "audit"}, obj{"Type": "authenticator"}, obj{"Type": "controllerManager"}, obj{"Type": "scheduler"},
			}}},
		}))
	})
}

func TestEKSClusterOwnsItsControlPlaneLogGroup(t *testing.T) {
	// GIVEN the cluster in the stack Test, without a name of its own
	_, template := eksWithGateway(t)
	clusterID, cluster := onlyResource(t, template, "AWS::EKS::Cluster")
	groupID, group := withPrefix(t, template, "AWS::Logs::LogGroup", "KubernetesControlPlaneLogs")

	// THEN it is named after the stack, and the group EKS writes its control-plane logs to is the stack's,
	// with a retention, created before the cluster (else EKS creates a never-expiring one first)
	if name := cluster["Properties"].(map[string]any)["Name"]; name != "Test" {
		t.Errorf("cluster %s is named %v, want the stack's name Test", clusterID, name)
	}
	p := group["Properties"].(map[string]any)
	if p["LogGroupName"] != "/aws/eks/Test/cluster" || p["RetentionInDays"] != 30.0 || group["DeletionPolicy"] != "Retain" {
		t.Errorf("control-plane log group = %v, want /aws/eks/Test/cluster kept 30 days and retained", group)
	}
	if !slices.Contains(dependsOn(cluster), groupID) {
		t.Errorf("cluster depends on %v, not on its log group %s", dependsOn(cluster), groupID)
	}
}

func TestEKSClusterRefusesAnInvalidName(t *testing.T) {
	defer func() {
		if r, _ := recover().(string); !strings.Contains(r, `eks cluster: name "nova sonic" is not a valid EKS cluster name`) {
			t.Fatalf("recovered %q, want the name message", r)
		}
	}()
	stack := newStack()
	network := appconstructs.NewNetwork(stack, "Network", nil)
	appconstructs.NewEKSCluster(stack, "Kubernetes", &appconstructs.EKSClusterProps{Vpc: network.Vpc, ClusterName: jsii.String("nova sonic")})
}

func TestEKSClusterEndpointIsPrivateByDefault(t *testing.T) {
	_, template := eksWithGateway(t)
	_, cluster := onlyResource(t, template, "AWS::EKS::Cluster")
	vpcConfig := cluster["Properties"].(map[string]any)["ResourcesVpcConfig"].(map[string]any)
	if vpcConfig["EndpointPrivateAccess"] != true || vpcConfig["EndpointPublicAccess"] != false || vpcConfig["PublicAccessCidrs"] != nil {
		t.Fatalf("endpoint = %v, want private only", vpcConfig)
	}
	// The control plane's interfaces are in the private subnets only.
	subnets, _ := json.Marshal(vpcConfig["SubnetIds"])
	if strings.Contains(string(subnets), "Public") || strings.Count(string(subnets), "PrivateSubnet") != 2 {
		t.Errorf("control plane subnets = %s, want the two private subnets", subnets)
	}
}

func TestEKSClusterEndpointOpensOnlyToGivenNetworks(t *testing.T) {
	// GIVEN a cluster opened to two office networks, with an admin role
	_, template := eksOpenToOffice(t)

	// THEN the public endpoint admits exactly those networks and the private one stays on
	check(t, "endpoint", func() {
		template.HasResourceProperties(jsii.String("AWS::EKS::Cluster"), assertions.Match_ObjectLike(&obj{
			"ResourcesVpcConfig": assertions.Match_ObjectLike(&obj{
				"EndpointPrivateAccess": true,
				"EndpointPublicAccess":  true,
				"PublicAccessCidrs":     []any{"203.0.113.0/24", "198.51.100.7/32"},
			}),
		}))
	})
	// AND the admin role has a cluster-wide admin access entry
	check(t, "admin access entry", func() {
		template.HasResourceProperties(jsii.String("AWS::EKS::AccessEntry"), &obj{
			"ClusterName":  assertions.Match_AnyValue(),
			"PrincipalArn": "arn:aws:iam::111122223333:role/platform-admin",
			"AccessPolicies": []any{obj{
				"AccessScope": obj{"Type": "cluster"},
				"PolicyArn":   obj{"Fn::Join": []any{"", []any{"arn:", obj{"Ref": "AWS::Partition"}, ":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}}},
			}},
		})
	})
}

func TestEKSClusterWithoutAdminRoleWarns(t *testing.T) {
	stack, _ := eksWithGateway(t)
	check(t, "warning", func() {
		assertions.Annotations_FromStack(stack).HasWarning(jsii.String("/Test/Kubernetes"),
			assertions.Match_StringLikeRegexp(jsii.String("no admin role.*EKSClusterProps.AdminRole")))
	})
	_, template := eksWithGateway(t)
	// Only the CDK's kubectl handler has an access entry.
	if n := len(resources(t, template, "AWS::EKS::AccessEntry")); n != 1 {
		t.Errorf("%d access entries, want only the kubectl handler's", n)
	}
}

func TestEKSClusterRefusesWorldOpenOrMalformedEndpointNetworks(t *testing.T) {
	tests := map[string][]string{
		"the whole internet":   {"203.0.113.0/24", "0.0.0.0/0"},
		"not a CIDR":           {"203.0.113.0"},
		"host bits set":        {"203.0.113.9/24"},
		"IPv6, which EKS bars": {"2001:db8::/32"},
	}
	for name, cidrs := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "endpoint CIDR") {
					t.Fatalf("accepted %v (recovered %v)", cidrs, r)
				}
			}()
			stack := newStack()
			network := appconstructs.NewNetwork(stack, "Network", nil)
			appconstructs.NewEKSCluster(stack, "Kubernetes", &appconstructs.EKSClusterProps{Vpc: network.Vpc, EndpointPublicCidrs: jsii.Strings(cidrs...)})
		})
	}
	t.Run("no VPC", func(t *testing.T) {
		defer func() {
			if r := recover(); r != "eks cluster: Vpc is required" {
				t.Fatalf("recovered %v, want the missing-VPC message", r)
			}
		}()
		appconstructs.NewEKSCluster(newStack(), "Kubernetes", &appconstructs.EKSClusterProps{})
	})
}

func TestEKSClusterVersionsArePinned(t *testing.T) {
	_, template := eksWithGateway(t)
	// Kubernetes 1.36, with the kubectl of the npm layer package for 1.36.
	check(t, "kubernetes version", func() {
		template.HasResourceProperties(jsii.String("AWS::EKS::Cluster"), assertions.Match_ObjectLike(&obj{"Version": "1.36"}))
	})
	if appconstructs.KubectlLayerPackage != "@aws-cdk/lambda-layer-kubectl-v36" {
		t.Errorf("kubectl layer package %s does not match Kubernetes 1.36", appconstructs.KubectlLayerPackage)
	}
	check(t, "kubectl layer", func() {
		template.HasResourceProperties(jsii.String("AWS::Lambda::LayerVersion"), assertions.Match_ObjectLike(&obj{
			"Description": "kubectl and helm for Kubernetes 1.36",
		}))
	})
	// metrics-server as the EKS community add-on, at a fixed version.
	check(t, "metrics-server", func() {
		template.HasResourceProperties(jsii.String("AWS::EKS::Addon"), &obj{
			"AddonName":        "metrics-server",
			"AddonVersion":     "v0.8.0-eksbuild.2",
			"ClusterName":      assertions.Match_AnyValue(),
			"PreserveOnDelete": false,
		})
	})
	// The load balancer controller's chart and image, both pinned.
	_, chart := onlyResource(t, template, "Custom::AWSCDK-EKS-HelmChart")
	p := chart["Properties"].(map[string]any)
	values, _ := json.Marshal(p["Values"])
	if p["Chart"] != "aws-load-balancer-controller" || p["Version"] != "3.2.2" || p["Namespace"] != "kube-system" ||
		!strings.Contains(string(values), `amazon/aws-load-balancer-controller\",\"tag\":\"v3.2.2\"`) ||
		!strings.Contains(string(values), `\"enableServiceMutatorWebhook\":false`) {
		t.Errorf("load balancer controller chart = %v %v %v, values %s; want chart 3.2.2 with image v3.2.2 and no Service webhook",
			p["Chart"], p["Version"], p["Namespace"], values)
	}
	// Its IAM policy is the one the CDK ships for that version (AddTags is what the replaced sample lacked).
	policies, _ := json.Marshal(resources(t, template, "AWS::IAM::Policy"))
	for _, action := range []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RegisterTargets", "iam:CreateServiceLinkedRole"} {
		if !strings.Contains(string(policies), action) {
			t.Errorf("no IAM policy grants %s to the load balancer controller", action)
		}
	}
}

func TestEKSClusterRunsCoreDNSOnFargate(t *testing.T) {
	_, template := eksWithGateway(t)
	check(t, "CoreDNS patch", func() {
		template.HasResourceProperties(jsii.String("Custom::AWSCDK-EKS-KubernetesPatch"), assertions.Match_ObjectLike(&obj{
			"ResourceName":      "deployment/coredns",
			"ResourceNamespace": "kube-system",
			"ApplyPatchJson":    `{"spec":{"template":{"metadata":{"annotations":{"eks.amazonaws.com/compute-type":"fargate"}}}}}`,
		}))
	})
}

func TestEKSClusterLogRouterShipsToTheStacksLogGroup(t *testing.T) {
	_, template := eksWithGateway(t)
	groupID, group := func() (string, map[string]any) {
		for id, g := range resources(t, template, "AWS::Logs::LogGroup") {
			if strings.HasPrefix(id, "KubernetesContainerLogs") {
				return id, g
			}
		}
		t.Fatal("no container log group")
		return "", nil
	}()
	if group["Properties"].(map[string]any)["RetentionInDays"] != 30.0 || group["DeletionPolicy"] != "Retain" {
		t.Errorf("container log group = %v, want 30 days, retained", group)
	}

	// The ConfigMap names this log group and the stack's region, resolved by CloudFormation.
	_, router, manifest := manifestByPath(t, template, "KubernetesLogRouter")
	for _, want := range []string{`{"Ref":"` + groupID + `"}`, `{"Ref":"AWS::Region"}`, `\"name\":\"aws-logging\",\"namespace\":\"aws-observability\"`,
		`\"aws-observability\":\"enabled\"`, `log_format json/emf`} {
		if !strings.Contains(manifest, want) {
			t.Errorf("log router manifest lacks %s: %s", want, manifest)
		}
	}
	if !hasDependencyWithPrefix(router, "KubernetesClusterKubectlReadyBarrier") {
		t.Errorf("log router applied before the cluster is ready: %v", dependsOn(router))
	}

	// Both profiles' pod execution roles may write to the group, and only to it.
	roles := 0
	for id, p := range resources(t, template, "AWS::IAM::Policy") {
		if !strings.Contains(id, "PodExecutionRole") {
			continue
		}
		roles++
		doc, _ := json.Marshal(p["Properties"].(map[string]any)["PolicyDocument"])
		want := `{"Statement":[{"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow","Resource":{"Fn::GetAtt":["` + groupID + `","Arn"]}},` +
			`{"Action":"logs:DescribeLogStreams","Effect":"Allow","Resource":[{"Fn::GetAtt":["` + groupID + `","Arn"]},`
		if !strings.HasPrefix(string(doc), want) || strings.Contains(string(doc), `"Resource":"*"`) {
			t.Errorf("%s = %s, want log writes on the container log group only", id, doc)
		}
	}
	if roles != 2 {
		t.Errorf("%d pod execution role policies, want one per Fargate profile", roles)
	}
}

func TestEKSGatewayTargetGroupBindingNamesTheFrontDoorsTargetGroup(t *testing.T) {
	_, template := eksWithGateway(t)
	tgID, _ := onlyResource(t, template, "AWS::ElasticLoadBalancingV2::TargetGroup")
	_, _, manifest := manifestByPath(t, template, "GatewayTargetGroupBinding")
	want := `\"spec\":{\"serviceRef\":{\"name\":\"gateway\",\"port\":8080},\"targetGroupARN\":\"",{"Ref":"` + tgID + `"},"\",\"targetType\":\"ip\"}`
	if !strings.Contains(manifest, want) || !strings.Contains(manifest, `\"kind\":\"TargetGroupBinding\"`) {
		t.Fatalf("binding manifest = %s\nwant the front door's target group %s", manifest, tgID)
	}
}

func TestEKSGatewayAppliesItsObjectsInDependencyOrder(t *testing.T) {
	_, template := eksWithGateway(t)
	_, namespace, _ := manifestByPath(t, template, "GatewayNamespace")
	_, configuration, _ := manifestByPath(t, template, "GatewayConfiguration")
	_, binding, _ := manifestByPath(t, template, "GatewayTargetGroupBinding")
	workloadID, workload, _ := manifestByPath(t, template, "GatewayWorkload")
	_, autoscaler, autoscalerManifest := manifestByPath(t, template, "GatewayAutoscaler")
	chartID, _ := onlyResource(t, template, "Custom::AWSCDK-EKS-HelmChart")
	addonID, _ := onlyResource(t, template, "AWS::EKS::Addon")
	nsID, _, _ := manifestByPath(t, template, "GatewayNamespace")
	configurationID, _, _ := manifestByPath(t, template, "GatewayConfiguration")
	bindingID, _, _ := manifestByPath(t, template, "GatewayTargetGroupBinding")
	routerID, _, _ := manifestByPath(t, template, "KubernetesLogRouter")

	for name, tt := range map[string]struct {
		resource map[string]any
		after    []string
	}{
		"namespace after the log router":                        {namespace, []string{routerID}},
		"service account, ConfigMap, Service after the webhook": {configuration, []string{nsID, chartID}},
		"binding after its Service and the controller's CRD":    {binding, []string{configurationID, chartID}},
		"pods after the binding":                                {workload, []string{bindingID}},
		"HPA after its Deployment and metrics-server":           {autoscaler, []string{workloadID, addonID}},
	} {
		for _, dep := range tt.after {
			if !slices.Contains(dependsOn(tt.resource), dep) {
				t.Errorf("%s: does not depend on %s (DependsOn %v)", name, dep, dependsOn(tt.resource))
			}
		}
	}
	// The HPA is the only autoscaler, in a manifest of its own.
	var plain string
	var objects []struct{ Kind string }
	if err := json.Unmarshal([]byte(autoscalerManifest), &plain); err != nil || json.Unmarshal([]byte(plain), &objects) != nil ||
		len(objects) != 1 || objects[0].Kind != "HorizontalPodAutoscaler" {
		t.Errorf("autoscaler manifest = %s, want exactly one HorizontalPodAutoscaler", autoscalerManifest)
	}
	for _, r := range resources(t, template, "Custom::AWSCDK-EKS-KubernetesResource") {
		if text, _ := json.Marshal(r["Properties"].(map[string]any)["Manifest"]); strings.Contains(string(text), "ScaledObject") {
			t.Errorf("a ScaledObject is applied without session scaling: %s", text)
		}
	}
}

func TestEKSGatewayServiceAccountRoleTrustsOnlyItsServiceAccountAndHoldsOnlyBedrock(t *testing.T) {
	_, template := eksWithGateway(t)
	all := templateJSON(t, template)
	var roleID string
	for id, r := range all {
		if r["Type"] == "AWS::IAM::Role" && strings.HasPrefix(id, "GatewayServiceAccountRole") {
			roleID = id
		}
	}
	role := all[roleID]["Properties"].(map[string]any)
	trust, _ := json.Marshal(role["AssumeRolePolicyDocument"])
	oidcID, _ := onlyResource(t, template, "AWS::IAM::OIDCProvider")
	var trustJSONID string
	for id, r := range all {
		if r["Type"] == "Custom::AWSCDKCfnJson" && strings.HasPrefix(id, "GatewayServiceAccountTrust") {
			trustJSONID = id
		}
	}
	wantTrust := `{"Statement":[{"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"Fn::GetAtt":["` + trustJSONID +
		`","Value"]}},"Effect":"Allow","Principal":{"Federated":{"Ref":"` + oidcID + `"}}}],"Version":"2012-10-17"}`
	if string(trust) != wantTrust {
		t.Errorf("trust = %s\nwant %s", trust, wantTrust)
	}
	conditions, _ := json.Marshal(all[trustJSONID]["Properties"].(map[string]any)["Value"])
	for _, want := range []string{`:aud\":\"sts.amazonaws.com\"`, `:sub\":\"system:serviceaccount:nova-sonic:gateway\"}`} {
		if !strings.Contains(string(conditions), want) {
			t.Errorf("trust conditions %s lack %s", conditions, want)
		}
	}
	if strings.Count(string(conditions), `\":\"`) != 2 {
		t.Errorf("trust conditions %s have more than aud and sub", conditions)
	}
	if role["ManagedPolicyArns"] != nil {
		t.Errorf("the gateway role has managed policies %v", role["ManagedPolicyArns"])
	}

	// Exactly one policy on the role: the Bedrock grant on the one model.
	attached := policiesOn(all, roleID)
	wantPolicy := `{"Statement":[{"Action":["bedrock:InvokeModel","bedrock:InvokeModelWithBidirectionalStream"],"Effect":"Allow","Resource":` +
		`{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"]]}}],"Version":"2012-10-17"}`
	if len(attached) != 1 || attached[0] != wantPolicy {
		t.Errorf("policies on the gateway role = %v\nwant only %s", attached, wantPolicy)
	}

	// The service account in the manifest carries this role.
	_, _, configuration := manifestByPath(t, template, "GatewayConfiguration")
	if !strings.Contains(configuration, `\"eks.amazonaws.com/role-arn\":\"",{"Fn::GetAtt":["`+roleID+`","Arn"]}`) {
		t.Errorf("service account does not carry role %s: %s", roleID, configuration)
	}
}

func TestEKSGatewayAdmitsOnlyTheLoadBalancerToThePods(t *testing.T) {
	_, template := eksWithGateway(t)
	clusterID, _ := onlyResource(t, template, "AWS::EKS::Cluster")
	var lbGroup string
	for id := range resources(t, template, "AWS::EC2::SecurityGroup") {
		if strings.HasPrefix(id, "FrontDoorLoadBalancerSecurityGroup") {
			lbGroup = id
		}
	}
	var toPods []any
	for _, r := range resources(t, template, "AWS::EC2::SecurityGroupIngress") {
		p := r["Properties"].(map[string]any)
		if g, _ := json.Marshal(p["GroupId"]); string(g) == `{"Fn::GetAtt":["`+clusterID+`","ClusterSecurityGroupId"]}` {
			toPods = append(toPods, p)
		}
	}
	want := []any{map[string]any{
		"Description": "Load balancer traffic and health checks to gateway pods", "FromPort": 8080.0, "ToPort": 8080.0, "IpProtocol": "tcp",
		"GroupId":               map[string]any{"Fn::GetAtt": []any{clusterID, "ClusterSecurityGroupId"}},
		"SourceSecurityGroupId": map[string]any{"Fn::GetAtt": []any{lbGroup, "GroupId"}},
	}}
	got, _ := json.Marshal(toPods)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("ingress to the pods = %s\nwant %s", got, exp)
	}
}

func TestEKSGatewayNagClean(t *testing.T) {
	// GIVEN the cluster and gateway with AwsSolutions checks (a finding fails synth)
	stack, _ := eksWithGateway(t)

	// THEN no cdk-nag error or warning is left unsuppressed
	nagClean(t, stack)
}

// nagClean fails the test for every AwsSolutions error or warning annotation on stack.
func nagClean(t *testing.T, stack awscdk.Stack) {
	t.Helper()
	check(t, "annotations", func() {
		annotations := assertions.Annotations_FromStack(stack)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-"))
		for _, m := range *annotations.FindError(jsii.String("*"), nag) {
			t.Errorf("unsuppressed cdk-nag error %s", asJSON(m))
		}
		for _, m := range *annotations.FindWarning(jsii.String("*"), nag) {
			t.Errorf("unsuppressed cdk-nag warning %s", asJSON(m))
		}
	})
}

func TestEKSGatewayRejectsAnArmImage(t *testing.T) {
	// GIVEN a front door and an image built for Graviton, as the ECS stack builds it
	stack := newStack()
	network := appconstructs.NewNetwork(stack, "Network", nil)
	frontDoor := appconstructs.NewFrontDoor(stack, "FrontDoor", &appconstructs.FrontDoorProps{
		Vpc: network.Vpc, SiteBucket: appconstructs.NewWebsite(stack, "Website", nil).Bucket,
	})
	image := appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{Architecture: appconstructs.ArchitectureArm64})

	// THEN the gateway refuses it before building anything: EKS on Fargate has no Arm
	defer func() {
		if r, _ := recover().(string); !strings.Contains(r, "runs only amd64") {
			t.Fatalf("recovered %q, want the architecture message", r)
		}
	}()
	appconstructs.NewEKSGateway(stack, "Gateway", &appconstructs.EKSGatewayProps{
		Cluster:                   &appconstructs.EKSCluster{},
		Image:                     image,
		TargetGroup:               frontDoor.TargetGroup,
		LoadBalancerSecurityGroup: frontDoor.LoadBalancerSecurityGroup,
		DeregistrationDelay:       awscdk.Duration_Seconds(jsii.Number(300)),
		MetricsServiceName:        jsii.String("nova-sonic-gateway-eks-test"),
	})
}
