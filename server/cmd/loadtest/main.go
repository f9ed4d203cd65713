// Command loadtest measures what conversations cost the gateway. For each number of conversations it
// starts the real gateway command pinned to one core, holds the conversations through it at real-time
// pace against the local Bedrock, then holds the same conversations through the Go SDK alone (the floor)
// in a process pinned to the same core, and reports for both: CPU per conversation-second, resident memory
// per conversation above the idle process, round trips, drops and failures; for the gateway also the
// latency it adds each way, measured inside it (novasonic_relay_latency_seconds).
//
//	go run ./server/cmd/loadtest -conversations 50,100,200,400 -window 20s
//
// (`make capacity` runs BENCHMARKS.md's main table.)
//
// This program (the simulated browsers and the local Bedrock) runs pinned to the other core
// (-harness-cpu), and reports that core's load: when it is saturated, or the browsers send late
// (the send lag), the harness and not the gateway is the limit. BENCHMARKS.md records the results with the
// machine's load, and what they mean for sizing the stacks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"novasonic/server/localbedrock"
)

// config is one invocation's settings.
type config struct {
	levels                 []int
	ramp, settle, window   time.Duration
	frame                  time.Duration
	gatewayCPU, harnessCPU int
	floor                  bool
	gatewayBin             string
	// bedrockMaxFrame is the local Bedrock's Options.MaxReadFrameSize.
	bedrockMaxFrame int
	// targetEnv is added to the environment of the gateway and the floor (GOGC=200, say).
	targetEnv  []string
	profileDir string
	jsonOut    string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if isFloorWorker(os.Args) {
		floorWorkerMain(ctx)
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	levels := fs.String("conversations", "50,100,200,400", "comma-separated numbers of concurrent conversations, one run each")
	ramp := fs.Duration("ramp", 0, "how long the conversations take to start, evenly spread (default: 10 ms per conversation, at least 2 s)")
	settle := fs.Duration("settle", 2*time.Second, "pause after the last conversation started before the measured window")
	window := fs.Duration("window", 20*time.Second, "the measured window, during which every conversation streams")
	frame := fs.Duration("frame", frameMillis*time.Millisecond, "audio frame period (each frame is 1,024 bytes: 32 ms of 16 kHz PCM)")
	gatewayCPU := fs.Int("gateway-cpu", 0, "CPU the gateway and the floor are pinned to; -1 not to pin")
	harnessCPU := fs.Int("harness-cpu", 1, "CPU this program (browsers and local Bedrock) is pinned to; -1 not to pin")
	floor := fs.Bool("floor", true, "also run the same workload through the SDK alone")
	bin := fs.String("gateway-bin", "", "gateway command to run (default: build novasonic/server)")
	maxFrame := fs.Int("bedrock-max-frame", 0, "the HTTP/2 frame size the local Bedrock advertises: each Go client stream holds a buffer of it, up to 512 KiB (default: Go's 1 MiB; 16384 is HTTP/2's default; what Bedrock advertises is not documented)")
	var targetEnv listFlag
	fs.Var(&targetEnv, "env", "KEY=VALUE added to the environment of the gateway and the floor, e.g. GOGC=200 (repeatable)")
	profileDir := fs.String("profile", "", "write CPU profiles of the gateway, the floor and this program per run into this directory (perturbs the numbers: use a separate run)")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{ramp: *ramp, settle: *settle, window: *window, frame: *frame, gatewayCPU: *gatewayCPU,
		harnessCPU: *harnessCPU, floor: *floor, gatewayBin: *bin, bedrockMaxFrame: *maxFrame, targetEnv: targetEnv, profileDir: *profileDir, jsonOut: *jsonOut}
	for _, kv := range cfg.targetEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return config{}, fmt.Errorf("-env %q is not KEY=VALUE", kv)
		}
	}
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return config{}, fmt.Errorf("-conversations: %q is not a positive number", s)
		}
		cfg.levels = append(cfg.levels, n)
	}
	if cfg.window <= 0 || cfg.frame <= 0 {
		return config{}, errors.New("-window and -frame must be positive")
	}
	return cfg, nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// rampFor is how long n conversations take to start: the gateway admits connections at a bounded rate
