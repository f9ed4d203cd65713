@echo off
rem Deploy, review, synthesize or destroy the Nova Sonic gateway on AWS from Windows: the ECS stack
rem (NovaSonicSolutionBackendStack) or the EKS stack (NovaSonicSolutionEKSBackendStack).
rem
rem   deploy.bat                          a menu asks what to do and each setting, with defaults
rem   deploy.bat --target ecs --yes       deploy the ECS stack without questions
rem   deploy.bat --help                   every option
rem
rem The same steps, options, prompts and messages as deploy.sh, which explains each step; the tests in
rem deploy\ run both scripts with the same stand-in tools and compare the commands they issue.
rem deploy\helper.js does the JSON work and the value checks for both.
rem
rem How this file is written: cmd stops a script only where it is told to, so every step is a subroutine
rem that returns non-zero on failure and every caller passes that on with "if errorlevel 1 exit /b".
rem It never uses || or &&: some cmd implementations (Wine's, which the tests run) run the right side
rem whatever the left side returned.
rem Untrusted text (AWS error lines, answers) is only ever printed with !delayed! expansion, which does not
rem interpret & < > | in it. Commands run with "call" so that .cmd tools (npm, cdk) return here.
setlocal EnableExtensions EnableDelayedExpansion

set "ECS_STACK=NovaSonicSolutionBackendStack"
set "EKS_STACK=NovaSonicSolutionEKSBackendStack"
set "BOOTSTRAP_PARAMETER=/cdk-bootstrap/hnb659fds/version"
set "MIN_BOOTSTRAP_VERSION=6"
set "MAX_TRIES=3"
set "CDK=.cdk\node_modules\.bin\cdk.cmd"

set "ACTION="
set "TARGET="
set "STAGE="
set "PROFILE="
set "REGION="
set "BEDROCK_REGION="
set "MODEL="
set "YES=false"
set "ACCOUNT="
set "PROFILE_ARGS="

rem Every path below (cdk.json, .cdk\, cdk.out\, the mains) is relative to the repository root.
pushd "%~dp0"
rem Command output is read back from files (cmd has no $(...)). They live in the checkout's cdk.out\, not
rem in %TEMP%: %RANDOM% is seeded from the clock, so two runs started together would share a name.
set "WORK=%CD%\cdk.out\deploy-work"
if not exist "%WORK%" mkdir "%WORK%"
if not exist "%WORK%" exit /b 1
set "OUT=%WORK%\out.txt"
set "ERR=%WORK%\err.txt"
call :main %*
set "RC=%errorlevel%"
rd /s /q "%WORK%" 2>nul
popd
exit /b %RC%

:usage
echo Usage: deploy.bat [options]
echo.
echo Deploys the Nova Sonic voice gateway with the CDK CLI pinned in .cdk/. Without --target (and without
echo --diff, --synth or --destroy) a menu asks what to do; every setting not given as an option is asked
echo with its default.
echo.
echo Options:
echo   -t, --target ecs^|eks       the stack: ecs (NovaSonicSolutionBackendStack, ECS Fargate) or
echo                              eks (NovaSonicSolutionEKSBackendStack, EKS Fargate)
echo   -s, --stage NAME           stage, passed as CDK context stage=NAME (default dev; other stages deploy
echo                              as ^<stack^>-NAME; prod keeps users, buckets and logs when destroyed)
echo   -p, --profile NAME         AWS CLI profile (default: the usual credential chain)
echo   -r, --region REGION        region to deploy to (default: AWS_REGION, then the profile's region)
echo   -b, --bedrock-region REGION
echo                              region the gateway calls Bedrock in (default us-east-1 or cdk.json)
echo   -m, --model MODEL_ID       Nova Sonic model id (default amazon.nova-2-sonic-v1:0 or cdk.json)
echo       --diff                 only show the diff between the stack and the deployed one
echo       --synth                only synthesize the stack into cdk.out/ (no AWS account needed)
echo       --destroy              delete the deployed stack (asks you to type its name)
echo   -y, --yes                  do not ask: deploy after the diff, bootstrap if needed, destroy
echo   -h, --help                 show this help
echo.
echo Exit status: 0 done, 1 a check or command failed or you cancelled, 2 bad options.
exit /b 0

rem fail prints "error: MSG" and the remedy lines FIX and FIX2 on stderr, then returns 1.
:fail
>&2 echo error: !MSG!
if defined FIX >&2 echo   !FIX!
if defined FIX2 >&2 echo   !FIX2!
set "FIX="
set "FIX2="
exit /b 1

:usage_error
>&2 echo error: !MSG!
>&2 echo Run deploy.bat --help for the options.
exit /b 2

rem ask PROMPT: prints the prompt and reads one line into ANSWER; an ended stdin reads as an empty answer.
:ask
set "ANSWER="
set /p "ANSWER=%~1"
exit /b 0

rem ask_choice PROMPT "CHOICES": asks until the answer is one of CHOICES, MAX_TRIES times at most.
:ask_choice
set "TRIES=0"
:ask_choice_again
call :ask "%~1"
for %%c in (%~2) do if "!ANSWER!"=="%%c" exit /b 0
echo Please answer one of: %~2
set /a TRIES+=1
if !TRIES! lss %MAX_TRIES% goto :ask_choice_again
set "MSG=no valid answer to "%~1""
call :usage_error
exit /b 2

rem ask_default PROMPT DEFAULT: reads a value; an empty answer keeps DEFAULT.
:ask_default
call :ask "%~1 [%~2]: "
rem Not "if not defined": Wine's set /p leaves an empty answer defined.
if "!ANSWER!"=="" set "ANSWER=%~2"
exit /b 0

rem confirm PROMPT: returns 0 only for an explicit yes.
:confirm
call :ask "%~1 [y/N] "
if /i "!ANSWER!"=="y" exit /b 0
if /i "!ANSWER!"=="yes" exit /b 0
exit /b 1

rem first_line VAR FILE: the first non-empty line of FILE, or nothing.
:first_line
set "%~1="
for /f "usebackq delims=" %%L in ("%~2") do if not defined %~1 set "%~1=%%L"
exit /b 0

:parse_args
if "%~1"=="" goto :parse_args_done
set "OPTION=%~1"
set "KEY="
if "%OPTION%"=="-t" set "KEY=TARGET"
if "%OPTION%"=="--target" set "KEY=TARGET"
if "%OPTION%"=="-s" set "KEY=STAGE"
if "%OPTION%"=="--stage" set "KEY=STAGE"
if "%OPTION%"=="-p" set "KEY=PROFILE"
if "%OPTION%"=="--profile" set "KEY=PROFILE"
if "%OPTION%"=="-r" set "KEY=REGION"
if "%OPTION%"=="--region" set "KEY=REGION"
if "%OPTION%"=="-b" set "KEY=BEDROCK_REGION"
if "%OPTION%"=="--bedrock-region" set "KEY=BEDROCK_REGION"
if "%OPTION%"=="-m" set "KEY=MODEL"
if "%OPTION%"=="--model" set "KEY=MODEL"
if not defined KEY goto :parse_flag
rem cmd splits --name=value at the = by itself, so it arrives here as --name value, as in deploy.sh.
if "%~2"=="" (
  set "MSG=%OPTION% needs a value"
  call :usage_error
  exit /b 2
)
set "%KEY%=%~2"
shift
shift
goto :parse_args
:parse_flag
set "FLAG_ACTION="
if "%OPTION%"=="--diff" set "FLAG_ACTION=diff"
if "%OPTION%"=="--synth" set "FLAG_ACTION=synth"
if "%OPTION%"=="--destroy" set "FLAG_ACTION=destroy"
if not defined FLAG_ACTION goto :parse_other
if defined ACTION (
  set "MSG=choose one of --diff, --synth and --destroy"
  call :usage_error
  exit /b 2
)
set "ACTION=%FLAG_ACTION%"
shift
goto :parse_args
:parse_other
if "%OPTION%"=="-y" set "YES=true" & shift & goto :parse_args
if "%OPTION%"=="--yes" set "YES=true" & shift & goto :parse_args
if "%OPTION%"=="-h" call :usage & exit /b 3
if "%OPTION%"=="--help" call :usage & exit /b 3
set "MSG=unknown option %OPTION%"
call :usage_error
exit /b 2
:parse_args_done
if "%TARGET%"=="" exit /b 0
if "%TARGET%"=="ecs" exit /b 0
if "%TARGET%"=="eks" exit /b 0
set "MSG=--target must be ecs or eks, got "%TARGET%""
call :usage_error
exit /b 2

:menu
echo Nova Sonic gateway: what do you want to do?
echo   1) Deploy the ECS stack (%ECS_STACK%, ECS Fargate)
echo   2) Deploy the EKS stack (%EKS_STACK%, EKS Fargate)
echo   3) Show the diff between a stack and the deployed one
echo   4) Synthesize a stack only (no AWS account needed)
echo   5) Destroy a deployed stack
echo   q) Quit
call :ask_choice "Choice [1-5, q]: " "1 2 3 4 5 q"
if errorlevel 1 exit /b !errorlevel!
if "!ANSWER!"=="1" set "ACTION=deploy" & set "TARGET=ecs"
if "!ANSWER!"=="2" set "ACTION=deploy" & set "TARGET=eks"
if "!ANSWER!"=="3" set "ACTION=diff"
if "!ANSWER!"=="4" set "ACTION=synth"
if "!ANSWER!"=="5" set "ACTION=destroy"
rem 3 is not an exit status this script uses: main turns it into a clean exit 0 (Quit, --help).
if "!ANSWER!"=="q" exit /b 3
exit /b 0

