// Package deploy holds the tests of the repository's ways to ship: the deploy scripts deploy.sh and
// deploy.bat at the repository root, and the CI workflow in .github/workflows. It has no code of its own;
// the scripts share deploy/helper.js for the JSON work and value checks that cmd cannot do.
//
// The script tests (scripts_test.go) run each scenario against deploy.sh with bash and against
// deploy.bat with Wine's cmd, in a throw-away copy of the files the scripts read, with stand-ins for aws,
// docker, kubectl, go, npm and the CDK CLI first on PATH (testdata/standin.js, one program for both
// scripts). The stand-ins answer like a real account would and record every command; each scenario
// asserts the exact commands, the exit status and the messages, so the two scripts are held to the same
// behaviour. lint_test.go runs shellcheck on every shell script and actionlint on the workflows.
//
// `make test-tools` (deploy/install-test-tools.sh) installs shellcheck, Wine and a Windows node.exe;
// where it cannot, these tests skip with the reason, except under CI=true, where they fail.
package deploy
