package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"novasonic/server/gateway"
)

// emfDoc is one EMF line as CloudWatch reads it: the directive, and every member at the top level.
type emfDoc struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	Members map[string]any `json:"-"`
}

func parseEMF(t *testing.T, out []byte) []emfDoc {
	t.Helper()
	var docs []emfDoc
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var d emfDoc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("not JSON: %s", sc.Bytes())
		}
		_ = json.Unmarshal(sc.Bytes(), &d.Members)
		// CloudWatch drops a document whose named dimensions or metrics are not top-level members.
		for _, directive := range d.AWS.CloudWatchMetrics {
			for _, dims := range directive.Dimensions {
				for _, dim := range dims {
					if _, ok := d.Members[dim].(string); !ok {
						t.Fatalf("dimension %s is not a top-level string in %s", dim, sc.Bytes())
					}
				}
			}
			for _, m := range directive.Metrics {
				if _, ok := d.Members[m.Name].(float64); !ok || m.Unit != "Count" {
					t.Fatalf("metric %s is not a top-level number with unit Count in %s", m.Name, sc.Bytes())
				}
			}
		}
		docs = append(docs, d)
	}
	return docs
}

// The lines must follow the embedded metric format exactly, or CloudWatch stores them as plain log lines
// and the ECS stack's autoscaling and alarms see no data. Counters are written as their increase in the
// period, so CloudWatch's Sum is the count in it.
func TestEMFLinesCarryTheScalingSignalAndThePeriodsCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		m := gateway.NewMetrics(reg)
		m.ConversationsActive.Set(3)
		m.ConversationsEnded.WithLabelValues("normal").Add(5)
		m.Tokens.WithLabelValues("speech", gateway.DirectionIn).Add(100)

		var out bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			publishEMF(ctx, &out, "NovaSonic", "nova-sonic-gateway-dev", reg)
			close(done)
		}()
		synctest.Wait()
		first := parseEMF(t, out.Bytes())
		out.Reset()

		m.ConversationsActive.Set(1)
		m.ConversationsEnded.WithLabelValues("normal").Add(2)
		m.ConversationsEnded.WithLabelValues("model_error").Inc()
		m.BedrockErrors.WithLabelValues("ModelStreamErrorException").Inc()
		m.Tokens.WithLabelValues("speech", gateway.DirectionIn).Add(40)
		m.Tokens.WithLabelValues("text", gateway.DirectionOut).Add(7)
		time.Sleep(metricsPeriod)
		synctest.Wait()
		second := parseEMF(t, out.Bytes())
		cancel()
		<-done

		if len(first) != 2 || first[0].Members["ActiveSessions"] != 3.0 || first[0].Members["ConversationsEnded"] != 5.0 ||
			first[0].Members["SpeechInputTokens"] != 100.0 || first[1].Members["Outcome"] != "normal" {
			t.Fatalf("first period: %+v", first)
		}
		d := first[0].AWS.CloudWatchMetrics[0]
		if d.Namespace != "NovaSonic" || !slices.Equal(d.Dimensions[0], []string{"ServiceName"}) ||
			first[0].Members["ServiceName"] != "nova-sonic-gateway-dev" || first[0].AWS.Timestamp != time.Now().Add(-metricsPeriod).UnixMilli() {
			t.Fatalf("directive %+v, members %v", d, first[0].Members)
		}
		want := map[string]float64{
			"ActiveSessions": 1, "ConversationsEnded": 3, "ConversationsFailed": 1, "BedrockErrors": 1,
			"SpeechInputTokens": 40, "SpeechOutputTokens": 0, "TextInputTokens": 0, "TextOutputTokens": 7,
		}
		for name, v := range want {
			if second[0].Members[name] != v {
				t.Errorf("second period %s = %v, want %v (the increase in the period)", name, second[0].Members[name], v)
			}
		}
		if len(second) != 3 || second[1].Members["Outcome"] != "model_error" || second[1].Members["ConversationsEnded"] != 1.0 ||
			second[2].Members["Outcome"] != "normal" || second[2].Members["ConversationsEnded"] != 2.0 ||
			!slices.Equal(second[1].AWS.CloudWatchMetrics[0].Dimensions[0], []string{"ServiceName", "Outcome"}) {
			t.Fatalf("per-outcome documents: %+v", second[1:])
		}
	})
}

// Zero is reported too: without data points, target tracking never scales in.
func TestEMFIsWrittenAtOnceAndStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var out bytes.Buffer
		done := make(chan struct{})
		reg := prometheus.NewRegistry()
		gateway.NewMetrics(reg)
		go func() {
			publishEMF(ctx, &out, "NovaSonic", "svc", reg)
			close(done)
		}()
		synctest.Wait() // the first report is written, and the publisher waits for the next period
		cancel()
		<-done
		docs := parseEMF(t, out.Bytes())
		if len(docs) != 1 || docs[0].Members["ActiveSessions"] != 0.0 {
			t.Fatalf("before the first period: %+v, want one document with ActiveSessions 0", docs)
		}
	})
}
