package constructs

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseksv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"novasonic/kube"
)

// Pinned versions of what runs in the cluster. Bump them together with a look at the EKS release notes;
// `aws eks describe-addon-versions --kubernetes-version <v> --addon-name metrics-server` lists the add-on
// versions a Kubernetes version accepts.
const (
	// KubectlLayerPackage is the npm package (pinned in .cdk/package.json) whose lib/layer.zip holds the
	// kubectl and helm of the default Kubernetes version; the kubectl handler must match the cluster.
	KubectlLayerPackage = "@aws-cdk/lambda-layer-kubectl-v36"
	// DefaultMetricsServerVersion is the EKS community add-on's version. The add-on (unlike the upstream
	// manifest) is built to listen on 10251, because Fargate reserves the kubelet's port 10250.
	DefaultMetricsServerVersion = "v0.8.0-eksbuild.2"
)

// DefaultKubernetesVersion is the cluster's Kubernetes version unless EKSClusterProps says otherwise:
// the newest EKS offers with a kubectl layer on npm.
func DefaultKubernetesVersion() awseksv2.KubernetesVersion { return awseksv2.KubernetesVersion_V1_36() }

// DefaultLoadBalancerControllerVersion is the AWS Load Balancer Controller the cluster runs unless
// EKSClusterProps says otherwise; the CDK pins its Helm chart and ships its IAM policy.
func DefaultLoadBalancerControllerVersion() awseksv2.AlbControllerVersion {
	return awseksv2.AlbControllerVersion_V3_2_2()
}

// controlPlaneLogTypes are all five control-plane log types. cdk-nag's EKS2 rule, which would demand them,
// is not evaluated on aws-eks-v2 clusters, so a test asserts it instead.
var controlPlaneLogTypes = []awseksv2.ClusterLoggingTypes{
	awseksv2.ClusterLoggingTypes_API, awseksv2.ClusterLoggingTypes_AUDIT, awseksv2.ClusterLoggingTypes_AUTHENTICATOR,
	awseksv2.ClusterLoggingTypes_CONTROLLER_MANAGER, awseksv2.ClusterLoggingTypes_SCHEDULER,
}

// EKSClusterProps configures an EKSCluster.
type EKSClusterProps struct {
	// Vpc holds the control plane's network interfaces and the pods, in its private subnets. Required.
	Vpc awsec2.IVpc
	// ClusterName names the cluster, unique in the account and region: letters, digits, hyphens and
	// underscores, starting with a letter or digit, at most 100 characters. The stack creates the
	// control-plane log group /aws/eks/<name>/cluster itself, which needs the name before the cluster exists.
	// Default: the stack's name.
	ClusterName *string
	// KubernetesVersion is the control plane's version; KubectlLayerZip must hold the same kubectl.
	// Default: DefaultKubernetesVersion().
	KubernetesVersion awseksv2.KubernetesVersion
	// KubectlLayerZip is the kubectl Lambda layer for KubernetesVersion.
	// Default: .cdk/node_modules/@aws-cdk/lambda-layer-kubectl-v<minor>/lib/layer.zip under the
	// repository root, installed by `make setup`.
	KubectlLayerZip *string
	// EndpointPublicCidrs opens the Kubernetes API endpoint to these IPv4 CIDR blocks, for kubectl from
	// outside the VPC; the private endpoint stays on. 0.0.0.0/0 is refused.
	// Default: the private endpoint only (kubectl from inside the VPC, for example through SSM).
	EndpointPublicCidrs *[]*string
	// AdminRole gets a cluster-admin access entry, for people and pipelines that run kubectl.
	// Default: none; only the CDK's kubectl handler can reach the cluster (a synth warning says so).
	AdminRole awsiam.IRole
	// AppNamespace is the namespace the gateway runs in, given its own Fargate profile.
	// Default: kube.DefaultNamespace.
	AppNamespace *string
	// LoadBalancerControllerVersion is the AWS Load Balancer Controller's version.
	// Default: DefaultLoadBalancerControllerVersion().
	LoadBalancerControllerVersion awseksv2.AlbControllerVersion
	// MetricsServerVersion is the metrics-server add-on's version. Default: DefaultMetricsServerVersion.
	MetricsServerVersion *string
	// LogRetention is how long container and control-plane logs are kept.
	// Default: awslogs.RetentionDays_ONE_MONTH.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy applies to the container and control-plane log groups. Default: awscdk.RemovalPolicy_RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
}

