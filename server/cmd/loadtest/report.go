package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// levelResult is one number of conversations, through the gateway and through the SDK alone.
type levelResult struct {
	Conversations int           `json:"conversations"`
	Load          string        `json:"loadAverage"` // the machine's one-minute load average before the level
	Gateway       *targetResult `json:"gateway"`
	Floor         *targetResult `json:"floor,omitempty"`
}

// targetResult is what one process cost for one run, with what its conversations saw.
type targetResult struct {
	runStats
	WindowSeconds float64 `json:"windowSeconds"`
	// CPUMsPerConversationSecond is the process's CPU time (user and system, all threads) in the window,
	// in milliseconds per second of conversation: the number that sizes a deployment.
	CPUMsPerConversationSecond float64 `json:"cpuMsPerConversationSecond"`
	// CoreBusy is the process's CPU time as a fraction of the window: 1 is its whole core.
	CoreBusy float64 `json:"coreBusy"`
	// IdleRSSMB is resident memory before the conversations, PeakRSSMB the most during the window;
	// RSSPerConversationKB is their difference per conversation.
	IdleRSSMB            float64 `json:"idleRssMB"`
	PeakRSSMB            float64 `json:"peakRssMB"`
	RSSPerConversationKB float64 `json:"rssPerConversationKB"`
	// Cores is each core's busy fraction in the window, every process included; HarnessBusy is this
	// program's (the browsers and the local Bedrock) share of its core.
	Cores       map[int]float64 `json:"cores"`
	HarnessBusy float64         `json:"harnessBusy"`
	// The gateway only: its own relay latency (inside the process), drops, goroutines and heap at the
	// window's start, and how its conversations ended.
	RelayIn      *latency           `json:"relayIn,omitempty"`
	RelayOut     *latency           `json:"relayOut,omitempty"`
	Dropped      float64            `json:"dropped"`
	Goroutines   float64            `json:"goroutines,omitempty"`
	HeapInUseMB  float64            `json:"heapInUseMB,omitempty"`
	StackInUseMB float64            `json:"stackInUseMB,omitempty"`
	Ended        map[string]float64 `json:"ended,omitempty"`
}

// latency quantiles estimated from a histogram, in microseconds.
type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50us"`
	P99   float64 `json:"p99us"`
}

