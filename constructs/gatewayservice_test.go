package constructs_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

// newGatewayService builds a GatewayService in a bare stack with its own VPC, load balancer and image.
func newGatewayService(t *testing.T, props *appconstructs.GatewayServiceProps) awscdk.Stack {
	t.Helper()
	stack := newStack()
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2)})
	nlbSg := awsec2.NewSecurityGroup(stack, jsii.String("NlbSg"), &awsec2.SecurityGroupProps{Vpc: vpc, AllowAllOutbound: jsii.Bool(false)})
	nlb := elbv2.NewNetworkLoadBalancer(stack, jsii.String("Nlb"), &elbv2.NetworkLoadBalancerProps{
		Vpc: vpc, SecurityGroups: &[]awsec2.ISecurityGroup{nlbSg},
	})
	tg := elbv2.NewNetworkTargetGroup(stack, jsii.String("Tg"), &elbv2.NetworkTargetGroupProps{
		Vpc: vpc, Port: jsii.Number(8080), TargetType: elbv2.TargetType_IP,
	})
	nlb.AddListener(jsii.String("Listener"), &elbv2.BaseNetworkListenerProps{
		Port: jsii.Number(80), DefaultTargetGroups: &[]elbv2.INetworkTargetGroup{tg},
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")

	props.Vpc = vpc
	props.TargetGroup = tg
	props.LoadBalancerSecurityGroup = nlbSg
	props.Image = appconstructs.NewServerImage(stack, "ServerImage", &appconstructs.ServerImageProps{Directory: jsii.String(dir)})
	props.ServiceName = jsii.String("nova-sonic-gateway-test")
	appconstructs.NewGatewayService(stack, "Gateway", props)
	return stack
}

func TestGatewayServiceDeployment(t *testing.T) {
	// GIVEN a bare stack with a VPC, a load balancer and an image
	// WHEN a GatewayService is created with defaults
	stack := newGatewayService(t, &appconstructs.GatewayServiceProps{})

	// THEN the service keeps full capacity during deploys, rolls back failed ones, registers port 8080 in
	// the target group, leaves the task count to autoscaling, and the cluster has Container Insights.
	template := synth(t, stack)
	check(t, "service", func() {
		template.HasResourceProperties(jsii.String("AWS::ECS::Service"), assertions.Match_ObjectLike(&obj{
			"ServiceName": "nova-sonic-gateway-test",
			"LaunchType":  "FARGATE",
			"DeploymentConfiguration": obj{
				"DeploymentCircuitBreaker": obj{"Enable": true, "Rollback": true},
				"MinimumHealthyPercent":    100,
				"MaximumPercent":           200,
			},
			"HealthCheckGracePeriodSeconds": 60,
			"DesiredCount":                  assertions.Match_Absent(),
			"LoadBalancers":                 []any{assertions.Match_ObjectLike(&obj{"ContainerName": "gateway", "ContainerPort": 8080})},
			"NetworkConfiguration": obj{"AwsvpcConfiguration": assertions.Match_ObjectLike(&obj{
				"AssignPublicIp": "DISABLED",
			})},
		}))
	})
	check(t, "container insights", func() {
		template.HasResourceProperties(jsii.String("AWS::ECS::Cluster"), assertions.Match_ObjectLike(&obj{
			"ClusterSettings": []any{obj{"Name": "containerInsights", "Value": "enabled"}},
		}))
	})
	// Exactly one egress rule: HTTPS to AWS APIs. AllowAllOutbound would replace it with every port.
	check(t, "task egress HTTPS only", func() {
		template.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroup"), assertions.Match_ObjectLike(&obj{
			"GroupDescription": "Nova Sonic gateway tasks: ingress from the NLB only, egress HTTPS",
			"SecurityGroupEgress": []any{obj{
				"CidrIp": "0.0.0.0/0", "Description": "AWS APIs over HTTPS", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443,
			}},
		}))
	})
	check(t, "task ingress from the load balancer only", func() {
		template.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroupIngress"), assertions.Match_ObjectLike(&obj{
			"FromPort":              8080,
			"ToPort":                8080,
			"SourceSecurityGroupId": obj{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^NlbSg")), "GroupId"}},
		}))
	})
}

