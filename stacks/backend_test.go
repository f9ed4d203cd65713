package stacks_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
	"novasonic/server/gateway"
	"novasonic/stacks"
	"novasonic/stacks/golden"
	"novasonic/stacks/templatecheck"
)

func TestBackendNagClean(t *testing.T) {
	// GIVEN the ECS stack with AwsSolutions checks, as main_ecs.go builds it
	s := backendStack(t)

	// THEN cdk-nag reports nothing that is not suppressed with a reason
	for _, finding := range nagFindings(t, s) {
		t.Error(finding)
	}
}

func TestBackendSuppressionsHaveReasons(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN every cdk-nag suppression gives a specific reason, and none covers a whole rule for the stack
	for id, r := range s.tmpl["Resources"].(map[string]any) {
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
	if meta, ok := s.tmpl["Metadata"].(map[string]any); ok {
		if _, ok := meta["cdk_nag"]; ok {
			t.Errorf("stack-wide cdk-nag suppressions: %v", meta["cdk_nag"])
		}
	}
}

func TestBackendSecurity(t *testing.T) {
	// GIVEN the ECS stack with the default Bedrock region and model
	s := backendStack(t)

	// THEN it keeps the rules every stack of the app keeps (templatecheck.Security): nothing admits the
	// internet, Bedrock only on the model, private TLS-only buckets
	for _, problem := range templatecheck.Security(s.tmpl, defaultBedrock()) {
		t.Error(problem)
	}
}

func TestBackendLogGroupsFollowTheStage(t *testing.T) {
	// GIVEN the default (dev) stage's stack
	s := backendStack(t)

	// THEN every log group, the CDK's own included, keeps logs one week and is deleted with the stack, and
	// no Lambda function logs to a group outside the template
	for _, problem := range templatecheck.LogGroups(s.tmpl, 7, "Delete") {
		t.Error(problem)
	}
}

func TestBackendSecurityGroupRules(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN the security groups hold exactly these rules: CloudFront's VPC-origin group reaches the load
	// balancer on 80, the load balancer reaches the tasks on 8080 (ingress and the matching egress), and
	// the tasks reach AWS APIs on 443; no group allows all outbound traffic
	want := []string{
		"egress FrontDoorLoadBalancerSecurityGroup tcp 8080-8080 to sg ${GatewaySecurityGroup2F9FE498.GroupId}",
		"egress GatewaySecurityGroup tcp 443-443 to 0.0.0.0/0",
		"ingress FrontDoorLoadBalancerSecurityGroup tcp 80-80 from sg ${FrontDoorOriginSecurityGroupLookupB8307781.SecurityGroups.0.GroupId}",
		"ingress GatewaySecurityGroup tcp 8080-8080 from sg ${FrontDoorLoadBalancerSecurityGroup616A7628.GroupId}",
	}
	checkSecurityGroupRules(t, s, want)
}

// checkSecurityGroupRules asserts that s's security groups hold exactly the rules want lists, in the
// order securityGroupRules renders them.
func checkSecurityGroupRules(t *testing.T, s *synthesized, want []string) {
	t.Helper()
	if got := securityGroupRules(s.tmpl); !slices.Equal(got, want) {
		t.Errorf("security group rules =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// logicalIDHash is the hash CDK appends to a logical ID.
var logicalIDHash = regexp.MustCompile(`[0-9A-F]{8}$`)

// securityGroupRules renders every ingress and egress rule of the template, inline or separate, as one
// sorted line each: direction, group (logical ID without its hash), protocol, ports and peer.
func securityGroupRules(tmpl templatecheck.Template) []string {
	groupName := func(id string) string { return logicalIDHash.ReplaceAllString(id, "") }
	rule := func(direction, group string, r map[string]any) string {
		var peer string
		switch {
		case r["CidrIp"] != nil:
			peer = templatecheck.Render(r["CidrIp"])
		case r["CidrIpv6"] != nil:
			peer = templatecheck.Render(r["CidrIpv6"])
		case r["SourceSecurityGroupId"] != nil:
			peer = "sg " + templatecheck.Render(r["SourceSecurityGroupId"])
		case r["DestinationSecurityGroupId"] != nil:
			peer = "sg " + templatecheck.Render(r["DestinationSecurityGroupId"])
		default:
			peer = "? " + templatecheck.Render(r)
		}
		preposition := map[string]string{"ingress": "from", "egress": "to"}[direction]
		return fmt.Sprintf("%s %s %v %v-%v %s %s", direction, group, r["IpProtocol"], r["FromPort"], r["ToPort"], preposition, peer)
	}
	var out []string
	for id, sg := range tmpl.Resources("AWS::EC2::SecurityGroup") {
		for _, direction := range []string{"ingress", "egress"} {
			key := map[string]string{"ingress": "SecurityGroupIngress", "egress": "SecurityGroupEgress"}[direction]
			inline, _ := props(sg)[key].([]any)
			for _, r := range inline {
				out = append(out, rule(direction, groupName(id), r.(map[string]any)))
			}
		}
	}
	for direction, typ := range map[string]string{"ingress": "AWS::EC2::SecurityGroupIngress", "egress": "AWS::EC2::SecurityGroupEgress"} {
		for _, r := range tmpl.Resources(typ) {
			p := props(r)
			group := strings.TrimSuffix(strings.Trim(templatecheck.Render(p["GroupId"]), "${}"), ".GroupId")
			out = append(out, rule(direction, groupName(group), p))
		}
	}
	sort.Strings(out)
	return out
}

func TestBackendFrontDoor(t *testing.T) {
	// GIVEN the ECS stack
	checkFrontDoor(t, backendStack(t))
}

// checkFrontDoor asserts the front door both stacks share.
func checkFrontDoor(t *testing.T, s *synthesized) {
	t.Helper()
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
			// Every viewer header (Sec-WebSocket-*, Origin, Host) plus the viewer's address, which the
			// gateway reads through CLIENT_ADDRESS_HEADER.
			policy := templatecheck.Render(behavior["OriginRequestPolicyId"])
			config := props(s.tmpl.Resources("AWS::CloudFront::OriginRequestPolicy")[strings.Trim(policy, "${}")])["OriginRequestPolicyConfig"]
			headers, _ := json.Marshal(config.(map[string]any)["HeadersConfig"])
			if string(headers) != `{"HeaderBehavior":"allViewerAndWhitelistCloudFront","Headers":["CloudFront-Viewer-Address"]}` {
				t.Errorf("/interact-s2s origin request policy %s forwards headers %s, want every viewer header and CloudFront-Viewer-Address", policy, headers)
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
	check(t, "stop timeout", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), assertions.Match_ObjectLike(&obj{
			"RuntimePlatform":      obj{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
			"ContainerDefinitions": []any{assertions.Match_ObjectLike(&obj{"StopTimeout": 120})},
		}))
	})
	// The whole environment, exactly: the gateway reads nothing else, and a missing or extra variable is a
	// behaviour change. DRAIN_TIMEOUT stays below the 120 s stop timeout.
	var environment []string
	for _, td := range s.tmpl.Resources("AWS::ECS::TaskDefinition") {
		for _, e := range props(td)["ContainerDefinitions"].([]any)[0].(map[string]any)["Environment"].([]any) {
			v := e.(map[string]any)
			environment = append(environment, fmt.Sprintf("%v=%s", v["Name"], templatecheck.Render(v["Value"])))
		}
	}
	wantEnvironment := []string{
		"ALLOWED_ORIGINS=https://${FrontDoorDistribution20F29BA2.DomainName}",
		"BEDROCK_MODEL_ID=amazon.nova-2-sonic-v1:0",
		"BEDROCK_REGION=us-east-1",
		"CLIENT_ADDRESS_HEADER=CloudFront-Viewer-Address",
		"COGNITO_CLIENT_ID=${AuthUserPoolWebClient147E4E38}",
		"COGNITO_USER_POOL_ID=${AuthUserPool8115E87F}",
		"DRAIN_TIMEOUT=110s",
		"LOG_LEVEL=info",
		"METRICS_NAMESPACE=NovaSonic",
		"METRICS_SERVICE_NAME=nova-sonic-gateway-dev",
		"PORT=8080",
	}
	if !slices.Equal(environment, wantEnvironment) {
		t.Errorf("gateway environment =\n  %s\nwant\n  %s", strings.Join(environment, "\n  "), strings.Join(wantEnvironment, "\n  "))
	}
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

func TestBackendTaskRole(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN the gateway's task role may do exactly two things: stream with the one Nova Sonic model, and
	// set scale-in protection on the tasks of its own cluster
	var statements []string
	for id, p := range s.tmpl.Resources("AWS::IAM::Policy") {
		if !strings.HasPrefix(id, "GatewayTaskDefinitionTaskRole") {
			continue
		}
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			statements = append(statements, templatecheck.Render(st))
		}
	}
	want := []string{
		`{"Action":"ecs:UpdateTaskProtection","Effect":"Allow","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":ecs:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":task/",{"Ref":"GatewayCluster47699BCF"},"/*"]]}}`,
		`{"Action":["bedrock:InvokeModel","bedrock:InvokeModelWithBidirectionalStream"],"Effect":"Allow","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"]]}}`,
	}
	if !slices.Equal(statements, want) {
		t.Errorf("task role statements =\n  %s\nwant\n  %s", strings.Join(statements, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestBackendWebClientConfig(t *testing.T) {
	// GIVEN the ECS stack, synthesized into its cloud assembly
	checkWebClientConfig(t, backendStack(t))
}

// checkWebClientConfig asserts the config.js both stacks deploy: the same keys, set to the shared sign-in
// and front door.
func checkWebClientConfig(t *testing.T, s *synthesized) {
	t.Helper()
	// WHEN the config.js it deploys is read back from the assembly, with each deploy-time value rendered
	var deployment map[string]any
	for id, d := range s.tmpl.Resources("Custom::CDKBucketDeployment") {
		if strings.HasPrefix(id, "WebsiteRuntimeConfig") {
			deployment = props(d)
		}
	}
	if deployment == nil {
		t.Fatal("no config.js deployment")
	}
	key := deployment["SourceObjectKeys"].([]any)[0].(string)
	script, err := os.ReadFile(filepath.Join(*s.app.Outdir(), "asset."+strings.TrimSuffix(key, ".zip"), appconstructs.RuntimeConfigKey))
	if err != nil {
		t.Fatal(err)
	}
	rendered := string(script)
	for marker, value := range deployment["SourceMarkers"].([]any)[0].(map[string]any) {
		rendered = strings.ReplaceAll(rendered, marker, templatecheck.Render(value))
	}
	body := strings.TrimSuffix(strings.TrimSpace(rendered[strings.Index(rendered, "=")+1:]), ";")
	var config map[string]string
	if err := json.Unmarshal([]byte(body), &config); err != nil {
		t.Fatalf("config.js is not `%s = {...};`: %v\n%s", appconstructs.RuntimeConfigGlobal, err, rendered)
	}

	// THEN it sets the web client's keys (server/web/static/config.js documents them) to this stack's
	// values, exactly
	want := map[string]string{
		"auth":             "cognito",
		"cognitoDomain":    "https://${AuthUserPoolDomain31C6792A}.auth.${AWS::Region}.amazoncognito.com",
		"redirectUri":      "https://${FrontDoorDistribution20F29BA2.DomainName}/",
		"region":           "${AWS::Region}",
		"scopes":           "openid email profile",
		"userPoolClientId": "${AuthUserPoolWebClient147E4E38}",
		"userPoolId":       "${AuthUserPool8115E87F}",
		"voiceId":          "matthew",
		"websocketUrl":     "wss://${FrontDoorDistribution20F29BA2.DomainName}/interact-s2s",
	}
	if !maps.Equal(config, want) {
		t.Errorf("config.js =\n  %v\nwant\n  %v", config, want)
	}
	if !strings.HasPrefix(rendered, "// Written at deploy time by the CDK stack; do not edit.\n"+appconstructs.RuntimeConfigGlobal+" = {") {
		t.Errorf("config.js does not assign %s:\n%s", appconstructs.RuntimeConfigGlobal, rendered)
	}
}

func TestBackendStatefulLogicalIDs(t *testing.T) {
	// GIVEN the ECS stack
	// THEN the stateful resources keep their logical IDs: a change would replace them on the next deploy,
	// deleting every user, every object and every network resource
	checkLogicalIDs(t, backendStack(t), map[string]string{"GatewayLogGroup8257D8DD": "AWS::Logs::LogGroup"})
}

// sharedStatefulIDs are the logical IDs of the stateful resources both stacks share (shared.go).
var sharedStatefulIDs = map[string]string{
	"NetworkVpc7FB7348F":            "AWS::EC2::VPC",
	"AuthUserPool8115E87F":          "AWS::Cognito::UserPool",
	"AuthUserPoolWebClient147E4E38": "AWS::Cognito::UserPoolClient",
	"WebsiteBucket4326D7C2":         "AWS::S3::Bucket",
	"WebsiteLogBucketC6433AB1":      "AWS::S3::Bucket",
	"FrontDoorDistribution20F29BA2": "AWS::CloudFront::Distribution",
}

// checkLogicalIDs asserts that s has the shared stateful resources and its own under their logical IDs.
func checkLogicalIDs(t *testing.T, s *synthesized, own map[string]string) {
	t.Helper()
	maps.Copy(own, sharedStatefulIDs)
	for id, typ := range own {
		r, ok := s.tmpl["Resources"].(map[string]any)[id].(map[string]any)
		if !ok || r["Type"] != typ {
			t.Errorf("no %s with logical ID %s", typ, id)
		}
	}
}

func TestBackendOutputs(t *testing.T) {
	// GIVEN the ECS stack
	s := backendStack(t)

	// THEN it has the outputs docs/ecs-stack.md lists
	want := []string{"AlarmTopicArn", "BedrockModelId", "BedrockRegion", "CloudFrontUrl", "ClusterName", "CreateUserCommand",
		"LogGroupName", "ServiceName", "UserPoolClientId", "UserPoolId", "WebSocketUrl"}
	got := slices.Sorted(maps.Keys(s.tmpl.Outputs()))
	if !slices.Equal(got, want) {
		t.Errorf("outputs = %v\nwant %v", got, want)
	}

	// AND none leads to Cognito's managed login directly: the web client starts sign-in itself, with a
	// state and a PKCE challenge kept in the tab, and refuses a code that arrives without them
	for id, output := range s.tmpl.Outputs() {
		if value := templatecheck.Render(output.(map[string]any)["Value"]); strings.Contains(value, ".amazoncognito.com") {
			t.Errorf("output %s = %s leads to managed login; users should open CloudFrontUrl and sign in there", id, value)
		}
	}
}

// The near-capacity alarm is set against the gateway's conversation limit; the two must not drift apart.
func TestTheAlarmsKnowTheGatewaysConversationLimit(t *testing.T) {
	if got, want := stacks.GatewayMaxConversations, gateway.DefaultLimits().MaxConversations; got != want {
		t.Fatalf("stacks.GatewayMaxConversations = %d, the gateway's MAX_CONVERSATIONS default = %d", got, want)
	}
}

func TestBackendGolden(t *testing.T) {
	// GIVEN the ECS stack
	checkGolden(t, backendStack(t), stacks.BackendStackName)
}

// checkGolden renders s's template as the golden files hold it (package golden: asset hashes masked, as
// they change with every edit of server/) and compares it with testdata/<name>.template.json, or rewrites
// that file under -update.
func checkGolden(t *testing.T, s *synthesized, name string) {
	t.Helper()
	got, err := golden.Render(s.tmpl)
	if err != nil {
		t.Fatal(err)
	}

	// THEN it equals testdata/<stack>.template.json; run `go test ./stacks -run Golden -update` after an
	// intended change and review the diff. `make template-check` compares the CLI's synth with the same
	// file.
	path := golden.Path("testdata", name)
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
	if changes, err := golden.Changes(want, got); err != nil {
		t.Fatalf("%s: %v", path, err)
	} else if len(changes) > 0 {
		t.Errorf("template differs from %s at %d paths; run `go test ./stacks -run Golden -update` and review the diff:\n  %s",
			path, len(changes), strings.Join(changes, "\n  "))
	}
}
