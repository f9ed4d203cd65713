package constructs_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

func TestNetwork(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN a Network is created with defaults
	appconstructs.NewNetwork(stack, "Network", nil)

	// THEN the VPC spans two zones with a public and a private subnet in each, one NAT gateway, and a
	// flow log of all traffic to a log group kept for a month.
	template := synth(t, stack)
	check(t, "one VPC", func() { template.ResourceCountIs(jsii.String("AWS::EC2::VPC"), jsii.Number(1)) })
	check(t, "four subnets", func() { template.ResourceCountIs(jsii.String("AWS::EC2::Subnet"), jsii.Number(4)) })
	check(t, "one NAT gateway", func() { template.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(1)) })
	check(t, "private subnets have no public IPs", func() {
		template.HasResourceProperties(jsii.String("AWS::EC2::Subnet"), assertions.Match_ObjectLike(&obj{
			"MapPublicIpOnLaunch": false,
			"CidrBlock":           "10.0.16.0/20",
		}))
	})
	// Environment-agnostic: the zones are the region's first two, chosen by CloudFormation at deploy time.
	check(t, "zones from the region", func() {
		template.HasResourceProperties(jsii.String("AWS::EC2::Subnet"), assertions.Match_ObjectLike(&obj{
			"AvailabilityZone": obj{"Fn::Select": []any{1, obj{"Fn::GetAZs": ""}}},
		}))
	})
	check(t, "flow log", func() {
		template.HasResourceProperties(jsii.String("AWS::EC2::FlowLog"), assertions.Match_ObjectLike(&obj{
			"ResourceType":       "VPC",
			"TrafficType":        "ALL",
			"LogDestinationType": "cloud-watch-logs",
		}))
	})
	check(t, "flow log retention", func() {
		template.HasResource(jsii.String("AWS::Logs::LogGroup"), assertions.Match_ObjectLike(&obj{
			"Properties":     obj{"RetentionInDays": 30},
			"DeletionPolicy": "Retain",
		}))
	})
}

func TestNetworkTwoNatGateways(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN a Network asks for two NAT gateways
	appconstructs.NewNetwork(stack, "Network", &appconstructs.NetworkProps{NatGateways: jsii.Number(2)})

	// THEN each zone has its own
	template := synth(t, stack)
	check(t, "two NAT gateways", func() { template.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(2)) })
}

func TestNetworkInChosenZones(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN a Network names its two zones
	appconstructs.NewNetwork(stack, "Network", &appconstructs.NetworkProps{AvailabilityZones: jsii.Strings("eu-west-1b", "eu-west-1c")})

	// THEN its four subnets are in exactly those zones, two in each
	template := synth(t, stack)
	zones := map[string]int{}
	for _, subnet := range resources(t, template, "AWS::EC2::Subnet") {
		zones[fmt.Sprint(subnet["Properties"].(map[string]any)["AvailabilityZone"])]++
	}
	if want := map[string]int{"eu-west-1b": 2, "eu-west-1c": 2}; !reflect.DeepEqual(zones, want) {
		t.Errorf("subnets per zone = %v, want %v", zones, want)
	}
}
