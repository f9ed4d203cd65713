package constructs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

// Managed CloudFront policy ids, fixed by AWS.
const (
	cachingDisabledPolicyID   = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	securityHeadersPolicyID   = "67f7725c-6f97-4210-82d7-5512b31e9d03"
	cachingOptimizedPolicyID  = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	cloudFrontOriginGroupName = "CloudFront-VPCOrigins-Service-SG"
)

// newFrontDoor builds a FrontDoor in a bare stack with its own VPC and buckets.
func newFrontDoor(props *appconstructs.FrontDoorProps) (awscdk.Stack, *appconstructs.FrontDoor) {
	stack := newStack()
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2), NatGateways: jsii.Number(1)})
	props.Vpc = vpc
	props.SiteBucket = awss3.NewBucket(stack, jsii.String("Site"), nil)
	return stack, appconstructs.NewFrontDoor(stack, "FrontDoor", props)
}

func TestFrontDoorLoadBalancer(t *testing.T) {
	// GIVEN a bare stack with a VPC and a site bucket
	// WHEN a FrontDoor is created with defaults
	stack, frontDoor := newFrontDoor(&appconstructs.FrontDoorProps{})

	// THEN the NLB is internal with a security group, its TCP listener has an explicit idle timeout, and
	// its IP target group checks /ready over HTTP and drains for five minutes.
	template := synth(t, stack)
	check(t, "internal NLB", func() {
		template.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::LoadBalancer"), assertions.Match_ObjectLike(&obj{
			"Type":           "network",
			"Scheme":         "internal",
			"IpAddressType":  "ipv4",
			"SecurityGroups": assertions.Match_AnyValue(),
		}))
	})
	check(t, "listener", func() {
		template.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::Listener"), assertions.Match_ObjectLike(&obj{
			"Port":               80,
			"Protocol":           "TCP",
			"ListenerAttributes": []any{obj{"Key": "tcp.idle_timeout.seconds", "Value": "600"}},
		}))
	})
	check(t, "target group", func() {
		template.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::TargetGroup"), assertions.Match_ObjectLike(&obj{
			"Port":                       8080,
			"Protocol":                   "TCP",
			"TargetType":                 "ip",
			"HealthCheckProtocol":        "HTTP",
			"HealthCheckPath":            "/ready",
			"HealthCheckIntervalSeconds": 10,
			"HealthyThresholdCount":      2,
			"UnhealthyThresholdCount":    2,
			"TargetGroupAttributes": assertions.Match_ArrayWith(&[]any{
				obj{"Key": "deregistration_delay.timeout_seconds", "Value": "300"},
				obj{"Key": "preserve_client_ip.enabled", "Value": "false"},
				obj{"Key": "deregistration_delay.connection_termination.enabled", "Value": "false"},
			}),
		}))
	})
	// The compute stacks read the delay from the front door instead of repeating it.
	if got := *frontDoor.DeregistrationDelay.ToSeconds(nil); got != 300 {
		t.Errorf("DeregistrationDelay = %v s, want 300", got)
	}
}

func TestFrontDoorDeregistrationDelayIsExported(t *testing.T) {
	// GIVEN a bare stack WHEN a FrontDoor drains targets for two minutes
	stack, frontDoor := newFrontDoor(&appconstructs.FrontDoorProps{DeregistrationDelay: awscdk.Duration_Seconds(jsii.Number(120))})

	// THEN the target group and the exported value agree
	template := synth(t, stack)
	check(t, "target group", func() {
		template.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::TargetGroup"), assertions.Match_ObjectLike(&obj{
			"TargetGroupAttributes": assertions.Match_ArrayWith(&[]any{obj{"Key": "deregistration_delay.timeout_seconds", "Value": "120"}}),
		}))
	})
	if got := *frontDoor.DeregistrationDelay.ToSeconds(nil); got != 120 {
		t.Errorf("DeregistrationDelay = %v s, want 120", got)
	}
}

