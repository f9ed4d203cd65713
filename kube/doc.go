// Package kube builds the Kubernetes objects of the EKS stack as typed k8s.io/api values: the gateway's
// namespace, service account, environment, Deployment, Service, TargetGroupBinding, autoscaler and
// disruption budget (gateway.go), the drain timing that keeps rollouts from cutting conversations
// (drain.go), and the Fargate log router's configuration (logrouter.go).
//
// It is plain Go with no CDK dependency, so its tests run without jsii. The CDK construct
// constructs.EKSCluster applies what it builds; Manifest turns an object into the JSON map that
// awseksv2's KubernetesManifest takes.
//
// Values that only exist at deploy time (the image URI, role and target group ARNs, the log group name)
// arrive as CDK token strings and pass through unchanged: CloudFormation resolves them inside the
// manifest. Everything this package computes, such as resource quantities and the drain arithmetic,
// comes from plain Go inputs.
package kube