:ask_target
echo Which stack?
echo   1) ECS (%ECS_STACK%)
echo   2) EKS (%EKS_STACK%)
call :ask_choice "Stack [1-2]: " "1 2"
if errorlevel 1 exit /b !errorlevel!
set "TARGET=eks"
if "!ANSWER!"=="1" set "TARGET=ecs"
exit /b 0

rem detect_region follows the AWS CLI's order: environment first, then the profile's configuration.
:detect_region
set "DETECTED="
if defined AWS_REGION set "DETECTED=%AWS_REGION%" & exit /b 0
if defined AWS_DEFAULT_REGION set "DETECTED=%AWS_DEFAULT_REGION%" & exit /b 0
call aws configure get region %PROFILE_ARGS% >"%OUT%" 2>nul
call :first_line DETECTED "%OUT%"
exit /b 0

rem settings fills every setting the options left empty: asked in the menu, defaulted otherwise.
:settings
node deploy\helper.js defaults >"%OUT%"
if errorlevel 1 exit /b 1
for /f "usebackq tokens=1,* delims==" %%a in ("%OUT%") do set "DEFAULT_%%a=%%b"
if "%INTERACTIVE%"=="true" (
  if not defined STAGE call :ask_default "Stage" "%DEFAULT_stage%" & set "STAGE=!ANSWER!"
  if not "%ACTION%"=="synth" if not defined PROFILE call :ask "AWS profile (Enter for the default credentials): " & set "PROFILE=!ANSWER!"
)
if not defined STAGE set "STAGE=%DEFAULT_stage%"
if defined PROFILE set "PROFILE_ARGS=--profile %PROFILE%"
if "%ACTION%"=="synth" goto :settings_bedrock
if defined REGION goto :settings_bedrock
call :detect_region
if not "%INTERACTIVE%"=="true" set "REGION=%DETECTED%" & goto :settings_bedrock
if defined DETECTED call :ask_default "Region" "%DETECTED%"
if not defined DETECTED call :ask "Region: "
set "REGION=!ANSWER!"
:settings_bedrock
if "%INTERACTIVE%"=="true" if not "%ACTION%"=="destroy" (
  if not defined BEDROCK_REGION call :ask_default "Bedrock region" "%DEFAULT_bedrockRegion%" & set "BEDROCK_REGION=!ANSWER!"
  if not defined MODEL call :ask_default "Model" "%DEFAULT_modelId%" & set "MODEL=!ANSWER!"
)
if not defined BEDROCK_REGION set "BEDROCK_REGION=%DEFAULT_bedrockRegion%"
if not defined MODEL set "MODEL=%DEFAULT_modelId%"

