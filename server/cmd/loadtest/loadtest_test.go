package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// gatewayBin is the gateway command, built once by TestMain (with -race when the tests run with it, which
// reuses what `go test -race ./server/...` compiled).
var gatewayBin string

func TestMain(m *testing.M) {
	// The floor's worker is this binary started again (os.Executable), as the command starts itself.
	if isFloorWorker(os.Args) {
		floorWorkerMain(context.Background())
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "loadtest-gateway-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	if gatewayBin, err = buildGateway(dir, flags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// A short run end to end: three conversations through the real gateway process and through the SDK
// alone, unpinned, on a two-second window. It checks what the numbers are made of (every frame echoed in
// order, every conversation ended normally, the relay latency observed, CPU and memory read), never how
// fast: BENCHMARKS.md holds the measurements.
func TestThreeConversationsThroughTheGatewayAndTheSDKAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway and holds conversations for several seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config{levels: []int{3}, ramp: 300 * time.Millisecond, settle: 500 * time.Millisecond, window: 2 * time.Second,
		frame: frameMillis * time.Millisecond, gatewayCPU: -1, harnessCPU: -1, floor: true, gatewayBin: gatewayBin}
	results, err := measure(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want one level", len(results))
	}
	for name, r := range map[string]*targetResult{"gateway": results[0].Gateway, "SDK alone": results[0].Floor} {
		if r == nil {
			t.Fatalf("%s: no result", name)
		}
		// At least the window's frames, 2 s / 32 ms each, for each of the three conversations.
		if r.Failed != 0 || r.FramesSent < 3*62 || r.FramesEchoed != r.FramesSent || r.Missing != 0 || r.OutOfOrder != 0 {
			t.Errorf("%s: %d failed %v, %d frames sent, %d echoed, %d missing, %d out of order; want every frame echoed in order",
				name, r.Failed, r.Failures, r.FramesSent, r.FramesEchoed, r.Missing, r.OutOfOrder)
		}
		if r.RoundTrip.Count < 3*60 || r.ConnectTime.Count != 3 {
			t.Errorf("%s: %d round trips and %d connections measured, want the window's frames and 3", name, r.RoundTrip.Count, r.ConnectTime.Count)
		}
		if r.CPUMsPerConversationSecond <= 0 || r.IdleRSSMB <= 0 || r.PeakRSSMB <= 0 || r.WindowSeconds < 1.9 {
			t.Errorf("%s: CPU %.2f ms per conversation-second, RSS %.1f / %.1f MB over %.2f s: not read", name, r.CPUMsPerConversationSecond, r.IdleRSSMB, r.PeakRSSMB, r.WindowSeconds)
		}
	}
	gw := results[0].Gateway
	if gw.Ended["normal"] != 3 || len(gw.Ended) != 1 || gw.Dropped != 0 {
		t.Errorf("gateway: conversations ended %v, %.0f dropped; want 3 normal ends and nothing dropped", gw.Ended, gw.Dropped)
	}
	if gw.RelayIn == nil || gw.RelayOut == nil || gw.RelayIn.Count < 3*60 || gw.RelayOut.Count < 3*60 {
		t.Errorf("gateway relay latency: in %+v, out %+v; want the window's frames each way", gw.RelayIn, gw.RelayOut)
	}
}

func TestAStampedFrameIsReadBackFromItsEcho(t *testing.T) {
	sc := newScript(7)
	for _, seq := range []uint32{0, 1, 255, 65536, 1<<32 - 1} {
		sc.stamp(seq)
		// Echo sends the same PCM back in an audioOutput event, after other fields.
		content := sc.audio[sc.stampAt : len(sc.audio)-len(`"}}}`)]
		echo := []byte(`{"event":{"audioOutput":{"sessionId":"s","contentId":"c","content":"` + string(content) + `"}}}`)
		if got, ok := echoedSeq(echo); !ok || got != seq {
			t.Fatalf("stamped %d, read back %d (%v)", seq, got, ok)
		}
	}
	for _, other := range []string{
		`{"event":{"textOutput":{"content":"TFQAAAAA"}}}`,
		`{"event":{"audioOutput":{"content":"AAAAAAAA"}}}`, // no marker: not one of ours
		`{"event":{"audioOutput":{"content":"AA"}}}`,
	} {
		if _, ok := echoedSeq([]byte(other)); ok {
			t.Errorf("%s read as an echo", other)
		}
	}
}

func TestQuantilesOfDurations(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if q := quantilesOf(ds); q != (quantiles{Count: 100, P50: 51, P99: 100, Max: 100}) {
		t.Fatalf("quantiles = %+v", q)
	}
	if q := quantilesOf(nil); q != (quantiles{}) {
		t.Fatalf("quantiles of nothing = %+v", q)
	}
}

// The relay latency quantiles come from the difference of two scrapes, interpolated within buckets as
// Prometheus's histogram_quantile does.
func TestHistogramLatencyOfAWindow(t *testing.T) {
	hist := func(counts ...uint64) *dto.Histogram {
		bounds := []float64{.0001, .001, .01}
		h := &dto.Histogram{}
		var total uint64
		for i, c := range counts {
			total = c
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(bounds[i]), CumulativeCount: proto.Uint64(c)})
		}
		h.SampleCount = proto.Uint64(total)
		return h
	}
	// Before the window: 10 samples under 100 µs. In it: 100 more, 50 under 100 µs, 48 under 1 ms, 2 under 10 ms.
	l := histogramLatency(hist(10, 10, 10), hist(60, 108, 110))
	if l.Count != 100 || math.Round(l.P50) != 100 || math.Round(l.P99) != 5500 {
		t.Fatalf("latency = %+v, want 100 samples, p50 100 µs, p99 5500 µs", l)
	}
	if l := histogramLatency(nil, hist(0, 0, 0)); l.Count != 0 {
		t.Fatalf("latency of an empty window = %+v", l)
	}
	// Beyond the last finite bucket (the text format has a +Inf one): at least its bound.
	slow := hist(0, 0, 1)
	slow.Bucket = append(slow.Bucket, &dto.Bucket{UpperBound: proto.Float64(math.Inf(+1)), CumulativeCount: proto.Uint64(100)})
	slow.SampleCount = proto.Uint64(100)
	if l := histogramLatency(nil, slow); l.P50 != 10000 || l.P99 != 10000 {
		t.Fatalf("latency beyond the buckets = %+v, want their last bound, 10 ms", l)
	}
}

