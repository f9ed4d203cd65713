#!/usr/bin/env bash
# Deploy, review, synthesize or destroy the Nova Sonic gateway on AWS: the ECS stack
# (NovaSonicSolutionBackendStack) or the EKS stack (NovaSonicSolutionEKSBackendStack).
#
#   ./deploy.sh                          a menu asks what to do and each setting, with defaults
#   ./deploy.sh --target ecs --yes       deploy the ECS stack without questions (scripts, CI)
#   ./deploy.sh --help                   every option
#
# Before anything slow it checks the tools, the AWS credentials and region, access to the model in the
# Bedrock region and the CDK bootstrap, and says how to fix what is missing. It runs the CDK CLI pinned in
# .cdk/ (installing it with npm ci when absent), synthesizes once, shows the diff against the deployed stack
# and deploys exactly what it showed. deploy.bat does the same on Windows; deploy/ holds the tests that run
# both with stand-in tools and keep them in step, and deploy/helper.js the JSON work both scripts share.
# Written for bash 3.2 too (macOS): no mapfile, no associative arrays, guarded empty arrays.
set -euo pipefail

readonly ECS_STACK=NovaSonicSolutionBackendStack
readonly EKS_STACK=NovaSonicSolutionEKSBackendStack
# The CDK's default bootstrap qualifier. The synthesized templates refuse bootstrap versions below 6.
readonly BOOTSTRAP_PARAMETER=/cdk-bootstrap/hnb659fds/version
readonly MIN_BOOTSTRAP_VERSION=6
# Free-text answers are asked again after a bad one, but not forever: stdin may be a file that ended.
readonly MAX_TRIES=3

ACTION="" TARGET="" STAGE="" PROFILE="" REGION="" BEDROCK_REGION="" MODEL="" YES=false
ACCOUNT="" STACK="" APP_MAIN="" ASSEMBLY="" CDK=""
PROFILE_ARGS=()

usage() {
	cat <<'EOF'
Usage: ./deploy.sh [options]

Deploys the Nova Sonic voice gateway with the CDK CLI pinned in .cdk/. Without --target (and without
--diff, --synth or --destroy) a menu asks what to do; every setting not given as an option is asked
with its default.

Options:
  -t, --target ecs|eks       the stack: ecs (NovaSonicSolutionBackendStack, ECS Fargate) or
                             eks (NovaSonicSolutionEKSBackendStack, EKS Fargate)
  -s, --stage NAME           stage, passed as CDK context stage=NAME (default dev; other stages deploy
                             as <stack>-NAME; prod keeps users, buckets and logs when destroyed)
  -p, --profile NAME         AWS CLI profile (default: the usual credential chain)
  -r, --region REGION        region to deploy to (default: AWS_REGION, then the profile's region)
  -b, --bedrock-region REGION
                             region the gateway calls Bedrock in (default us-east-1 or cdk.json)
  -m, --model MODEL_ID       Nova Sonic model id (default amazon.nova-2-sonic-v1:0 or cdk.json)
      --diff                 only show the diff between the stack and the deployed one
      --synth                only synthesize the stack into cdk.out/ (no AWS account needed)
      --destroy              delete the deployed stack (asks you to type its name)
  -y, --yes                  do not ask: deploy after the diff, bootstrap if needed, destroy
  -h, --help                 show this help

Exit status: 0 done, 1 a check or command failed or you cancelled, 2 bad options.
EOF
}

say() { printf '%s\n' "$*"; }
fail() {
	printf 'error: %s\n' "$1" >&2
	shift
	local line
	for line in "$@"; do printf '  %s\n' "$line" >&2; done
	exit 1
}
usage_error() {
	printf 'error: %s\n' "$1" >&2
	say "Run ./deploy.sh --help for the options." >&2
	exit 2
}

# ask PROMPT: prints the prompt and reads one line into ANSWER. An ended stdin reads as an empty answer,
# as in deploy.bat, where cmd cannot tell the two apart.
ask() {
	printf '%s' "$1"
	ANSWER=""
	IFS= read -r ANSWER || true
	ANSWER=${ANSWER%$'\r'}
}

# ask_choice PROMPT CHOICES...: asks until the answer is one of CHOICES, MAX_TRIES times at most.
ask_choice() {
	local prompt=$1 tries=0 choice
	shift
	while ((tries < MAX_TRIES)); do
		ask "$prompt"
		for choice in "$@"; do
			[[ $ANSWER == "$choice" ]] && return 0
		done
		say "Please answer one of: $*"
		tries=$((tries + 1))
	done
	usage_error "no valid answer to \"$prompt\""
}

# ask_default PROMPT DEFAULT: reads a value; an empty answer keeps DEFAULT.
ask_default() {
	ask "$1 [$2]: "
	[[ -n $ANSWER ]] || ANSWER=$2
}

# confirm PROMPT: true only for an explicit yes.
confirm() {
	ask "$1 [y/N] "
	case $ANSWER in
	[yY] | [yY][eE][sS]) return 0 ;;
	*) return 1 ;;
	esac
}