// EKSCluster is an EKS cluster that runs everything on Fargate: a profile for kube-system (CoreDNS, the
// AWS Load Balancer Controller, metrics-server) and one for the gateway's namespace, and no nodes
// (AddFargateProfile adds one for any other namespace that runs pods, such as KEDA's). The API endpoint is
// private unless opened to given CIDR blocks, every control-plane log type goes to ControlPlaneLogGroup,
// and Fargate's log router ships every container's output to LogGroup, where the gateway's
// embedded-metric-format lines become metrics as on ECS. NewEKSGateway deploys the gateway onto it.
type EKSCluster struct {
	constructs.Construct
	// Cluster is the aws-eks-v2 Fargate cluster, with the load balancer controller installed.
	Cluster awseksv2.FargateCluster
	// SystemProfile is the Fargate profile of kube-system.
	SystemProfile awseksv2.FargateProfile
	// AppProfile is the Fargate profile of AppNamespace.
	AppProfile awseksv2.FargateProfile
	// AppNamespace is the namespace AppProfile selects.
	AppNamespace string
	// ClusterName is the cluster's name, known at synth.
	ClusterName string
	// LogGroup receives every container's output through Fargate's log router.
	LogGroup awslogs.LogGroup
	// ControlPlaneLogGroup is /aws/eks/<cluster name>/cluster, where EKS writes the five control-plane log
	// types. EKS would create it on its own, without retention and outside the stack; created here, it
	// follows the stack's log-group policy and goes with the stack.
	ControlPlaneLogGroup awslogs.LogGroup
	// LogRouter is the aws-observability namespace and aws-logging ConfigMap; pods that start before
	// it exists are not logged, so workloads depend on it.
	LogRouter awseksv2.KubernetesManifest
	// MetricsServer is the metrics-server add-on that feeds CPU and memory to the autoscaler.
	MetricsServer awseksv2.Addon

	vpc awsec2.IVpc
}