func TestFrontDoorAdmitsOnlyCloudFront(t *testing.T) {
	// GIVEN a bare stack with a VPC and a site bucket
	// WHEN a FrontDoor is created
	stack, _ := newFrontDoor(&appconstructs.FrontDoorProps{})

	// THEN the NLB's security group has no egress of its own and one ingress rule, from the security group
	// CloudFront gives its VPC origins, found by name in this VPC after the distribution exists.
	template := synth(t, stack)
	check(t, "no default egress", func() {
		template.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroup"), assertions.Match_ObjectLike(&obj{
			"GroupDescription":     assertions.Match_StringLikeRegexp(jsii.String("CloudFront VPC origins only")),
			"SecurityGroupEgress":  []any{obj{"CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic", "FromPort": 252, "IpProtocol": "icmp", "ToPort": 86}},
			"SecurityGroupIngress": assertions.Match_Absent(),
		}))
	})
	ingress := resources(t, template, "AWS::EC2::SecurityGroupIngress")
	if len(ingress) != 1 {
		t.Fatalf("got %d ingress rules, want 1", len(ingress))
	}
	for id, rule := range ingress {
		props := rule["Properties"].(map[string]any)
		source, _ := json.Marshal(props["SourceSecurityGroupId"])
		if props["FromPort"] != 80.0 || props["CidrIp"] != nil || !strings.Contains(string(source), "OriginSecurityGroupLookup") {
			t.Errorf("ingress %s = %v, want port 80 from the looked-up CloudFront group", id, props)
		}
	}
	check(t, "lookup", func() {
		template.HasResource(jsii.String("Custom::AWS"), assertions.Match_ObjectLike(&obj{
			"Properties": assertions.Match_ObjectLike(&obj{
				"Create": assertions.Match_AnyValue(),
			}),
			"DependsOn": assertions.Match_ArrayWith(&[]any{assertions.Match_StringLikeRegexp(jsii.String("FrontDoorDistribution"))}),
		}))
	})
	lookups, _ := json.Marshal(resources(t, template, "Custom::AWS"))
	if !strings.Contains(string(lookups), cloudFrontOriginGroupName) {
		t.Errorf("the lookup does not filter on %s: %s", cloudFrontOriginGroupName, lookups)
	}
}

func TestFrontDoorDistribution(t *testing.T) {
	// GIVEN a bare stack with a VPC and a site bucket
	// WHEN a FrontDoor is created
	stack, frontDoor := newFrontDoor(&appconstructs.FrontDoorProps{})

	// THEN the default behaviour serves S3 over HTTPS with the web client's security headers (CSP), and /interact-s2s reaches the
	// VPC origin over HTTPS only, uncached, with every viewer header (Sec-WebSocket-*, Origin, Host).
	template := synth(t, stack)
	check(t, "VPC origin", func() {
		template.HasResourceProperties(jsii.String("AWS::CloudFront::VpcOrigin"), assertions.Match_ObjectLike(&obj{
			"VpcOriginEndpointConfig": assertions.Match_ObjectLike(&obj{
				"HTTPPort":             80,
				"OriginProtocolPolicy": "http-only",
			}),
		}))
	})
	dist := distributionConfig(t, template)
	// 60 s each: the most CloudFront allows without a quota increase. A shorter read timeout would cut a
	// conversation in which neither side sends for that long; the gateway's pings fit well inside it.
	originConfig := vpcOrigin(t, dist)["VpcOriginConfig"].(map[string]any)
	delete(originConfig, "VpcOriginId")
	if got, _ := json.Marshal(originConfig); string(got) != `{"OriginKeepaliveTimeout":60,"OriginReadTimeout":60}` {
		t.Errorf("VpcOriginConfig = %s, want exactly OriginKeepaliveTimeout 60 and OriginReadTimeout 60 (besides the id)", got)
	}
	behaviors := dist["CacheBehaviors"].([]any)
	if len(behaviors) != 1 {
		t.Fatalf("CacheBehaviors = %v, want one", behaviors)
	}
	ws := behaviors[0].(map[string]any)
	want := map[string]any{
		"PathPattern":           "/interact-s2s",
		"ViewerProtocolPolicy":  "https-only",
		"CachePolicyId":         cachingDisabledPolicyID,
		"OriginRequestPolicyId": obj{"Ref": webSocketRequestPolicyID(t, template)},
		"AllowedMethods":        []any{"GET", "HEAD"},
	}
	for k, v := range want {
		got, _ := json.Marshal(ws[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("/interact-s2s %s = %s, want %s", k, got, exp)
		}
	}
	if target := ws["TargetOriginId"]; target != vpcOriginID(t, dist) {
		t.Errorf("/interact-s2s targets origin %v, want the VPC origin %v", target, vpcOriginID(t, dist))
	}
	def := dist["DefaultCacheBehavior"].(map[string]any)
	if def["ViewerProtocolPolicy"] != "redirect-to-https" || def["CachePolicyId"] != cachingOptimizedPolicyID {
		t.Errorf("default behaviour = %v, want HTTPS redirect and CachingOptimized", def)
	}
	// The web client's own headers: its CSP keeps scripts and connections to the page's origin and Cognito.
	check(t, "web client headers", func() {
		template.HasResourceProperties(jsii.String("AWS::CloudFront::ResponseHeadersPolicy"), assertions.Match_ObjectLike(&obj{
			"ResponseHeadersPolicyConfig": assertions.Match_ObjectLike(&obj{
				"SecurityHeadersConfig": assertions.Match_ObjectLike(&obj{
					"ContentSecurityPolicy": obj{"ContentSecurityPolicy": appconstructs.WebClientContentSecurityPolicy, "Override": true},
					"FrameOptions":          obj{"FrameOption": "DENY", "Override": true},
				}),
			}),
		}))
	})
	if ref, _ := json.Marshal(def["ResponseHeadersPolicyId"]); !strings.Contains(string(ref), "WebClientHeaders") {
		t.Errorf("default behaviour's response headers policy = %s, want the web client's", ref)
	}
	if _, ok := dist["Restrictions"]; ok {
		t.Errorf("Restrictions = %v, want none by default", dist["Restrictions"])
	}
	if frontDoor.Url == nil || frontDoor.WebSocketUrl == nil {
		t.Error("Url and WebSocketUrl must be set")
	}
}

func TestFrontDoorGeoAndLogs(t *testing.T) {
	// GIVEN a bare stack with a VPC, a site bucket and a log bucket
	// WHEN a FrontDoor restricts viewers to two countries and logs to the bucket
	stack := newStack()
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2)})
	appconstructs.NewFrontDoor(stack, "FrontDoor", &appconstructs.FrontDoorProps{
		Vpc:          vpc,
		SiteBucket:   awss3.NewBucket(stack, jsii.String("Site"), nil),
		LogBucket:    awss3.NewBucket(stack, jsii.String("Logs"), &awss3.BucketProps{ObjectOwnership: awss3.ObjectOwnership_OBJECT_WRITER}),
		GeoAllowList: jsii.Strings("US", "CA"),
	})

	// THEN the distribution has an allow list and standard logging
	template := synth(t, stack)
	check(t, "geo and logs", func() {
		template.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), assertions.Match_ObjectLike(&obj{
			"DistributionConfig": assertions.Match_ObjectLike(&obj{
				"Restrictions": obj{"GeoRestriction": obj{"Locations": []string{"US", "CA"}, "RestrictionType": "whitelist"}},
				"Logging":      assertions.Match_ObjectLike(&obj{"Prefix": "cloudfront/"}),
			}),
		}))
	})
}