if "%ACTION%"=="synth" goto :settings_validate
if defined REGION goto :settings_validate
set "MSG=no AWS region to deploy to."
set "FIX=Fix: pass --region REGION, set AWS_REGION, or run: aws configure set region REGION"
if defined PROFILE set "FIX=!FIX! --profile %PROFILE%"
call :fail
exit /b 1
:settings_validate
set "CHECKS=--stage "!STAGE!" --bedrock-region "!BEDROCK_REGION!""
if not "%ACTION%"=="synth" set "CHECKS=!CHECKS! --region "!REGION!""
node deploy\helper.js validate !CHECKS!
if errorlevel 1 exit /b 2

if "%TARGET%"=="ecs" set "STACK=%ECS_STACK%" & set "APP_MAIN=main_ecs.go"
if "%TARGET%"=="eks" set "STACK=%EKS_STACK%" & set "APP_MAIN=main_eks.go"
rem The default stage keeps the stack's historic name; other stages get their own stack beside it.
if not "%STAGE%"=="dev" set "STACK=%STACK%-%STAGE%"
set "ASSEMBLY=cdk.out\%STACK%"
exit /b 0

rem find_tool NAME: sets FOUND to the first NAME.exe, .cmd or .bat on PATH. Wine's and old Windows'
rem "where" cannot be trusted to fail for a missing tool, so this walks PATH itself.
:find_tool
set "FOUND="
for %%d in ("%PATH:;=" "%") do for %%e in (.exe .cmd .bat) do if not defined FOUND if exist "%%~d\%~1%%e" set "FOUND=%%~d\%~1%%e"
exit /b 0