// NewEKSCluster creates the cluster, its Fargate profiles, the add-ons and the log router.
func NewEKSCluster(scope constructs.Construct, id string, props *EKSClusterProps) *EKSCluster {
	if props == nil || props.Vpc == nil {
		panic("eks cluster: Vpc is required")
	}
	this := constructs.NewConstruct(scope, &id)
	clusterName := *awscdk.Stack_Of(this).StackName()
	if props.ClusterName != nil {
		clusterName = *props.ClusterName
	}
	if !clusterNamePattern.MatchString(clusterName) {
		panic(fmt.Sprintf("eks cluster: name %q is not a valid EKS cluster name: letters, digits, hyphens and underscores, "+
			"starting with a letter or digit, at most 100 characters", clusterName))
	}
	version := props.KubernetesVersion
	if version == nil {
		version = DefaultKubernetesVersion()
	}
	controllerVersion := props.LoadBalancerControllerVersion
	if controllerVersion == nil {
		controllerVersion = DefaultLoadBalancerControllerVersion()
	}
	appNamespace := kube.DefaultNamespace
	if props.AppNamespace != nil {
		appNamespace = *props.AppNamespace
	}
	privateSubnets := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}

	layer := awslambda.NewLayerVersion(this, jsii.String("KubectlLayer"), &awslambda.LayerVersionProps{
		Code:        awslambda.Code_FromAsset(jsii.String(kubectlLayerZip(props.KubectlLayerZip, *version.Version())), nil),
		Description: jsii.String("kubectl and helm for Kubernetes " + *version.Version()),
	})

	// EKS writes control-plane logs to this group by name; it must exist before the cluster does, or EKS
	// creates it first (never expiring) and this one fails as a duplicate.
	controlPlaneLogs := awslogs.NewLogGroup(this, jsii.String("ControlPlaneLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/eks/" + clusterName + "/cluster"),
		Retention:     orRetention(props.LogRetention),
		RemovalPolicy: removalPolicyOrRetain(props.RemovalPolicy),
	})

	cluster := awseksv2.NewFargateCluster(this, jsii.String("Cluster"), &awseksv2.FargateClusterProps{
		ClusterName:    jsii.String(clusterName),
		Version:        version,
		Vpc:            props.Vpc,
		VpcSubnets:     &[]*awsec2.SubnetSelection{privateSubnets},
		EndpointAccess: endpointAccess(props.EndpointPublicCidrs),
		ClusterLogging: &controlPlaneLogTypes,
		KubectlProviderOptions: &awseksv2.KubectlProviderOptions{
			KubectlLayer: layer,
		},
		// Only kube-system here: the profile of the gateway's namespace is added below, and no other
		// namespace runs pods (a profile for "default" would only invite strays onto Fargate).
		DefaultProfile: &awseksv2.FargateProfileOptions{
			FargateProfileName: jsii.String("kube-system"),
			Selectors:          &[]*awseksv2.Selector{{Namespace: jsii.String("kube-system")}},
			Vpc:                props.Vpc,
			SubnetSelection:    privateSubnets,
		},
		CoreDnsComputeType: awseksv2.CoreDnsComputeType_FARGATE,
		AlbController: &awseksv2.AlbControllerOptions{
			Version: controllerVersion,
			// The gateway's Service is ClusterIP and its load balancer belongs to CloudFormation, so the
			// controller's Service webhook has nothing to do; turned off, a controller that is briefly
			// unavailable cannot block Service updates ("no endpoints available for service
			// aws-load-balancer-webhook-service", the replaced sample's deploy failure).
			AdditionalHelmChartValues: &map[string]interface{}{"enableServiceMutatorWebhook": false},
		},
	})
	cluster.Node().AddDependency(controlPlaneLogs)

	if props.AdminRole != nil {
		cluster.GrantAccess(jsii.String("AdminAccess"), props.AdminRole.RoleArn(), &[]awseksv2.IAccessPolicy{
			awseksv2.AccessPolicy_FromAccessPolicyName(jsii.String("AmazonEKSClusterAdminPolicy"),
				&awseksv2.AccessPolicyNameOptions{AccessScopeType: awseksv2.AccessScopeType_CLUSTER}),
		}, nil)
	} else {
		awscdk.Annotations_Of(this).AddWarningV2(jsii.String("novasonic:eksNoAdminRole"),
			jsii.String("the EKS cluster has no admin role, so no person can run kubectl against it: set EKSClusterProps.AdminRole"), nil)
	}

	metricsServerVersion := props.MetricsServerVersion
	if metricsServerVersion == nil {
		metricsServerVersion = jsii.String(DefaultMetricsServerVersion)
	}
	metricsServer := awseksv2.NewAddon(this, jsii.String("MetricsServer"), &awseksv2.AddonProps{
		Cluster:      cluster,
		AddonName:    jsii.String("metrics-server"),
		AddonVersion: metricsServerVersion,
		// The add-on goes with the cluster; keeping its objects would only orphan them.
		PreserveOnDelete: jsii.Bool(false),
	})
	// Its pods need kube-system's profile to be scheduled at all.
	metricsServer.Node().AddDependency(cluster.DefaultProfile())

	logGroup := awslogs.NewLogGroup(this, jsii.String("ContainerLogs"), &awslogs.LogGroupProps{
		Retention:     orRetention(props.LogRetention),
		RemovalPolicy: removalPolicyOrRetain(props.RemovalPolicy),
	})
	logRouter := kubernetesManifest(this, "LogRouter", cluster, mustBuildLogRouter(kube.LogRouter{
		Region: *awscdk.Stack_Of(this).Region(), LogGroupName: *logGroup.LogGroupName(),
	})...)

	suppressClusterFindings(cluster)

	c := &EKSCluster{
		Construct:            this,
		Cluster:              cluster,
		SystemProfile:        cluster.DefaultProfile(),
		AppNamespace:         appNamespace,
		ClusterName:          clusterName,
		LogGroup:             logGroup,
		ControlPlaneLogGroup: controlPlaneLogs,
		LogRouter:            logRouter,
		MetricsServer:        metricsServer,
		vpc:                  props.Vpc,
	}
	c.allowLogRouter(cluster.DefaultProfile())
	c.AppProfile = c.AddFargateProfile("App", appNamespace)
	return c
}

