package stacks_test

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"novasonic/stacks"
	"novasonic/stacks/golden"
)

func TestBackendNagClean(t *testing.T) {
	// GIVEN the ECS stack with AwsSolutions checks, as main_ecs.go builds it
	s := backendStack(t)

	// WHEN its annotations are read
	var errors, warnings []string
	check(t, "annotations", func() {
		annotations := assertions.Annotations_FromStack(s.stack)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-"))
		for _, m := range *annotations.FindError(jsii.String("*"), nag) {
			errors = append(errors, describe(m))
		}
		for _, m := range *annotations.FindWarning(jsii.String("*"), nag) {
			warnings = append(warnings, describe(m))
		}
	})

	// THEN cdk-nag reports nothing that is not suppressed with a reason
	for _, e := range errors {
		t.Errorf("unsuppressed cdk-nag error %s", e)
	}
	for _, w := range warnings {
		t.Errorf("unsuppressed cdk-nag warning %s", w)
	}
}

func TestBackendSuppressionsHaveReasons(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN every cdk-nag suppression gives a specific reason, and none covers a whole rule for the stack
	for id, r := range s.json["Resources"].(map[string]any) {
		meta, _ := r.(map[string]any)["Metadata"].(map[string]any)
		nag, _ := meta["cdk_nag"].(map[string]any)
		rules, _ := nag["rules_to_suppress"].([]any)
		for _, rule := range rules {
			reason, _ := rule.(map[string]any)["reason"].(string)
			if len(reason) < 40 {
				t.Errorf("%s: suppression %v has no specific reason", id, rule)
			}
		}
	}
	if meta, ok := s.json["Metadata"].(map[string]any); ok {
		if _, ok := meta["cdk_nag"]; ok {
			t.Errorf("stack-wide cdk-nag suppressions: %v", meta["cdk_nag"])
		}
	}
}

func TestBackendNoOpenIngress(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN no security group admits the internet, inline or as a separate rule
	var rules []map[string]any
	for _, sg := range s.resourcesOfType("AWS::EC2::SecurityGroup") {
		inline, _ := props(sg)["SecurityGroupIngress"].([]any)
		for _, r := range inline {
			rules = append(rules, r.(map[string]any))
		}
	}
	for _, r := range s.resourcesOfType("AWS::EC2::SecurityGroupIngress") {
		rules = append(rules, props(r))
	}
	for _, r := range rules {
		if r["CidrIp"] == "0.0.0.0/0" || r["CidrIpv6"] == "::/0" {
			t.Errorf("ingress open to the internet: %v", r)
		}
		if r["CidrIp"] != nil || r["CidrIpv6"] != nil {
			t.Errorf("ingress from an address range instead of a security group: %v", r)
		}
	}
	if len(rules) != 2 {
		t.Errorf("got %d ingress rules, want 2 (CloudFront to NLB, NLB to tasks)", len(rules))
	}
}