func TestGatewayServiceTaskDefinition(t *testing.T) {
	// GIVEN a bare stack with a VPC, a load balancer and an image
	// WHEN a GatewayService is created with defaults
	stack := newGatewayService(t, &appconstructs.GatewayServiceProps{
		Environment: &map[string]*string{"BEDROCK_REGION": jsii.String("us-east-1")},
	})

	// THEN the task is ARM64 with 1 vCPU and 2 GiB; the container checks itself with the gateway binary,
	// has 120 s to stop, a read-only root file system, logs to CloudWatch and learns its metric names.
	template := synth(t, stack)
	check(t, "task definition", func() {
		template.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), assertions.Match_ObjectLike(&obj{
			"Cpu":             "1024",
			"Memory":          "2048",
			"RuntimePlatform": obj{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
			"ContainerDefinitions": []any{assertions.Match_ObjectLike(&obj{
				"Name":                   "gateway",
				"Essential":              true,
				"PortMappings":           []any{obj{"ContainerPort": 8080, "Protocol": "tcp"}},
				"StopTimeout":            120,
				"ReadonlyRootFilesystem": true,
				"HealthCheck": assertions.Match_ObjectLike(&obj{
					"Command": []string{"CMD", "/gateway", "-healthcheck"},
				}),
				"Environment": assertions.Match_ArrayWith(&[]any{
					obj{"Name": "BEDROCK_REGION", "Value": "us-east-1"},
					obj{"Name": "METRICS_NAMESPACE", "Value": "NovaSonic"},
					obj{"Name": "METRICS_SERVICE_NAME", "Value": "nova-sonic-gateway-test"},
					obj{"Name": "PORT", "Value": "8080"},
				}),
				"LogConfiguration": assertions.Match_ObjectLike(&obj{
					"LogDriver": "awslogs",
					"Options":   assertions.Match_ObjectLike(&obj{"mode": "non-blocking"}),
				}),
			})},
		}))
	})
	// The task role's own permission: scale-in protection of the tasks of this cluster, nothing else.
	// ActiveSessions travels as EMF log lines, so there is no CloudWatch permission.
	var taskRolePolicy map[string]any
	for id, p := range resources(t, template, "AWS::IAM::Policy") {
		if strings.HasPrefix(id, "GatewayTaskDefinitionTaskRole") {
			taskRolePolicy = p["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)
		}
	}
	got, _ := json.Marshal(taskRolePolicy["Statement"])
	want := `[{"Action":"ecs:UpdateTaskProtection","Effect":"Allow","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":ecs:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":task/",{"Ref":"GatewayCluster47699BCF"},"/*"]]}}]`
	if string(got) != want {
		t.Errorf("task role statements = %s\nwant %s", got, want)
	}
}

func TestGatewayServiceScaling(t *testing.T) {
	// GIVEN a bare stack with a VPC, a load balancer and an image
	// WHEN a GatewayService scales between 3 and 12 tasks at 15 sessions each
	stack := newGatewayService(t, &appconstructs.GatewayServiceProps{
		MinTasks: jsii.Number(3), MaxTasks: jsii.Number(12), TargetSessionsPerTask: jsii.Number(15),
	})

	// THEN it tracks ActiveSessions per task, scales in at most every ten minutes, and CPU can only add tasks
	template := synth(t, stack)
	check(t, "bounds", func() {
		template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalableTarget"), assertions.Match_ObjectLike(&obj{
			"MinCapacity": 3, "MaxCapacity": 12,
		}))
	})
	check(t, "sessions", func() {
		template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), assertions.Match_ObjectLike(&obj{
			"PolicyType": "TargetTrackingScaling",
			"TargetTrackingScalingPolicyConfiguration": assertions.Match_ObjectLike(&obj{
				"TargetValue":      15,
				"ScaleInCooldown":  600,
				"ScaleOutCooldown": 60,
				"CustomizedMetricSpecification": assertions.Match_ObjectLike(&obj{
					"Namespace":  "NovaSonic",
					"MetricName": "ActiveSessions",
					"Statistic":  "Average",
					"Dimensions": []any{obj{"Name": "ServiceName", "Value": "nova-sonic-gateway-test"}},
				}),
			}),
		}))
	})
	check(t, "cpu backstop", func() {
		template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), assertions.Match_ObjectLike(&obj{
			"TargetTrackingScalingPolicyConfiguration": assertions.Match_ObjectLike(&obj{
				"DisableScaleIn":                true,
				"PredefinedMetricSpecification": obj{"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
			}),
		}))
	})
	check(t, "two policies", func() {
		template.ResourceCountIs(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), jsii.Number(2))
	})
}
