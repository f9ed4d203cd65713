package constructs

import (
	"fmt"
	"strings"
)

// required is one required prop of a constructor and whether the caller left it unset.
type required struct {
	name  string
	unset bool
}

// requireProps panics with an error naming the constructor, the construct's id and every required prop
// left unset, before any of them reaches jsii, where a nil turns into a panic deep inside the CDK that
// names neither. Constructors have the CDK's shape (scope, id, props) *X, without an error result; the
// CDK's own constructors fail the same way, by throwing at construction.
func requireProps(constructor, id string, props ...required) {
	var unset []string
	for _, p := range props {
		if p.unset {
			unset = append(unset, p.name)
		}
	}
	if len(unset) > 0 {
		panic(fmt.Errorf("constructs.%s %q: required props not set: %s", constructor, id, strings.Join(unset, ", ")))
	}
}

// unsetString reports whether a required string prop is nil or empty.
func unsetString(s *string) bool {
	return s == nil || strings.TrimSpace(*s) == ""
}
