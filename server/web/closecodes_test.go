package web

import (
	"io/fs"
	"regexp"
	"strconv"
	"testing"

	"novasonic/server/gateway"
)

// The page explains every close code the gateway sends in plain words and knows whether to reconnect: a
// code it does not know would show the person a bare number.
func TestTheWebClientKnowsEveryCloseCodeOfTheGateway(t *testing.T) {
	src, err := fs.ReadFile(Static(), "js/closecodes.js")
	if err != nil {
		t.Fatal(err)
	}
	known := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (\d{4}): \{`).FindAllStringSubmatch(string(src), -1) {
		code, _ := strconv.Atoi(m[1])
		known[code] = true
	}
	for _, c := range gateway.CloseCodes() {
		if !known[int(c)] {
			t.Errorf("closecodes.js has no entry for %d (%s)", int(c), c.Name())
		}
	}
}