// AddFargateProfile gives namespace a Fargate profile of its own, named after it, in the private
// subnets, with the log router's permissions on LogGroup. Every namespace that runs pods needs one: a pod
// that no profile selects stays Pending. Profiles are created one after another (EKS allows only one
// change at a time); every kubectl resource of the cluster waits for all of them.
func (c *EKSCluster) AddFargateProfile(id, namespace string) awseksv2.FargateProfile {
	profile := c.Cluster.AddFargateProfile(jsii.String(id), &awseksv2.FargateProfileOptions{
		FargateProfileName: jsii.String(namespace),
		Selectors:          &[]*awseksv2.Selector{{Namespace: jsii.String(namespace)}},
		Vpc:                c.vpc,
		SubnetSelection:    &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS},
	})
	c.allowLogRouter(profile)
	return profile
}

// allowLogRouter lets the log router of profile's pods write to LogGroup: it runs in each pod's Fargate
// sandbox with the profile's pod execution role. The role's managed policy is the one EKS requires.
func (c *EKSCluster) allowLogRouter(profile awseksv2.FargateProfile) {
	c.LogGroup.GrantWrite(profile.PodExecutionRole())
	c.LogGroup.Grant(profile.PodExecutionRole(), jsii.String("logs:DescribeLogStreams"))
	cdknag.NagSuppressions_AddResourceSuppressions(profile.PodExecutionRole(), &[]*cdknag.NagPackSuppression{managedPolicySuppression(
		"EKS on Fargate requires AmazonEKSFargatePodExecutionRolePolicy on the pod execution role, to pull images from ECR",
		"AmazonEKSFargatePodExecutionRolePolicy")}, jsii.Bool(false))
}

// managedPolicySuppression is an IAM4 suppression for exactly the named AWS managed policies.
func managedPolicySuppression(reason string, policies ...string) *cdknag.NagPackSuppression {
	appliesTo := make([]interface{}, 0, len(policies))
	for _, p := range policies {
		appliesTo = append(appliesTo, "Policy::arn:<AWS::Partition>:iam::aws:policy/"+p)
	}
	return &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-IAM4"), Reason: jsii.String(reason), AppliesTo: &appliesTo}
}

