package gateway

import (
	"testing"

	"go.uber.org/goleak"

	"novasonic/server/bedrockcall"
)

// Every test must leave no other goroutine behind: a leaked session goroutine is a leaked Bedrock stream.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(bedrockcall.LeakedReader))
}
