package deploy_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDeploySh runs every scenario against deploy.sh with bash.
func TestDeploySh(t *testing.T) {
	p := bashPlatform(t)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			check(t, p, sc, run(t, p, sc))
		})
	}
}

// TestDeployBatUnderWine runs the same scenarios against deploy.bat with Wine's cmd: the same answers
// must lead to the same commands, exit status and messages.
func TestDeployBatUnderWine(t *testing.T) {
	p := winePlatform(t)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			// Each run waits mostly on Wine starting processes; two at a time roughly halve the wall time.
			t.Parallel()
			check(t, p, sc, run(t, p, sc))
		})
	}
}

// TestHelpIsTheSameInBothScripts holds the two scripts to one list of options.
func TestHelpIsTheSameInBothScripts(t *testing.T) {
	sh := run(t, bashPlatform(t), scenario{args: []string{"--help"}})
	bat := run(t, winePlatform(t), scenario{args: []string{"--help"}})
	if sh.exit != 0 || bat.exit != 0 {
		t.Fatalf("--help exit status: deploy.sh %d, deploy.bat %d, want 0", sh.exit, bat.exit)
	}
	if !strings.HasPrefix(sh.output, "Usage: ./deploy.sh [options]\n") {
		t.Errorf("deploy.sh --help starts %q", strings.SplitN(sh.output, "\n", 2)[0])
	}
	if got := strings.ReplaceAll(bat.output, "deploy.bat", "./deploy.sh"); got != sh.output {
		t.Errorf("help differs\ndeploy.sh:\n%s\ndeploy.bat:\n%s", sh.output, bat.output)
	}
}

// The stand-in account: what a ready account answers. Scenarios put their own rules first.
const account = "123456789012"

func healthyAccount() []rule {
	return []rule{
		{Tool: "aws", Args: []string{"configure", "get", "region"}, Stdout: "eu-central-1\n"},
		{Tool: "aws", Args: []string{"sts", "get-caller-identity"}, Stdout: account + "\n"},
		{Tool: "aws", Args: []string{"bedrock", "get-foundation-model-availability"}, Stdout: "AVAILABLE\tAUTHORIZED\tAVAILABLE\n"},
		{Tool: "aws", Args: []string{"ssm", "get-parameter"}, Stdout: "30\n"},
		{Tool: "aws", Args: []string{"cloudformation", "describe-stacks"}, Stdout: "UPDATE_COMPLETE\n"},
		{Tool: "cdk", Args: []string{"deploy"}, WriteFileAfter: "--outputs-file", FileContent: deployedOutputs()},
	}
}