func newTargetResult(st runStats, w window, idleRSS int64, n int) *targetResult {
	secs := w.ended.Sub(w.began).Seconds()
	cpu := w.cpuAfter - w.cpuBefore
	r := &targetResult{
		runStats:      st,
		WindowSeconds: secs,
		CoreBusy:      cpu.Seconds() / secs,
		IdleRSSMB:     mb(idleRSS),
		PeakRSSMB:     mb(w.peakRSS),
		Cores:         busy(w.coresBefore, w.coresAfter),
		HarnessBusy:   (w.selfAfter - w.selfBefore).Seconds() / secs,
	}
	r.CPUMsPerConversationSecond = float64(cpu.Milliseconds()) / (secs * float64(n))
	r.RSSPerConversationKB = float64(w.peakRSS-idleRSS) / 1024 / float64(n)
	return r
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// relayQuantiles estimates the window's relay latency quantiles in one direction from the difference of
// two scrapes of novasonic_relay_latency_seconds.
func relayQuantiles(before, after metricFamilies, direction string) *latency {
	const name = "novasonic_relay_latency_seconds"
	match := map[string]string{"direction": direction}
	a := after.histogram(name, match)
	if a == nil {
		return nil
	}
	return histogramLatency(before.histogram(name, match), a)
}

// histogramLatency interpolates p50 and p99 linearly within the buckets of after minus before, as
// Prometheus's histogram_quantile does. A quantile beyond the last finite bucket is reported as that
// bound (1 s for the relay latency): it is at least that.
func histogramLatency(before, after *dto.Histogram) *latency {
	prev := map[float64]uint64{}
	var prevCount uint64
	if before != nil {
		for _, b := range before.GetBucket() {
			prev[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		prevCount = before.GetSampleCount()
	}
	total := after.GetSampleCount() - prevCount
	l := &latency{Count: int(total)}
	if total == 0 {
		return l
	}
	at := func(q float64) float64 {
		rank := q * float64(total)
		lower, below := 0.0, 0.0
		for _, b := range after.GetBucket() {
			upper := b.GetUpperBound()
			if math.IsInf(upper, +1) {
				break
			}
			cum := float64(b.GetCumulativeCount() - prev[upper])
			if cum >= rank {
				if cum == below {
					return upper * 1e6
				}
				return (lower + (upper-lower)*(rank-below)/(cum-below)) * 1e6
			}
			lower, below = upper, cum
		}
		return lower * 1e6
	}
	l.P50, l.P99 = at(0.50), at(0.99)
	return l
}

// line is one level's progress line.
func (r levelResult) line() string {
	s := fmt.Sprintf("%d conversations: gateway %.2f ms CPU per conversation-second (core %.0f%%), %.0f KB per conversation, round trip p99 %.1f ms, failed %d, missing %d",
		r.Conversations, r.Gateway.CPUMsPerConversationSecond, 100*r.Gateway.CoreBusy, r.Gateway.RSSPerConversationKB,
		r.Gateway.RoundTrip.P99, r.Gateway.Failed, r.Gateway.Missing)
	if r.Floor != nil {
		s += fmt.Sprintf("; SDK alone %.2f ms (ratio %.2f)", r.Floor.CPUMsPerConversationSecond, ratio(r.Gateway, r.Floor))
	}
	return s
}

func ratio(gw, floor *targetResult) float64 {
	if floor == nil || floor.CPUMsPerConversationSecond == 0 {
		return math.NaN()
	}
	return gw.CPUMsPerConversationSecond / floor.CPUMsPerConversationSecond
}

// printReport writes the results as the Markdown tables BENCHMARKS.md quotes.
func printReport(w io.Writer, cfg config, results []levelResult) {
	frame := "Go's default, 1 MiB"
	if cfg.bedrockMaxFrame > 0 {
		frame = fmt.Sprint(cfg.bedrockMaxFrame)
	}
	fmt.Fprintf(w, "Window %s per run after a %s settle; %s audio frames; gateway and floor on CPU %d, this program on CPU %d; local Bedrock's HTTP/2 max frame size %s.\n\n",
		cfg.window, cfg.settle, cfg.frame, cfg.gatewayCPU, cfg.harnessCPU, frame)
	if len(cfg.targetEnv) > 0 {
		fmt.Fprintf(w, "Gateway and floor environment: %s.\n\n", strings.Join(cfg.targetEnv, " "))
	}
	fmt.Fprintln(w, "| conversations | gateway CPU ms/conv·s | SDK-alone CPU ms/conv·s | ratio | gateway core | gateway KB/conv | SDK-alone KB/conv | relay in p50/p99 µs | relay out p50/p99 µs | round trip p50/p99 ms (gateway) | round trip p50/p99 ms (SDK alone) | failed | missing | out of order | dropped |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		g, f := r.Gateway, r.Floor
		floorCPU, floorKB, floorRTT, rat := "—", "—", "—", "—"
		if f != nil {
			floorCPU = fmt.Sprintf("%.2f", f.CPUMsPerConversationSecond)
			floorKB = fmt.Sprintf("%.0f", f.RSSPerConversationKB)
			floorRTT = fmt.Sprintf("%.1f / %.1f", f.RoundTrip.P50, f.RoundTrip.P99)
			rat = fmt.Sprintf("%.2f", ratio(g, f))
		}
		fmt.Fprintf(w, "| %d | %.2f | %s | %s | %.0f %% | %.0f | %s | %s | %s | %.1f / %.1f | %s | %d%s | %d%s | %d%s | %.0f |\n",
			r.Conversations, g.CPUMsPerConversationSecond, floorCPU, rat, 100*g.CoreBusy, g.RSSPerConversationKB, floorKB,
			latencyCell(g.RelayIn), latencyCell(g.RelayOut), g.RoundTrip.P50, g.RoundTrip.P99, floorRTT,
			g.Failed, floorCount(f, func(t *targetResult) int { return t.Failed }),
			g.Missing, floorCount(f, func(t *targetResult) int { return t.Missing }),
			g.OutOfOrder, floorCount(f, func(t *targetResult) int { return t.OutOfOrder }), g.Dropped)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The harness and the machine during each window (cores' busy fraction includes every process on the machine):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| conversations | run | load avg | CPU busy (each core) | harness core | send lag p99 ms | connect p50/p99 ms | idle / peak RSS MB | goroutines | heap / stacks MB | ended |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		for _, t := range []struct {
			name string
			res  *targetResult
		}{{"gateway", r.Gateway}, {"SDK alone", r.Floor}} {
			if t.res == nil {
				continue
			}
			x := t.res
			extra := "— | — | —"
			if t.name == "gateway" {
				extra = fmt.Sprintf("%.0f | %.0f / %.0f | %s", x.Goroutines, x.HeapInUseMB, x.StackInUseMB, endedCell(x.Ended))
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %.0f %% | %.1f | %.0f / %.0f | %.0f / %.0f | %s |\n",
				r.Conversations, t.name, r.Load, coresCell(x.Cores), 100*x.HarnessBusy, x.SendLag.P99,
				x.ConnectTime.P50, x.ConnectTime.P99, x.IdleRSSMB, x.PeakRSSMB, extra)
		}
	}
	for _, r := range results {
		for name, t := range map[string]*targetResult{"gateway": r.Gateway, "SDK alone": r.Floor} {
			if t != nil && len(t.Failures) > 0 {
				fmt.Fprintf(w, "\n%d conversations, %s, failures: %v\n", r.Conversations, name, t.Failures)
			}
		}
	}
}

func floorCount(f *targetResult, get func(*targetResult) int) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf(" / %d", get(f))
}

func latencyCell(l *latency) string {
	if l == nil || l.Count == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f / %.0f", l.P50, l.P99)
}

func coresCell(c map[int]float64) string {
	var parts []string
	for _, cpu := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("cpu%d %.0f %%", cpu, 100*c[cpu]))
	}
	return strings.Join(parts, ", ")
}

func endedCell(e map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, e[k]))
	}
	return strings.Join(parts, ", ")
}
