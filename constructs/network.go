package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// NetworkProps configures a Network.
type NetworkProps struct {
	// NatGateways is the number of NAT gateways, one per availability zone at most. The gateway's tasks
	// reach Bedrock, ECR, CloudWatch and Cognito through them.
	// Default: 1 (both zones share one NAT gateway; use 2 to survive the loss of a zone).
	NatGateways *float64
	// AvailabilityZones are the two zones the VPC spans, by name (us-east-1a). CloudFront VPC origins are
	// unavailable in some zones, which a region may list first.
	// Default: the first two zones of the deploying region, resolved at deploy time (environment-agnostic).
	AvailabilityZones *[]*string
	// FlowLogRetention is how long the VPC flow log is kept.
	// Default: awslogs.RetentionDays_ONE_MONTH.
	FlowLogRetention awslogs.RetentionDays
	// RemovalPolicy applies to the flow log group.
	// Default: awscdk.RemovalPolicy_RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
}

// Network is a VPC over two availability zones with a public and a private subnet in each, and a flow log
// of all traffic. The load balancer and the gateway run in the private subnets; the public subnets hold
// only the NAT gateways. CloudFront VPC origins need the internet gateway this VPC has, although origin
// traffic never crosses it.
type Network struct {
	constructs.Construct
	// Vpc is the network. Its logical ID is pinned by tests: renaming it replaces every resource in it.
	Vpc awsec2.Vpc
	// FlowLogGroup receives the VPC flow log.
	FlowLogGroup awslogs.LogGroup
}

// NewNetwork creates the VPC and its flow log.
func NewNetwork(scope constructs.Construct, id string, props *NetworkProps) *Network {
	if props == nil {
		props = &NetworkProps{}
	}
	this := constructs.NewConstruct(scope, &id)

	natGateways := props.NatGateways
	if natGateways == nil {
		natGateways = jsii.Number(1)
	}
	// MaxAzs and AvailabilityZones exclude each other.
	var maxAzs *float64
	if props.AvailabilityZones == nil {
		maxAzs = jsii.Number(2)
	} else if n := len(*props.AvailabilityZones); n != 2 {
		panic(fmt.Errorf("constructs.NewNetwork %q: AvailabilityZones must name exactly two zones, got %d", id, n))
	}
	vpc := awsec2.NewVpc(this, jsii.String("Vpc"), &awsec2.VpcProps{
		MaxAzs:            maxAzs,
		AvailabilityZones: props.AvailabilityZones,
		NatGateways:       natGateways,
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("Public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			// /20 leaves room for the tasks, the load balancer and CloudFront's VPC-origin network
			// interfaces, which all take addresses from the private subnets.
			{Name: jsii.String("Private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(20)},
		},
	})

	retention := props.FlowLogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}
	flowLogGroup := awslogs.NewLogGroup(this, jsii.String("FlowLogGroup"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removalPolicyOrRetain(props.RemovalPolicy),
	})
	vpc.AddFlowLog(jsii.String("FlowLog"), &awsec2.FlowLogOptions{
		Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogGroup, nil),
		TrafficType: awsec2.FlowLogTrafficType_ALL,
	})

	return &Network{Construct: this, Vpc: vpc, FlowLogGroup: flowLogGroup}
}

// removalPolicyOrRetain returns p, or RETAIN when p is unset: data is kept unless a caller says otherwise.
func removalPolicyOrRetain(p awscdk.RemovalPolicy) awscdk.RemovalPolicy {
	if p == "" {
		return awscdk.RemovalPolicy_RETAIN
	}
	return p
}
