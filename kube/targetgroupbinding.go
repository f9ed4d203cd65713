package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TargetGroupBinding API group and version, served by the AWS Load Balancer Controller's CRD.
const (
	TargetGroupBindingAPIVersion = "elbv2.k8s.aws/v1beta1"
	TargetGroupBindingKind       = "TargetGroupBinding"
)

// TargetGroupBinding is the AWS Load Balancer Controller's elbv2.k8s.aws/v1beta1 TargetGroupBinding,
// reduced to the fields this stack sets. k8s.io/api has no type for it, and importing the controller's
// own module would pull the controller and the AWS SDK into every build. Field names and JSON tags follow
// the controller's apis/elbv2/v1beta1 types; fields left out keep their defaults in the CRD.
type TargetGroupBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec names the target group and the Service whose pods are registered in it.
	Spec TargetGroupBindingSpec `json:"spec"`
}

// TargetGroupBindingSpec is the part of the controller's spec this stack uses. Without a networking
// section the controller leaves security groups alone: the CDK stack admits the load balancer itself.
type TargetGroupBindingSpec struct {
	// TargetGroupARN is the existing target group, created and owned by CloudFormation.
	TargetGroupARN string `json:"targetGroupARN"`
	// TargetType must match the target group's; pods on Fargate can only be IP targets.
	TargetType TargetType `json:"targetType,omitempty"`
	// ServiceRef is the Service whose ready endpoints become the group's targets.
	ServiceRef ServiceReference `json:"serviceRef"`
}

// TargetType is a target group's target type.
type TargetType string

// TargetTypeIP registers pod IP addresses, the only kind of target a Fargate pod can be.
const TargetTypeIP TargetType = "ip"

// ServiceReference names a Service and one of its ports.
type ServiceReference struct {
	// Name is the Service's name, in the binding's namespace.
	Name string `json:"name"`
	// Port is the Service port, by number or name.
	Port intstr.IntOrString `json:"port"`
}
