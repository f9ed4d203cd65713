package gateway

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"novasonic/server/localbedrock"
)

// talkOnce is a Nova Sonic that, when audio arrives, transcribes it, answers with one audio event and
// reports its token usage, then ends after the half-close.
func talkOnce(f *fakeStream) {
	for {
		ev, ok := f.take()
		if !ok {
			f.end(nil)
			return
		}
		if eventName(ev) != evAudioInput {
			continue
		}
		f.emit("textOutput", map[string]any{"role": "USER", "content": "hello"})
		f.emit("audioOutput", map[string]any{"content": "AAAA"})
		f.emit("usageEvent", map[string]any{"details": map[string]any{
			"delta": map[string]any{"input": map[string]any{"speechTokens": 12, "textTokens": 3}, "output": map[string]any{"speechTokens": 40, "textTokens": 5}},
			"total": map[string]any{"input": map[string]any{"speechTokens": 99, "textTokens": 99}, "output": map[string]any{"speechTokens": 99, "textTokens": 99}},
		}})
		<-f.halfClosed
		f.end(nil)
		return
	}
}

// After a conversation the metrics say what happened: one normal end, its duration, the frames each way,
// the tokens it used (from usageEvent's delta, not its running total), the response latency, and nothing
// left open.
func TestMetricsAfterAConversation(t *testing.T) {
	var m *Metrics
	_, hs := startGateway(t, &fakeModel{script: talkOnce}, withMetrics(&m))
	conn := dial(t, hs, "Bearer any-token")
	sent := append(openingEvents(), audioInput(make([]byte, 1024)))
	for _, ev := range sent {
		send(t, conn, ev)
	}
	readOutputUntil(t, conn, "usageEvent", nil)
	send(t, conn, `{"event":{"sessionEnd":{}}}`)
	if _, code := readToClose(t, conn); code != int(CloseNormal) {
		t.Fatalf("close %d", code)
	}
	bad := dial(t, hs, "")
	send(t, bad, `{"type":"authorization","token":"nonsense"}`)
	readToClose(t, bad)
	waitFor(t, func() bool {
		return testutil.ToFloat64(m.ConnectionsEnded.WithLabelValues(CloseUnauthorized.Name())) == 1
	})
	waitFor(t, func() bool { return testutil.ToFloat64(m.ConversationsEnded.WithLabelValues(CloseNormal.Name())) == 1 })

	for name, tc := range map[string]struct{ got, want float64 }{
		"conversations ended normally":            {testutil.ToFloat64(m.ConversationsEnded.WithLabelValues("normal")), 1},
		"conversations ended otherwise":           {float64(testutil.CollectAndCount(m.ConversationsEnded)), 1},
		"connections ended":                       {float64(testutil.CollectAndCount(m.ConnectionsEnded)), 2},
		"frames in (auth, events, end)":           {testutil.ToFloat64(m.Frames.WithLabelValues(DirectionIn)), float64(2 + len(sent) + 1)},
		"frames out (auth reply, 3 model events)": {testutil.ToFloat64(m.Frames.WithLabelValues(DirectionOut)), 4},
		"speech tokens in":                        {testutil.ToFloat64(m.Tokens.WithLabelValues("speech", DirectionIn)), 12},
		"text tokens in":                          {testutil.ToFloat64(m.Tokens.WithLabelValues("text", DirectionIn)), 3},
		"speech tokens out":                       {testutil.ToFloat64(m.Tokens.WithLabelValues("speech", DirectionOut)), 40},
		"text tokens out":                         {testutil.ToFloat64(m.Tokens.WithLabelValues("text", DirectionOut)), 5},
		"auth failures":                           {testutil.ToFloat64(m.AuthFailures.WithLabelValues(AuthMalformed)), 1},
		"conversations active":                    {testutil.ToFloat64(m.ConversationsActive), 0},
		"connections open":                        {testutil.ToFloat64(m.ConnectionsOpen), 0},
		"Bedrock streams open":                    {testutil.ToFloat64(m.BedrockStreamsOpen), 0},
		"durations observed":                      {histogramCount(t, m.ConversationDuration), 1},
		"latencies observed":                      {histogramCount(t, m.ResponseLatency), 1},
		"relays in (the browser's events sent)":   {histogramCount(t, m.RelayLatency.WithLabelValues(DirectionIn).(prometheus.Histogram)), float64(len(sent) + 1)},
		"relays out (auth reply, 3 model events)": {histogramCount(t, m.RelayLatency.WithLabelValues(DirectionOut).(prometheus.Histogram)), 4},
		"bedrock errors":                          {float64(testutil.CollectAndCount(m.BedrockErrors)), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", name, tc.got, tc.want)
		}
	}
}

func histogramCount(t *testing.T, h interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var out dto.Metric
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	return float64(out.GetHistogram().GetSampleCount())
}

// Every conversation's end line carries the client's address and Bedrock's request id, which AWS
// support asks for.
func TestTheEndLogLineNamesTheClientAndTheBedrockRequest(t *testing.T) {
	logs := &syncBuffer{}
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.Listen()}, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.ClientAddressHeader = "CloudFront-Viewer-Address"
	})
	conn := dialWithHeader(t, hs, map[string]string{"CloudFront-Viewer-Address": "198.51.100.23:50432"})
	for _, ev := range append(openingEvents(), closingEvents()...) {
		send(t, conn, ev)
	}
	readToClose(t, conn)
	waitNoOpenStreams(t, lb)
	waitFor(t, func() bool { return strings.Contains(logs.String(), `"msg":"session ended"`) })
	var end map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"session ended"`) {
			_ = json.Unmarshal([]byte(line), &end)
		}
	}
	if end["client"] != "198.51.100.23" || end["bedrock_request_id"] != onlyRecord(t, lb).RequestID || end["bedrock_request_id"] == "" {
		t.Fatalf("end line %v: want client 198.51.100.23 and request id %s", end, onlyRecord(t, lb).RequestID)
	}
}
