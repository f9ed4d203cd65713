package stacks

// DefaultStage is the stage used when the context names none. Its stack keeps the bare name the replaced
// system and its runbooks use.
const DefaultStage = "dev"

// StackName is the CloudFormation stack name of a stack in cfg's stage: base itself for DefaultStage and
// base-<stage> for every other, so each stage is its own stack with its own resources and deploying one
// stage never updates another. Both mains name their stacks with it: NovaSonicSolutionBackendStack[-stage]
// for ECS, NovaSonicSolutionEKSBackendStack[-stage] for EKS. Physical names derived from construct paths
// (CloudFront policies, the VPC origin, the Cognito domain prefix) then differ per stage as well; names
// that are set explicitly carry the stage themselves (the ECS service, nova-sonic-gateway-<stage>).
func StackName(base string, cfg Config) string {
	if cfg.Stage == DefaultStage {
		return base
	}
	return base + "-" + cfg.Stage
}
