package kube

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names Fargate's built-in log router looks for (EKS user guide, "Start AWS Fargate logging").
const (
	// ObservabilityNamespace is the namespace that holds the log router's configuration. No pod runs in it.
	ObservabilityNamespace = "aws-observability"
	// observabilityLabel marks ObservabilityNamespace; Fargate ignores the namespace without it.
	observabilityLabel = "aws-observability"
	// LogRouterConfigMapName is the ConfigMap in ObservabilityNamespace that configures the log router.
	LogRouterConfigMapName = "aws-logging"
	// MaxLogRouterConfigChars is the most characters Fargate accepts in the ConfigMap.
	MaxLogRouterConfigChars = 5300
)

// Longest values a CloudFormation token in LogRouter may resolve to; LogRouter.Build checks the size limit
// against them because the real values are not known at synth.
const (
	maxLogGroupNameChars = 512
	maxRegionChars       = 32
)

// LogRouter configures Fargate's built-in Fluent Bit to send every container's output to one CloudWatch
// log group, the way the ECS stack's awslogs driver does, so that the same Logs Insights queries work on
// both stacks and the gateway's embedded-metric-format (EMF) lines become the ActiveSessions metric.
//
// The router tails the containers' CRI log files: each record is a "time stream tag message" line, not
// the gateway's own JSON. The configuration therefore:
//   - parses the CRI line (the user guide's crio parser), leaving the container's line in the log key;
//   - moves lines that carry an EMF "_aws" object to their own tag (rewrite_tag);
//   - sends only the log key (log_key log), so that each CloudWatch event is exactly the line the
//     container wrote: an EMF document wrapped in the router's record would not be recognised;
//   - sends EMF lines through a second output with log_format json/emf, which sets the header that
//     marks a PutLogEvents batch as EMF. CloudWatch now also detects EMF without the header, but AWS's
//     FireLens EMF example still sets it and advises keeping EMF and other events in separate outputs
//     and streams, which this does.
//
// Streams are named fargate-<tag>, where the tag names the pod, namespace and container (and starts
// with emf. for the metric lines). The pod execution role needs logs:CreateLogStream, logs:PutLogEvents
// and logs:DescribeLogStreams on the group; the group itself is created by the stack with its retention,
// so the router never creates groups.
type LogRouter struct {
	// Region is the log group's region (a token such as the stack's region is fine). Required.
	Region string
	// LogGroupName is the CloudWatch log group (a token is fine). Required.
	LogGroupName string
}

// LogRouterObjects are the log router's namespace and ConfigMap; apply the namespace first, and both
// before any pod whose logs should be shipped: the router reads the ConfigMap when a pod starts.
type LogRouterObjects struct {
	Namespace *corev1.Namespace
	ConfigMap *corev1.ConfigMap
}

// emfTagPrefix is prepended to the tag of EMF lines.
const emfTagPrefix = "emf."

// EMFLineRegex matches a line that carries an EMF "_aws" metadata object. It is written for Fluent Bit's
// regular expressions and reads the same in Go's: \x22 is a double quote, kept out of the rule because
// Fluent Bit splits rules into words and treats quotes specially.
const EMFLineRegex = `\x22_aws\x22:\{`

// Build validates r and returns the log router's objects.
func (r LogRouter) Build() (*LogRouterObjects, error) {
	if strings.TrimSpace(r.Region) == "" || strings.TrimSpace(r.LogGroupName) == "" {
		return nil, fmt.Errorf("kube log router: region %q and log group name %q are both required", r.Region, r.LogGroupName)
	}
	if n := worstCaseChars(); n > MaxLogRouterConfigChars {
		return nil, fmt.Errorf("kube log router: the aws-logging ConfigMap could reach %d characters, more than Fargate's %d", n, MaxLogRouterConfigChars)
	}
	return &LogRouterObjects{
		Namespace: &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: ObservabilityNamespace, Labels: map[string]string{observabilityLabel: "enabled"}},
		},
		ConfigMap: &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: LogRouterConfigMapName, Namespace: ObservabilityNamespace},
			Data:       r.data(),
		},
	}, nil
}

// worstCaseChars is the size of the ConfigMap's data with the longest region and log group name.
func worstCaseChars() int {
	worstCase := LogRouter{Region: strings.Repeat("r", maxRegionChars), LogGroupName: strings.Repeat("g", maxLogGroupNameChars)}
	return ConfigChars(worstCase.data())
}

// ConfigChars counts the characters of a log router ConfigMap's data, keys included.
func ConfigChars(data map[string]string) int {
	n := 0
	for k, v := range data {
		n += len(k) + len(v)
	}
	return n
}

// data is the ConfigMap's content. Fargate accepts only [FILTER], [OUTPUT] and [PARSER] sections, each
// under its own key, with every key-value line indented the same and more than its directive.
func (r LogRouter) data() map[string]string {
	output := func(match, extra string) string {
		return "[OUTPUT]\n" +
			"    Name cloudwatch_logs\n" +
			"    Match " + match + "\n" +
			"    region " + r.Region + "\n" +
			"    log_group_name " + r.LogGroupName + "\n" +
			"    log_stream_prefix fargate-\n" +
			"    log_key log\n" +
			"    auto_create_group false\n" +
			extra
	}
	return map[string]string{
		// The router's own logs would cost ingestion for little use; the pods' logs are what matter.
		"flb_log_cw": "false",
		"parsers.conf": "[PARSER]\n" +
			"    Name crio\n" +
			"    Format Regex\n" +
			"    Regex ^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>P|F) (?<log>.*)$\n" +
			"    Time_Key time\n" +
			"    Time_Format %Y-%m-%dT%H:%M:%S.%L%z\n",
		"filters.conf": "[FILTER]\n" +
			"    Name parser\n" +
			"    Match kube.*\n" +
			"    Key_Name log\n" +
			"    Parser crio\n" +
			"[FILTER]\n" +
			"    Name rewrite_tag\n" +
			"    Match kube.*\n" +
			// $log REGEX NEW_TAG KEEP: re-tag EMF lines and drop them from kube.* (false: not kept twice).
			"    Rule $log " + EMFLineRegex + " " + emfTagPrefix + "$TAG false\n",
		"output.conf": output("kube.*", "") + output(emfTagPrefix+"*", "    log_format json/emf\n"),
	}
}
