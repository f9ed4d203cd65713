// Package kube builds the Kubernetes objects of the EKS stack as typed k8s.io/api values: the gateway's
// namespace, service account, environment, Deployment, Service, TargetGroupBinding and disruption budget
// (gateway.go), its autoscaler, an HPA on CPU and memory or a KEDA ScaledObject that adds the gateway's
// ActiveSessions metric (autoscaling.go, keda.go, with KEDA's Helm values), the drain timing that keeps
// rollouts from cutting conversations (drain.go), and the Fargate log router's configuration
// (logrouter.go).
//
// It is plain Go with no CDK dependency, so its tests run without jsii. The CDK constructs
// constructs.EKSCluster, EKSGateway and EKSKEDA apply what it builds; Manifest turns an object into the
// JSON map that awseksv2's KubernetesManifest takes.
//
// Values that only exist at deploy time (the image URI, role and target group ARNs, the log group name,
// the region) arrive as CDK token strings and pass through unchanged: CloudFormation resolves them inside
// the manifest. Everything this package computes, such as resource quantities and the drain arithmetic,
// comes from plain Go inputs.
package kube