// deployedOutputs is the --outputs-file the stand-in CDK writes: the output names the stacks really
// have (stacks/backend.go; the EKS stack adds UpdateKubeconfigCommand), for every stack name the
// scenarios deploy.
func deployedOutputs() string {
	ecs := map[string]string{
		"CloudFrontUrl":     "https://d1example.cloudfront.net/",
		"WebSocketUrl":      "wss://d1example.cloudfront.net/interact-s2s",
		"UserPoolId":        "eu-west-1_Example",
		"UserPoolClientId":  "1example",
		"ManagedLoginUrl":   "https://nova-sonic.auth.eu-west-1.amazoncognito.com/login",
		"BedrockRegion":     "us-east-1",
		"BedrockModelId":    "amazon.nova-2-sonic-v1:0",
		"LogGroupName":      "NovaSonic-GatewayLogGroup",
		"ClusterName":       "NovaSonic-GatewayCluster",
		"ServiceName":       "nova-sonic-gateway-prod",
		"CreateUserCommand": "aws cognito-idp admin-create-user --region eu-west-1 --user-pool-id eu-west-1_Example --username you@example.com --user-attributes Name=email,Value=you@example.com Name=email_verified,Value=true",
	}
	eks := map[string]string{
		"CloudFrontUrl":           "https://d2example.cloudfront.net/",
		"UserPoolId":              "us-west-2_Example",
		"LogGroupName":            "NovaSonicEKS-GatewayLogs",
		"ClusterName":             "nova-sonic-eks",
		"CreateUserCommand":       "aws cognito-idp admin-create-user --region us-west-2 --user-pool-id us-west-2_Example --username you@example.com",
		"UpdateKubeconfigCommand": "aws eks update-kubeconfig --name nova-sonic-eks --region us-west-2",
	}
	raw, err := json.Marshal(map[string]map[string]string{
		"NovaSonicSolutionBackendStack":              ecs,
		"NovaSonicSolutionBackendStack-prod":         ecs,
		"NovaSonicSolutionEKSBackendStack":           eks,
		"NovaSonicSolutionEKSBackendStack-staging":   eks,
		"NovaSonicSolutionEKSBackendStack-unrelated": eks,
	})
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// The commands the scripts run, spelled out once. profile "" means no --profile.

var (
	dockerInfo   = call{Tool: "docker", Args: []string{"info"}, Env: map[string]string{}}
	dockerBuildx = call{Tool: "docker", Args: []string{"buildx", "version"}, Env: map[string]string{}}
)

// regionEnv is what the scripts export for the CDK CLI, which has no --region flag.
func regionEnv(region string) map[string]string {
	return map[string]string{"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
}

func withProfile(args []string, profile string) []string {
	if profile == "" {
		return args
	}
	return append(args, "--profile", profile)
}

func configureGetRegion(profile string) call {
	return call{Tool: "aws", Args: withProfile([]string{"configure", "get", "region"}, profile), Env: map[string]string{}}
}

func sts(region, profile string) call {
	return call{Tool: "aws", Args: withProfile([]string{"sts", "get-caller-identity", "--query", "Account", "--output", "text", "--region", region}, profile), Env: regionEnv(region)}
}

func modelAccess(model, bedrockRegion, region, profile string) call {
	return call{Tool: "aws", Args: withProfile([]string{"bedrock", "get-foundation-model-availability", "--model-id", model, "--region", bedrockRegion,
		"--query", "[regionAvailability,authorizationStatus,entitlementAvailability]", "--output", "text"}, profile), Env: regionEnv(region)}
}

func bootstrapVersion(region, profile string) call {
	return call{Tool: "aws", Args: withProfile([]string{"ssm", "get-parameter", "--name", "/cdk-bootstrap/hnb659fds/version",
		"--query", "Parameter.Value", "--output", "text", "--region", region}, profile), Env: regionEnv(region)}
}

func describeStack(stack, region, profile string) call {
	return call{Tool: "aws", Args: withProfile([]string{"cloudformation", "describe-stacks", "--stack-name", stack,
		"--query", "Stacks[0].StackStatus", "--output", "text", "--region", region}, profile), Env: regionEnv(region)}
}

// synth is the one synthesis of a run; env is regionEnv for runs that talk to AWS, empty for --synth.
func synth(stack, main, stage, bedrockRegion, model string, env map[string]string) call {
	return call{Tool: "cdk", Args: []string{"synth", stack, "--app", "go run " + main, "-c", "stage=" + stage,
		"-c", "bedrockRegion=" + bedrockRegion, "-c", "modelId=" + model, "--output", "cdk.out/" + stack, "--quiet"}, Env: env}
}

func cdkDiff(stack, region, profile string) call {
	return call{Tool: "cdk", Args: withProfile([]string{"diff", stack, "--app", "cdk.out/" + stack}, profile), Env: regionEnv(region)}
}

func cdkDeploy(stack, region, profile string) call {
	return call{Tool: "cdk", Args: withProfile([]string{"deploy", stack, "--app", "cdk.out/" + stack, "--require-approval", "never",
		"--outputs-file", "cdk.out/" + stack + ".outputs.json"}, profile), Env: regionEnv(region)}
}

func cdkDestroy(stack, region, profile string) call {
	return call{Tool: "cdk", Args: withProfile([]string{"destroy", stack, "--app", "cdk.out/" + stack, "--force"}, profile), Env: regionEnv(region)}
}

func cdkBootstrap(region, profile string) call {
	return call{Tool: "cdk", Args: withProfile([]string{"bootstrap", "aws://" + account + "/" + region}, profile), Env: regionEnv(region)}
}

// preflight is what every deploy checks before the CDK runs: Docker with BuildKit, credentials, model
// access, bootstrap.
func preflight(region, bedrockRegion, model, profile string) []call {
	return []call{dockerInfo, dockerBuildx, sts(region, profile), modelAccess(model, bedrockRegion, region, profile), bootstrapVersion(region, profile)}
}

func calls(groups ...[]call) []call {
	var all []call
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

const (
	ecs       = "NovaSonicSolutionBackendStack"
	eks       = "NovaSonicSolutionEKSBackendStack"
	novaSonic = "amazon.nova-2-sonic-v1:0"
)

// Prompts, as both scripts print them.
const (
	menuPrompt    = "Choice [1-5, q]: "
	stackPrompt   = "Stack [1-2]: "
	profilePrompt = "AWS profile (Enter for the default credentials): "
	confirmName   = "Type the stack name to confirm: "
)

func scenarios() []scenario {
	return []scenario{
		{
			name: "flags deploy ECS to a stage, profile and region",
			args: []string{"--target", "ecs", "--stage", "prod", "--profile", "ops", "--region", "eu-west-1",
				"--bedrock-region", "us-east-1", "--model", novaSonic, "--yes"},
			wantCalls: calls(preflight("eu-west-1", "us-east-1", novaSonic, "ops"), []call{
				synth(ecs+"-prod", "main_ecs.go", "prod", "us-east-1", novaSonic, regionEnv("eu-west-1")),
				cdkDiff(ecs+"-prod", "eu-west-1", "ops"),
				cdkDeploy(ecs+"-prod", "eu-west-1", "ops"),
			}),
			wantOutput: []string{
				"AWS account 123456789012, region eu-west-1, profile ops.",
				"  CloudFrontUrl = https://d1example.cloudfront.net/\n",
				"  WebSocketUrl = wss://d1example.cloudfront.net/interact-s2s\n",
				"  1. Create the first user (put your own email address in; Cognito emails a temporary password):\n" +
					"       aws cognito-idp admin-create-user --region eu-west-1 --user-pool-id eu-west-1_Example --username you@example.com --user-attributes Name=email,Value=you@example.com Name=email_verified,Value=true --profile ops\n",
				"  2. Open https://d1example.cloudfront.net/ and sign in.\n",
				"       aws logs tail NovaSonic-GatewayLogGroup --follow --region eu-west-1 --profile ops\n",
				"       aws ecs describe-services --cluster NovaSonic-GatewayCluster --services nova-sonic-gateway-prod --region eu-west-1 --profile ops\n",
				"To delete the stack: {script} --target ecs --stage prod --region eu-west-1 --profile ops --destroy\n",
			},
			notOutput: []string{"[y/N]", "kubectl"},
		},
		{
			name:    "flags deploy EKS with defaults and no kubectl, written with =",
			args:    []string{"--target=eks", "--region=us-west-2", "-y"},
			without: []string{"kubectl"},
			wantCalls: calls(preflight("us-west-2", "us-east-1", novaSonic, ""), []call{
				synth(eks, "main_eks.go", "dev", "us-east-1", novaSonic, regionEnv("us-west-2")),
				cdkDiff(eks, "us-west-2", ""),
				cdkDeploy(eks, "us-west-2", ""),
			}),
			wantOutput: []string{
				"warning: kubectl is not installed. The EKS stack deploys without it, but you need it to look at the cluster: https://kubernetes.io/docs/tasks/tools/",
				"  4. Point kubectl at the cluster, then look at the gateway:\n" +
					"       aws eks update-kubeconfig --name nova-sonic-eks --region us-west-2\n" +
					"       kubectl get deployments,pods,services --all-namespaces\n",
				"To delete the stack: {script} --target eks --stage dev --region us-west-2 --destroy\n",
			},
			notOutput: []string{"describe-services"},
		},
		{
			name: "menu deploys ECS with every default and asks before deploying",
			answers: []answer{
				{menuPrompt, "1"},
				{"Stage [dev]: ", ""},
				{profilePrompt, ""},
				{"Region [eu-central-1]: ", ""},
				{"Bedrock region [us-east-1]: ", ""},
				{"Model [amazon.nova-2-sonic-v1:0]: ", ""},
				{"Deploy these changes to NovaSonicSolutionBackendStack in account 123456789012, region eu-central-1? [y/N] ", "y"},
			},
			wantCalls: calls([]call{configureGetRegion("")}, preflight("eu-central-1", "us-east-1", novaSonic, ""), []call{
				synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, regionEnv("eu-central-1")),
				cdkDiff(ecs, "eu-central-1", ""),
				cdkDeploy(ecs, "eu-central-1", ""),
			}),
			wantOutput: []string{
				"Nova Sonic gateway: what do you want to do?\n" +
					"  1) Deploy the ECS stack (NovaSonicSolutionBackendStack, ECS Fargate)\n" +
					"  2) Deploy the EKS stack (NovaSonicSolutionEKSBackendStack, EKS Fargate)\n" +
					"  3) Show the diff between a stack and the deployed one\n" +
					"  4) Synthesize a stack only (no AWS account needed)\n" +
					"  5) Destroy a deployed stack\n" +
					"  q) Quit\n",
				"Changes to NovaSonicSolutionBackendStack in account 123456789012, region eu-central-1:",
				"  2. Open https://d1example.cloudfront.net/ and sign in.\n",
			},
		},
		{
			name: "menu deploys EKS to a stage with a profile and another Bedrock region",
			answers: []answer{
				{menuPrompt, "2"},
				{"Stage [dev]: ", "staging"},
				{profilePrompt, "ops"},
				{"Region [eu-central-1]: ", "us-west-2"},
				{"Bedrock region [us-east-1]: ", "eu-north-1"},
				{"Model [amazon.nova-2-sonic-v1:0]: ", ""},
				{"Deploy these changes to NovaSonicSolutionEKSBackendStack-staging in account 123456789012, region us-west-2? [y/N] ", "yes"},
			},
			wantCalls: calls([]call{configureGetRegion("ops")}, preflight("us-west-2", "eu-north-1", novaSonic, "ops"), []call{
				synth(eks+"-staging", "main_eks.go", "staging", "eu-north-1", novaSonic, regionEnv("us-west-2")),
				cdkDiff(eks+"-staging", "us-west-2", "ops"),
				cdkDeploy(eks+"-staging", "us-west-2", "ops"),
			}),
			wantOutput: []string{
				"       aws eks update-kubeconfig --name nova-sonic-eks --region us-west-2 --profile ops\n",
			},
			notOutput: []string{"warning: kubectl"},
		},
		{
			name: "menu shows the diff of the EKS stack and deploys nothing",
			answers: []answer{
				{menuPrompt, "3"},
				{stackPrompt, "2"},
				{"Stage [dev]: ", ""},
				{profilePrompt, ""},
				{"Region [eu-central-1]: ", "us-east-2"},
				{"Bedrock region [us-east-1]: ", ""},
				{"Model [amazon.nova-2-sonic-v1:0]: ", ""},
			},
			wantCalls: []call{
				configureGetRegion(""),
				sts("us-east-2", ""),
				synth(eks, "main_eks.go", "dev", "us-east-1", novaSonic, regionEnv("us-east-2")),
				cdkDiff(eks, "us-east-2", ""),
			},
			wantOutput: []string{"Which stack?\n  1) ECS (NovaSonicSolutionBackendStack)\n  2) EKS (NovaSonicSolutionEKSBackendStack)\n"},
		},
		{
			name:    "menu synthesizes without AWS tools or an account",
			without: []string{"aws", "docker"},
			answers: []answer{
				{menuPrompt, "4"},
				{stackPrompt, "1"},
				{"Stage [dev]: ", ""},
				{"Bedrock region [us-east-1]: ", ""},
				{"Model [amazon.nova-2-sonic-v1:0]: ", ""},
			},
			wantCalls:  []call{synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, map[string]string{})},
			wantOutput: []string{"The template is cdk.out"},
			notOutput:  []string{"AWS profile", "Region"},
		},
		{
			name:       "menu asks again after a wrong choice and quits",
			answers:    []answer{{menuPrompt, "9"}, {menuPrompt, "q"}},
			wantCalls:  nil,
			wantOutput: []string{"Please answer one of: 1 2 3 4 5 q\n"},
		},
		{
			name:       "menu gives up when stdin ends without a choice",
			wantExit:   2,
			wantOutput: []string{`error: no valid answer to "Choice [1-5, q]: "`},
		},
		{
			name:     "destroy asks for the stack name and stops at a wrong answer",
			args:     []string{"--target", "ecs", "--region", "eu-west-1", "--destroy"},
			answers:  []answer{{confirmName, "yes"}},
			wantExit: 1,
			wantCalls: []call{
				sts("eu-west-1", ""),
				describeStack(ecs, "eu-west-1", ""),
			},
			wantOutput: []string{
				"This deletes NovaSonicSolutionBackendStack (UPDATE_COMPLETE) in account 123456789012, region eu-west-1.",
				"error: cancelled: NovaSonicSolutionBackendStack was not destroyed.",
			},
		},
		{
			name:    "destroy goes ahead when the stack name is typed",
			args:    []string{"--target", "ecs", "--region", "eu-west-1", "--destroy"},
			answers: []answer{{confirmName, ecs}},
			wantCalls: []call{
				sts("eu-west-1", ""),
				describeStack(ecs, "eu-west-1", ""),
				synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, regionEnv("eu-west-1")),
				cdkDestroy(ecs, "eu-west-1", ""),
			},
			wantOutput: []string{"NovaSonicSolutionBackendStack is destroyed."},
		},
		{
			name: "destroy with --yes does not ask",
			args: []string{"--target", "eks", "--stage", "prod", "--region", "eu-west-1", "--profile", "ops", "--destroy", "--yes"},
			wantCalls: []call{
				sts("eu-west-1", "ops"),
				describeStack(eks+"-prod", "eu-west-1", "ops"),
				synth(eks+"-prod", "main_eks.go", "prod", "us-east-1", novaSonic, regionEnv("eu-west-1")),
				cdkDestroy(eks+"-prod", "eu-west-1", "ops"),
			},
			wantOutput: []string{"Stage prod keeps its user pool, buckets and log groups; delete those by hand if you mean to."},
			notOutput:  []string{confirmName},
		},
		{
			name:       "destroy of a stack that is not there stops",
			args:       []string{"--target", "ecs", "--region", "eu-west-1", "--destroy", "--yes"},
			rules:      []rule{{Tool: "aws", Args: []string{"cloudformation", "describe-stacks"}, Exit: 254, Stderr: "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id NovaSonicSolutionBackendStack does not exist\n"}},
			wantExit:   1,
			wantCalls:  []call{sts("eu-west-1", ""), describeStack(ecs, "eu-west-1", "")},
			wantOutput: []string{"error: cannot find NovaSonicSolutionBackendStack in account 123456789012, region eu-west-1: An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id NovaSonicSolutionBackendStack does not exist"},
		},
		{
			name:      "no credentials stop before the CDK",
			args:      []string{"--target", "ecs", "--region", "eu-west-1", "--profile", "ops", "--yes"},
			rules:     []rule{{Tool: "aws", Args: []string{"sts"}, Exit: 255, Stderr: "Unable to locate credentials. You can configure credentials by running \"aws configure\".\n"}},
			wantExit:  1,
			wantCalls: []call{dockerInfo, dockerBuildx, sts("eu-west-1", "ops")},
			wantOutput: []string{
				`error: no valid AWS credentials for profile ops: Unable to locate credentials. You can configure credentials by running "aws configure".`,
				"  Fix: run aws configure (access keys) or aws sso login --profile ops, or pass --profile NAME.",
			},
		},
		{
			name:      "no access to the model stops before the CDK",
			args:      []string{"--target", "ecs", "--region", "eu-west-1", "--yes"},
			rules:     []rule{{Tool: "aws", Args: []string{"bedrock"}, Stdout: "AVAILABLE\tNOT_AUTHORIZED\tAVAILABLE\n"}},
			wantExit:  1,
			wantCalls: []call{dockerInfo, dockerBuildx, sts("eu-west-1", ""), modelAccess(novaSonic, "us-east-1", "eu-west-1", "")},
			wantOutput: []string{
				"error: no access to amazon.nova-2-sonic-v1:0 in Bedrock region us-east-1 (region AVAILABLE, authorization NOT_AUTHORIZED, entitlement AVAILABLE).",
				"  Fix: in the Amazon Bedrock console of us-east-1 open Model access and request Amazon Nova 2 Sonic; or choose another --bedrock-region.",
			},
		},
		{
			name:      "a model the Bedrock region does not offer stops before the CDK",
			args:      []string{"--target", "ecs", "--region", "eu-west-1", "--bedrock-region", "eu-west-3", "--yes"},
			rules:     []rule{{Tool: "aws", Args: []string{"bedrock"}, Exit: 254, Stderr: "An error occurred (ValidationException) when calling the GetFoundationModelAvailability operation: The provided model identifier is invalid.\n"}},
			wantExit:  1,
			wantCalls: []call{dockerInfo, dockerBuildx, sts("eu-west-1", ""), modelAccess(novaSonic, "eu-west-3", "eu-west-1", "")},
			wantOutput: []string{
				"error: cannot check access to amazon.nova-2-sonic-v1:0 in Bedrock region eu-west-3: An error occurred (ValidationException) when calling the GetFoundationModelAvailability operation: The provided model identifier is invalid.",
			},
		},
		{
			name:      "not bootstrapped: declining stops before the CDK with the command to run",
			args:      []string{"--target", "ecs", "--region", "eu-west-1"},
			rules:     []rule{{Tool: "aws", Args: []string{"ssm"}, Exit: 254, Stderr: "An error occurred (ParameterNotFound) when calling the GetParameter operation: \n"}},
			answers:   []answer{{"Bootstrap it now (creates or updates the CDKToolkit stack)? [y/N] ", "n"}},
			wantExit:  1,
			wantCalls: preflight("eu-west-1", "us-east-1", novaSonic, ""),
			wantOutput: []string{
				"account 123456789012, region eu-west-1 is not bootstrapped for the CDK (/cdk-bootstrap/hnb659fds/version: An error occurred (ParameterNotFound) when calling the GetParameter operation: ).",
				" bootstrap aws://123456789012/eu-west-1\n",
			},
		},
		{
			name:  "not bootstrapped: --yes bootstraps, then deploys",
			args:  []string{"--target", "ecs", "--region", "eu-west-1", "--yes"},
			rules: []rule{{Tool: "aws", Args: []string{"ssm"}, Exit: 254, Stderr: "An error occurred (ParameterNotFound) when calling the GetParameter operation: \n"}},
			wantCalls: calls(preflight("eu-west-1", "us-east-1", novaSonic, ""), []call{
				cdkBootstrap("eu-west-1", ""),
				synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, regionEnv("eu-west-1")),
				cdkDiff(ecs, "eu-west-1", ""),
				cdkDeploy(ecs, "eu-west-1", ""),
			}),
		},
		{
			name:  "an old bootstrap is offered an update, then the deploy asks",
			args:  []string{"--target", "ecs", "--region", "eu-west-1", "--profile", "ops"},
			rules: []rule{{Tool: "aws", Args: []string{"ssm"}, Stdout: "5\n"}},
			answers: []answer{
				{"Bootstrap it now (creates or updates the CDKToolkit stack)? [y/N] ", "y"},
				{"Deploy these changes to NovaSonicSolutionBackendStack in account 123456789012, region eu-west-1? [y/N] ", "y"},
			},
			wantCalls: calls(preflight("eu-west-1", "us-east-1", novaSonic, "ops"), []call{
				cdkBootstrap("eu-west-1", "ops"),
				synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, regionEnv("eu-west-1")),
				cdkDiff(ecs, "eu-west-1", "ops"),
				cdkDeploy(ecs, "eu-west-1", "ops"),
			}),
			wantOutput: []string{"account 123456789012, region eu-west-1 has CDK bootstrap version 5; this app needs 6 or newer."},
		},
		{
			name:     "declining after the diff deploys nothing",
			args:     []string{"--target", "ecs", "--region", "eu-west-1"},
			answers:  []answer{{"Deploy these changes to NovaSonicSolutionBackendStack in account 123456789012, region eu-west-1? [y/N] ", ""}},
			wantExit: 1,
			wantCalls: calls(preflight("eu-west-1", "us-east-1", novaSonic, ""), []call{
				synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, regionEnv("eu-west-1")),
				cdkDiff(ecs, "eu-west-1", ""),
			}),
			wantOutput: []string{"error: cancelled: nothing was deployed."},
		},
		{
			name:     "missing tools are all named, with where to get them",
			args:     []string{"--target", "ecs", "--region", "eu-west-1", "--yes"},
			without:  []string{"aws", "docker"},
			wantExit: 1,
			wantOutput: []string{
				"error: missing tools:\n" +
					"  aws (the AWS CLI v2): https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html\n" +
					"  docker (a Docker engine with BuildKit builds the gateway image): https://docs.docker.com/get-docker/\n",
			},
		},
		{
			name:       "missing node is named before anything else",
			args:       []string{"--target", "ecs", "--synth"},
			without:    []string{"node"},
			wantExit:   1,
			wantOutput: []string{"error: missing tools:\n  node (Node.js 20 or newer runs the CDK CLI): https://nodejs.org/\n"},
		},
		{
			name:      "a Docker engine without BuildKit stops before the CDK",
			args:      []string{"--target", "ecs", "--region", "eu-west-1", "--yes"},
			rules:     []rule{{Tool: "docker", Args: []string{"buildx"}, Exit: 1, Stderr: "docker: 'buildx' is not a docker command.\n"}},
			wantExit:  1,
			wantCalls: []call{dockerInfo, dockerBuildx},
			wantOutput: []string{
				"error: Docker BuildKit is not available (docker buildx version failed); the Dockerfile needs it (RUN --mount).",
				"  Fix: install the buildx plugin (Docker Desktop has it; on Linux the docker-buildx-plugin package).",
			},
		},
		{
			name:       "a stopped Docker engine stops before the CDK",
			args:       []string{"--target", "eks", "--region", "eu-west-1", "--yes"},
			rules:      []rule{{Tool: "docker", Args: []string{"info"}, Exit: 1, Stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n"}},
			wantExit:   1,
			wantCalls:  []call{dockerInfo},
			wantOutput: []string{"error: the Docker engine is not running (docker info failed)."},
		},
		{
			name:       "DOCKER_BUILDKIT=0 stops before the CDK",
			args:       []string{"--target", "ecs", "--region", "eu-west-1", "--yes"},
			env:        map[string]string{"DOCKER_BUILDKIT": "0"},
			wantExit:   1,
			wantCalls:  []call{dockerInfo},
			wantOutput: []string{"error: DOCKER_BUILDKIT=0 turns BuildKit off, and the Dockerfile needs it (RUN --mount)."},
		},
		{
			name:       "no region anywhere stops with the ways to set one",
			args:       []string{"--target", "ecs", "--profile", "ops", "--diff"},
			rules:      []rule{{Tool: "aws", Args: []string{"configure"}, Exit: 1}},
			wantExit:   1,
			wantCalls:  []call{configureGetRegion("ops")},
			wantOutput: []string{"error: no AWS region to deploy to.\n  Fix: pass --region REGION, set AWS_REGION, or run: aws configure set region REGION --profile ops\n"},
		},
		{
			name:      "AWS_REGION from the environment is used without asking the profile",
			args:      []string{"--target", "ecs", "--diff"},
			env:       map[string]string{"AWS_REGION": "ap-northeast-1"},
			wantCalls: []call{sts("ap-northeast-1", ""), synth(ecs, "main_ecs.go", "dev", "us-east-1", novaSonic, regionEnv("ap-northeast-1")), cdkDiff(ecs, "ap-northeast-1", "")},
		},
		{
			name:      "the EKS stack without main_eks.go says so",
			args:      []string{"--target", "eks", "--region", "eu-west-1", "--yes"},
			noEKSMain: true,
			wantExit:  1,
			wantOutput: []string{
				"error: the EKS stack is not in this checkout yet: main_eks.go is missing.\n" +
					"  Fix: update the checkout (git pull), or deploy the ECS stack with --target ecs.\n",
			},
		},
		{
			name:      "a missing CDK CLI is installed with npm ci",
			args:      []string{"--target", "ecs", "--synth"},
			noCDK:     true,
			wantExit:  1,
			wantCalls: []call{{Tool: "npm", Args: []string{"ci", "--prefix", ".cdk", "--no-audit", "--no-fund", "--loglevel=error"}, Env: map[string]string{}}},
			// The stand-in npm installs nothing, so the script must notice.
			wantOutput: []string{"Installing the pinned CDK CLI into .cdk/ (npm ci)...", "error: npm ci --prefix .cdk did not install"},
		},
		{
			name:     "bad values stop before any command, each named",
			args:     []string{"--target", "ecs", "--stage", "Prod", "--region", "moon", "--yes"},
			wantExit: 2,
			wantOutput: []string{
				`--stage must be lowercase letters, digits and hyphens, starting with a letter, at most 16 characters (e.g. dev, prod), got "Prod"`,
				`--region must be an AWS region code such as us-east-1, got "moon"`,
			},
		},
		{
			name:       "an unknown option is a usage error",
			args:       []string{"--target", "ecs", "--fast"},
			wantExit:   2,
			wantOutput: []string{"error: unknown option --fast\nRun {script} --help for the options.\n"},
		},
		{
			name:       "an action without a target is a usage error",
			args:       []string{"--diff"},
			wantExit:   2,
			wantOutput: []string{"error: --diff needs --target ecs or --target eks\n"},
		},
		{
			name:       "two actions are a usage error",
			args:       []string{"--target", "ecs", "--diff", "--destroy"},
			wantExit:   2,
			wantOutput: []string{"error: choose one of --diff, --synth and --destroy\n"},
		},
	}
}