rem require_tools TOOL...: reports every missing tool at once, each with where to get it.
:require_tools
set "MISSING="
for %%t in (%*) do (
  call :find_tool %%t
  if not defined FOUND (
    if not defined MISSING >&2 echo error: missing tools:
    set "MISSING=true"
    call :tool_hint %%t
  )
)
if defined MISSING exit /b 1
exit /b 0

:tool_hint
set "HINT=%~1 (named by CDK_DOCKER)"
if "%~1"=="go" set "HINT=go (Go 1.26 or newer builds the CDK app): https://go.dev/dl/"
if "%~1"=="node" set "HINT=node (Node.js 20 or newer runs the CDK CLI): https://nodejs.org/"
if "%~1"=="npm" set "HINT=npm (comes with Node.js; installs the pinned CDK CLI): https://nodejs.org/"
if "%~1"=="aws" set "HINT=aws (the AWS CLI v2): https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
if "%~1"=="docker" set "HINT=docker (a Docker engine with BuildKit builds the gateway image): https://docs.docker.com/get-docker/"
>&2 echo   !HINT!
exit /b 0

rem check_docker: the Dockerfile uses RUN --mount, which only BuildKit understands, and the CDK builds the
rem image with "docker build" (or %CDK_DOCKER%), so both the engine and BuildKit must be there.
:check_docker
set "ENGINE=docker"
if defined CDK_DOCKER set "ENGINE=%CDK_DOCKER%"
call %ENGINE% info >nul 2>&1
if not errorlevel 1 goto :check_docker_buildkit
set "MSG=the Docker engine is not running (%ENGINE% info failed)."
set "FIX=Fix: start Docker Desktop or the docker service, then run this again."
call :fail
exit /b 1
:check_docker_buildkit
if not "%DOCKER_BUILDKIT%"=="0" goto :check_docker_buildx
set "MSG=DOCKER_BUILDKIT=0 turns BuildKit off, and the Dockerfile needs it (RUN --mount)."
set "FIX=Fix: unset DOCKER_BUILDKIT."
call :fail
exit /b 1
:check_docker_buildx
rem Other engines (finch, podman) build with BuildKit or buildah, which both understand RUN --mount.
if /i not "%ENGINE%"=="docker" exit /b 0
call %ENGINE% buildx version >nul 2>&1
if not errorlevel 1 exit /b 0
set "MSG=Docker BuildKit is not available (docker buildx version failed); the Dockerfile needs it (RUN --mount)."
set "FIX=Fix: install the buildx plugin (Docker Desktop has it; on Linux the docker-buildx-plugin package)."
call :fail
exit /b 1

