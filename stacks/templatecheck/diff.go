package templatecheck

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Diff lists every path at which got differs from want, one line each: a changed value with both sides,
// or a key or list element that only one side has. Paths look like
// Resources.FrontDoorDistribution20F29BA2.Properties.DistributionConfig.CacheBehaviors[0].CachePolicyId.
// Golden-template tests print the whole list, so one review shows every change rather than the first.
func Diff(want, got any) []string {
	var out []string
	diff("", want, got, &out)
	return out
}

func diff(path string, want, got any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		for _, k := range keysOf(keys) {
			wv, inWant := w[k]
			gv, inGot := g[k]
			p := join(path, k)
			switch {
			case !inGot:
				*out = append(*out, fmt.Sprintf("%s: removed (was %s)", p, short(wv)))
			case !inWant:
				*out = append(*out, fmt.Sprintf("%s: added %s", p, short(gv)))
			default:
				diff(p, wv, gv, out)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		for i := 0; i < len(w) || i < len(g); i++ {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case i >= len(g):
				*out = append(*out, fmt.Sprintf("%s: removed (was %s)", p, short(w[i])))
			case i >= len(w):
				*out = append(*out, fmt.Sprintf("%s: added %s", p, short(g[i])))
			default:
				diff(p, w[i], g[i], out)
			}
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		*out = append(*out, fmt.Sprintf("%s: want %s, got %s", orRoot(path), short(want), short(got)))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(template)"
	}
	return path
}

// short renders a value as JSON, cut to a length that keeps one difference on a line or two.
func short(v any) string {
	raw, _ := json.Marshal(v)
	const limit = 240
	if len(raw) > limit {
		return string(raw[:limit]) + "…"
	}
	return string(raw)
}