// and each opens a Bedrock stream, so a burst of hundreds would measure the start, not the conversation.
func (c config) rampFor(n int) time.Duration {
	if c.ramp > 0 {
		return c.ramp
	}
	return max(2*time.Second, time.Duration(n)*10*time.Millisecond)
}

// run measures every level and prints the report.
func run(ctx context.Context, cfg config, out io.Writer) error {
	results, err := measure(ctx, cfg)
	if err != nil {
		return err
	}
	printReport(out, cfg, results)
	if cfg.jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(cfg.jsonOut, b, 0o644)
	}
	return nil
}

// measure runs every level: through the gateway, then through the SDK alone.
func measure(ctx context.Context, cfg config) ([]levelResult, error) {
	if cfg.harnessCPU >= 0 {
		// Every thread of this process, present and future, runs on the harness core.
		var set unix.CPUSet
		set.Set(cfg.harnessCPU)
		if err := pinProcess(&set); err != nil {
			return nil, fmt.Errorf("pin to CPU %d: %w", cfg.harnessCPU, err)
		}
		// The runtime sized GOMAXPROCS from the affinity it started with: two processors contending for
		// one core would cost the harness scheduling work the pinned gateway does not have.
		runtime.GOMAXPROCS(1)
	}
	lb, err := localbedrock.Start(localbedrock.Options{
		Behavior:    localbedrock.Echo(),
		KeepRecords: 1,
		// Records of open streams would keep every event of every conversation: counts are enough here.
		CountEventsOnly:  true,
		MaxReadFrameSize: cfg.bedrockMaxFrame,
		Logger:           slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("start the local Bedrock: %w", err)
	}
	defer lb.Close()
	iss, err := startIssuer()
	if err != nil {
		return nil, fmt.Errorf("start the token issuer: %w", err)
	}
	defer iss.close()
	work, err := os.MkdirTemp("", "loadtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	caFile := filepath.Join(work, "localbedrock-ca.pem")
	if err := os.WriteFile(caFile, lb.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	bin := cfg.gatewayBin
	if bin == "" {
		var tags []string
		if cfg.profileDir != "" {
			tags = []string{"-tags", "pprof"}
		}
		if bin, err = buildGateway(work, tags...); err != nil {
			return nil, err
		}
	}
	env := append(sdkEnvironment(lb, caFile), cfg.targetEnv...)

	var results []levelResult
	for _, n := range cfg.levels {
		res := levelResult{Conversations: n, Load: machineLoad()}
		res.Gateway, err = measureGateway(ctx, cfg, bin, env, iss, n)
		if err != nil {
			return nil, fmt.Errorf("%d conversations through the gateway: %w", n, err)
		}
		if cfg.floor {
			res.Floor, err = measureFloor(ctx, cfg, env, n)
			if err != nil {
				return nil, fmt.Errorf("%d conversations through the SDK alone: %w", n, err)
			}
		}
		results = append(results, res)
		fmt.Fprintln(os.Stderr, res.line())
	}
	return results, nil
}

// pinProcess sets the affinity of every thread of this process. Go starts threads before main, and
// sched_setaffinity applies to one thread: each one in /proc/self/task is set, and threads created later
// inherit the affinity of their creator.
func pinProcess(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return err
		}
	}
	return nil
}

// sdkEnvironment is the environment of the gateway and the floor: the AWS SDK's default chain pointed at
// the local Bedrock with its test keys, and nothing of this machine's AWS configuration.
func sdkEnvironment(lb *localbedrock.Server, caFile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+lb.URL(),
		"AWS_CA_BUNDLE="+caFile,
		"AWS_REGION="+lb.Region(),
		"AWS_ACCESS_KEY_ID="+localbedrock.TestAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+localbedrock.TestSecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
	)
}

