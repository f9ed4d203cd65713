package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// metricsPeriod is how often the gateway reports ActiveSessions: CloudWatch's standard resolution, and
// the period of the ECS stack's target-tracking policy.
const metricsPeriod = time.Minute

// publishActiveSessions writes the number of live sessions to w every metricsPeriod, starting at once, as
// a CloudWatch embedded-metric-format (EMF) log line until ctx ends. On ECS, stdout goes to CloudWatch Logs
// through the awslogs driver, which extracts the metric from the line: no API call and no permission is
// needed. Each task reports under the same ServiceName dimension, so the metric's Average is sessions per
// task, which is what the stack's autoscaling tracks. Zero is reported too: without data, target tracking
// never scales in.
func publishActiveSessions(ctx context.Context, w io.Writer, namespace, serviceName string, active func() int) {
	ticker := time.NewTicker(metricsPeriod)
	defer ticker.Stop()
	for {
		_, _ = w.Write(emfActiveSessions(namespace, serviceName, active(), time.Now()))
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// emfActiveSessions is one EMF document, newline-terminated, written in a single Write so that it never
// interleaves with the JSON log lines on the same stream.
func emfActiveSessions(namespace, serviceName string, sessions int, now time.Time) []byte {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	type directive struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []metric   `json:"Metrics"`
	}
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []directive{{
				Namespace: namespace, Dimensions: [][]string{{"ServiceName"}},
				Metrics: []metric{{Name: "ActiveSessions", Unit: "Count"}},
			}},
		},
		"ServiceName":    serviceName,
		"ActiveSessions": sessions,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("encode EMF document: %v", err)) // maps of strings and numbers always encode
	}
	return append(b, '\n')
}
