package e2e

import (
	"fmt"
	"os"
	"testing"
)

// TestMain finds the browser and builds the gateway once for every scenario.
func TestMain(m *testing.M) {
	var err error
	if browserPath, err = findBrowser(); err != nil {
		browserMissing = err.Error()
		fmt.Fprintf(os.Stderr, "e2e: no browser (%s): the browser scenarios will be skipped\n", browserMissing)
	}
	dir, err := os.MkdirTemp("", "e2e-gateway-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBinary, err = buildGateway(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
