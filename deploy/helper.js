// The parts of deploy.sh and deploy.bat that need a JSON parser or a regular expression, which Windows cmd
// lacks. Both scripts call this one file, so they read cdk.json, check values and print the next steps in
// exactly the same way. Node.js is a prerequisite of the CDK CLI, so it is always there.
//
//   node deploy/helper.js defaults                   stage=, bedrockRegion= and modelId= lines
//   node deploy/helper.js validate FLAG VALUE ...    checks --stage, --region and --bedrock-region values
//   node deploy/helper.js next-steps OUTPUTS_FILE STACK TARGET REGION PROFILE STAGE SCRIPT
//
// Exit status 0 on success, 1 with a message on stderr otherwise.
'use strict';

const fs = require('fs');

// The values stacks.DefaultConfig uses when cdk.json's context leaves a key out; stacks/config_test.go
// checks that the two agree.
const DEFAULTS = { stage: 'dev', bedrockRegion: 'us-east-1', modelId: 'amazon.nova-2-sonic-v1:0' };

// The same patterns and wording as stacks/config.go (stacks/config_test.go runs both on the same values),
// so a bad value stops the script before any AWS call instead of at synth.
const RULES = {
  '--stage': {
    pattern: /^[a-z][a-z0-9-]{0,15}$/,
    want: 'lowercase letters, digits and hyphens, starting with a letter, at most 16 characters (e.g. dev, prod)',
  },
  '--region': { pattern: /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$/, want: 'an AWS region code such as us-east-1' },
  '--bedrock-region': { pattern: /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$/, want: 'an AWS region code such as us-east-1' },
};

function fail(message) {
  process.stderr.write(message + '\n');
  process.exit(1);
}

// defaults prints the stage, Bedrock region and model the app uses when the command line names none:
// cdk.json's context where it sets them, the app's own defaults otherwise. One key=value per line, which
// cmd's `for /f "delims=="` and bash's `IFS== read` both split.
function defaults() {
  let context = {};
  try {
    context = JSON.parse(fs.readFileSync('cdk.json', 'utf8')).context || {};
  } catch (err) {
    fail(`cannot read cdk.json: ${err.message}`);
  }
  for (const key of ['stage', 'bedrockRegion', 'modelId']) {
    console.log(`${key}=${context[key] === undefined ? DEFAULTS[key] : String(context[key])}`);
  }
}

// validate checks FLAG VALUE pairs and reports every bad one, not just the first.
function validate(pairs) {
  const errors = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const [flag, value] = [pairs[i], pairs[i + 1]];
    const rule = RULES[flag];
    if (!rule) fail(`validate: unknown flag ${flag}`);
    if (!rule.pattern.test(value)) errors.push(`${flag} must be ${rule.want}, got "${value}"`);
  }
  if (errors.length) fail(errors.join('\n'));
}

// withProfile adds --profile to an AWS CLI command when the user chose a profile, so every command printed
// runs against the account that was just deployed to.
function withProfile(command, profile) {
  return profile && command.startsWith('aws ') ? `${command} --profile ${profile}` : command;
}

// nextSteps prints every output of the deployed stack, then what to do next, built only from the output
// names the stack really has.
function nextSteps(file, stack, target, region, profile, stage, script) {
  let outputs;
  try {
    outputs = JSON.parse(fs.readFileSync(file, 'utf8'))[stack];
  } catch (err) {
    fail(`the deploy finished but its outputs cannot be read: ${err.message}`);
  }
  if (!outputs) fail(`the deploy finished but ${file} has no outputs for ${stack}`);

  console.log(`\n${stack} is deployed in region ${region}. Its outputs (also in ${file}):`);
  for (const key of Object.keys(outputs).sort()) console.log(`  ${key} = ${outputs[key]}`);

  const steps = [];
  if (outputs.CreateUserCommand) {
    steps.push(['Create the first user (put your own email address in; Cognito emails a temporary password):',
      withProfile(outputs.CreateUserCommand, profile)]);
  }
  if (outputs.CloudFrontUrl) steps.push([`Open ${outputs.CloudFrontUrl} and sign in.`]);
  if (outputs.LogGroupName) {
    steps.push(["Follow the gateway's logs:",
      withProfile(`aws logs tail ${outputs.LogGroupName} --follow --region ${region}`, profile)]);
  }
  if (target === 'ecs' && outputs.ClusterName && outputs.ServiceName) {
    steps.push(['See the service and its tasks:',
      withProfile(`aws ecs describe-services --cluster ${outputs.ClusterName} --services ${outputs.ServiceName} --region ${region}`, profile)]);
  }
  if (target === 'eks' && outputs.UpdateKubeconfigCommand) {
    steps.push(['Point kubectl at the cluster, then look at the gateway:',
      withProfile(outputs.UpdateKubeconfigCommand, profile),
      'kubectl get deployments,pods,services --all-namespaces']);
  }
  console.log('\nNext steps:');
  steps.forEach(([title, ...commands], i) => {
    console.log(`  ${i + 1}. ${title}`);
    for (const command of commands) console.log(`       ${command}`);
  });
  const profileFlag = profile ? ` --profile ${profile}` : '';
  console.log(`\nTo delete the stack: ${script} --target ${target} --stage ${stage} --region ${region}${profileFlag} --destroy`);
}

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case 'defaults':
    defaults();
    break;
  case 'validate':
    validate(args);
    break;
  case 'next-steps':
    if (args.length !== 7) fail('usage: helper.js next-steps OUTPUTS_FILE STACK TARGET REGION PROFILE STAGE SCRIPT');
    nextSteps(...args);
    break;
  default:
    fail(`usage: helper.js defaults | validate FLAG VALUE ... | next-steps ...; got "${command || ''}"`);
}
