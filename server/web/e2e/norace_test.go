//go:build !race

package e2e

// raceEnabled: the test binary runs without the race detector, and so does the gateway under test.
const raceEnabled = false