parse_args() {
	while (($#)); do
		local option=$1 value=""
		# --name=value is accepted as --name value; cmd splits at = by itself, so deploy.bat gets it too.
		if [[ $option == --*=* ]]; then
			value=${option#*=}
			option=${option%%=*}
			set -- "$option" "$value" "${@:2}"
		fi
		case $option in
		-t | --target | -s | --stage | -p | --profile | -r | --region | -b | --bedrock-region | -m | --model)
			(($# >= 2)) || usage_error "$option needs a value"
			value=$2
			shift 2
			case $option in
			-t | --target) TARGET=$value ;;
			-s | --stage) STAGE=$value ;;
			-p | --profile) PROFILE=$value ;;
			-r | --region) REGION=$value ;;
			-b | --bedrock-region) BEDROCK_REGION=$value ;;
			-m | --model) MODEL=$value ;;
			esac
			;;
		--diff | --synth | --destroy)
			[[ -z $ACTION ]] || usage_error "choose one of --diff, --synth and --destroy"
			ACTION=${option#--}
			shift
			;;
		-y | --yes)
			YES=true
			shift
			;;
		-h | --help)
			usage
			exit 0
			;;
		*) usage_error "unknown option $option" ;;
		esac
	done
	case $TARGET in
	"" | ecs | eks) ;;
	*) usage_error "--target must be ecs or eks, got \"$TARGET\"" ;;
	esac
}

# helper runs deploy/helper.js, the JSON and validation code shared with deploy.bat.
helper() { node deploy/helper.js "$@"; }

# menu asks for what the options left open. Without --target and without an action it is interactive.
menu() {
	say "Nova Sonic gateway: what do you want to do?"
	say "  1) Deploy the ECS stack ($ECS_STACK, ECS Fargate)"
	say "  2) Deploy the EKS stack ($EKS_STACK, EKS Fargate)"
	say "  3) Show the diff between a stack and the deployed one"
	say "  4) Synthesize a stack only (no AWS account needed)"
	say "  5) Destroy a deployed stack"
	say "  q) Quit"
	ask_choice "Choice [1-5, q]: " 1 2 3 4 5 q
	case $ANSWER in
	1) ACTION="deploy" TARGET="ecs" ;;
	2) ACTION="deploy" TARGET="eks" ;;
	3) ACTION="diff" ;;
	4) ACTION="synth" ;;
	5) ACTION="destroy" ;;
	q) exit 0 ;;
	esac
}

ask_target() {
	say "Which stack?"
	say "  1) ECS ($ECS_STACK)"
	say "  2) EKS ($EKS_STACK)"
	ask_choice "Stack [1-2]: " 1 2
	if [[ $ANSWER == 1 ]]; then TARGET=ecs; else TARGET=eks; fi
}

# detect_region follows the AWS CLI's order: environment first, then the profile's configuration.
detect_region() {
	[[ -n ${AWS_REGION:-} ]] && { say "$AWS_REGION"; return; }
	[[ -n ${AWS_DEFAULT_REGION:-} ]] && { say "$AWS_DEFAULT_REGION"; return; }
	aws configure get region ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} 2>/dev/null || true
}