func TestFrontDoorForwardsTheViewerAddress(t *testing.T) {
	// GIVEN a bare stack with a VPC and a site bucket
	// WHEN a FrontDoor is created
	stack, _ := newFrontDoor(&appconstructs.FrontDoorProps{})

	// THEN the WebSocket behaviour's origin request policy forwards every viewer header, cookie and query
	// string, as the managed AllViewer policy does, plus CloudFront's CloudFront-Viewer-Address, which
	// AllViewer leaves out; exactly that, nothing more
	template := synth(t, stack)
	config := resources(t, template, "AWS::CloudFront::OriginRequestPolicy")[webSocketRequestPolicyID(t, template)]["Properties"].(map[string]any)["OriginRequestPolicyConfig"].(map[string]any)
	delete(config, "Name") // generated from the construct path, unique per stack
	got, _ := json.Marshal(config)
	want := `{"Comment":"Nova Sonic WebSocket: every viewer header plus CloudFront-Viewer-Address","CookiesConfig":{"CookieBehavior":"all"},` +
		`"HeadersConfig":{"HeaderBehavior":"allViewerAndWhitelistCloudFront","Headers":["CloudFront-Viewer-Address"]},"QueryStringsConfig":{"QueryStringBehavior":"all"}}`
	if string(got) != want {
		t.Errorf("origin request policy = %s\nwant %s", got, want)
	}
	if appconstructs.ClientAddressHeader != "CloudFront-Viewer-Address" {
		t.Errorf("ClientAddressHeader = %q", appconstructs.ClientAddressHeader)
	}
}

// webSocketRequestPolicyID returns the logical ID of the only origin request policy.
func webSocketRequestPolicyID(t *testing.T, template assertions.Template) string {
	t.Helper()
	policies := resources(t, template, "AWS::CloudFront::OriginRequestPolicy")
	if len(policies) != 1 {
		t.Fatalf("%d origin request policies, want 1", len(policies))
	}
	for id := range policies {
		return id
	}
	return ""
}

// distributionConfig returns the only distribution's DistributionConfig.
func distributionConfig(t *testing.T, template assertions.Template) map[string]any {
	t.Helper()
	dists := resources(t, template, "AWS::CloudFront::Distribution")
	if len(dists) != 1 {
		t.Fatalf("got %d distributions, want 1", len(dists))
	}
	for _, d := range dists {
		return d["Properties"].(map[string]any)["DistributionConfig"].(map[string]any)
	}
	return nil
}

// vpcOriginID returns the Id of the distribution's origin that uses a VPC origin.
func vpcOriginID(t *testing.T, dist map[string]any) any {
	t.Helper()
	return vpcOrigin(t, dist)["Id"]
}

// vpcOrigin returns the distribution's origin that uses a VPC origin.
func vpcOrigin(t *testing.T, dist map[string]any) map[string]any {
	t.Helper()
	for _, o := range dist["Origins"].([]any) {
		origin := o.(map[string]any)
		if _, ok := origin["VpcOriginConfig"]; ok {
			return origin
		}
	}
	t.Fatal("no origin with VpcOriginConfig")
	return nil
}