func TestBackendFrontDoor(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN the load balancer is internal and the WebSocket behaviour reaches it through the VPC origin,
	// uncached, with every viewer header the upgrade needs
	check(t, "internal NLB", func() {
		s.template.AllResourcesProperties(jsii.String("AWS::ElasticLoadBalancingV2::LoadBalancer"), assertions.Match_ObjectLike(&obj{
			"Scheme": "internal",
		}))
	})
	check(t, "no public load balancer", func() {
		s.template.ResourceCountIs(jsii.String("AWS::ElasticLoadBalancingV2::LoadBalancer"), jsii.Number(1))
	})
	dists := s.resourcesOfType("AWS::CloudFront::Distribution")
	if len(dists) != 1 {
		t.Fatalf("got %d distributions, want 1", len(dists))
	}
	for _, d := range dists {
		config := props(d)["DistributionConfig"].(map[string]any)
		var vpcOriginID any
		for _, o := range config["Origins"].([]any) {
			if origin := o.(map[string]any); origin["VpcOriginConfig"] != nil {
				vpcOriginID = origin["Id"]
			}
		}
		var found bool
		for _, b := range config["CacheBehaviors"].([]any) {
			behavior := b.(map[string]any)
			if behavior["PathPattern"] != "/interact-s2s" {
				continue
			}
			found = true
			if behavior["TargetOriginId"] != vpcOriginID || vpcOriginID == nil {
				t.Errorf("/interact-s2s targets %v, want the VPC origin %v", behavior["TargetOriginId"], vpcOriginID)
			}
			if behavior["CachePolicyId"] != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" {
				t.Errorf("/interact-s2s cache policy %v, want CachingDisabled", behavior["CachePolicyId"])
			}
			if behavior["OriginRequestPolicyId"] != "216adef6-5c7f-47e4-b989-5492eafa07d3" {
				t.Errorf("/interact-s2s origin request policy %v, want AllViewer (Sec-WebSocket-*, Origin, Host)", behavior["OriginRequestPolicyId"])
			}
			if behavior["ViewerProtocolPolicy"] != "https-only" {
				t.Errorf("/interact-s2s viewer protocol %v, want https-only", behavior["ViewerProtocolPolicy"])
			}
		}
		if !found {
			t.Error("no /interact-s2s behaviour")
		}
	}
}

func TestBackendBedrockOnlyOnModel(t *testing.T) {
	// GIVEN the ECS stack with the default Bedrock region and model
	s := backendStack(t)

	// THEN every statement with a Bedrock action names only the model's ARN in the Bedrock region
	var statements int
	for id, p := range s.resourcesOfType("AWS::IAM::Policy") {
		doc := props(p)["PolicyDocument"].(map[string]any)
		for _, st := range doc["Statement"].([]any) {
			statement := st.(map[string]any)
			raw, _ := json.Marshal(statement["Action"])
			if !strings.Contains(string(raw), "bedrock:") {
				continue
			}
			statements++
			resource, _ := json.Marshal(statement["Resource"])
			if strings.HasPrefix(string(resource), "[") || strings.Contains(string(resource), `"*"`) ||
				!strings.Contains(string(resource), ":bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0") {
				t.Errorf("%s: Bedrock statement on %s, want only the model ARN in us-east-1", id, resource)
			}
		}
	}
	if statements != 1 {
		t.Errorf("got %d Bedrock statements, want 1", statements)
	}
}

func TestBackendBucketsArePrivate(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN every bucket blocks public access and has a policy refusing requests without TLS
	buckets := s.resourcesOfType("AWS::S3::Bucket")
	tlsOnly := map[string]bool{}
	for _, p := range s.resourcesOfType("AWS::S3::BucketPolicy") {
		ref, _ := props(p)["Bucket"].(map[string]any)["Ref"].(string)
		raw, _ := json.Marshal(props(p)["PolicyDocument"])
		if strings.Contains(string(raw), `"aws:SecureTransport":"false"`) && strings.Contains(string(raw), `"Effect":"Deny"`) {
			tlsOnly[ref] = true
		}
	}
	for id, b := range buckets {
		block, _ := props(b)["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if block[k] != true {
				t.Errorf("bucket %s: %s = %v, want true", id, k, block[k])
			}
		}
		if !tlsOnly[id] {
			t.Errorf("bucket %s has no policy denying requests without TLS", id)
		}
	}
}