// suppressClusterFindings records why the roles and functions that aws-eks-v2 creates inside the
// cluster may keep their cdk-nag findings. Each suppression names the exact managed policy or resource.
func suppressClusterFindings(cluster awseksv2.FargateCluster) {
	suppress := func(scope constructs.IConstruct, children bool, suppressions ...*cdknag.NagPackSuppression) {
		cdknag.NagSuppressions_AddResourceSuppressions(scope, &suppressions, jsii.Bool(children))
	}
	managedPolicy := managedPolicySuppression

	suppress(cluster.Role(), false, managedPolicy(
		"EKS requires AmazonEKSClusterPolicy on the cluster role; AWS keeps it in step with what the control plane calls",
		"AmazonEKSClusterPolicy"))

	// The CDK's kubectl handler and its custom-resource provider: Lambda functions in the VPC (the endpoint
	// is private) that run kubectl and helm as cluster admin. Each suppression sits on the one resource
	// that has the finding.
	provider := cluster.KubectlProvider()
	suppress(child(provider, "Handler", "ServiceRole"), false,
		managedPolicy("the CDK's kubectl handler writes its own logs and runs in the VPC to reach the private endpoint",
			"service-role/AWSLambdaBasicExecutionRole", "service-role/AWSLambdaVPCAccessExecutionRole"),
		managedPolicy("the CDK's kubectl handler pulls Helm charts stored in ECR (the CDK attaches this policy)", "AmazonEC2ContainerRegistryReadOnly"),
		&cdknag.NagPackSuppression{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("the CDK's kubectl handler pulls public Helm charts from ECR Public where the partition has it (the CDK attaches this policy)"),
			AppliesTo: &[]interface{}{cdknag.RegexAppliesTo{Regex: jsii.String(`/^Policy::\{"Fn::If":\[".*HasEcrPublic.*AmazonElasticContainerRegistryPublicReadOnly.*$/g`)}},
		})
	suppress(child(provider, "Handler"), false, &cdknag.NagPackSuppression{
		Id:     jsii.String("AwsSolutions-L1"),
		Reason: jsii.String("the CDK chooses the kubectl handler's Python runtime for its bundled code; it moves with aws-cdk-lib upgrades"),
	})
	suppress(child(provider, "Provider", "framework-onEvent", "ServiceRole"), false,
		managedPolicy("the CDK's provider framework for the kubectl handler writes its own logs and runs in the VPC beside the handler",
			"service-role/AWSLambdaBasicExecutionRole", "service-role/AWSLambdaVPCAccessExecutionRole"))
	suppress(child(provider, "Provider", "framework-onEvent", "ServiceRole", "DefaultPolicy"), false, &cdknag.NagPackSuppression{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("the CDK's provider framework invokes any version of the kubectl handler function, and only that function"),
		AppliesTo: &[]interface{}{cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<.*KubectlProviderHandler[0-9A-F]{8}\.Arn>:\*$/g`)}},
	})

	// The controller's policy is the one its project publishes for the pinned version, shipped by the CDK:
	// it creates and tags load balancers, target groups and security groups whose names it chooses, and
	// its describe calls have no resource-level permissions.
	controllerResources := []string{
		"*",
		"arn:<AWS::Partition>:ec2:*:*:security-group/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:targetgroup/*/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:loadbalancer/net/*/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:loadbalancer/app/*/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:listener/net/*/*/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:listener/app/*/*/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:listener-rule/net/*/*/*",
		"arn:<AWS::Partition>:elasticloadbalancing:*:*:listener-rule/app/*/*/*",
	}
	appliesTo := make([]interface{}, 0, len(controllerResources))
	for _, r := range controllerResources {
		appliesTo = append(appliesTo, "Resource::"+r)
	}
	suppress(child(cluster.AlbController(), "alb-sa", "Role", "DefaultPolicy"), false, &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("the AWS Load Balancer Controller's published IAM policy for the pinned version: it manages load balancers, " +
			"target groups and security groups it names itself, and its describe calls support no resource ARNs"),
		AppliesTo: &appliesTo,
	})
}

// child returns the construct at path under scope: a resource the CDK creates inside one of its
// constructs, to suppress a cdk-nag finding on exactly that resource. A CDK upgrade that moves it fails
// synth here, by name, instead of leaving the finding unsuppressed.
func child(scope constructs.IConstruct, path ...string) constructs.IConstruct {
	c := scope
	for _, id := range path {
		if c = c.Node().TryFindChild(jsii.String(id)); c == nil {
			panic(fmt.Sprintf("eks cluster: no %s under %s; has the CDK moved it?", strings.Join(path, "/"), *scope.Node().Path()))
		}
	}
	return c
}

// serviceAccountRole is an IAM role that only namespace/name's service account can assume (IRSA). It
// states the same trust as awseksv2.ServiceAccount, whose own manifest would duplicate the service account
// that package kube builds with the rest of the gateway's objects.
func (c *EKSCluster) serviceAccountRole(scope constructs.Construct, namespace, name string) awsiam.Role {
	cluster := c.Cluster
	issuer := *cluster.OpenIdConnectProvider().OpenIdConnectProviderIssuer()
	// The issuer is only known at deploy time and is part of the condition keys; CfnJson resolves keys too.
	conditions := awscdk.NewCfnJson(scope, jsii.String("ServiceAccountTrust"), &awscdk.CfnJsonProps{
		Value: map[string]interface{}{
			issuer + ":aud": "sts.amazonaws.com",
			issuer + ":sub": "system:serviceaccount:" + namespace + ":" + name,
		},
	})
	return awsiam.NewRole(scope, jsii.String("ServiceAccountRole"), &awsiam.RoleProps{
		Description: jsii.String(fmt.Sprintf("Pods of the service account %s/%s (IRSA)", namespace, name)),
		AssumedBy: awsiam.NewOpenIdConnectPrincipal(cluster.OpenIdConnectProvider(),
			&map[string]interface{}{"StringEquals": conditions}),
	})
}

// endpointAccess is the private endpoint, plus the public one restricted to cidrs when there are any.
func endpointAccess(cidrs *[]*string) awseksv2.EndpointAccess {
	if cidrs == nil || len(*cidrs) == 0 {
		return awseksv2.EndpointAccess_PRIVATE()
	}
	for _, c := range *cidrs {
		prefix, err := netip.ParsePrefix(*c)
		if err != nil || !prefix.Addr().Is4() || prefix != prefix.Masked() {
			panic(fmt.Sprintf("eks cluster: endpoint CIDR %q is not an IPv4 network such as 203.0.113.0/24", *c))
		}
		if prefix.Bits() == 0 {
			panic(fmt.Sprintf("eks cluster: endpoint CIDR %q would open the Kubernetes API to the internet: list your own networks, or none for a private endpoint", *c))
		}
	}
	return awseksv2.EndpointAccess_PUBLIC_AND_PRIVATE().OnlyFrom(*cidrs...)
}

// kubectlLayerZip returns zip, or the layer installed from KubectlLayerPackage's family for version.
func kubectlLayerZip(zip *string, version string) string {
	path := ""
	if zip != nil {
		path = *zip
	} else {
		root, err := FindRepositoryRoot()
		if err != nil {
			panic(fmt.Sprintf("eks cluster: %v", err))
		}
		pkg := "@aws-cdk/lambda-layer-kubectl-v" + strings.ReplaceAll(strings.TrimPrefix(version, "1."), ".", "")
		path = filepath.Join(root, ".cdk", "node_modules", pkg, "lib", "layer.zip")
	}
	if !isFile(path) {
		panic(fmt.Sprintf("eks cluster: no kubectl layer for Kubernetes %s at %s: run `make setup` (it installs %s from .cdk/package.json), "+
			"or pin the matching @aws-cdk/lambda-layer-kubectl-vNN there when changing the version", version, path, KubectlLayerPackage))
	}
	return path
}

// mustBuildLogRouter returns the log router's objects in apply order.
func mustBuildLogRouter(r kube.LogRouter) []any {
	o, err := r.Build()
	if err != nil {
		panic(err.Error())
	}
	return []any{o.Namespace, o.ConfigMap}
}

// kubernetesManifest applies objects, in order, as one kubectl apply.
func kubernetesManifest(scope constructs.Construct, id string, cluster awseksv2.ICluster, objects ...any) awseksv2.KubernetesManifest {
	manifests := make([]*map[string]interface{}, 0, len(objects))
	for _, obj := range objects {
		m, err := kube.Manifest(obj)
		if err != nil {
			panic(err.Error())
		}
		manifests = append(manifests, &m)
	}
	return awseksv2.NewKubernetesManifest(scope, jsii.String(id), &awseksv2.KubernetesManifestProps{
		Cluster:  cluster,
		Manifest: &manifests,
	})
}

// clusterNamePattern is what EKS accepts as a cluster name.
var clusterNamePattern = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)

// orRetention returns r, or one month when r is unset.
func orRetention(r awslogs.RetentionDays) awslogs.RetentionDays {
	if r == "" {
		return awslogs.RetentionDays_ONE_MONTH
	}
	return r
}

// _ fails to compile if the gateway port of the front door and of the Kubernetes objects ever differ.
var _ = [1]struct{}{}[GatewayPort-kube.Port]
