package stacks_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"novasonic/stacks"
	"novasonic/stacks/templatecheck"
)

func TestMainEksRejectsBadConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs main_eks.go")
	}
	// GIVEN the context `cdk synth --app "go run main_eks.go" -c eksEndpointPublicCidrs=0.0.0.0/0
	// -c podMemoryMiB=1000` hands the app
	// WHEN the app runs
	stderr, err := runMain(t, "main_eks.go", map[string]any{"eksEndpointPublicCidrs": "0.0.0.0/0", "podMemoryMiB": "1000"}, t.TempDir())

	// THEN synth fails before building any stack, naming each key, its value and what to do instead
	if err == nil {
		t.Fatal("main_eks.go succeeded with a world-open endpoint and a memory size Fargate does not have")
	}
	for _, want := range []string{
		`eksEndpointPublicCidrs must be comma-separated IPv4 networks such as 203.0.113.0/24,198.51.100.7/32 (no host bits set, never 0.0.0.0/0); leave it unset for a private endpoint, got "0.0.0.0/0"`,
		`podCpuMillicores 1000 and podMemoryMiB 1000: pod memory 1000 MiB is not a Fargate size for 1000m CPU: use one of [2048 3072 4096 5120 6144 7168 8192] MiB`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q\nwant it to contain %q", stderr, want)
		}
	}
}

// eksProdContext is production on EKS as an operator would run it: scaling on sessions, an admin role,
// and the API endpoint opened to one office network.
var eksProdContext = map[string]any{
	"stage":                  "prod",
	"podScaling":             "sessions",
	"targetSessionsPerPod":   "25",
	"eksAdminRoleArn":        "arn:aws:iam::123456789012:role/platform-admin",
	"eksEndpointPublicCidrs": "203.0.113.0/24",
}

// eksProdAssembly is the cloud assembly main_eks.go writes for eksProdContext, with cdk-nag.
var eksProdAssembly assembly

// eksProdStackName is the stack name production on EKS must get.
const eksProdStackName = stacks.EKSStackName + "-prod"

// eksProdTemplate returns NovaSonicSolutionEKSBackendStack-prod as main_eks.go synthesizes it.
func eksProdTemplate(t *testing.T) templatecheck.Template {
	t.Helper()
	return eksProdAssembly.template(t, "main_eks.go", eksProdContext, eksProdStackName)
}

func TestMainEksProdKeepsEveryRuleWithSessionScaling(t *testing.T) {
	// GIVEN production on EKS with session scaling, as main_eks.go synthesizes it with cdk-nag
	prod := eksProdTemplate(t)

	// THEN it keeps the rules every stack keeps, its logs three months and retained, and its endpoint open
	// to the office network only
	for _, problem := range templatecheck.Security(prod, defaultBedrock()) {
		t.Error(problem)
	}
	for _, problem := range append(templatecheck.LogGroups(prod, 90, "Retain"), templatecheck.EKSClusters(prod)...) {
		t.Error(problem)
	}
	_, cluster := only(t, prod, "AWS::EKS::Cluster")
	vpc := field(templatecheck.Properties(cluster), "ResourcesVpcConfig")
	if cidrs := templatecheck.Render(field(vpc, "PublicAccessCidrs")); field(vpc, "EndpointPublicAccess") != true || cidrs != `["203.0.113.0/24"]` {
		t.Errorf("public endpoint %v to %s, want on for 203.0.113.0/24 only", field(vpc, "EndpointPublicAccess"), cidrs)
	}
	if name := templatecheck.Properties(cluster)["Name"]; name != eksProdStackName {
		t.Errorf("cluster name %v, want %s (the dev stage's cluster is %s)", name, eksProdStackName, stacks.EKSStackName)
	}

	// AND cdk-nag found nothing unsuppressed: the report of the synth lists every rule on every resource,
	// and the one suppression KEDA adds is its role's GetMetricData wildcard
	var keda []string
	for _, row := range nagReport(t, eksProdAssembly.dir) {
		if row[2] != "Compliant" && row[2] != "Suppressed" && row[2] != "N/A" {
			t.Errorf("cdk-nag: %s on %s is %s", row[0], row[1], row[2])
		}
		if row[2] == "Suppressed" && strings.Contains(row[1], "/KEDA/") {
			keda = append(keda, row[0]+" "+strings.TrimPrefix(row[1], eksProdStackName+"/")+" "+row[3])
		}
	}
	if want := []string{"AwsSolutions-IAM5 KEDA/ServiceAccountRole/DefaultPolicy/Resource [Resource::*] cloudwatch:GetMetricData, the only action granted, " +
		"supports no resource ARNs or conditions that could name the ActiveSessions metric; it reads metrics and changes nothing"}; !slices.Equal(keda, want) {
		t.Errorf("KEDA's suppressed findings = %q, want %q", keda, want)
	}
}