rem ensure_cdk installs the CDK CLI pinned in .cdk\package-lock.json when it is missing.
:ensure_cdk
if exist "%CDK%" exit /b 0
call :require_tools npm
if errorlevel 1 exit /b 1
echo Installing the pinned CDK CLI into .cdk/ (npm ci)...
call npm ci --prefix .cdk --no-audit --no-fund --loglevel=error
if errorlevel 1 (
  set "MSG=npm ci --prefix .cdk failed."
  call :fail
  exit /b 1
)
if exist "%CDK%" exit /b 0
set "MSG=npm ci --prefix .cdk did not install %CDK%."
call :fail
exit /b 1

:check_credentials
call aws sts get-caller-identity --query Account --output text --region %REGION% %PROFILE_ARGS% >"%OUT%" 2>"%ERR%"
if not errorlevel 1 goto :check_credentials_ok
call :first_line ERRLINE "%ERR%"
if not defined ERRLINE call :first_line ERRLINE "%OUT%"
set "MSG=no valid AWS credentials"
if defined PROFILE set "MSG=!MSG! for profile %PROFILE%"
set "MSG=!MSG!: !ERRLINE!"
set "FIX=Fix: run aws configure (access keys) or aws sso login"
if defined PROFILE set "FIX=!FIX! --profile %PROFILE%"
set "FIX=!FIX!, or pass --profile NAME."
call :fail
exit /b 1
:check_credentials_ok
call :first_line ACCOUNT "%OUT%"
set "LINE=AWS account %ACCOUNT%, region %REGION%"
if defined PROFILE set "LINE=!LINE!, profile %PROFILE%"
echo !LINE!.
exit /b 0

rem check_model_access asks Bedrock whether this account may call the model in the Bedrock region.
:check_model_access
call aws bedrock get-foundation-model-availability --model-id %MODEL% --region %BEDROCK_REGION% --query "[regionAvailability,authorizationStatus,entitlementAvailability]" --output text %PROFILE_ARGS% >"%OUT%" 2>"%ERR%"
if not errorlevel 1 goto :check_model_access_read
call :first_line ERRLINE "%ERR%"
set "MSG=cannot check access to %MODEL% in Bedrock region %BEDROCK_REGION%: !ERRLINE!"
set "FIX=Fix: check that the model is offered in %BEDROCK_REGION% (Bedrock console, Model catalog) and that this identity may call bedrock:GetFoundationModelAvailability; or choose another --bedrock-region or --model."
call :fail
exit /b 1
:check_model_access_read
set "AVAILABILITY="
set "AUTHORIZATION="
set "ENTITLEMENT="
for /f "usebackq tokens=1-3" %%a in ("%OUT%") do (
  set "AVAILABILITY=%%a"
  set "AUTHORIZATION=%%b"
  set "ENTITLEMENT=%%c"
)
if "%AVAILABILITY% %AUTHORIZATION% %ENTITLEMENT%"=="AVAILABLE AUTHORIZED AVAILABLE" (
  echo Bedrock: %MODEL% is available in %BEDROCK_REGION%.
  exit /b 0
)
set "MSG=no access to %MODEL% in Bedrock region %BEDROCK_REGION% (region %AVAILABILITY%, authorization %AUTHORIZATION%, entitlement %ENTITLEMENT%)."
set "FIX=Fix: in the Amazon Bedrock console of %BEDROCK_REGION% open Model access and request Amazon Nova 2 Sonic; or choose another --bedrock-region."
call :fail
exit /b 1