func TestProcessCPUAndMemoryAreRead(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel's own account (getrusage) shows 300 ms of CPU, however busy the machine is,
	// then compare: /proc counts in clock ticks, so the two agree within a few ticks.
	start := rusageCPU(t)
	for rusageCPU(t)-start < 300*time.Millisecond {
	}
	spun := rusageCPU(t) - start
	after, err := processCPU(os.Getpid())
	if err != nil || (after-before) < spun-50*time.Millisecond || (after-before) > spun+250*time.Millisecond {
		t.Fatalf("%v of CPU (getrusage) counted as %v (%v)", spun, after-before, err)
	}
	if rss, err := processRSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Fatalf("resident memory %d bytes (%v)", rss, err)
	}
	cores, err := readCoreTimes()
	if err != nil || len(cores) == 0 {
		t.Fatalf("cores %v (%v)", cores, err)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"-conversations", "50,abc"}, {"-conversations", "0"}, {"-window", "0s"}, {"-env", "GOGC"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%s: accepted", strings.Join(args, " "))
		}
	}
	cfg, err := parseFlags(nil)
	if err != nil || fmt.Sprint(cfg.levels) != "[50 100 200 400]" || !cfg.floor || cfg.gatewayCPU != 0 || cfg.harnessCPU != 1 {
		t.Fatalf("defaults %+v (%v)", cfg, err)
	}
	if cfg.rampFor(50) != 2*time.Second || cfg.rampFor(400) != 4*time.Second {
		t.Fatalf("ramps %v, %v", cfg.rampFor(50), cfg.rampFor(400))
	}
}

// rusageCPU is this process's user and system CPU time as getrusage reports it.
func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