func TestMainEksProdScalesOnSessionsThroughKEDA(t *testing.T) {
	// GIVEN production on EKS with podScaling=sessions and targetSessionsPerPod=25
	prod := eksProdTemplate(t)

	// THEN KEDA runs in a namespace with its own Fargate profile, and every namespace that runs pods has one
	running, selected := podNamespaces(t, prod), profiledNamespaces(t, prod)
	if got := slices.Sorted(maps.Keys(running)); !slices.Equal(got, selected) || !slices.Equal(selected, []string{"keda", "kube-system", "nova-sonic"}) {
		t.Errorf("pods run in %v (%v); profiles select %v; want both [keda kube-system nova-sonic]", got, running, selected)
	}
	// AND a ScaledObject reads the production gateway's own ActiveSessions, instead of an HPA
	for _, o := range kubeObjects(t, prod) {
		if o.Kind == "HorizontalPodAutoscaler" {
			t.Errorf("an HPA %s/%s is applied next to the ScaledObject", o.Namespace, o.Name)
		}
	}
	scaled := kubeObject(t, prod, "ScaledObject", "nova-sonic", "gateway")
	metadata := field(scaled.Object, "spec", "triggers").([]any)[0].(map[string]any)["metadata"]
	name := field(kubeObject(t, prod, "ConfigMap", "nova-sonic", "gateway-environment").Object, "data", "METRICS_SERVICE_NAME")
	if field(metadata, "dimensionValue") != name || name != "nova-sonic-gateway-eks-prod" || field(metadata, "targetMetricValue") != "25" ||
		field(metadata, "awsRegion") != "${AWS::Region}" {
		t.Errorf("ScaledObject reads %s, the gateway writes %v; want nova-sonic-gateway-eks-prod, target 25 in the stack's region",
			templatecheck.Render(metadata), name)
	}
	// AND the admin role may run kubectl, with the command that assumes it
	_, entry := withType(t, prod, "AWS::EKS::AccessEntry", "arn:aws:iam::123456789012:role/platform-admin")
	if entry == nil {
		t.Error("no access entry for the admin role")
	}
	command := templatecheck.Render(field(prod.Outputs()["UpdateKubeconfigCommand"], "Value"))
	if want := "aws eks update-kubeconfig --region ${AWS::Region} --name ${KubernetesCluster0CA8310C} --role-arn arn:aws:iam::123456789012:role/platform-admin"; command != want {
		t.Errorf("UpdateKubeconfigCommand = %q, want %q", command, want)
	}
}

// withType returns the resource of a type whose PrincipalArn is principal.
func withType(t *testing.T, tmpl templatecheck.Template, resourceType, principal string) (string, map[string]any) {
	t.Helper()
	for id, r := range tmpl.Resources(resourceType) {
		if fmt.Sprint(templatecheck.Properties(r)["PrincipalArn"]) == principal {
			return id, r
		}
	}
	return "", nil
}
