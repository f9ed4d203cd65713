// Package e2e runs the web client (server/web) in headless Chromium against the real gateway command with
// the simulated Nova Sonic, the way a person uses it: a fake microphone plays a generated WAV of speech with
// pauses, the test clicks Start, Stop and Reconnect, and checks what the page shows, the frames on the
// wire and what the page actually played.
//
// Scenarios (e2e_test.go): a conversation on a phone, barge-in, the gateway killed and restarted, and a
// drain. Screenshots of each go to server/web/e2e/artifacts/ (git-ignored; E2E_ARTIFACTS overrides), and
// the test log names them. `make test` runs the package verbosely through `make test-browser`, after
// `make setup` has installed Debian's Chromium (install-chromium.sh); without a browser the scenarios
// skip and say why, except in CI, where they fail.
package e2e