# settings fills every setting the options left empty: asked in the menu, defaulted otherwise.
settings() {
	local interactive=$1 defaults key value default_stage="" default_bedrock="" default_model=""
	defaults=$(helper defaults) || exit 1
	while IFS='=' read -r key value; do
		case $key in
		stage) default_stage=$value ;;
		bedrockRegion) default_bedrock=$value ;;
		modelId) default_model=$value ;;
		esac
	done <<<"$defaults"

	if [[ $interactive == true ]]; then
		[[ -n $STAGE ]] || { ask_default "Stage" "$default_stage"; STAGE=$ANSWER; }
		if needs_aws && [[ -z $PROFILE ]]; then
			ask "AWS profile (Enter for the default credentials): "
			PROFILE=$ANSWER
		fi
	fi
	STAGE=${STAGE:-$default_stage}
	[[ -z $PROFILE ]] || PROFILE_ARGS=(--profile "$PROFILE")
	if needs_aws && [[ -z $REGION ]]; then
		local detected
		detected=$(detect_region)
		if [[ $interactive == true ]]; then
			if [[ -n $detected ]]; then ask_default "Region" "$detected"; else ask "Region: "; fi
			REGION=$ANSWER
		else
			REGION=$detected
		fi
	fi
	if [[ $interactive == true && $ACTION != destroy ]]; then
		[[ -n $BEDROCK_REGION ]] || { ask_default "Bedrock region" "$default_bedrock"; BEDROCK_REGION=$ANSWER; }
		[[ -n $MODEL ]] || { ask_default "Model" "$default_model"; MODEL=$ANSWER; }
	fi
	BEDROCK_REGION=${BEDROCK_REGION:-$default_bedrock}
	MODEL=${MODEL:-$default_model}

	if needs_aws && [[ -z $REGION ]]; then
		fail "no AWS region to deploy to." \
			"Fix: pass --region REGION, set AWS_REGION, or run: aws configure set region REGION${PROFILE:+ --profile $PROFILE}"
	fi
	local checks=(--stage "$STAGE" --bedrock-region "$BEDROCK_REGION")
	if needs_aws; then checks+=(--region "$REGION"); fi
	helper validate "${checks[@]}" || exit 2

	if [[ $TARGET == ecs ]]; then STACK=$ECS_STACK APP_MAIN=main_ecs.go; else STACK=$EKS_STACK APP_MAIN=main_eks.go; fi
	# The default stage keeps the stack's historic name; other stages get their own stack beside it.
	[[ $STAGE == dev ]] || STACK="$STACK-$STAGE"
	ASSEMBLY="cdk.out/$STACK"
}

needs_aws() { [[ $ACTION != synth ]]; }