rem check_bootstrap reads the parameter "cdk bootstrap" writes, and offers to bootstrap when it is missing
rem or too old.
:check_bootstrap
set "PROBLEM="
call aws ssm get-parameter --name %BOOTSTRAP_PARAMETER% --query Parameter.Value --output text --region %REGION% %PROFILE_ARGS% >"%OUT%" 2>"%ERR%"
if not errorlevel 1 goto :check_bootstrap_version
call :first_line ERRLINE "%ERR%"
set "PROBLEM=account %ACCOUNT%, region %REGION% is not bootstrapped for the CDK (%BOOTSTRAP_PARAMETER%: !ERRLINE!)."
goto :check_bootstrap_offer
:check_bootstrap_version
call :first_line VERSION "%OUT%"
set /a VERSION_NUMBER=VERSION 2>nul
if "!VERSION_NUMBER!"=="!VERSION!" if !VERSION_NUMBER! geq %MIN_BOOTSTRAP_VERSION% exit /b 0
set "PROBLEM=account %ACCOUNT%, region %REGION% has CDK bootstrap version !VERSION!; this app needs %MIN_BOOTSTRAP_VERSION% or newer."
:check_bootstrap_offer
echo !PROBLEM!
if "%YES%"=="true" goto :check_bootstrap_run
call :confirm "Bootstrap it now (creates or updates the CDKToolkit stack)?"
if not errorlevel 1 goto :check_bootstrap_run
set "MSG=!PROBLEM!"
set "FIX=Fix: %CDK% bootstrap aws://%ACCOUNT%/%REGION%"
if defined PROFILE set "FIX=!FIX! --profile %PROFILE%"
call :fail
exit /b 1
:check_bootstrap_run
call "%CDK%" bootstrap aws://%ACCOUNT%/%REGION% %PROFILE_ARGS%
if not errorlevel 1 exit /b 0
set "MSG=cdk bootstrap failed."
call :fail
exit /b 1

rem synthesize writes the stack into its own cloud assembly; diff, deploy and destroy then read that
rem assembly, so what is deployed is exactly what the diff showed.
:synthesize
echo Synthesizing %STACK% (stage %STAGE%, Bedrock %BEDROCK_REGION%, model %MODEL%) into %ASSEMBLY%...
call "%CDK%" synth %STACK% --app "go run %APP_MAIN%" -c stage=%STAGE% -c bedrockRegion=%BEDROCK_REGION% -c modelId=%MODEL% --output %ASSEMBLY% --quiet
if not errorlevel 1 exit /b 0
set "MSG=cdk synth failed; the messages above say why."
call :fail
exit /b 1

:show_diff
echo Changes to %STACK% in account %ACCOUNT%, region %REGION%:
call "%CDK%" diff %STACK% --app %ASSEMBLY% %PROFILE_ARGS%
if not errorlevel 1 exit /b 0
set "MSG=cdk diff failed."
call :fail
exit /b 1

:deploy_stack
call :show_diff
if errorlevel 1 exit /b 1
if "%YES%"=="true" goto :deploy_stack_run
call :confirm "Deploy these changes to %STACK% in account %ACCOUNT%, region %REGION%?"
if not errorlevel 1 goto :deploy_stack_run
set "MSG=cancelled: nothing was deployed."
call :fail
exit /b 1
:deploy_stack_run
set "OUTPUTS=cdk.out\%STACK%.outputs.json"
call "%CDK%" deploy %STACK% --app %ASSEMBLY% --require-approval never --outputs-file %OUTPUTS% %PROFILE_ARGS%
if not errorlevel 1 goto :deploy_stack_done
set "MSG=cdk deploy failed; CloudFormation rolled the stack back, the events above say why."
call :fail
exit /b 1
:deploy_stack_done
node deploy\helper.js next-steps "%OUTPUTS%" %STACK% %TARGET% %REGION% "%PROFILE%" %STAGE% deploy.bat
if errorlevel 1 exit /b 1
exit /b 0

