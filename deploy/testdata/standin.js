// A stand-in for the aws, docker, kubectl, go, npm and cdk executables in the tests of deploy.sh and
// deploy.bat. The same file serves both scripts: Linux node runs it for deploy.sh, Windows node.exe under
// Wine for deploy.bat, each through a small launcher named after the tool it replaces.
//
//   node standin.js TOOL ARGS...
//
// It appends {"tool", "args", "env"} as one JSON line to $STANDIN_LOG, then answers from the rules in
// $STANDIN_RULES: the first rule whose tool matches and whose args are a prefix of ARGS gives stdout,
// stderr and the exit status, and may write a file named by the argument after a flag (cdk deploy
// --outputs-file). Without a matching rule it prints nothing and exits 0, like a command that worked.
'use strict';

const fs = require('fs');
const path = require('path');

// The environment the scripts hand to the CDK CLI and the AWS CLI; the rest of the environment is the
// test's own and would make the records differ between runs.
const RECORDED_ENV = ['AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION'];

const [tool, ...args] = process.argv.slice(2);
const env = {};
for (const key of RECORDED_ENV) {
  if (process.env[key]) env[key] = process.env[key];
}
fs.appendFileSync(process.env.STANDIN_LOG, JSON.stringify({ tool, args, env }) + '\n');

const rules = JSON.parse(fs.readFileSync(process.env.STANDIN_RULES, 'utf8'));
const rule = rules.find((r) => r.tool === tool && (r.args || []).every((a, i) => args[i] === a));
if (rule) {
  if (rule.writeFileAfter) {
    const i = args.indexOf(rule.writeFileAfter);
    if (i >= 0 && i + 1 < args.length) {
      // The real CLI writes into cdk.out/, which its synth created.
      fs.mkdirSync(path.dirname(args[i + 1]), { recursive: true });
      fs.writeFileSync(args[i + 1], rule.fileContent);
    }
  }
  if (rule.stdout) process.stdout.write(rule.stdout);
  if (rule.stderr) process.stderr.write(rule.stderr);
  process.exitCode = rule.exit || 0;
}