# require_tools reports every missing tool at once, each with where to get it.
require_tools() {
	local missing=() tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 && continue
		case $tool in
		go) missing+=("go (Go 1.26 or newer builds the CDK app): https://go.dev/dl/") ;;
		node) missing+=("node (Node.js 20 or newer runs the CDK CLI): https://nodejs.org/") ;;
		npm) missing+=("npm (comes with Node.js; installs the pinned CDK CLI): https://nodejs.org/") ;;
		aws) missing+=("aws (the AWS CLI v2): https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html") ;;
		docker) missing+=("docker (a Docker engine with BuildKit builds the gateway image): https://docs.docker.com/get-docker/") ;;
		*) missing+=("$tool (named by CDK_DOCKER)") ;;
		esac
	done
	((${#missing[@]} == 0)) || fail "missing tools:" "${missing[@]}"
}

# check_docker: the Dockerfile uses RUN --mount, which only BuildKit understands, and the CDK builds the
# image with `docker build` (or $CDK_DOCKER), so both the engine and BuildKit must be there.
check_docker() {
	local engine=${CDK_DOCKER:-docker}
	"$engine" info >/dev/null 2>&1 ||
		fail "the Docker engine is not running ($engine info failed)." \
			"Fix: start Docker Desktop or the docker service, then run this again."
	[[ ${DOCKER_BUILDKIT:-1} != 0 ]] ||
		fail "DOCKER_BUILDKIT=0 turns BuildKit off, and the Dockerfile needs it (RUN --mount)." \
			"Fix: unset DOCKER_BUILDKIT."
	# Other engines (finch, podman) build with BuildKit or buildah, which both understand RUN --mount.
	if [[ ${engine##*/} == docker ]]; then
		"$engine" buildx version >/dev/null 2>&1 ||
			fail "Docker BuildKit is not available (docker buildx version failed); the Dockerfile needs it (RUN --mount)." \
				"Fix: install the buildx plugin (Docker Desktop has it; on Linux the docker-buildx-plugin package)."
	fi
}

# ensure_cdk installs the CDK CLI pinned in .cdk/package-lock.json when it is missing, as `make setup`
# does; npm ci works where make does not (Windows).
ensure_cdk() {
	CDK=.cdk/node_modules/.bin/cdk
	[[ -x $CDK ]] && return
	require_tools npm
	say "Installing the pinned CDK CLI into .cdk/ (npm ci)..."
	npm ci --prefix .cdk --no-audit --no-fund --loglevel=error || fail "npm ci --prefix .cdk failed."
	[[ -x $CDK ]] || fail "npm ci --prefix .cdk did not install $CDK."
}

check_credentials() {
	local out
	if ! out=$(aws sts get-caller-identity --query Account --output text --region "$REGION" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} 2>&1); then
		fail "no valid AWS credentials${PROFILE:+ for profile $PROFILE}: ${out%%$'\n'*}" \
			"Fix: run aws configure (access keys) or aws sso login${PROFILE:+ --profile $PROFILE}, or pass --profile NAME."
	fi
	ACCOUNT=$out
	say "AWS account $ACCOUNT, region $REGION${PROFILE:+, profile $PROFILE}."
}

# check_model_access asks Bedrock whether this account may call the model in the Bedrock region, which
# otherwise shows only as a failed conversation after a twenty-minute deploy.
check_model_access() {
	local out availability authorization entitlement
	if ! out=$(aws bedrock get-foundation-model-availability --model-id "$MODEL" --region "$BEDROCK_REGION" \
		--query '[regionAvailability,authorizationStatus,entitlementAvailability]' --output text \
		${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} 2>&1); then
		fail "cannot check access to $MODEL in Bedrock region $BEDROCK_REGION: ${out%%$'\n'*}" \
			"Fix: check that the model is offered in $BEDROCK_REGION (Bedrock console, Model catalog) and that this identity may call bedrock:GetFoundationModelAvailability; or choose another --bedrock-region or --model."
	fi
	read -r availability authorization entitlement <<<"$out"
	if [[ $availability != AVAILABLE || $authorization != AUTHORIZED || $entitlement != AVAILABLE ]]; then
		fail "no access to $MODEL in Bedrock region $BEDROCK_REGION (region $availability, authorization $authorization, entitlement $entitlement)." \
			"Fix: in the Amazon Bedrock console of $BEDROCK_REGION open Model access and request Amazon Nova 2 Sonic; or choose another --bedrock-region."
	fi
	say "Bedrock: $MODEL is available in $BEDROCK_REGION."
}

# check_bootstrap reads the parameter `cdk bootstrap` writes, and offers to bootstrap when it is missing
# or too old.
check_bootstrap() {
	local out problem=""
	if ! out=$(aws ssm get-parameter --name "$BOOTSTRAP_PARAMETER" --query Parameter.Value --output text \
		--region "$REGION" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} 2>&1); then
		problem="account $ACCOUNT, region $REGION is not bootstrapped for the CDK ($BOOTSTRAP_PARAMETER: ${out%%$'\n'*})."
	elif ! [[ $out =~ ^[0-9]+$ ]] || ((out < MIN_BOOTSTRAP_VERSION)); then
		problem="account $ACCOUNT, region $REGION has CDK bootstrap version $out; this app needs $MIN_BOOTSTRAP_VERSION or newer."
	fi
	[[ -n $problem ]] || return 0
	say "$problem"
	if [[ $YES == true ]] || confirm "Bootstrap it now (creates or updates the CDKToolkit stack)?"; then
		"$CDK" bootstrap "aws://$ACCOUNT/$REGION" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} || fail "cdk bootstrap failed."
		return
	fi
	fail "$problem" "Fix: $CDK bootstrap aws://$ACCOUNT/$REGION${PROFILE:+ --profile $PROFILE}"
}

# synthesize writes the stack into its own cloud assembly; diff, deploy and destroy then read that
# assembly, so what is deployed is exactly what the diff showed.
synthesize() {
	say "Synthesizing $STACK (stage $STAGE, Bedrock $BEDROCK_REGION, model $MODEL) into $ASSEMBLY..."
	"$CDK" synth "$STACK" --app "go run $APP_MAIN" -c "stage=$STAGE" -c "bedrockRegion=$BEDROCK_REGION" \
		-c "modelId=$MODEL" --output "$ASSEMBLY" --quiet || fail "cdk synth failed; the messages above say why."
}

show_diff() {
	say "Changes to $STACK in account $ACCOUNT, region $REGION:"
	"$CDK" diff "$STACK" --app "$ASSEMBLY" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} || fail "cdk diff failed."
}

deploy_stack() {
	show_diff
	if [[ $YES != true ]] && ! confirm "Deploy these changes to $STACK in account $ACCOUNT, region $REGION?"; then
		fail "cancelled: nothing was deployed."
	fi
	local outputs="cdk.out/$STACK.outputs.json"
	"$CDK" deploy "$STACK" --app "$ASSEMBLY" --require-approval never --outputs-file "$outputs" \
		${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} || fail "cdk deploy failed; CloudFormation rolled the stack back, the events above say why."
	helper next-steps "$outputs" "$STACK" "$TARGET" "$REGION" "$PROFILE" "$STAGE" ./deploy.sh || exit 1
}

destroy_stack() {
	local status
	if ! status=$(aws cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].StackStatus' \
		--output text --region "$REGION" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} 2>&1); then
		fail "cannot find $STACK in account $ACCOUNT, region $REGION: ${status%%$'\n'*}"
	fi
	say "This deletes $STACK ($status) in account $ACCOUNT, region $REGION."
	[[ $STAGE != prod ]] || say "Stage prod keeps its user pool, buckets and log groups; delete those by hand if you mean to."
	if [[ $YES != true ]]; then
		ask "Type the stack name to confirm: "
		[[ $ANSWER == "$STACK" ]] || fail "cancelled: $STACK was not destroyed."
	fi
	synthesize
	"$CDK" destroy "$STACK" --app "$ASSEMBLY" --force ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} || fail "cdk destroy failed."
	say "$STACK is destroyed."
}

