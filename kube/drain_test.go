package kube

import (
	"testing"
	"time"
)

func TestDrainPlan(t *testing.T) {
	tests := map[string]struct {
		deregistrationDelay, drainTimeout time.Duration
		want                              Drain
	}{
		// FrontDoor's default delay and the gateway's default DRAIN_TIMEOUT: 300 + 15 before SIGTERM,
		// then 110 + 10 after it.
		"defaults": {300 * time.Second, 110 * time.Second, Drain{PreStopSleep: 315 * time.Second, TerminationGracePeriod: 435 * time.Second}},
		// Without a delay the hook still covers the controller's and load balancer's reaction time.
		"no deregistration delay": {0, 30 * time.Second, Drain{PreStopSleep: 15 * time.Second, TerminationGracePeriod: 55 * time.Second}},
		"longest delay":           {time.Hour, 110 * time.Second, Drain{PreStopSleep: 3615 * time.Second, TerminationGracePeriod: 3735 * time.Second}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := DrainPlan(tt.deregistrationDelay, tt.drainTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("DrainPlan(%v, %v) = %+v, want %+v", tt.deregistrationDelay, tt.drainTimeout, got, tt.want)
			}
			// Kubernetes rejects a sleep that does not end before the grace period does.
			if got.PreStopSleep >= got.TerminationGracePeriod {
				t.Fatalf("preStop %v does not end before the grace period %v", got.PreStopSleep, got.TerminationGracePeriod)
			}
		})
	}
}

func TestDrainPlanRejectsImpossibleTimings(t *testing.T) {
	tests := map[string]struct{ deregistrationDelay, drainTimeout time.Duration }{
		"negative delay":          {-time.Second, 110 * time.Second},
		"delay past the maximum":  {time.Hour + time.Second, 110 * time.Second},
		"fractional delay":        {1500 * time.Millisecond, 110 * time.Second},
		"no drain":                {300 * time.Second, 0},
		"fractional drain":        {300 * time.Second, 110500 * time.Millisecond},
		"negative drain time out": {300 * time.Second, -time.Second},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := DrainPlan(tt.deregistrationDelay, tt.drainTimeout); err == nil {
				t.Fatalf("DrainPlan(%v, %v) = %+v, want an error", tt.deregistrationDelay, tt.drainTimeout, got)
			}
		})
	}
}
