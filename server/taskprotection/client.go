// Package taskprotection keeps the gateway's ECS task protected from scale-in while it holds live
// conversations, through the ECS agent's task scale-in protection endpoint,
// $ECS_AGENT_URI/task-protection/v1/state.
//
// ECS neither stops a protected task to scale in nor replaces it in a deployment, so autoscaling removes
// idle tasks and a deployment waits for a busy one to empty. Protection is set with a bounded lifetime and
// renewed while conversations go on, so a gateway that hangs stops renewing and its task becomes eligible
// again within minutes. The gateway never depends on it: failures are logged and retried, and a task
// whose agent cannot be reached simply stays unprotected, as it would without this package.
//
// Client is the HTTP client of the endpoint; Protector decides when to call it.
package taskprotection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// StatePath is the endpoint's path under ECS_AGENT_URI.
const StatePath = "/task-protection/v1/state"

// Bounds ECS puts on ExpiresInMinutes.
const (
	minExpiresInMinutes = 1
	maxExpiresInMinutes = 2880
)

// maxAnswerBytes bounds what is read of the agent's answer; its JSON is a few hundred bytes.
const maxAnswerBytes = 64 << 10

// Client sets the task's scale-in protection through the ECS agent.
type Client struct {
	url  string
	http *http.Client
}

// NewClient returns a client of the endpoint under agentURI, the value ECS puts in ECS_AGENT_URI (for
// example http://169.254.170.2/api/<container id>). httpClient nil means one with RequestTimeout.
func NewClient(agentURI string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(agentURI))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("task protection: ECS_AGENT_URI %q is not an http:// URL", agentURI)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: RequestTimeout}
	}
	return &Client{url: strings.TrimSuffix(u.String(), "/") + StatePath, http: httpClient}, nil
}

// Protection is the agent's account of the task's protection after a call.
type Protection struct {
	// Enabled is whether the task is protected.
	Enabled bool
	// ExpiresAt is when ECS clears the protection; zero when the task is not protected.
	ExpiresAt time.Time
	// TaskARN is the task's ARN.
	TaskARN string
}

// request is the endpoint's PUT body. ExpiresInMinutes is omitted when removing protection.
type request struct {
	ProtectionEnabled bool
	ExpiresInMinutes  int `json:",omitempty"`
}

// answer is the endpoint's JSON: exactly one of protection (success), failure (ECS refused the task, for
// example TASK_NOT_VALID for a task outside a service; HTTP 200) or error (the agent or ECS failed: access
// denied, throttling, a timeout; HTTP 4xx or 5xx).
type answer struct {
	RequestID  string `json:"requestID"`
	Protection *struct {
		ExpirationDate    *time.Time
		ProtectionEnabled bool
		TaskArn           string
	} `json:"protection"`
	Failure *struct {
		Arn    string
		Detail *string
		Reason string
	} `json:"failure"`
	Error *struct {
		Arn     string
		Code    string
		Message string
	} `json:"error"`
}

// SetProtection protects the task for expiresInMinutes (1 to 2880), replacing any earlier expiry, or
// removes the protection when enabled is false (expiresInMinutes is then not sent).
func (c *Client) SetProtection(ctx context.Context, enabled bool, expiresInMinutes int) (Protection, error) {
	body := request{ProtectionEnabled: enabled}
	if enabled {
		if expiresInMinutes < minExpiresInMinutes || expiresInMinutes > maxExpiresInMinutes {
			return Protection{}, fmt.Errorf("task protection: ExpiresInMinutes %d is outside %d to %d", expiresInMinutes, minExpiresInMinutes, maxExpiresInMinutes)
		}
		body.ExpiresInMinutes = expiresInMinutes
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return Protection{}, fmt.Errorf("task protection: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url, bytes.NewReader(raw))
	if err != nil {
		return Protection{}, fmt.Errorf("task protection: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Protection{}, fmt.Errorf("task protection: call the ECS agent: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return Protection{}, fmt.Errorf("task protection: read the agent's answer: %w", err)
	}

	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return Protection{}, fmt.Errorf("task protection: the agent answered %s with %q", resp.Status, snippet(data))
	}
	switch {
	case a.Error != nil:
		return Protection{}, fmt.Errorf("task protection: %s: %s (HTTP %d, request %s)", a.Error.Code, a.Error.Message, resp.StatusCode, orNone(a.RequestID))
	case a.Failure != nil:
		detail := ""
		if a.Failure.Detail != nil {
			detail = ": " + *a.Failure.Detail
		}
		return Protection{}, fmt.Errorf("task protection: ECS refused task %s: %s%s", a.Failure.Arn, a.Failure.Reason, detail)
	case resp.StatusCode != http.StatusOK || a.Protection == nil:
		return Protection{}, fmt.Errorf("task protection: the agent answered %s with %q", resp.Status, snippet(data))
	case a.Protection.ProtectionEnabled != enabled:
		return Protection{}, errors.New("task protection: the agent answered with the opposite state")
	}
	p := Protection{Enabled: a.Protection.ProtectionEnabled, TaskARN: a.Protection.TaskArn}
	if a.Protection.ExpirationDate != nil {
		p.ExpiresAt = *a.Protection.ExpirationDate
	}
	return p, nil
}

// snippet shortens an unexpected answer for an error message.
func snippet(b []byte) string {
	const limit = 200
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
