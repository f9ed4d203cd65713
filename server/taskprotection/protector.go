package taskprotection

import (
	"context"
	"log/slog"
	"time"
)

// Timing, in one place. The expiry bounds the harm of a hung gateway; the renewal leaves room for retries;
// the poll interval is how quickly protection follows conversations.
const (
	// ExpiresInMinutes is the protection's lifetime each time it is set or renewed. It bounds how long a
	// task whose gateway hangs, and so stops renewing, keeps scale-in and deployments from stopping it.
	// ECS accepts 1 to 2880 and defaults to 120.
	ExpiresInMinutes = 10
	// RenewEvery is how long after a successful call the protection is renewed while conversations go
	// on: halfway, so five minutes of failed renewals (retried with backoff) pass before it can lapse
	// under a live conversation.
	RenewEvery = 5 * time.Minute
	// PollInterval is how often the number of live conversations is read. A task is protected within this
	// time of its first conversation, and released within it of its last. Scale-in acts minutes apart
	// (the service's ten-minute scale-in cooldown), and an idle task costs one call per transition.
	PollInterval = 5 * time.Second
	// MaxRetryDelay bounds the backoff after failed calls, which starts at PollInterval and doubles, so an
	// outage of the agent or ECS costs at most one call and one log line a minute.
	MaxRetryDelay = time.Minute
	// RequestTimeout bounds one call; the agent answers after its own call to the ECS API.
	RequestTimeout = 10 * time.Second
)

// setter is what Protector needs of Client.
type setter interface {
	SetProtection(ctx context.Context, enabled bool, expiresInMinutes int) (Protection, error)
}

// Protector keeps the task protected while sessions reports live conversations and releases it when
// there are none.
type Protector struct {
	client   setter
	sessions func() int
	logger   *slog.Logger
}

// NewProtector returns a Protector that reads the number of live conversations from sessions (the
// gateway's ActiveSessions) and calls client. logger nil discards logs.
func NewProtector(client *Client, sessions func() int, logger *slog.Logger) *Protector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Protector{client: client, sessions: sessions, logger: logger}
}

// Run keeps the protection in step with the conversations until ctx ends. It has no error to return: a
// failed call is logged and retried with backoff, and the gateway serves conversations regardless.
//
// It does not release the protection when ctx ends: the gateway stops only when ECS stops the task, and
// a stopping task's protection no longer matters.
func (p *Protector) Run(ctx context.Context) {
	var (
		protected bool      // the state the agent last confirmed, or was last asked for when that failed to disable
		renewAt   time.Time // when a confirmed protection is renewed
		failures  int       // consecutive failed calls
	)
	timer := time.NewTimer(0) // the first check at once: a task may start with conversations waiting
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := PollInterval
		sessions := p.sessions()
		want := sessions > 0
		if want != protected || (want && !time.Now().Before(renewAt)) {
			sent := time.Now()
			err := p.set(ctx, want)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				failures++
				next = retryDelay(failures)
				p.logger.Warn("task scale-in protection call failed; retrying", "protect", want, "sessions", sessions,
					"attempt", failures, "retry_in", next.String(), "error", err.Error())
			default:
				if failures > 0 {
					p.logger.Info("task scale-in protection call succeeded after failures", "attempts", failures+1)
				}
				if want != protected {
					p.logger.Info("task scale-in protection changed", "protected", want, "sessions", sessions,
						"expires_in_minutes", expiresFor(want))
				}
				failures = 0
				protected = want
				renewAt = sent.Add(RenewEvery)
			}
		}
		timer.Reset(next)
	}
}

// set makes one call, bounded by RequestTimeout.
func (p *Protector) set(ctx context.Context, enabled bool) error {
	callCtx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	_, err := p.client.SetProtection(callCtx, enabled, ExpiresInMinutes)
	return err
}

// retryDelay is PollInterval doubled per consecutive failure after the first, up to MaxRetryDelay.
func retryDelay(failures int) time.Duration {
	d := PollInterval
	for i := 1; i < failures && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// expiresFor is the lifetime logged for a state: none when unprotected.
func expiresFor(protected bool) int {
	if protected {
		return ExpiresInMinutes
	}
	return 0
}
