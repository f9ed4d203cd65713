package constructs_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

func TestConstructorsNameTheirMissingProps(t *testing.T) {
	for name, tc := range map[string]struct {
		build func() // builds the construct in a fresh bare stack
		want  string
	}{
		"front door without props": {
			func() { appconstructs.NewFrontDoor(newStack(), "FrontDoor", nil) },
			`constructs.NewFrontDoor "FrontDoor": required props not set: Vpc, SiteBucket`,
		},
		"front door without a site bucket": {
			func() {
				stack := newStack()
				appconstructs.NewFrontDoor(stack, "FrontDoor", &appconstructs.FrontDoorProps{Vpc: awsec2.NewVpc(stack, jsii.String("Vpc"), nil)})
			},
			`constructs.NewFrontDoor "FrontDoor": required props not set: SiteBucket`,
		},
		"gateway service without props": {
			func() { appconstructs.NewGatewayService(newStack(), "Gateway", nil) },
			`constructs.NewGatewayService "Gateway": required props not set: Vpc, Image, TargetGroup, LoadBalancerSecurityGroup, ServiceName`,
		},
		"gateway service with an empty service name": {
			func() {
				appconstructs.NewGatewayService(newStack(), "Gateway", &appconstructs.GatewayServiceProps{ServiceName: jsii.String("")})
			},
			`constructs.NewGatewayService "Gateway": required props not set: Vpc, Image, TargetGroup, LoadBalancerSecurityGroup, ServiceName`,
		},
		"auth without callback URLs": {
			func() {
				appconstructs.NewAuth(newStack(), "Auth", &appconstructs.AuthProps{CallbackUrls: &[]*string{}})
			},
			`constructs.NewAuth "Auth": required props not set: CallbackUrls`,
		},
		"Bedrock access without a model": {
			func() {
				stack := newStack()
				role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil)})
				appconstructs.NewBedrockAccess(stack, "BedrockAccess", &appconstructs.BedrockAccessProps{Grantee: role, BedrockRegion: jsii.String("us-east-1")})
			},
			`constructs.NewBedrockAccess "BedrockAccess": required props not set: ModelId`,
		},
		"Bedrock access without props": {
			func() { appconstructs.NewBedrockAccess(newStack(), "BedrockAccess", nil) },
			`constructs.NewBedrockAccess "BedrockAccess": required props not set: Grantee, BedrockRegion, ModelId`,
		},
		"website deployment without props": {
			func() { appconstructs.NewWebsite(newStack(), "Website", nil).Deploy(nil) },
			`constructs.Website.Deploy "Website": required props not set: Distribution, RuntimeConfig`,
		},
		"network in three zones": {
			func() {
				appconstructs.NewNetwork(newStack(), "Network", &appconstructs.NetworkProps{AvailabilityZones: jsii.Strings("a", "b", "c")})
			},
			`constructs.NewNetwork "Network": AvailabilityZones must name exactly two zones, got 3`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN a constructor called without a required prop
			// WHEN it runs
			got := func() (r any) {
				defer func() { r = recover() }()
				tc.build()
				return nil
			}()

			// THEN it panics with a Go error naming the constructor, the id and each missing prop, rather
			// than passing a nil to jsii
			err, ok := got.(error)
			if !ok {
				t.Fatalf("panic value = %v (%T), want an error", got, got)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q\nwant    %q", err, tc.want)
			}
		})
	}
}
