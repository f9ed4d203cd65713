package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gatewayBinary is the gateway command (novasonic/server), built once per test binary by TestMain.
var gatewayBinary string

// buildGateway builds the real gateway command into dir, the way the Dockerfile does apart from the
// target platform. With -race on the test, the gateway is built with the race detector too: the browser
// then drives a race-checked gateway, and the build reuses the packages `go test -race ./server/...`
// already compiled.
func buildGateway(dir string) (string, error) {
	bin := filepath.Join(dir, "gateway")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "novasonic/server")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build the gateway: %w\n%s", err, out)
	}
	return bin, nil
}

// gateway is one run of the gateway command with -local: the simulated Nova Sonic, any token accepted,
// listening on 127.0.0.1.
type gateway struct {
	t    *testing.T
	cmd  *exec.Cmd
	Addr string // host:port it listens on
	// log is the process's stdout and stderr. Only the goroutine reading the pipe writes it; read it only
	// after done is closed, which orders the two without a lock.
	log  bytes.Buffer
	done chan struct{} // closed when the process has exited and its output is read
}

// startGateway starts the gateway on port ("0" for any free port) with extra environment variables and
// waits until it listens. The process is killed at the end of the test if it still runs.
func startGateway(t *testing.T, port string, env ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, done: make(chan struct{})}
	g.cmd = exec.Command(gatewayBinary, "-local", "-port", port)
	g.cmd.Env = append(os.Environ(), env...)
	// One pipe for both streams, so that one goroutine reads the log in the order it was written.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout, g.cmd.Stderr = w, w
	err = g.cmd.Start()
	_ = w.Close() // the child holds its own copy; EOF comes when it exits
	if err != nil {
		_ = r.Close()
		t.Fatalf("start the gateway: %v", err)
	}
	listening := make(chan string, 1)
	go func() {
		defer close(g.done)
		defer r.Close()
		// The log is JSON lines; "gateway listening" carries the bound address.
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			g.log.Write(line)
			g.log.WriteByte('\n')
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "gateway listening" {
				select {
				case listening <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, r)
		_ = g.cmd.Wait()
	}()
	t.Cleanup(func() {
		g.Kill()
		if strings.Contains(g.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the gateway reported a data race:\n%s", g.log.String())
		}
		if t.Failed() {
			t.Logf("gateway log (%s):\n%s", g.Addr, g.log.String())
		}
	})
	// Generous: a race-enabled gateway on a busy two-core machine starts in well under a second, but the
	// test must not fail because the machine is slow.
	select {
	case g.Addr = <-listening:
		return g
	case <-g.done:
		t.Fatalf("the gateway exited before listening:\n%s", g.log.String())
	case <-time.After(60 * time.Second):
		g.Kill()
		t.Fatalf("the gateway did not listen within 60 s:\n%s", g.log.String())
	}
	return nil
}

// Port is the TCP port the gateway listens on.
func (g *gateway) Port() string {
	_, port, _ := net.SplitHostPort(g.Addr)
	return port
}

// Kill ends the process at once, as a crash or an OOM kill would: no close frames, no drain.
func (g *gateway) Kill() {
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
	}
	<-g.done
}

// Terminate sends SIGTERM, as ECS and Kubernetes do before replacing a task: the gateway drains.
func (g *gateway) Terminate() {
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		g.t.Fatalf("SIGTERM: %v", err)
	}
}

// Exited waits for the process to end and returns how it ended.
func (g *gateway) Exited(ctx context.Context) (*os.ProcessState, error) {
	select {
	case <-g.done:
		return g.cmd.ProcessState, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("the gateway is still running: %w", ctx.Err())
	}
}

// waitPortFree waits until nothing listens on 127.0.0.1:port any more, so that a new gateway can take it.
// A draining gateway closes its listener at once and keeps only its live sessions.
func waitPortFree(ctx context.Context, port string) error {
	for {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
		if err == nil {
			return ln.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port %s still taken: %w", port, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
