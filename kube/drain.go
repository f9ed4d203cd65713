package kube

import (
	"fmt"
	"time"
)

// The margins of the drain arithmetic. DrainPlan explains how they are used.
const (
	// DeregistrationLag is how long, after a pod starts terminating, the target group may still open new
	// connections to it: the endpoint change reaches the AWS Load Balancer Controller through a watch,
	// the controller calls DeregisterTargets, and the load balancer then needs a few seconds more before
	// it stops routing new flows to the target.
	DeregistrationLag = 15 * time.Second
	// ExitMargin is the time the gateway gets after its own drain deadline to close the last sockets and
	// exit before the kubelet sends SIGKILL; the same 10 s the ECS stack leaves between DRAIN_TIMEOUT
	// (110 s) and its 120 s stop timeout.
	ExitMargin = 10 * time.Second
	// MaxDeregistrationDelay is the longest deregistration delay a target group accepts.
	MaxDeregistrationDelay = 3600 * time.Second
)

// Drain is how long a terminating gateway pod waits before and after SIGTERM.
type Drain struct {
	// PreStopSleep is the preStop hook's sleep, run before SIGTERM while the pod still serves the
	// conversations it has.
	PreStopSleep time.Duration
	// TerminationGracePeriod is the pod's terminationGracePeriodSeconds: the whole time from the start of
	// termination (preStop included) until SIGKILL.
	TerminationGracePeriod time.Duration
}

// DrainPlan derives the pod's termination timing from the target group's deregistration delay and the
// gateway's DRAIN_TIMEOUT.
//
// ECS deregisters a task from the target group, waits for the deregistration delay and only then sends
// SIGTERM. Kubernetes does not wait: when a pod starts terminating, removing it from the Service's
// endpoints (and so from the target group, through the TargetGroupBinding) happens at the same time as
// the preStop hook, and SIGTERM follows as soon as preStop ends. Without a hook the gateway would stop
// accepting and start closing conversations while the load balancer is still sending it new ones. So the
// hook sleeps through the deregistration delay plus DeregistrationLag, which gives open conversations the
// same time to end by themselves as on ECS; then SIGTERM starts the gateway's own drain, which closes
// what is left within DRAIN_TIMEOUT. The grace period covers both plus ExitMargin.
//
// Both inputs must be whole seconds, because the Kubernetes fields are; deregistrationDelay is within the
// target group's range (0 to MaxDeregistrationDelay) and drainTimeout is positive.
func DrainPlan(deregistrationDelay, drainTimeout time.Duration) (Drain, error) {
	if deregistrationDelay < 0 || deregistrationDelay > MaxDeregistrationDelay || deregistrationDelay%time.Second != 0 {
		return Drain{}, fmt.Errorf("deregistration delay %v must be whole seconds between 0s and %v, the target group's range",
			deregistrationDelay, MaxDeregistrationDelay)
	}
	if drainTimeout <= 0 || drainTimeout%time.Second != 0 {
		return Drain{}, fmt.Errorf("drain timeout %v must be a positive whole number of seconds (the gateway's DRAIN_TIMEOUT)", drainTimeout)
	}
	sleep := deregistrationDelay + DeregistrationLag
	return Drain{PreStopSleep: sleep, TerminationGracePeriod: sleep + drainTimeout + ExitMargin}, nil
}
