package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// buildGateway builds the gateway command into dir, as the Dockerfile does apart from the platform, with
// extra build flags: the pprof tag when profiles are wanted (server/pprof.go: profiling endpoints on the
// metrics port), -race in this command's race-enabled test.
func buildGateway(dir string, extra ...string) (string, error) {
	bin := filepath.Join(dir, "gateway")
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin}, extra...)
	cmd := exec.Command("go", append(args, "novasonic/server")...)
	cmd.Env = os.Environ()
	if !slices.Contains(extra, "-race") { // the race detector needs cgo; the image has none
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build the gateway: %w\n%s", err, out)
	}
	return bin, nil
}

// pinned is a command run on one CPU with taskset, or as is when cpu is negative. Go sizes GOMAXPROCS from
// the affinity it starts with, so the process sees one core, like a 1 vCPU task.
func pinned(cpu int, name string, args ...string) *exec.Cmd {
	if cpu < 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), name}, args...)...)
}

// gatewayProcess is one run of the gateway command.
type gatewayProcess struct {
	cmd         *exec.Cmd
	addr        string // host:port of /interact-s2s
	metricsAddr string
	done        chan struct{} // closed once the process has exited and its output is read

	mu   sync.Mutex
	tail []string // the last log lines, shown if it fails
}

// startGateway starts bin pinned to cpu with env and waits until it listens.
func startGateway(ctx context.Context, bin string, cpu int, env []string) (*gatewayProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	g := &gatewayProcess{done: make(chan struct{}), metricsAddr: net.JoinHostPort("127.0.0.1", metricsPort)}
	g.cmd = pinned(cpu, bin)
	g.cmd.Env = append(env, "HOST=127.0.0.1", "PORT="+port, "METRICS_PORT="+metricsPort)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	g.cmd.Stdout, g.cmd.Stderr = w, w
	err = g.cmd.Start()
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("start the gateway: %w", err)
	}
	listening := make(chan string, 1)
	go func() {
		defer close(g.done)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "gateway listening" {
				listening <- rec.Addr
			}
			g.mu.Lock()
			g.tail = append(g.tail, sc.Text())
			if len(g.tail) > 20 {
				g.tail = g.tail[1:]
			}
			g.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
		_ = g.cmd.Wait()
	}()
	select {
	case g.addr = <-listening:
		return g, nil
	case <-g.done:
		return nil, fmt.Errorf("the gateway exited before listening:\n%s", g.logTail())
	case <-time.After(60 * time.Second):
		g.kill()
		return nil, fmt.Errorf("the gateway did not listen within 60 s:\n%s", g.logTail())
	case <-ctx.Done():
		g.kill()
		return nil, ctx.Err()
	}
}

// pid is the gateway's process id. Under taskset it is taskset's, which execs the gateway in place.
func (g *gatewayProcess) pid() int { return g.cmd.Process.Pid }

func (g *gatewayProcess) logTail() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := ""
	for _, l := range g.tail {
		out += l + "\n"
	}
	return out
}

// stop ends the gateway as ECS does (SIGTERM, a drain with nothing left to drain), or kills it.
func (g *gatewayProcess) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		g.kill()
	}
}

func (g *gatewayProcess) kill() {
	_ = g.cmd.Process.Kill()
	<-g.done
}

// scrape reads the gateway's Prometheus metrics.
func (g *gatewayProcess) scrape(ctx context.Context) (metricFamilies, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return families, nil
}

// metricFamilies is one scrape, by metric name.
type metricFamilies map[string]*dto.MetricFamily

// sum adds the values of a counter or gauge's series whose labels include match.
func (m metricFamilies) sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m.series(name, match) {
		switch {
		case s.Counter != nil:
			total += s.Counter.GetValue()
		case s.Gauge != nil:
			total += s.Gauge.GetValue()
		}
	}
	return total
}

// histogram returns the cumulative buckets of the histogram series whose labels include match.
func (m metricFamilies) histogram(name string, match map[string]string) *dto.Histogram {
	for _, s := range m.series(name, match) {
		if s.Histogram != nil {
			return s.Histogram
		}
	}
	return nil
}

func (m metricFamilies) series(name string, match map[string]string) []*dto.Metric {
	f := m[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, s := range f.GetMetric() {
		ok := true
		for k, v := range match {
			found := false
			for _, l := range s.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			ok = ok && found
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// profile fetches /debug/pprof/<path> from the gateway's pprof endpoint (a gateway built with the pprof
// tag) into file: "profile?seconds=20" for CPU, "heap", "goroutine?debug=1".
func (g *gatewayProcess) profile(ctx context.Context, path, file string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/%s", g.metricsAddr, path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s (is the gateway built with -tags pprof?)", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// freePort asks the kernel for a free TCP port on loopback.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
