package constructs_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

func TestGatewayAlarms(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN the gateway's alarms are created for one service whose tasks hold up to 150 conversations
	appconstructs.NewGatewayAlarms(stack, "Alarms", &appconstructs.GatewayAlarmsProps{
		ServiceName:             jsii.String("nova-sonic-gateway-dev"),
		MaxConversationsPerTask: jsii.Number(150),
	})
	template := synth(t, stack)

	// THEN each alarm watches exactly its metric, and notifies the topic when it fires and when it clears
	alarms := map[string]map[string]any{}
	for _, alarm := range resources(t, template, "AWS::CloudWatch::Alarm") {
		props := alarm["Properties"].(map[string]any)
		for _, prefix := range []string{"Bedrock refused", "More than", "Conversations were closed because Bedrock throttles", "A task has held"} {
			if strings.HasPrefix(props["AlarmDescription"].(string), prefix) {
				alarms[prefix] = props
			}
		}
	}
	if len(alarms) != 4 {
		t.Fatalf("found alarms %v, want the four of the gateway", slices.Collect(func(yield func(string) bool) {
			for k := range alarms {
				yield(k)
			}
		}))
	}
	dims := func(outcome string) string {
		d := `[{"Name":"ServiceName","Value":"nova-sonic-gateway-dev"}]`
		if outcome != "" {
			d = `[{"Name":"Outcome","Value":"` + outcome + `"},{"Name":"ServiceName","Value":"nova-sonic-gateway-dev"}]`
		}
		return d
	}
	for prefix, want := range map[string]struct {
		metric, statistic, dimensions, comparison string
		period, threshold, periods                float64
	}{
		"Bedrock refused": {"ConversationsEnded", "Sum", dims("bedrock_rejected"), "GreaterThanOrEqualToThreshold", 60, 1, 1},
		"Conversations were closed because Bedrock throttles": {"ConversationsEnded", "Sum", dims("throttled"), "GreaterThanOrEqualToThreshold", 300, 1, 1},
		"A task has held": {"ActiveSessions", "Maximum", dims(""), "GreaterThanOrEqualToThreshold", 60, 120, 3},
	} {
		a := alarms[prefix]
		gotDims, _ := json.Marshal(a["Dimensions"])
		if a["Namespace"] != "NovaSonic" || a["MetricName"] != want.metric || a["Statistic"] != want.statistic ||
			string(gotDims) != want.dimensions || a["Period"] != want.period || a["Threshold"] != want.threshold ||
			a["ComparisonOperator"] != want.comparison || a["EvaluationPeriods"] != want.periods ||
			a["DatapointsToAlarm"] != want.periods || a["TreatMissingData"] != "notBreaching" {
			t.Errorf("alarm %q = %v, want %+v", prefix, a, want)
		}
	}
	// The failure rate is a share of the same period's conversations, over two periods in a row.
	rate := alarms["More than"]
	metrics, _ := json.Marshal(rate["Metrics"])
	for _, want := range []string{
		`"Expression":"IF(ended \u003e 0, 100 * failed / ended, 0)"`,
		`"MetricName":"ConversationsFailed"`, `"MetricName":"ConversationsEnded"`, `"Period":300`, `"Stat":"Sum"`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("failure-rate metrics %s lack %s", metrics, want)
		}
	}
	if rate["Threshold"] != 5.0 || rate["ComparisonOperator"] != "GreaterThanThreshold" || rate["EvaluationPeriods"] != 2.0 {
		t.Errorf("failure-rate alarm = %v", rate)
	}
	topics := resources(t, template, "AWS::SNS::Topic")
	if len(topics) != 1 {
		t.Fatalf("%d topics, want 1", len(topics))
	}
	var topicID string
	for id := range topics {
		topicID = id
	}
	want := `[{"Ref":"` + topicID + `"}]`
	for prefix, a := range alarms {
		actions, _ := json.Marshal(a["AlarmActions"])
		ok, _ := json.Marshal(a["OKActions"])
		if string(actions) != want || string(ok) != want {
			t.Errorf("alarm %q notifies %s and %s, want %s both times", prefix, actions, ok, want)
		}
	}

	// AND the topic refuses anything but TLS, and a dashboard shows the same metrics
	policies, _ := json.Marshal(resources(t, template, "AWS::SNS::TopicPolicy"))
	if !strings.Contains(string(policies), `"aws:SecureTransport":"false"`) || !strings.Contains(string(policies), `"Effect":"Deny"`) {
		t.Errorf("topic policy %s does not deny requests without TLS", policies)
	}
	if n := len(resources(t, template, "AWS::CloudWatch::Dashboard")); n != 1 {
		t.Errorf("%d dashboards, want 1", n)
	}
}
