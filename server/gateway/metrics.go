package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsNamespace prefixes every metric the gateway exports.
const MetricsNamespace = "novasonic"

// Metrics are the gateway's Prometheus metrics. Counters are counted where the event happens (a drop where
// the frame is dropped, a refusal where the limit refuses), so that they agree with the session logs.
// server/PROTOCOL.md and the README's operator section list them with what to alert on.
type Metrics struct {
	// ConnectionsOpen counts WebSockets, authenticated or not; ConversationsActive only authenticated
	// ones. Autoscaling and the conversation limits use the latter: an anonymous socket costs no Bedrock
	// stream and must not inflate the scaling signal.
	ConnectionsOpen     prometheus.Gauge
	ConversationsActive prometheus.Gauge
	BedrockStreamsOpen  prometheus.Gauge

	// ConnectionsEnded and ConversationsEnded count ends by outcome (CloseCode.Name).
	ConnectionsEnded     *prometheus.CounterVec
	ConversationsEnded   *prometheus.CounterVec
	ConversationDuration prometheus.Histogram

	BedrockErrors *prometheus.CounterVec // by exception type
	AuthFailures  *prometheus.CounterVec // by reason
	LimitRefusals *prometheus.CounterVec // by limit
	Frames        *prometheus.CounterVec // by direction: in (browser to gateway), out
	Bytes         *prometheus.CounterVec // by direction
	Dropped       *prometheus.CounterVec // by reason

	ToolCalls        *prometheus.CounterVec // by tool and outcome
	ToolCallDuration *prometheus.HistogramVec

	// ResponseLatency is the time from the user's final transcript (Nova Sonic has detected the end of the
	// user's turn) to the first assistant audio after it, as the gateway sees them.
	ResponseLatency prometheus.Histogram
	// Tokens counts usageEvent deltas by kind (speech, text) and direction (input, output): the bill.
	Tokens *prometheus.CounterVec

	// Continuations counts conversations handed to a new Bedrock stream before their stream's time limit;
	// Recoveries counts those continued after their stream failed, by cause. HandoverGap is how long a
	// switch kept the browser's input from Bedrock: near zero for a rotation (the next stream is ready),
	// the backoff and the replay for a recovery.
	Continuations prometheus.Counter
	Recoveries    *prometheus.CounterVec
	HandoverGap   prometheus.Histogram

	// RelayLatency is the time a frame spends inside the gateway, by direction: in, from the start of
	// a browser frame's validation to the return of its Send to Bedrock (which includes the SDK's encoding
	// and signing); out, from queueing an output frame for the browser to the return of its write. It is the
	// latency the gateway adds to a conversation, measured where it happens; the load program
	// (server/cmd/loadtest) reports its quantiles.
	RelayLatency *prometheus.HistogramVec
	// relayIn and relayOut are RelayLatency's two series, looked up once: they are observed for every frame.
	relayIn, relayOut prometheus.Observer
}

