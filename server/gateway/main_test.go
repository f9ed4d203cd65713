package gateway

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: a leaked session goroutine is a leaked Bedrock stream.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