// window is what was read at the start and the end of a measured window.
type window struct {
	cpuBefore, cpuAfter     time.Duration
	selfBefore, selfAfter   time.Duration
	coresBefore, coresAfter coreTimes
	peakRSS                 int64
	began, ended            time.Time
}

// measureWindow reads pid's CPU and the cores at the window's start, its resident memory every second,
// and all of them again at the end. before and after run just outside the window (scrapes of the
// gateway's metrics), so that their own cost is not counted.
func measureWindow(ctx context.Context, pid int, tl timeline, before, after func()) (window, error) {
	var w window
	if err := sleepUntil(ctx, tl.windowStart()); err != nil {
		return w, err
	}
	if before != nil {
		before()
	}
	var err error
	w.began = time.Now()
	if w.cpuBefore, err = processCPU(pid); err != nil {
		return w, err
	}
	w.selfBefore, _ = processCPU(os.Getpid())
	w.coresBefore, _ = readCoreTimes()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Now().Before(tl.stop()) {
		if rss, err := processRSS(pid); err == nil {
			w.peakRSS = max(w.peakRSS, rss)
		}
		select {
		case <-tick.C:
		case <-time.After(time.Until(tl.stop())):
		case <-ctx.Done():
			return w, ctx.Err()
		}
	}
	w.ended = time.Now()
	if w.cpuAfter, err = processCPU(pid); err != nil {
		return w, err
	}
	w.selfAfter, _ = processCPU(os.Getpid())
	w.coresAfter, _ = readCoreTimes()
	if after != nil {
		after()
	}
	return w, nil
}