:destroy_stack
call aws cloudformation describe-stacks --stack-name %STACK% --query "Stacks[0].StackStatus" --output text --region %REGION% %PROFILE_ARGS% >"%OUT%" 2>"%ERR%"
if not errorlevel 1 goto :destroy_stack_found
call :first_line ERRLINE "%ERR%"
set "MSG=cannot find %STACK% in account %ACCOUNT%, region %REGION%: !ERRLINE!"
call :fail
exit /b 1
:destroy_stack_found
call :first_line STATUS "%OUT%"
echo This deletes %STACK% (!STATUS!) in account %ACCOUNT%, region %REGION%.
if "%STAGE%"=="prod" echo Stage prod keeps its user pool, buckets and log groups; delete those by hand if you mean to.
if "%YES%"=="true" goto :destroy_stack_run
call :ask "Type the stack name to confirm: "
if "!ANSWER!"=="%STACK%" goto :destroy_stack_run
set "MSG=cancelled: %STACK% was not destroyed."
call :fail
exit /b 1
:destroy_stack_run
call :synthesize
if errorlevel 1 exit /b 1
call "%CDK%" destroy %STACK% --app %ASSEMBLY% --force %PROFILE_ARGS%
if not errorlevel 1 goto :destroy_stack_done
set "MSG=cdk destroy failed."
call :fail
exit /b 1
:destroy_stack_done
echo %STACK% is destroyed.
exit /b 0

:main
call :parse_args %*
set "RC=!errorlevel!"
if "%RC%"=="3" exit /b 0
if not "%RC%"=="0" exit /b %RC%
call :require_tools node
if errorlevel 1 exit /b 1

set "INTERACTIVE=false"
if defined TARGET goto :main_target
if defined ACTION goto :main_target
set "INTERACTIVE=true"
call :menu
set "RC=!errorlevel!"
if "%RC%"=="3" exit /b 0
if not "%RC%"=="0" exit /b %RC%
:main_target
if not defined ACTION set "ACTION=deploy"
if defined TARGET goto :main_checkout
if "%INTERACTIVE%"=="true" goto :main_ask_target
set "MSG=--%ACTION% needs --target ecs or --target eks"
call :usage_error
exit /b 2
:main_ask_target
call :ask_target
if errorlevel 1 exit /b !errorlevel!
:main_checkout
if "%TARGET%"=="ecs" goto :main_tools
if exist main_eks.go goto :main_tools
set "MSG=the EKS stack is not in this checkout yet: main_eks.go is missing."
set "FIX=Fix: update the checkout (git pull), or deploy the ECS stack with --target ecs."
call :fail
exit /b 1
:main_tools
set "ENGINE=docker"
if defined CDK_DOCKER set "ENGINE=%CDK_DOCKER%"
set "TOOLS=go aws %ENGINE%"
if "%ACTION%"=="diff" set "TOOLS=go aws"
if "%ACTION%"=="destroy" set "TOOLS=go aws"
if "%ACTION%"=="synth" set "TOOLS=go"
call :require_tools %TOOLS%
if errorlevel 1 exit /b 1
call :settings
if errorlevel 1 exit /b !errorlevel!

if not "%ACTION%"=="deploy" goto :main_cdk
call :check_docker
if errorlevel 1 exit /b 1
if not "%TARGET%"=="eks" goto :main_cdk
call :find_tool kubectl
if not defined FOUND echo warning: kubectl is not installed. The EKS stack deploys without it, but you need it to look at the cluster: https://kubernetes.io/docs/tasks/tools/
:main_cdk
call :ensure_cdk
if errorlevel 1 exit /b 1
if "%ACTION%"=="synth" goto :main_synth
rem The CDK CLI has no --region: it takes the region from the environment, like the AWS SDKs.
set "AWS_REGION=%REGION%"
set "AWS_DEFAULT_REGION=%REGION%"
call :check_credentials
if errorlevel 1 exit /b 1
if "%ACTION%"=="diff" goto :main_diff
if "%ACTION%"=="destroy" goto :main_destroy

call :check_model_access
if errorlevel 1 exit /b 1
call :check_bootstrap
if errorlevel 1 exit /b 1
call :synthesize
if errorlevel 1 exit /b 1
call :deploy_stack
if errorlevel 1 exit /b 1
exit /b 0
:main_diff
call :synthesize
if errorlevel 1 exit /b 1
call :show_diff
if errorlevel 1 exit /b 1
exit /b 0
:main_synth
call :synthesize
if errorlevel 1 exit /b 1
echo The template is %ASSEMBLY%\%STACK%.template.json.
exit /b 0
:main_destroy
call :destroy_stack
if errorlevel 1 exit /b 1
exit /b 0
