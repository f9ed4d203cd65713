package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	cr "github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// WebSocketPath is the gateway's WebSocket endpoint and the path of the CloudFront behaviour that
// reaches it. CloudFront path patterns are exact and case-sensitive.
const WebSocketPath = "/interact-s2s"

// Gateway ports and paths, fixed by the gateway image.
const (
	// GatewayPort is the port the gateway listens on for HTTP and WebSocket traffic.
	GatewayPort = 8080
	// ReadinessPath answers 200 only while the gateway accepts new conversations (503 while starting
	// and draining), so the load balancer stops sending new connections to a draining task.
	ReadinessPath = "/ready"
	// listenerPort is the load balancer's plain TCP port. CloudFront VPC origins cannot use TLS
	// listeners; the hop stays inside the VPC.
	listenerPort = 80
)

// ClientAddressHeader is the header CloudFront adds with the viewer's address and source port
// (198.51.100.10:46532, or [2001:db8::1]:46532). The /interact-s2s behaviour forwards it, because every
// connection reaches the gateway from the load balancer's and CloudFront's addresses; the stacks tell the
// gateway its name in CLIENT_ADDRESS_HEADER. Only CloudFront can reach the load balancer, so the header
// always passed through CloudFront.
const ClientAddressHeader = "CloudFront-Viewer-Address"

// DefaultDeregistrationDelaySec is the target group's deregistration delay when FrontDoorProps leaves it unset.
const DefaultDeregistrationDelaySec = 300

// cloudFrontOriginSecurityGroupName is the security group CloudFront creates in a VPC, once, for the
// network interfaces of its VPC origins. Admitting it alone is how the CloudFront documentation restricts
// an origin to CloudFront.
const cloudFrontOriginSecurityGroupName = "CloudFront-VPCOrigins-Service-SG"

// WebClientContentSecurityPolicy is the web client's CSP when served by CloudFront, the same policy the
// gateway sends when it serves the page locally (server/web): scripts, styles and images from the page's
// own origin only, nothing framed, and connections only to the page's origin (its wss:// WebSocket, by
// CSP Level 3's 'self') and Cognito's managed-login token endpoint. The Cognito domain prefix is not known
// when the policy is made, so the Cognito host is a wildcard under amazoncognito.com.
const WebClientContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' https://*.amazoncognito.com; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// newWebClientHeaders is CloudFront's managed security-headers policy plus the web client's CSP and a
// Permissions-Policy that allows the microphone to the page itself and nothing else.
func newWebClientHeaders(scope constructs.Construct) awscloudfront.IResponseHeadersPolicy {
	return awscloudfront.NewResponseHeadersPolicy(scope, jsii.String("WebClientHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("Nova Sonic web client: CSP, HSTS and microphone for the page only"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
				ContentSecurityPolicy: jsii.String(WebClientContentSecurityPolicy), Override: jsii.Bool(true),
			},
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			FrameOptions: &awscloudfront.ResponseHeadersFrameOptions{
				FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true),
			},
			ReferrerPolicy: &awscloudfront.ResponseHeadersReferrerPolicy{
				ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: jsii.Bool(true),
			},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(730)), IncludeSubdomains: jsii.Bool(true),
				Override: jsii.Bool(true),
			},
		},
		CustomHeadersBehavior: &awscloudfront.ResponseCustomHeadersBehavior{
			CustomHeaders: &[]*awscloudfront.ResponseCustomHeader{{
				Header: jsii.String("Permissions-Policy"), Value: jsii.String("microphone=(self), camera=(), geolocation=()"),
				Override: jsii.Bool(true),
			}},
		},
	})
}

// FrontDoorProps configures a FrontDoor.
type FrontDoorProps struct {
	// Vpc is where the internal load balancer lives, in its private subnets. Required.
	Vpc awsec2.IVpc
	// SiteBucket is served by the default behaviour through origin access control. Required.
	SiteBucket awss3.IBucket
	// LogBucket receives CloudFront standard logs under "cloudfront/". It needs ACLs enabled
	// (ObjectOwnership OBJECT_WRITER).
	// Default: no CloudFront logs.
	LogBucket awss3.IBucket
	// GeoAllowList is a list of ISO 3166-1 alpha-2 country codes allowed to reach the distribution.
	// Default: no geo restriction.
	GeoAllowList *[]*string
	// WebAclArn is the ARN of an AWS WAF web ACL with CLOUDFRONT scope (it must be in us-east-1).
	// Default: no web ACL.
	WebAclArn *string
	// IdleTimeout is the load balancer's TCP idle timeout. A conversation that sends nothing for this long
	// is cut; the gateway pings every 20 s.
	// Default: 600 seconds, CloudFront's own WebSocket idle limit.
	IdleTimeout awscdk.Duration
	// DeregistrationDelay is how long a deregistered target keeps its open connections before ECS or
	// Kubernetes stops it. New connections go to other targets at once; a conversation that is still open
	// when the delay ends is asked to finish by the gateway's SIGTERM drain.
	// Default: DefaultDeregistrationDelaySec (300 seconds).
	DeregistrationDelay awscdk.Duration
}

