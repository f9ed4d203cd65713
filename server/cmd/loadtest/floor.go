package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"novasonic/server/bedrockcall"
	"novasonic/server/localbedrock"
)

// The floor is the same workload through the Go SDK alone, with no WebSocket front end: what holding
// the conversations costs any Go program that talks to Nova Sonic. It runs in a process of its own (this
// command with -floor-worker) pinned to the gateway's core, so that its CPU and memory are read the same
// way as the gateway's. It sends the very bytes the browsers send the gateway and reads the echoes the way
// the browsers do, so that the difference between the two is the gateway.

// floorWorkerFlag marks the worker process.
const floorWorkerFlag = "floor-worker"

// floorProfileEnv names the file the worker writes its CPU profile of the window to, if set.
const floorProfileEnv = "LOADTEST_CPU_PROFILE"

// floorWorkerArgs are the worker's arguments for one run.
func floorWorkerArgs(tl timeline) []string {
	return []string{"-" + floorWorkerFlag,
		"-worker-start", strconv.FormatInt(tl.start.UnixNano(), 10),
		"-ramp", tl.ramp.String(), "-settle", tl.settle.String(), "-window", tl.window.String(),
		"-worker-conversations", strconv.Itoa(tl.conversations), "-frame", tl.frame.String()}
}

// isFloorWorker reports whether this process was started as the floor's worker.
func isFloorWorker(args []string) bool { return len(args) > 1 && args[1] == "-"+floorWorkerFlag }

