package stacks_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"novasonic/stacks"
	"novasonic/stacks/templatecheck"
)

func TestStackNameFollowsTheStage(t *testing.T) {
	for stage, want := range map[string]string{
		"dev":     "NovaSonicSolutionBackendStack",
		"prod":    "NovaSonicSolutionBackendStack-prod",
		"staging": "NovaSonicSolutionBackendStack-staging",
	} {
		cfg := stacks.DefaultConfig()
		cfg.Stage = stage
		if got := stacks.StackName(stacks.BackendStackName, cfg); got != want {
			t.Errorf("StackName(stage %s) = %q, want %q", stage, got, want)
		}
	}
	if got := stacks.StackName("NovaSonicSolutionEKSBackendStack", stacks.DefaultConfig()); got != "NovaSonicSolutionEKSBackendStack" {
		t.Errorf("StackName(EKS, default stage) = %q, want the bare name", got)
	}
}

// accountWideNames are the properties whose values must be unique in an account or region: two stages
// with the same value cannot both deploy, or (the scaling metric's dimension) would share one metric.
var accountWideNames = []struct{ resourceType, path string }{
	{"AWS::CloudFront::OriginAccessControl", "OriginAccessControlConfig.Name"},
	{"AWS::CloudFront::VpcOrigin", "VpcOriginEndpointConfig.Name"},
	{"AWS::CloudFront::ResponseHeadersPolicy", "ResponseHeadersPolicyConfig.Name"},
	{"AWS::CloudFront::OriginRequestPolicy", "OriginRequestPolicyConfig.Name"},
	{"AWS::Cognito::UserPoolDomain", "Domain"},
	{"AWS::ECS::Service", "ServiceName"},
}

// namesOf returns the rendered values of accountWideNames in tmpl, keyed by "type path".
func namesOf(tmpl templatecheck.Template) map[string][]string {
	out := map[string][]string{}
	for _, n := range accountWideNames {
		for _, r := range tmpl.Resources(n.resourceType) {
			var v any = templatecheck.Properties(r)
			for _, key := range strings.Split(n.path, ".") {
				v, _ = v.(map[string]any)[key]
			}
			out[n.resourceType+" "+n.path] = append(out[n.resourceType+" "+n.path], templatecheck.Render(v))
		}
	}
	return out
}

func TestMainEcsBuildsEachStageAsItsOwnStack(t *testing.T) {
	// GIVEN the default stage's stack and the production stage as `cdk synth -c stage=prod` builds it
	dev := backendStack(t).tmpl
	prod := prodTemplate(t)

	// THEN production is its own stack, NovaSonicSolutionBackendStack-prod, and the assembly holds no
	// stack of the default name that a deploy could update
	if _, err := os.Stat(filepath.Join(prodAssembly.dir, stacks.BackendStackName+".template.json")); err == nil {
		t.Errorf("stage prod also wrote %s", stacks.BackendStackName)
	}

	// AND no account- or region-wide name of production equals the default stage's
	devNames, prodNames := namesOf(dev), namesOf(prod)
	for _, n := range accountWideNames {
		key := n.resourceType + " " + n.path
		if len(devNames[key]) == 0 || len(prodNames[key]) != len(devNames[key]) {
			t.Errorf("%s: dev has %q, prod %q; want the same resources in both", key, devNames[key], prodNames[key])
		}
		for _, d := range devNames[key] {
			for _, p := range prodNames[key] {
				if d == p {
					t.Errorf("%s is %q in both stages: the second deploy would fail or share it", key, d)
				}
			}
		}
	}
	if got := prodNames["AWS::ECS::Service ServiceName"]; len(got) != 1 || got[0] != "nova-sonic-gateway-prod" {
		t.Errorf("prod service name = %q, want [nova-sonic-gateway-prod]", got)
	}

	// AND production keeps its data when the stack is deleted
	for _, typ := range []string{"AWS::Cognito::UserPool", "AWS::S3::Bucket"} {
		for id, r := range prod.Resources(typ) {
			if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("prod %s %s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain", typ, id, r["DeletionPolicy"], r["UpdateReplacePolicy"])
			}
		}
	}
}

func TestMainEcsProdStackKeepsItsLogsAndRules(t *testing.T) {
	// GIVEN the production stage as `cdk synth -c stage=prod` builds it
	prod := prodTemplate(t)

	// THEN every log group keeps logs three months and is retained with the stack, and the stack keeps
	// the rules every stack keeps
	for _, problem := range templatecheck.LogGroups(prod, 90, "Retain") {
		t.Error(problem)
	}
	for _, problem := range templatecheck.Security(prod, defaultBedrock()) {
		t.Error(problem)
	}
}

func TestMainEcsPlacesTheVpcInTheChosenZones(t *testing.T) {
	// GIVEN the default stage, which names no zones, and production, which names us-east-1b and us-east-1c
	dev, prod := backendStack(t).tmpl, prodTemplate(t)

	// THEN production's subnets are in exactly those zones, and the default stage leaves the choice to
	// the deploying region (Fn::GetAZs), staying environment-agnostic
	zones := func(tmpl templatecheck.Template) map[string]int {
		out := map[string]int{}
		for _, subnet := range tmpl.Resources("AWS::EC2::Subnet") {
			out[templatecheck.Render(templatecheck.Properties(subnet)["AvailabilityZone"])]++
		}
		return out
	}
	if got, want := zones(prod), map[string]int{"us-east-1b": 2, "us-east-1c": 2}; !maps.Equal(got, want) {
		t.Errorf("prod subnets per zone = %v, want %v", got, want)
	}
	if got, want := zones(dev), map[string]int{`{"Fn::Select":[0,{"Fn::GetAZs":""}]}`: 2, `{"Fn::Select":[1,{"Fn::GetAZs":""}]}`: 2}; !maps.Equal(got, want) {
		t.Errorf("dev subnets per zone = %v, want %v", got, want)
	}
}
