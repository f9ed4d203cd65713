package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"
)

// The line must follow the embedded metric format exactly, or CloudWatch stores it as a plain log line
// and the ECS stack's autoscaling sees no data.
func TestActiveSessionsIsAnEMFDocument(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	line := emfActiveSessions("NovaSonic", "nova-sonic-gateway-dev", 3, now)
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		ServiceName    *string
		ActiveSessions *float64
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.AWS.CloudWatchMetrics
	if doc.AWS.Timestamp != now.UnixMilli() || len(d) != 1 || d[0].Namespace != "NovaSonic" ||
		len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 1 || d[0].Dimensions[0][0] != "ServiceName" ||
		len(d[0].Metrics) != 1 || d[0].Metrics[0].Name != "ActiveSessions" || d[0].Metrics[0].Unit != "Count" {
		t.Fatalf("EMF directive = %+v", doc.AWS)
	}
	// Every dimension and metric named in the directive must be a top-level member.
	if doc.ServiceName == nil || *doc.ServiceName != "nova-sonic-gateway-dev" || doc.ActiveSessions == nil || *doc.ActiveSessions != 3 {
		t.Fatalf("members: ServiceName %v, ActiveSessions %v", doc.ServiceName, doc.ActiveSessions)
	}
}

func TestActiveSessionsIsReportedAtOnceAndStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			publishActiveSessions(ctx, &out, "NovaSonic", "svc", func() int { return 0 })
			close(done)
		}()
		synctest.Wait() // the first report is written, and the publisher waits for the next period
		cancel()
		<-done
		if n := bytes.Count(out.Bytes(), []byte(`"ActiveSessions":0`)); n != 1 {
			t.Fatalf("reported %d times before the first period, want once at start (zero included): %q", n, out.String())
		}
	})
}
