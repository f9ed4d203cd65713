package kube

import (
	"bufio"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Region and log group as CDK tokens, the way the stack passes them.
const (
	regionToken   = "${Token[AWS.Region.7]}"
	logGroupToken = "${Token[TOKEN.201]}"
)

func buildLogRouter(t *testing.T, r LogRouter) *LogRouterObjects {
	t.Helper()
	objects, err := r.Build()
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

func TestLogRouterObjectsRoundTripStrictly(t *testing.T) {
	o := buildLogRouter(t, LogRouter{Region: regionToken, LogGroupName: logGroupToken})
	ns := roundTrip(t, o.Namespace)
	cm := roundTrip(t, o.ConfigMap)
	if ns.Name != "aws-observability" || ns.Labels["aws-observability"] != "enabled" || len(ns.Labels) != 1 {
		t.Errorf("namespace %s %v, want aws-observability labelled aws-observability: enabled", ns.Name, ns.Labels)
	}
	if cm.Name != "aws-logging" || cm.Namespace != "aws-observability" {
		t.Errorf("ConfigMap %s/%s, want aws-observability/aws-logging", cm.Namespace, cm.Name)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(cm.Data)), []string{"filters.conf", "flb_log_cw", "output.conf", "parsers.conf"}) {
		t.Errorf("ConfigMap keys = %v", slices.Sorted(maps.Keys(cm.Data)))
	}
}

func TestLogRouterStaysUnderFargatesSizeLimitForAnyLogGroupName(t *testing.T) {
	// GIVEN the longest region and log group name CloudFormation could resolve the tokens to
	worstCase := LogRouter{Region: strings.Repeat("r", 32), LogGroupName: strings.Repeat("g", 512)}
	o := buildLogRouter(t, worstCase)

	// THEN the whole ConfigMap, even as YAML with its metadata, is within the 5300 characters Fargate reads
	manifest, err := Manifest(o.ConfigMap)
	if err != nil {
		t.Fatal(err)
	}
	text, err := yaml.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(text) > 5300 || ConfigChars(o.ConfigMap.Data) > 5300 {
		t.Fatalf("aws-logging is %d characters as YAML (%d in its data), over Fargate's 5300", len(text), ConfigChars(o.ConfigMap.Data))
	}
	// AND Build's own guard measures that same worst case
	if got, want := worstCaseChars(), ConfigChars(o.ConfigMap.Data); got != want {
		t.Fatalf("Build checks the size limit against %d characters, but the longest names give %d", got, want)
	}
}

func TestLogRouterRejectsMissingDestination(t *testing.T) {
	for _, r := range []LogRouter{{Region: regionToken}, {LogGroupName: logGroupToken}, {Region: " ", LogGroupName: logGroupToken}} {
		if _, err := r.Build(); err == nil {
			t.Errorf("Build(%+v) accepted a missing region or log group", r)
		}
	}
}

// section is one [KIND] block of a Fluent Bit configuration.
type section struct {
	kind string
	keys map[string]string
}

// parseFluentBit reads a classic-mode Fluent Bit configuration and applies the rules Fargate's log router
// validates on layout (EKS user guide): directives at one indentation, every key-value line indented the
// same and more than its directive.
func parseFluentBit(t *testing.T, text string) []section {
	t.Helper()
	var sections []section
	keyIndent := -1
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		switch {
		case trimmed == "":
		case strings.HasPrefix(trimmed, "["):
			if indent != 0 || !strings.HasSuffix(trimmed, "]") {
				t.Fatalf("bad directive %q", line)
			}
			sections = append(sections, section{kind: strings.Trim(trimmed, "[]"), keys: map[string]string{}})
		default:
			if len(sections) == 0 || indent == 0 || (keyIndent >= 0 && indent != keyIndent) {
				t.Fatalf("key-value line %q is not indented like the others, under a directive", line)
			}
			keyIndent = indent
			k, v, ok := strings.Cut(trimmed, " ")
			if !ok {
				t.Fatalf("key without value: %q", line)
			}
			sections[len(sections)-1].keys[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return sections
}

func TestLogRouterConfigFollowsFargatesRules(t *testing.T) {
	data := buildLogRouter(t, LogRouter{Region: "eu-west-1", LogGroupName: "/nova-sonic/eks"}).ConfigMap.Data
	allowed := map[string]struct {
		kind     string
		required []string
		names    []string
	}{
		"filters.conf": {"FILTER", []string{"name", "match"}, []string{"grep", "parser", "record_modifier", "rewrite_tag", "throttle", "nest", "modify", "kubernetes"}},
		"output.conf":  {"OUTPUT", []string{"name", "match"}, []string{"es", "firehose", "kinesis_firehose", "cloudwatch", "cloudwatch_logs", "kinesis"}},
		"parsers.conf": {"PARSER", []string{"name", "format"}, nil},
	}
	for key, rule := range allowed {
		// CDK tokens look like ${...} too, so this holds for resolved values only.
		if strings.Contains(data[key], "${") {
			t.Errorf("%s uses an environment variable, which aws-logging does not allow: %q", key, data[key])
		}
		for _, s := range parseFluentBit(t, data[key]) {
			if s.kind != rule.kind {
				t.Errorf("%s holds a [%s] section; only [%s] belongs there", key, s.kind, rule.kind)
			}
			for _, k := range rule.required {
				if s.keys[k] == "" {
					t.Errorf("%s [%s] lacks %s: %v", key, s.kind, k, s.keys)
				}
			}
			if rule.names != nil && !slices.Contains(rule.names, s.keys["name"]) {
				t.Errorf("%s uses %q, which Fargate does not support", key, s.keys["name"])
			}
		}
	}
	if data["flb_log_cw"] != "false" {
		t.Errorf("flb_log_cw = %q, want false", data["flb_log_cw"])
	}
}

func TestLogRouterSendsEachLineToTheLogGroup(t *testing.T) {
	data := buildLogRouter(t, LogRouter{Region: regionToken, LogGroupName: logGroupToken}).ConfigMap.Data
	outputs := parseFluentBit(t, data["output.conf"])
	if len(outputs) != 2 {
		t.Fatalf("%d outputs, want one for logs and one for EMF", len(outputs))
	}
	want := map[string]string{
		"name": "cloudwatch_logs", "region": regionToken, "log_group_name": logGroupToken,
		"log_stream_prefix": "fargate-", "log_key": "log", "auto_create_group": "false",
	}
	logs, emf := outputs[0].keys, outputs[1].keys
	for k, v := range want {
		if logs[k] != v || emf[k] != v {
			t.Errorf("%s = %q (logs) and %q (EMF), want %q", k, logs[k], emf[k], v)
		}
	}
	if logs["match"] != "kube.*" || logs["log_format"] != "" {
		t.Errorf("logs output = %v, want Match kube.* without the EMF header", logs)
	}
	if emf["match"] != "emf.*" || emf["log_format"] != "json/emf" {
		t.Errorf("EMF output = %v, want Match emf.* with log_format json/emf", emf)
	}
}

// criLine is how the container runtime writes one stdout line of a container into the file Fargate's log
// router tails.
func criLine(message string) string {
	return "2026-11-30T12:00:00.123456789Z stdout F " + message
}

// onigToGo turns Fluent Bit's (Onigmo's) named groups into Go's syntax; the rest of these expressions
// reads the same in both.
func onigToGo(expr string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(expr, "(?<", "(?P<"))
}

func TestLogRouterRoutesTheGatewaysEMFLine(t *testing.T) {
	data := buildLogRouter(t, LogRouter{Region: regionToken, LogGroupName: logGroupToken}).ConfigMap.Data
	parser := parseFluentBit(t, data["parsers.conf"])[0].keys
	filters := parseFluentBit(t, data["filters.conf"])
	if len(filters) != 2 || filters[0].keys["name"] != "parser" || filters[0].keys["parser"] != parser["name"] ||
		filters[0].keys["key_name"] != "log" || filters[1].keys["name"] != "rewrite_tag" {
		t.Fatalf("filters = %+v, want the CRI parser on log, then rewrite_tag", filters)
	}
	rule := strings.Fields(filters[1].keys["rule"])
	if len(rule) != 4 || rule[0] != "$log" || rule[2] != "emf.$TAG" || rule[3] != "false" {
		t.Fatalf("rewrite rule = %q, want $log <regex> emf.$TAG false", rule)
	}
	cri, emfLine := onigToGo(parser["regex"]), regexp.MustCompile(rule[1])

	// The gateway's exact EMF lines, the service's and a per-outcome one (server/emf_fixture_test.go
	// keeps the fixture honest).
	fixture, err := os.ReadFile("testdata/gateway-emf-lines.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{
		`{"time":"2026-11-30T12:00:00Z","level":"INFO","msg":"session ended","close_code":1000,"reason":"the \"_aws\":{ marker quoted"}`: false,
		"plain text from a sidecar": false,
	}
	emfLines := strings.Split(strings.TrimSuffix(string(fixture), "\n"), "\n")
	if len(emfLines) != 2 {
		t.Fatalf("fixture has %d lines, want the service's and one outcome's", len(emfLines))
	}
	for _, l := range emfLines {
		lines[l] = true
	}
	for message, wantEMF := range lines {
		m := cri.FindStringSubmatch(criLine(message))
		if m == nil {
			t.Fatalf("the CRI parser does not match %q", criLine(message))
		}
		logKey := m[cri.SubexpIndex("log")]
		if logKey != message {
			t.Errorf("parsed log = %q, want the container's line %q", logKey, message)
		}
		if got := emfLine.MatchString(logKey); got != wantEMF {
			t.Errorf("rewrite_tag matches %q: %v, want %v", message, got, wantEMF)
		}
	}
}
