// Package templatecheck reads a synthesized CloudFormation template as plain JSON and checks the
// properties that every stack of this app must keep, whatever its compute: nothing admits the internet,
// Bedrock is granted on one model only, buckets are private, and every log group follows the stage. For
// the EKS stack it adds what cdk-nag does not evaluate on aws-eks-v2 clusters (EKSClusters) and reads the
// Kubernetes objects its manifests apply (KubernetesObjects).
//
// It has no jsii dependency, so its own tests run in milliseconds, and it works on any template: one
// synthesized in-process by the stack tests, one written by `cdk synth` or `go run main_ecs.go`, or a
// golden file. The ECS stack's tests call it today; the EKS stack's tests call the same functions on their
// own template, so a rule added here holds for both.
//
// Every check returns a list of problems, one sentence each, naming the logical ID and the offending
// value; an empty list means the template passes. Tests report each problem with t.Error.
package templatecheck

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Template is a CloudFormation template decoded from JSON.
type Template map[string]any

// Parse decodes a template.
func Parse(raw []byte) (Template, error) {
	var t Template
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}

// Resources returns the template's resources of one type, keyed by logical ID.
func (t Template) Resources(resourceType string) map[string]map[string]any {
	out := map[string]map[string]any{}
	all, _ := t["Resources"].(map[string]any)
	for id, r := range all {
		res, _ := r.(map[string]any)
		if res["Type"] == resourceType {
			out[id] = res
		}
	}
	return out
}

// Outputs returns the template's outputs, keyed by output ID.
func (t Template) Outputs() map[string]any {
	out, _ := t["Outputs"].(map[string]any)
	return out
}

// Properties returns a resource's Properties, or nil.
func Properties(resource map[string]any) map[string]any {
	p, _ := resource["Properties"].(map[string]any)
	return p
}

// sortedIDs returns the keys of m in order, so problems are reported in a stable order.
func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Render turns a CloudFormation value into one string for comparison: literals as they are, references
// to pseudo parameters and resources as ${AWS::Partition} or ${LogicalId}, attributes as
// ${LogicalId.Attribute}, Fn::Join joined and Fn::Sub as written. Anything else is rendered as its JSON,
// so an unexpected intrinsic never compares equal to a plain ARN.
func Render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if len(x) == 1 {
			if ref, ok := x["Ref"].(string); ok {
				return "${" + ref + "}"
			}
			if att, ok := x["Fn::GetAtt"].([]any); ok && len(att) == 2 {
				return fmt.Sprintf("${%v.%v}", att[0], att[1])
			}
			if sub, ok := x["Fn::Sub"].(string); ok {
				return sub
			}
			if join, ok := x["Fn::Join"].([]any); ok && len(join) == 2 {
				sep, _ := join[0].(string)
				parts, _ := join[1].([]any)
				rendered := make([]string, len(parts))
				for i, p := range parts {
					rendered[i] = Render(p)
				}
				return strings.Join(rendered, sep)
			}
		}
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// strings returns a string or a list of strings (IAM's Action and Resource take either) as a list.
func stringList(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = Render(e)
		}
		return out
	default:
		return []string{Render(x)}
	}
}