// measureGateway runs n conversations through a fresh gateway process.
func measureGateway(ctx context.Context, cfg config, bin string, env []string, iss *tokenIssuer, n int) (*targetResult, error) {
	genv := append(env,
		"COGNITO_USER_POOL_ID="+issuerPoolID, "COGNITO_CLIENT_ID="+issuerClientID, "COGNITO_ISSUER_URL="+iss.url,
		"BEDROCK_REGION="+localbedrock.DefaultRegion, "LOG_LEVEL=info", "DRAIN_TIMEOUT=10s",
		// Limits high enough for the run: the conversations are the load, not an attack.
		"MAX_CONVERSATIONS="+strconv.Itoa(n), "MAX_CONNECTIONS_PER_ADDRESS="+strconv.Itoa(n+10),
		"NEW_CONNECTIONS_PER_SECOND="+strconv.Itoa(max(20, 2*n/int(max(cfg.rampFor(n)/time.Second, 1)))),
	)
	g, err := startGateway(ctx, bin, cfg.gatewayCPU, genv)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	tokens := make([]string, n)
	for i := range tokens {
		if tokens[i], err = iss.token(fmt.Sprintf("loadtest-user-%06d", i)); err != nil {
			return nil, err
		}
	}
	if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
		return nil, err
	}
	idleRSS, err := processRSS(g.pid())
	if err != nil {
		return nil, err
	}
	tl := timeline{start: time.Now().Add(500 * time.Millisecond), ramp: cfg.rampFor(n), settle: cfg.settle, window: cfg.window, conversations: n, frame: cfg.frame}
	tallies := make([]*tally, n)
	var wg sync.WaitGroup
	for i := range tallies {
		tallies[i] = newTally(tl)
		b := &browser{url: "ws://" + g.addr + "/interact-s2s", token: tokens[i], sc: newScript(i), tl: tl, tally: tallies[i]}
		wg.Go(func() { b.run(ctx, i) })
	}
	var scrapeBefore, scrapeAfter metricFamilies
	var scrapeErr error
	var stopProfiles func()
	w, err := measureWindow(ctx, g.pid(), tl,
		func() {
			scrapeBefore, scrapeErr = g.scrape(ctx)
			stopProfiles = startProfiles(ctx, cfg, g, n, tl.window)
		},
		func() {
			stopProfiles()
			var err error
			scrapeAfter, err = g.scrape(ctx)
			scrapeErr = errors.Join(scrapeErr, err)
		})
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if scrapeErr != nil {
		return nil, scrapeErr
	}
	// Each session counts its end after its teardown, a moment after the browser saw the close.
	var final metricFamilies
	for deadline := time.Now().Add(10 * time.Second); ; {
		if final, err = g.scrape(ctx); err != nil {
			return nil, err
		}
		if final.sum("novasonic_conversations_active", nil) == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return nil, err
		}
	}
	res := newTargetResult(summarize(tallies), w, idleRSS, n)
	res.RelayIn = relayQuantiles(scrapeBefore, scrapeAfter, "in")
	res.RelayOut = relayQuantiles(scrapeBefore, scrapeAfter, "out")
	res.Dropped = final.sum("novasonic_dropped_total", nil)
	// At the window's start every conversation is open; at its end they are already closing.
	res.Goroutines = scrapeBefore.sum("go_goroutines", nil)
	res.HeapInUseMB = scrapeBefore.sum("go_memstats_heap_inuse_bytes", nil) / (1 << 20)
	res.StackInUseMB = scrapeBefore.sum("go_memstats_stack_inuse_bytes", nil) / (1 << 20)
	res.Ended = map[string]float64{}
	for _, s := range final.series("novasonic_conversations_ended_total", nil) {
		for _, l := range s.GetLabel() {
			if l.GetName() == "outcome" {
				res.Ended[l.GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	return res, nil
}

// startProfiles starts the window's CPU profiles when -profile is set: the gateway's through its pprof
// endpoint (built in with the pprof tag), and this program's own. The returned function ends them and
// takes the gateway's heap and goroutine profiles.
func startProfiles(ctx context.Context, cfg config, g *gatewayProcess, n int, d time.Duration) func() {
	if cfg.profileDir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		cpu := fmt.Sprintf("profile?seconds=%d", int(d.Round(time.Second)/time.Second))
		if err := g.profile(ctx, cpu, filepath.Join(cfg.profileDir, fmt.Sprintf("gateway-%d.pprof", n))); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest: gateway profile:", err)
		}
	})
	f, err := os.Create(filepath.Join(cfg.profileDir, fmt.Sprintf("harness-%d.pprof", n)))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest: harness profile:", err)
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			_ = f.Close()
		}
		wg.Wait()
		// The memory and the goroutines the conversations hold, at the window's end.
		for path, name := range map[string]string{"heap": "heap.pprof", "goroutine?debug=1": "goroutines.txt"} {
			if err := g.profile(ctx, path, filepath.Join(cfg.profileDir, fmt.Sprintf("gateway-%d.%s", n, name))); err != nil {
				fmt.Fprintln(os.Stderr, "loadtest: gateway profile:", err)
			}
		}
	}
}

// measureFloor runs n conversations through the SDK alone, in a worker process.
func measureFloor(ctx context.Context, cfg config, env []string, n int) (*targetResult, error) {
	// The worker starts a little ahead of its timeline, so that its idle memory can be read first.
	tl := timeline{start: time.Now().Add(2 * time.Second), ramp: cfg.rampFor(n), settle: cfg.settle, window: cfg.window, conversations: n, frame: cfg.frame}
	wenv := env
	if cfg.profileDir != "" {
		wenv = append(slices.Clone(env), floorProfileEnv+"="+filepath.Join(cfg.profileDir, fmt.Sprintf("floor-%d.pprof", n)))
	}
	f, err := startFloor(tl, cfg.gatewayCPU, wenv)
	if err != nil {
		return nil, err
	}
	if err := sleepUntil(ctx, tl.start.Add(-300*time.Millisecond)); err != nil {
		return nil, err
	}
	idleRSS, err := processRSS(f.pid())
	if err != nil {
		return nil, err
	}
	w, werr := measureWindow(ctx, f.pid(), tl, nil, nil)
	stats, err := f.wait(ctx)
	if err := errors.Join(werr, err); err != nil {
		return nil, err
	}
	return newTargetResult(stats, w, idleRSS, n), nil
}
