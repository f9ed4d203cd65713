package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"novasonic/server/gateway"
)

// metricsPeriod is how often the gateway writes its CloudWatch metrics: CloudWatch's standard resolution,
// and the period of the ECS stack's target-tracking policy and alarms.
const metricsPeriod = time.Minute

// The CloudWatch metrics (namespace METRICS_NAMESPACE, dimension ServiceName). The ECS stack has no
// Prometheus scraper, so the autoscaling signal and the few numbers an operator alarms on travel as
// embedded-metric-format (EMF) log lines: on ECS the awslogs driver and on EKS the Fargate log router
// ship stdout to CloudWatch Logs, which extracts the metrics. No API call and no permission is needed.
const (
	emfActiveSessions      = "ActiveSessions"      // conversations open now (per task: the scaling signal)
	emfConversationsEnded  = "ConversationsEnded"  // in the period, all outcomes; per outcome with dimension Outcome
	emfConversationsFailed = "ConversationsFailed" // in the period, outcomes that are service failures
	emfBedrockErrors       = "BedrockErrors"       // in the period
	emfSpeechInputTokens   = "SpeechInputTokens"   // in the period, from Nova Sonic's usageEvent: the bill
	emfSpeechOutputTokens  = "SpeechOutputTokens"
	emfTextInputTokens     = "TextInputTokens"
	emfTextOutputTokens    = "TextOutputTokens"
)

// publishEMF writes the metrics to w every metricsPeriod, starting at once, until ctx ends. Counters are
// written as their increase since the previous line, so CloudWatch's Sum over a period is the count in it.
// Zero is written too: without data, target tracking never scales in.
func publishEMF(ctx context.Context, w io.Writer, namespace, serviceName string, g prometheus.Gatherer) {
	ticker := time.NewTicker(metricsPeriod)
	defer ticker.Stop()
	var previous emfSnapshot
	for {
		now, err := gatherSnapshot(g)
		if err == nil {
			_, _ = w.Write(emfDocuments(namespace, serviceName, now, previous, time.Now()))
			previous = now
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// emfSnapshot holds the values the EMF lines are made of.
type emfSnapshot struct {
	active        float64
	endedBy       map[string]float64 // conversations ended, by outcome (cumulative)
	bedrockErrors float64            // cumulative
	tokens        map[string]float64 // cumulative, by EMF metric name
}

func gatherSnapshot(g prometheus.Gatherer) (emfSnapshot, error) {
	families, err := g.Gather()
	if err != nil {
		return emfSnapshot{}, err
	}
	s := emfSnapshot{endedBy: map[string]float64{}, tokens: map[string]float64{}}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case gateway.MetricsNamespace + "_conversations_active":
				s.active = m.GetGauge().GetValue()
			case gateway.MetricsNamespace + "_conversations_ended_total":
				s.endedBy[label(m, "outcome")] += m.GetCounter().GetValue()
			case gateway.MetricsNamespace + "_bedrock_errors_total":
				s.bedrockErrors += m.GetCounter().GetValue()
			case gateway.MetricsNamespace + "_tokens_total":
				s.tokens[tokenMetric(label(m, "kind"), label(m, "direction"))] += m.GetCounter().GetValue()
			}
		}
	}
	return s, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func tokenMetric(kind, direction string) string {
	switch {
	case kind == "speech" && direction == gateway.DirectionIn:
		return emfSpeechInputTokens
	case kind == "speech":
		return emfSpeechOutputTokens
	case direction == gateway.DirectionIn:
		return emfTextInputTokens
	}
	return emfTextOutputTokens
}

// emfDocuments is one EMF document with the service's metrics, then one per outcome that ended
// conversations in the period (the Outcome dimension), each a line of its own written in a single Write
// so that it never interleaves with the JSON log lines on the same stream.
func emfDocuments(namespace, serviceName string, now, previous emfSnapshot, at time.Time) []byte {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	doc := func(dimensions []string, values map[string]float64, members map[string]string) []byte {
		names := slices.Sorted(maps.Keys(values))
		metrics := make([]metric, 0, len(names))
		body := map[string]any{}
		for _, n := range names {
			metrics = append(metrics, metric{Name: n, Unit: "Count"})
			body[n] = values[n]
		}
		for k, v := range members {
			body[k] = v
		}
		body["_aws"] = map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": namespace, "Dimensions": [][]string{dimensions}, "Metrics": metrics,
			}},
		}
		b, err := json.Marshal(body)
		if err != nil {
			panic(fmt.Sprintf("encode EMF document: %v", err)) // maps of strings and numbers always encode
		}
		return append(b, '\n')
	}
	failures := gateway.FailureOutcomes()
	var ended, failed float64
	byOutcome := map[string]float64{}
	for outcome, n := range now.endedBy {
		d := n - previous.endedBy[outcome]
		if d <= 0 {
			continue
		}
		byOutcome[outcome] = d
		ended += d
		if slices.Contains(failures, outcome) {
			failed += d
		}
	}
	values := map[string]float64{
		emfActiveSessions: now.active, emfConversationsEnded: ended, emfConversationsFailed: failed,
		emfBedrockErrors: now.bedrockErrors - previous.bedrockErrors,
	}
	for _, name := range []string{emfSpeechInputTokens, emfSpeechOutputTokens, emfTextInputTokens, emfTextOutputTokens} {
		values[name] = now.tokens[name] - previous.tokens[name]
	}
	out := doc([]string{"ServiceName"}, values, map[string]string{"ServiceName": serviceName})
	for _, outcome := range slices.Sorted(maps.Keys(byOutcome)) {
		out = append(out, doc([]string{"ServiceName", "Outcome"}, map[string]float64{emfConversationsEnded: byOutcome[outcome]},
			map[string]string{"ServiceName": serviceName, "Outcome": outcome})...)
	}
	return out
}
