package taskprotection

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// run starts a Protector against agent in the current bubble, reading the number of conversations from
// sessions, and returns the log and a function that stops it and waits for it.
func run(t *testing.T, agent *fakeAgent, sessions *atomic.Int64) (*lockedBuffer, func()) {
	t.Helper()
	client, stopAgent := startInMemoryAgent(agent)
	logs := &lockedBuffer{}
	p := NewProtector(client, func() int { return int(sessions.Load()) }, slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return logs, func() {
		cancel()
		<-done
		stopAgent()
	}
}

// since returns when each request arrived, relative to start, and its body.
func since(start time.Time, requests []agentRequest) []string {
	out := make([]string, len(requests))
	for i, r := range requests {
		out[i] = r.at.Sub(start).String() + " " + r.body
	}
	return out
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

const (
	protect = `{"ProtectionEnabled":true,"ExpiresInMinutes":10}`
	release = `{"ProtectionEnabled":false}`
)

func TestProtectsWhileConversationsAreLiveAndReleasesWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// GIVEN an idle gateway's protector and the agent
		start := time.Now()
		agent := &fakeAgent{}
		var sessions atomic.Int64
		logs, stop := run(t, agent, &sessions)
		defer stop()

		// WHEN it stays idle for a minute THEN the agent hears nothing: an idle task is left unprotected
		time.Sleep(time.Minute + 2*time.Second)
		synctest.Wait()
		if got := agent.received(); len(got) != 0 {
			t.Fatalf("idle gateway called the agent: %q", since(start, got))
		}

		// WHEN a conversation starts at 62 s and goes on for twelve minutes, then ends
		sessions.Store(1)
		time.Sleep(12 * time.Minute)
		sessions.Store(0)
		time.Sleep(30 * time.Minute)
		synctest.Wait()

		// THEN the task is protected at the next poll (65 s) for ten minutes, renewed every five minutes
		// while the conversation goes on, so it never lapses, released at the first poll after it ends
		// (12 min 65 s), and the agent hears nothing more while the gateway stays idle
		want := []string{"1m5s " + protect, "6m5s " + protect, "11m5s " + protect, "13m5s " + release}
		if got := since(start, agent.received()); !equal(got, want) {
			t.Errorf("agent calls =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if agent.protected {
			t.Error("the task is still protected")
		}
		if got := logs.count("task scale-in protection changed"); got != 2 {
			t.Errorf("%d state-change log lines, want 2 (on, off):\n%s", got, logs)
		}
	})
}

func TestFailedCallsAreRetriedWithBackoffAndNeverStopTheProtector(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// GIVEN an agent whose next four calls fail (ECS unreachable), and a gateway with a conversation
		start := time.Now()
		agent := &fakeAgent{failNext: 4}
		var sessions atomic.Int64
		sessions.Store(1)
		logs, stop := run(t, agent, &sessions)
		defer stop()

		// WHEN six minutes pass
		time.Sleep(6 * time.Minute)
		synctest.Wait()

		// THEN the call is retried after 5, 10, 20 and 40 s, succeeds the fifth time, and the protection
		// is renewed five minutes after that success: the protector keeps going through failures
		want := []string{"0s " + protect, "5s " + protect, "15s " + protect, "35s " + protect, "1m15s " + protect, "6m15s " + protect}
		if got := since(start, agent.received()); !equal(got[:min(len(got), 5)], want[:5]) {
			t.Errorf("agent calls =\n  %s\nwant the first five of\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got := since(start, agent.received()); !equal(got, want) {
			t.Errorf("agent calls =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if got := logs.count("retrying"); got != 4 {
			t.Errorf("%d retry log lines, want 4:\n%s", got, logs)
		}
		if !strings.Contains(logs.String(), "ServerException: Unexpected error occurred (HTTP 500") {
			t.Errorf("the log does not say what failed:\n%s", logs)
		}
		if got := logs.count("succeeded after failures"); got != 1 {
			t.Errorf("%d recovery log lines, want 1:\n%s", got, logs)
		}
	})
}

func TestARenewalThatKeepsFailingIsRetriedBeforeTheProtectionLapses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// GIVEN a protected task whose agent starts failing just before the first renewal
		start := time.Now()
		agent := &fakeAgent{}
		var sessions atomic.Int64
		sessions.Store(1)
		_, stop := run(t, agent, &sessions)
		defer stop()
		time.Sleep(4 * time.Minute)
		agent.mu.Lock()
		agent.failNext = 4
		agent.mu.Unlock()

		// WHEN the renewal falls due at five minutes
		time.Sleep(3 * time.Minute)
		synctest.Wait()

		// THEN it is retried after 5, 10, 20 and 40 s and succeeds at 6 min 15 s, before the ten-minute
		// protection set at 0 s lapses
		want := []string{"0s " + protect, "5m0s " + protect, "5m5s " + protect, "5m15s " + protect, "5m35s " + protect, "6m15s " + protect}
		if got := since(start, agent.received()); !equal(got, want) {
			t.Errorf("agent calls =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if !agent.protected || agent.expires.Sub(start) != 16*time.Minute+15*time.Second {
			t.Errorf("protected %v until %v after the start, want until 16m15s", agent.protected, agent.expires.Sub(start))
		}
	})
}

func TestRetryDelayDoublesUpToAMinute(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := retryDelay(i + 1); got != w {
			t.Errorf("retryDelay(%d) = %v, want %v", i+1, got, w)
		}
	}
	// The bound that makes a hung gateway harmless: protection set once lapses within this.
	if ExpiresInMinutes < minExpiresInMinutes || ExpiresInMinutes > 15 || RenewEvery >= ExpiresInMinutes*time.Minute {
		t.Errorf("ExpiresInMinutes %d, RenewEvery %v: want a short expiry, renewed well before it lapses", ExpiresInMinutes, RenewEvery)
	}
}

func TestStopsWhenTheGatewayStopsEvenMidCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// GIVEN a protector whose call the agent receives but does not answer
		arrived := make(chan struct{}, 1)
		unblock := make(chan struct{})
		client, stopAgent := startInMemoryAgent(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			arrived <- struct{}{}
			<-unblock
		}))
		p := NewProtector(client, func() int { return 1 }, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(ctx)
		}()
		<-arrived

		// WHEN the gateway stops (SIGTERM cancels the context)
		cancel()

		// THEN Run returns at once, without waiting for the agent's answer or its own timeout
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Error("Run did not return after its context ended")
		}
		close(unblock)
		<-done
		stopAgent()
	})
}

// lockedBuffer is a log destination safe for the protector's goroutine and the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many log lines contain s.
func (b *lockedBuffer) count(s string) int {
	return strings.Count(b.String(), s)
}