// FrontDoor is the only way in: a CloudFront distribution whose default behaviour serves the web client
// from S3 through origin access control, and whose /interact-s2s behaviour reaches an internal Network
// Load Balancer through a CloudFront VPC origin. The load balancer has no public address and its security
// group admits only CloudFront's VPC-origin security group, so the gateway cannot be reached around
// CloudFront. Both stacks register their gateway in TargetGroup and admit LoadBalancerSecurityGroup.
type FrontDoor struct {
	constructs.Construct
	// Distribution is the CloudFront distribution.
	Distribution awscloudfront.Distribution
	// LoadBalancer is the internal Network Load Balancer.
	LoadBalancer elbv2.NetworkLoadBalancer
	// LoadBalancerSecurityGroup is the load balancer's security group; the gateway's security group must
	// admit it on GatewayPort for traffic and health checks. It has no egress until a target admits it.
	LoadBalancerSecurityGroup awsec2.SecurityGroup
	// Listener is the load balancer's TCP listener.
	Listener elbv2.NetworkListener
	// TargetGroup is the IP target group on GatewayPort with an HTTP health check on /ready. ECS attaches
	// its service here; EKS binds it with a TargetGroupBinding.
	TargetGroup elbv2.NetworkTargetGroup
	// DeregistrationDelay is TargetGroup's deregistration delay: how long a stopping gateway keeps its open
	// conversations before the platform signals it. The EKS stack sizes its pods' termination grace from
	// it; read it here rather than repeating the number.
	DeregistrationDelay awscdk.Duration
	// WebSocketRequestPolicy is the origin request policy of the /interact-s2s behaviour: every viewer
	// header, cookie and query string, plus ClientAddressHeader.
	WebSocketRequestPolicy awscloudfront.OriginRequestPolicy
	// Url is https://<distribution domain>, the address users open and the only allowed WebSocket origin.
	Url *string
	// WebSocketUrl is wss://<distribution domain>/interact-s2s.
	WebSocketUrl *string
}