func TestBackendService(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN the service rolls back failed deploys, keeps full capacity while deploying, gives each task
	// 120 s to stop, scales on active sessions, and the gateway knows its Bedrock, Cognito and origin
	check(t, "service", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ECS::Service"), assertions.Match_ObjectLike(&obj{
			"ServiceName": "nova-sonic-gateway-dev",
			"DeploymentConfiguration": obj{
				"DeploymentCircuitBreaker": obj{"Enable": true, "Rollback": true},
				"MinimumHealthyPercent":    100,
				"MaximumPercent":           200,
			},
		}))
	})
	check(t, "stop timeout and environment", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), assertions.Match_ObjectLike(&obj{
			"RuntimePlatform": obj{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
			"ContainerDefinitions": []any{assertions.Match_ObjectLike(&obj{
				"StopTimeout": 120,
				"Environment": assertions.Match_ArrayWith(&[]any{
					obj{"Name": "ALLOWED_ORIGINS", "Value": obj{"Fn::Join": []any{"", []any{"https://", obj{"Fn::GetAtt": []any{"FrontDoorDistribution20F29BA2", "DomainName"}}}}}},
					obj{"Name": "BEDROCK_MODEL_ID", "Value": "amazon.nova-2-sonic-v1:0"},
					obj{"Name": "BEDROCK_REGION", "Value": "us-east-1"},
					obj{"Name": "COGNITO_CLIENT_ID", "Value": obj{"Ref": "AuthUserPoolWebClient147E4E38"}},
					obj{"Name": "COGNITO_USER_POOL_ID", "Value": obj{"Ref": "AuthUserPool8115E87F"}},
					obj{"Name": "DRAIN_TIMEOUT", "Value": "110s"},
				}),
			})},
		}))
	})
	check(t, "scaling policy", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), assertions.Match_ObjectLike(&obj{
			"TargetTrackingScalingPolicyConfiguration": assertions.Match_ObjectLike(&obj{
				"CustomizedMetricSpecification": assertions.Match_ObjectLike(&obj{
					"MetricName": "ActiveSessions",
					"Dimensions": []any{obj{"Name": "ServiceName", "Value": "nova-sonic-gateway-dev"}},
				}),
			}),
		}))
	})
}

func TestBackendStatefulLogicalIDs(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN the stateful resources keep their logical IDs: a change would replace them on the next deploy,
	// deleting every user, every object and every network resource
	for id, typ := range map[string]string{
		"NetworkVpc7FB7348F":            "AWS::EC2::VPC",
		"AuthUserPool8115E87F":          "AWS::Cognito::UserPool",
		"AuthUserPoolWebClient147E4E38": "AWS::Cognito::UserPoolClient",
		"WebsiteBucket4326D7C2":         "AWS::S3::Bucket",
		"WebsiteLogBucketC6433AB1":      "AWS::S3::Bucket",
		"GatewayLogGroup8257D8DD":       "AWS::Logs::LogGroup",
		"FrontDoorDistribution20F29BA2": "AWS::CloudFront::Distribution",
	} {
		r, ok := s.json["Resources"].(map[string]any)[id].(map[string]any)
		if !ok || r["Type"] != typ {
			t.Errorf("no %s with logical ID %s", typ, id)
		}
	}
}

func TestBackendOutputs(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN it has the outputs docs/ecs-stack.md lists
	want := []string{"BedrockModelId", "BedrockRegion", "CloudFrontUrl", "ClusterName", "CreateUserCommand",
		"LogGroupName", "ManagedLoginUrl", "ServiceName", "UserPoolClientId", "UserPoolId", "WebSocketUrl"}
	var got []string
	for k := range s.json["Outputs"].(map[string]any) {
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("outputs = %v\nwant %v", got, want)
	}
}

func TestBackendGolden(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// WHEN its template is rendered with asset hashes masked (they change with every edit of server/)
	got, err := golden.Render(s.json)
	if err != nil {
		t.Fatal(err)
	}

	// THEN it equals testdata/<stack>.template.json; run `go test ./stacks -run Golden -update` after an
	// intended change and review the diff. `make template-check` compares the CLI's synth with the same
	// file.
	path := golden.Path("testdata", stacks.BackendStackName)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := golden.FirstDiff(want, got); diff != "" {
		t.Errorf("template differs from %s; run `go test ./stacks -run Golden -update` and review the diff:\n%s", path, diff)
	}
}

// describe renders an annotation (construct path, level and message) for a failure message.
func describe(data any) string {
	b, _ := json.Marshal(data)
	return string(b)
}
