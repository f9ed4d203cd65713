package templatecheck

import (
	"fmt"
	"slices"
)

// LogGroups returns every way the template lets a log outlive the stage's policy: a log group whose
// RetentionInDays, DeletionPolicy or UpdateReplacePolicy differs from the stage's, and a Lambda function
// that logs to a group the template does not own. Lambda creates such a group, /aws/lambda/<name>, on the
// first invocation; it never expires and outlives the stack.
//
// removalPolicy is the template's spelling, "Delete" or "Retain".
func LogGroups(t Template, retentionDays int, removalPolicy string) []string {
	var problems []string
	groups := t.Resources("AWS::Logs::LogGroup")
	byName := map[string]bool{}
	for _, id := range sortedIDs(groups) {
		g := groups[id]
		p := Properties(g)
		if days, _ := p["RetentionInDays"].(float64); days != float64(retentionDays) {
			problems = append(problems, fmt.Sprintf("log group %s keeps logs for %v days, want %d", id, p["RetentionInDays"], retentionDays))
		}
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if g[policy] != removalPolicy {
				problems = append(problems, fmt.Sprintf("log group %s has %s %v, want %s", id, policy, g[policy], removalPolicy))
			}
		}
		if name := p["LogGroupName"]; name != nil {
			byName[Render(name)] = true
		}
	}
	functions := t.Resources("AWS::Lambda::Function")
	for _, id := range sortedIDs(functions) {
		logging, _ := Properties(functions[id])["LoggingConfig"].(map[string]any)
		if target := logging["LogGroup"]; target != nil {
			m, _ := target.(map[string]any)
			ref, _ := m["Ref"].(string)
			if _, ok := groups[ref]; !ok {
				problems = append(problems, fmt.Sprintf("function %s logs to %s, which is not a log group of this template", id, Render(target)))
			}
			continue
		}
		// Without LoggingConfig, Lambda writes to /aws/lambda/<function name>; CDK's own functions get a
		// group of exactly that name.
		if !byName["/aws/lambda/${"+id+"}"] {
			problems = append(problems, fmt.Sprintf("function %s logs to /aws/lambda/<its name>, a group Lambda creates outside the stack that never expires", id))
		}
	}
	return problems
}

// keysOf lists a map's keys in order (for messages).
func keysOf[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