// NewFrontDoor creates the load balancer, its target group, the VPC origin and the distribution.
func NewFrontDoor(scope constructs.Construct, id string, props *FrontDoorProps) *FrontDoor {
	if props == nil {
		props = &FrontDoorProps{}
	}
	requireProps("NewFrontDoor", id, required{"Vpc", props.Vpc == nil}, required{"SiteBucket", props.SiteBucket == nil})
	this := constructs.NewConstruct(scope, &id)
	idleTimeout := props.IdleTimeout
	if idleTimeout == nil {
		idleTimeout = awscdk.Duration_Seconds(jsii.Number(600))
	}
	deregistrationDelay := props.DeregistrationDelay
	if deregistrationDelay == nil {
		deregistrationDelay = awscdk.Duration_Seconds(jsii.Number(DefaultDeregistrationDelaySec))
	}

	// Egress is opened per target by the compute stack (Connections.AllowFrom), never to the world.
	sg := awsec2.NewSecurityGroup(this, jsii.String("LoadBalancerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              props.Vpc,
		Description:      jsii.String("Nova Sonic gateway NLB: ingress from CloudFront VPC origins only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	// VPC origins require the load balancer to have a security group, IPv4 only and internal.
	nlb := elbv2.NewNetworkLoadBalancer(this, jsii.String("LoadBalancer"), &elbv2.NetworkLoadBalancerProps{
		Vpc:              props.Vpc,
		InternetFacing:   jsii.Bool(false),
		VpcSubnets:       &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS},
		SecurityGroups:   &[]awsec2.ISecurityGroup{sg},
		CrossZoneEnabled: jsii.Bool(true),
		IpAddressType:    elbv2.IpAddressType_IPV4,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(nlb, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-ELB2"),
		Reason: jsii.String("NLB access logs are written only for TLS listeners, and CloudFront VPC origins " +
			"accept only TCP listeners; CloudFront standard logs record every request instead"),
	}}, jsii.Bool(false))

	targetGroup := elbv2.NewNetworkTargetGroup(this, jsii.String("TargetGroup"), &elbv2.NetworkTargetGroupProps{
		Vpc:        props.Vpc,
		Port:       jsii.Number(GatewayPort),
		Protocol:   elbv2.Protocol_TCP,
		TargetType: elbv2.TargetType_IP,
		// The gateway's security group admits the load balancer's group; with client IP preservation the
		// packets would carry CloudFront's addresses instead and be dropped.
		PreserveClientIp:    jsii.Bool(false),
		DeregistrationDelay: deregistrationDelay,
		// At the end of the delay the gateway, not the load balancer, closes what is left, with a
		// WebSocket close code the browser understands.
		ConnectionTermination: jsii.Bool(false),
		HealthCheck: &elbv2.HealthCheck{
			Protocol:                elbv2.Protocol_HTTP,
			Path:                    jsii.String(ReadinessPath),
			Interval:                awscdk.Duration_Seconds(jsii.Number(10)),
			Timeout:                 awscdk.Duration_Seconds(jsii.Number(5)),
			HealthyThresholdCount:   jsii.Number(2),
			UnhealthyThresholdCount: jsii.Number(2),
		},
	})
	listener := nlb.AddListener(jsii.String("Listener"), &elbv2.BaseNetworkListenerProps{
		Port:                jsii.Number(listenerPort),
		Protocol:            elbv2.Protocol_TCP,
		DefaultTargetGroups: &[]elbv2.INetworkTargetGroup{targetGroup},
		TcpIdleTimeout:      idleTimeout,
	})

	vpcOrigin := awscloudfrontorigins.VpcOrigin_WithNetworkLoadBalancer(nlb, &awscloudfrontorigins.VpcOriginWithEndpointProps{
		HttpPort:       jsii.Number(listenerPort),
		ProtocolPolicy: awscloudfront.OriginProtocolPolicy_HTTP_ONLY,
		// 60 s is the most CloudFront allows without a quota increase; the gateway's 20 s pings keep
		// bytes flowing well inside it.
		ReadTimeout:      awscdk.Duration_Seconds(jsii.Number(60)),
		KeepaliveTimeout: awscdk.Duration_Seconds(jsii.Number(60)),
	})

	// The managed AllViewer policy forwards the viewer's headers (Sec-WebSocket-*, Origin, the viewer's
	// Host, which the gateway's origin check needs) but no header CloudFront generates itself; this one adds
	// the viewer's address, which the gateway needs for per-address limits.
	webSocketRequests := awscloudfront.NewOriginRequestPolicy(this, jsii.String("WebSocketRequestPolicy"), &awscloudfront.OriginRequestPolicyProps{
		Comment:             jsii.String("Nova Sonic WebSocket: every viewer header plus " + ClientAddressHeader),
		HeaderBehavior:      awscloudfront.OriginRequestHeaderBehavior_All(jsii.String(ClientAddressHeader)),
		QueryStringBehavior: awscloudfront.OriginRequestQueryStringBehavior_All(),
		CookieBehavior:      awscloudfront.OriginRequestCookieBehavior_All(),
	})

	var geo awscloudfront.GeoRestriction
	if props.GeoAllowList != nil && len(*props.GeoAllowList) > 0 {
		geo = awscloudfront.GeoRestriction_Allowlist(*props.GeoAllowList...)
	}
	distribution := awscloudfront.NewDistribution(this, jsii.String("Distribution"), &awscloudfront.DistributionProps{
		Comment:           jsii.String("Nova Sonic voice gateway"),
		DefaultRootObject: jsii.String("index.html"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(props.SiteBucket, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: newWebClientHeaders(this),
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			WebSocketPath: {
				Origin: vpcOrigin,
				// A WebSocket cannot follow a redirect, so plain ws:// is refused rather than redirected.
				ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
				// The upgrade handshake is a GET; nothing else reaches the gateway.
				AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
				CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
				OriginRequestPolicy:   webSocketRequests,
				ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
				Compress:              jsii.Bool(false),
			},
		},
		EnableLogging:  jsii.Bool(props.LogBucket != nil),
		LogBucket:      props.LogBucket,
		LogFilePrefix:  logPrefix(props.LogBucket),
		GeoRestriction: geo,
		WebAclId:       props.WebAclArn,
	})

	admitCloudFrontOnly(this, props.Vpc, sg, distribution)
	suppressDistributionFindings(distribution, geo != nil, props.WebAclArn != nil)

	domain := distribution.DistributionDomainName()
	return &FrontDoor{
		Construct:                 this,
		Distribution:              distribution,
		LoadBalancer:              nlb,
		LoadBalancerSecurityGroup: sg,
		Listener:                  listener,
		TargetGroup:               targetGroup,
		DeregistrationDelay:       deregistrationDelay,
		WebSocketRequestPolicy:    webSocketRequests,
		Url:                       awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), domain}),
		WebSocketUrl:              awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("wss://"), domain, jsii.String(WebSocketPath)}),
	}
}