// The label values the gateway uses, so that dashboards can rely on them.
const (
	DirectionIn  = "in"
	DirectionOut = "out"

	DropAudioOnBargeIn      = "audio_barge_in"           // queued speech the user talked over
	DropInputQueueFull      = "input_queue_full"         // audio Bedrock did not take in time
	DropDuplicateToolResult = "duplicate_tool_result"    // the browser answered a tool the gateway ran
	DropToolResultTooLate   = "tool_result_prompt_ended" // a tool result for a prompt or stream that has ended
	DropOutputAtFailure     = "output_at_failure"        // output still queued when a session failed
	DropAudioDuringRecovery = "audio_during_recovery"    // audio beyond the latest 3 s while a stream is replaced

	LimitConversations        = "conversations_per_gateway"
	LimitConversationsPerUser = "conversations_per_user"
	LimitConnectionsPerAddr   = "connections_per_address"
	LimitConnectionRate       = "connection_rate"
	LimitInputRate            = "input_rate"
	LimitDraining             = "draining"
)

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: MetricsNamespace, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: MetricsNamespace, Name: name, Help: help})
	}
	m := &Metrics{
		ConnectionsOpen:     gauge("connections_open", "WebSocket connections open, authenticated or not."),
		ConversationsActive: gauge("conversations_active", "Authenticated conversations open: the autoscaling signal."),
		BedrockStreamsOpen:  gauge("bedrock_streams_open", "Bedrock bidirectional streams open."),
		ConnectionsEnded:    counter("connections_ended_total", "WebSocket connections ended, by outcome (close code name).", "outcome"),
		ConversationsEnded:  counter("conversations_ended_total", "Authenticated conversations ended, by outcome (close code name).", "outcome"),
		ConversationDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "conversation_duration_seconds",
			Help:    "Duration of authenticated conversations.",
			Buckets: []float64{5, 15, 30, 60, 120, 240, 420, 480, 600, 900, 1800, 3600},
		}),
		BedrockErrors: counter("bedrock_errors_total", "Bedrock failures that ended a conversation, by exception type.", "type"),
		AuthFailures:  counter("auth_failures_total", "Refused authorization messages, by reason.", "reason"),
		LimitRefusals: counter("limit_refusals_total", "Connections or conversations refused by a limit, by limit.", "limit"),
		Frames:        counter("frames_total", "WebSocket text frames, by direction (in: from browsers).", "direction"),
		Bytes:         counter("frame_bytes_total", "Bytes of WebSocket text frames, by direction.", "direction"),
		Dropped:       counter("dropped_total", "Events dropped, by reason.", "reason"),
		ToolCalls:     counter("tool_calls_total", "Server-side tool calls, by tool and outcome (success, error, timeout).", "tool", "outcome"),
		ToolCallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "tool_call_duration_seconds", Help: "Duration of server-side tool calls.",
			Buckets: []float64{.005, .025, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"tool"}),
		ResponseLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "response_latency_seconds",
			Help:    "Time from the user's final transcript to the first assistant audio after it.",
			Buckets: []float64{.1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10},
		}),
		Tokens: counter("tokens_total", "Tokens reported by Nova Sonic's usageEvent, by kind (speech, text) and direction (input, output).", "kind", "direction"),
		Continuations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: MetricsNamespace, Name: "continuations_total",
			Help: "Conversations handed to a new Bedrock stream ahead of their stream's time limit."}),
		Recoveries: counter("recoveries_total", "Conversations continued on a new Bedrock stream after their stream failed, by cause.", "cause"),
		HandoverGap: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "handover_gap_seconds",
			Help:    "How long a switch to a new Bedrock stream held the browser's input back.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2, 5, 10},
		}),
		RelayLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "relay_latency_seconds",
			Help: "Time a frame spends inside the gateway, by direction (in: validation to Bedrock Send returned; out: queued to written to the browser).",
			// Fine below 2 ms, where a healthy gateway is, and coarse up to a second, where it is not.
			Buckets: []float64{.00005, .0001, .0002, .0003, .0005, .00075, .001, .0015, .002, .003, .005, .0075, .01, .02, .05, .1, .25, .5, 1},
		}, []string{"direction"}),
	}
	m.relayIn, m.relayOut = m.RelayLatency.WithLabelValues(DirectionIn), m.RelayLatency.WithLabelValues(DirectionOut)
	reg.MustRegister(m.ConnectionsOpen, m.ConversationsActive, m.BedrockStreamsOpen, m.ConnectionsEnded,
		m.ConversationsEnded, m.ConversationDuration, m.BedrockErrors, m.AuthFailures, m.LimitRefusals,
		m.Frames, m.Bytes, m.Dropped, m.ToolCalls, m.ToolCallDuration, m.ResponseLatency, m.Tokens,
		m.Continuations, m.Recoveries, m.HandoverGap, m.RelayLatency)
	return m
}

func (m *Metrics) drop(reason string, n int) {
	if n > 0 {
		m.Dropped.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *Metrics) conversationEnded(outcome string, d time.Duration) {
	m.ConversationsEnded.WithLabelValues(outcome).Inc()
	m.ConversationDuration.Observe(d.Seconds())
}

// relayed records the time a frame has spent in the gateway since it arrived, in direction. A zero arrival
// marks an event the gateway made itself (the closing events, a tool's result), which relays nothing.
func (m *Metrics) relayed(direction string, arrived time.Time) {
	if arrived.IsZero() {
		return
	}
	o := m.relayIn
	if direction == DirectionOut {
		o = m.relayOut
	}
	o.Observe(time.Since(arrived).Seconds())
}