// floorWorkerMain runs the worker and exits on failure.
func floorWorkerMain(ctx context.Context) {
	tl, err := parseFloorWorkerFlags(os.Args[1:])
	if err == nil {
		err = runFloorWorker(ctx, tl, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest floor worker:", err)
		os.Exit(1)
	}
	// Stay until the parent has read this process's CPU at the window's end: it closes stdin then.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// runFloorWorker is the worker's main: it holds the conversations on timeline tl through the SDK, whose
// endpoint and credentials come from the environment as the gateway's do, and writes its runStats to out.
func runFloorWorker(ctx context.Context, tl timeline, out io.Writer) error {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	client := bedrockruntime.NewFromConfig(awsCfg)
	tallies := make([]*tally, tl.conversations)
	var wg sync.WaitGroup
	for i := range tallies {
		tallies[i] = newTally(tl)
		c := &sdkConversation{client: client, sc: newScript(i), tl: tl, tally: tallies[i]}
		wg.Go(func() { c.run(ctx, i) })
	}
	if file := os.Getenv(floorProfileEnv); file != "" {
		if err := profileWindow(ctx, tl, file); err != nil {
			return err
		}
	}
	wg.Wait()
	return json.NewEncoder(out).Encode(summarize(tallies))
}

// sdkConversation is one conversation held through the SDK.
type sdkConversation struct {
	client *bedrockruntime.Client
	sc     *script
	tl     timeline
	tally  *tally
}

func (c *sdkConversation) run(ctx context.Context, i int) {
	if err := sleepUntil(ctx, c.tl.startOf(i)); err != nil {
		c.tally.failure = "not started: " + err.Error()
		return
	}
	began := time.Now()
	// The per-call options every bidirectional stream needs with this SDK version, as the gateway uses them.
	out, err := c.client.InvokeModelWithBidirectionalStream(ctx,
		&bedrockruntime.InvokeModelWithBidirectionalStreamInput{ModelId: aws.String(localbedrock.ModelNova2Sonic)},
		bedrockcall.StreamOptions)
	if err != nil {
		c.tally.failure = "open: " + err.Error()
		return
	}
	stream := out.GetStream()
	defer stream.Close()
	received := make(chan struct{})
	go func() {
		defer close(received)
		for ev := range stream.Events() {
			if chunk, ok := ev.(*types.InvokeModelWithBidirectionalStreamOutputMemberChunk); ok {
				if seq, ok := echoedSeq(chunk.Value.Bytes); ok {
					c.tally.echo(seq, time.Now(), c.tl)
				}
			}
		}
	}()
	if err := c.send(ctx, stream, began); err != nil {
		c.tally.failure = "send: " + err.Error()
		return
	}
	select {
	case <-received:
		if err := stream.Err(); err != nil {
			c.tally.failure = "stream: " + err.Error()
		}
	case <-time.After(closeWait):
		c.tally.failure = "no end of stream within " + closeWait.String()
	}
}

// send mirrors browser.send through the SDK, then half-closes the stream.
func (c *sdkConversation) send(ctx context.Context, stream *bedrockruntime.InvokeModelWithBidirectionalStreamEventStream, began time.Time) error {
	sendEvent := func(ev []byte) error {
		return stream.Send(ctx, &types.InvokeModelWithBidirectionalStreamInputMemberChunk{Value: types.BidirectionalInputPayloadPart{Bytes: ev}})
	}
	for _, ev := range c.sc.opening {
		if err := sendEvent(ev); err != nil {
			return err
		}
	}
	c.tally.connectTime = time.Since(began)
	// The SDK encodes the event before Send returns, so the reused frame may be stamped again.
	if err := streamAudio(ctx, c.sc, c.tl, c.tally, sendEvent); err != nil {
		return err
	}
	for _, ev := range c.sc.closing {
		if err := sendEvent(ev); err != nil {
			return err
		}
	}
	return stream.Writer.Close()
}

// profileWindow writes this process's CPU profile of tl's window to file.
func profileWindow(ctx context.Context, tl timeline, file string) error {
	if err := sleepUntil(ctx, tl.windowStart()); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return sleepUntil(ctx, tl.stop())
}

// parseFloorWorkerFlags reads the worker's timeline from its arguments.
func parseFloorWorkerFlags(args []string) (timeline, error) {
	fs := flag.NewFlagSet(floorWorkerFlag, flag.ContinueOnError)
	fs.Bool(floorWorkerFlag, true, "")
	start := fs.Int64("worker-start", 0, "")
	n := fs.Int("worker-conversations", 0, "")
	ramp := fs.Duration("ramp", 0, "")
	settle := fs.Duration("settle", 0, "")
	window := fs.Duration("window", 0, "")
	frame := fs.Duration("frame", 0, "")
	if err := fs.Parse(args); err != nil {
		return timeline{}, err
	}
	if *start == 0 || *n <= 0 || *window <= 0 || *frame <= 0 {
		return timeline{}, errors.New("floor worker: missing timeline arguments")
	}
	return timeline{start: time.Unix(0, *start), ramp: *ramp, settle: *settle, window: *window, conversations: *n, frame: *frame}, nil
}

// floorRun is a started worker.
type floorRun struct {
	cmd    *exec.Cmd
	stdin  io.Closer // closing it lets the worker exit
	result chan floorResult
}

type floorResult struct {
	stats runStats
	err   error
}

// startFloor starts the worker for timeline tl, pinned to cpu (unless negative), with env.
func startFloor(tl timeline, cpu int, env []string) (*floorRun, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := pinned(cpu, self, floorWorkerArgs(tl)...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the floor worker: %w", err)
	}
	run := &floorRun{cmd: cmd, stdin: stdin, result: make(chan floorResult, 1)}
	go func() {
		var res floorResult
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &res.stats); err != nil {
				res.err = fmt.Errorf("floor worker output %q: %w", sc.Text(), err)
			}
		}
		if err := cmd.Wait(); err != nil && res.err == nil {
			res.err = fmt.Errorf("floor worker: %w", err)
		}
		run.result <- res
	}()
	return run, nil
}

// pid is the worker's process id, for /proc.
func (f *floorRun) pid() int { return f.cmd.Process.Pid }

// wait lets the worker exit once it has reported, and returns its statistics.
func (f *floorRun) wait(ctx context.Context) (runStats, error) {
	_ = f.stdin.Close()
	select {
	case res := <-f.result:
		return res.stats, res.err
	case <-ctx.Done():
		_ = f.cmd.Process.Kill()
		return runStats{}, ctx.Err()
	}
}