// admitCloudFrontOnly opens the load balancer's listener port to the security group CloudFront attaches
// to its VPC-origin network interfaces, and to nothing else. CloudFront creates that group when the first
// VPC origin in the VPC is deployed and CloudFormation does not expose its id, so a custom resource looks
// it up by name once the distribution exists.
func admitCloudFrontOnly(scope constructs.Construct, vpc awsec2.IVpc, sg awsec2.SecurityGroup, distribution awscloudfront.Distribution) {
	call := &cr.AwsSdkCall{
		Service: jsii.String("EC2"),
		Action:  jsii.String("describeSecurityGroups"),
		Parameters: map[string]interface{}{
			"Filters": []map[string]interface{}{
				{"Name": "vpc-id", "Values": []*string{vpc.VpcId()}},
				{"Name": "group-name", "Values": []string{cloudFrontOriginSecurityGroupName}},
			},
		},
		OutputPaths:        jsii.Strings("SecurityGroups.0.GroupId"),
		PhysicalResourceId: cr.PhysicalResourceId_FromResponse(jsii.String("SecurityGroups.0.GroupId")),
	}
	lookup := cr.NewAwsCustomResource(scope, jsii.String("OriginSecurityGroupLookup"), &cr.AwsCustomResourceProps{
		OnCreate: call,
		OnUpdate: call,
		Policy: cr.AwsCustomResourcePolicy_FromSdkCalls(&cr.SdkCallsPolicyOptions{
			Resources: cr.AwsCustomResourcePolicy_ANY_RESOURCE(),
		}),
		InstallLatestAwsSdk: jsii.Bool(false),
	})
	lookup.Node().AddDependency(distribution)

	cloudFront := awsec2.SecurityGroup_FromSecurityGroupId(scope, jsii.String("CloudFrontOriginSecurityGroup"),
		lookup.GetResponseField(jsii.String("SecurityGroups.0.GroupId")),
		&awsec2.SecurityGroupImportOptions{Mutable: jsii.Bool(false)})
	sg.AddIngressRule(cloudFront, awsec2.Port_Tcp(jsii.Number(listenerPort)),
		jsii.String("CloudFront VPC origins"), jsii.Bool(false))

	cdknag.NagSuppressions_AddResourceSuppressions(lookup, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("ec2:DescribeSecurityGroups does not support resource-level permissions"),
		AppliesTo: &[]interface{}{"Resource::*"},
	}}, jsii.Bool(true))
	suppressAwsCustomResourceFindings(scope)
}

// suppressAwsCustomResourceFindings covers the CDK's singleton Lambda behind every AwsCustomResource in
// the stack. It lives at stack level, so the suppression is applied to it directly.
func suppressAwsCustomResourceFindings(scope constructs.Construct) {
	handler := awscdk.Stack_Of(scope).Node().TryFindChild(jsii.String(awsCustomResourceHandlerID))
	if handler == nil {
		return
	}
	cdknag.NagSuppressions_AddResourceSuppressions(handler, &[]*cdknag.NagPackSuppression{
		{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("the CDK's AwsCustomResource handler role uses AWSLambdaBasicExecutionRole to write its own logs"),
			AppliesTo: &[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		},
		{
			Id:     jsii.String("AwsSolutions-L1"),
			Reason: jsii.String("the runtime of the CDK's AwsCustomResource handler is chosen by the CDK release; it is upgraded with aws-cdk-lib"),
		},
	}, jsii.Bool(true))
}

// awsCustomResourceHandlerID is the construct id of the CDK's singleton AwsCustomResource handler.
const awsCustomResourceHandlerID = "AWS679f53fac002430cb0da5b7982bd2287"

// suppressDistributionFindings records why the distribution may keep the cdk-nag findings that only a
// custom domain, a web ACL or a geo restriction would clear.
func suppressDistributionFindings(distribution awscloudfront.Distribution, geoRestricted, hasWebAcl bool) {
	suppressions := []*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-CFR4"),
		Reason: jsii.String("the distribution uses the default *.cloudfront.net certificate, whose minimum " +
			"viewer TLS version CloudFront fixes; a custom domain with an ACM certificate is needed to raise it"),
	}}
	if !geoRestricted {
		suppressions = append(suppressions, &cdknag.NagPackSuppression{
			Id:     jsii.String("AwsSolutions-CFR1"),
			Reason: jsii.String("the voice service is meant for users in any country; set the context key geoAllowList to restrict it"),
		})
	}
	if !hasWebAcl {
		suppressions = append(suppressions, &cdknag.NagPackSuppression{
			Id: jsii.String("AwsSolutions-CFR2"),
			Reason: jsii.String("a CLOUDFRONT-scope web ACL must live in us-east-1, outside this stack; every " +
				"conversation needs a Cognito access token; set the context key webAclArn to attach one"),
		})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(distribution, &suppressions, jsii.Bool(false))
}

// logPrefix returns the CloudFront log prefix when logging is on.
func logPrefix(bucket awss3.IBucket) *string {
	if bucket == nil {
		return nil
	}
	return jsii.String("cloudfront/")
}
