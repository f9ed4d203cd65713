// Package constructs holds the building blocks that both back ends of the Nova Sonic gateway share: the
// network, sign-in, the static web client, the CloudFront front door with its internal load balancer, the
// gateway image and the Bedrock grant. The ECS stack (main_ecs.go) and the EKS stack (main_eks.go) use them
// unchanged and add only their compute: GatewayService on ECS; EKSCluster, EKSGateway and (when the EKS
// gateway scales on conversations) EKSKEDA on EKS, which apply the Kubernetes objects of package
// novasonic/kube. GatewayAlarms serves both: both gateways write the same metrics.
//
// The package name clashes with the jsii package github.com/aws/constructs-go/constructs/v10, so every file
// that imports both aliases this one as appconstructs.
//
// Every constructor has the shape NewX(scope, id, props) *X. X embeds constructs.Construct, creates its
// children under itself and exposes the important ones as fields. A nil field in a props struct takes the
// default its doc comment names; a required one left nil (or nil props) makes the constructor panic at
// once with an error naming the constructor, the id and every missing prop, never a nil inside jsii.
package constructs