main() {
	# Every path below (cdk.json, .cdk/, cdk.out/, the mains) is relative to the repository root, where
	# this script lives (`bash deploy.sh` names it without a directory).
	case ${BASH_SOURCE[0]} in */*) cd "${BASH_SOURCE[0]%/*}" ;; esac
	parse_args "$@"
	require_tools node

	local interactive=false
	if [[ -z $TARGET && -z $ACTION ]]; then
		interactive=true
		menu
	fi
	ACTION=${ACTION:-deploy}
	if [[ -z $TARGET ]]; then
		[[ $interactive == true ]] || usage_error "--$ACTION needs --target ecs or --target eks"
		ask_target
	fi
	[[ $TARGET == ecs || -f main_eks.go ]] ||
		fail "the EKS stack is not in this checkout yet: main_eks.go is missing." \
			"Fix: update the checkout (git pull), or deploy the ECS stack with --target ecs."
	case $ACTION in
	deploy) require_tools go aws "${CDK_DOCKER:-docker}" ;;
	diff | destroy) require_tools go aws ;;
	synth) require_tools go ;;
	esac
	settings "$interactive"

	if [[ $ACTION == deploy ]]; then
		check_docker
		if [[ $TARGET == eks ]] && ! command -v kubectl >/dev/null 2>&1; then
			say "warning: kubectl is not installed. The EKS stack deploys without it, but you need it to look at the cluster: https://kubernetes.io/docs/tasks/tools/"
		fi
	fi
	ensure_cdk
	if needs_aws; then
		# The CDK CLI has no --region: it takes the region from the environment, like the AWS SDKs.
		export AWS_REGION=$REGION AWS_DEFAULT_REGION=$REGION
		check_credentials
	fi

	case $ACTION in
	deploy)
		check_model_access
		check_bootstrap
		synthesize
		deploy_stack
		;;
	diff)
		synthesize
		show_diff
		;;
	synth)
		synthesize
		say "The template is $ASSEMBLY/$STACK.template.json."
		;;
	destroy) destroy_stack ;;
	esac
}

main "$@"
