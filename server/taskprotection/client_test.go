package taskprotection

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientSendsTheDocumentedRequests(t *testing.T) {
	// GIVEN the agent stand-in on a loopback server, at the path ECS puts in ECS_AGENT_URI
	agent := &fakeAgent{}
	srv := httptest.NewServer(agent)
	defer srv.Close()
	client, err := NewClient(srv.URL+fakeAgentPath, nil)
	if err != nil {
		t.Fatal(err)
	}

	// WHEN the task is protected for ten minutes and then released
	before := time.Now()
	on, errOn := client.SetProtection(context.Background(), true, 10)
	off, errOff := client.SetProtection(context.Background(), false, 10)
	if errOn != nil || errOff != nil {
		t.Fatalf("SetProtection: %v, %v", errOn, errOff)
	}

	// THEN each is a PUT of JSON to $ECS_AGENT_URI/task-protection/v1/state with exactly the documented
	// fields (ExpiresInMinutes only when protecting), and the answers are read
	want := []agentRequest{
		{method: "PUT", path: fakeAgentPath + "/task-protection/v1/state", contentType: "application/json", body: `{"ProtectionEnabled":true,"ExpiresInMinutes":10}`},
		{method: "PUT", path: fakeAgentPath + "/task-protection/v1/state", contentType: "application/json", body: `{"ProtectionEnabled":false}`},
	}
	got := agent.received()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		got[i].at = time.Time{}
		if got[i] != want[i] {
			t.Errorf("request %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if !on.Enabled || on.TaskARN != fakeTaskARN || on.ExpiresAt.Before(before.Add(10*time.Minute-time.Second)) || on.ExpiresAt.After(time.Now().Add(10*time.Minute)) {
		t.Errorf("protect = %+v, want enabled for ten minutes on %s", on, fakeTaskARN)
	}
	if off.Enabled || !off.ExpiresAt.IsZero() || off.TaskARN != fakeTaskARN {
		t.Errorf("release = %+v, want disabled without expiry", off)
	}
}

func TestClientReportsWhatTheAgentRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		want   string
	}{
		"task outside a service (a failure, HTTP 200)": {200,
			`{"failure":{"Arn":"arn:aws:ecs:us-east-1:123456789012:task/c/1","Detail":null,"Reason":"TASK_NOT_VALID"}}`,
			"task protection: ECS refused task arn:aws:ecs:us-east-1:123456789012:task/c/1: TASK_NOT_VALID"},
		"failure with detail": {200,
			`{"failure":{"Arn":"arn:aws:ecs:us-east-1:123456789012:task/c/1","Detail":"the task is stopping","Reason":"TASK_NOT_VALID"}}`,
			"task protection: ECS refused task arn:aws:ecs:us-east-1:123456789012:task/c/1: TASK_NOT_VALID: the task is stopping"},
		"missing IAM permission": {400,
			`{"requestID":"8d0c6a2e-1111-2222-3333-444455556666","error":{"Arn":"arn:aws:ecs:us-east-1:123456789012:task/c/1","Code":"AccessDeniedException","Message":"User is not authorized to perform: ecs:UpdateTaskProtection"}}`,
			"task protection: AccessDeniedException: User is not authorized to perform: ecs:UpdateTaskProtection (HTTP 400, request 8d0c6a2e-1111-2222-3333-444455556666)"},
		"no task role": {403,
			`{"error":{"Arn":"arn:aws:ecs:us-east-1:123456789012:task/c/1","Code":"AccessDeniedException","Message":"Invalid Request: no task IAM role credentials available for task"}}`,
			"task protection: AccessDeniedException: Invalid Request: no task IAM role credentials available for task (HTTP 403, request none)"},
		"not JSON":            {502, "bad gateway", `task protection: the agent answered 502 Bad Gateway with "bad gateway"`},
		"JSON without answer": {200, `{}`, `task protection: the agent answered 200 OK with "{}"`},
		"the opposite state": {200, `{"protection":{"ExpirationDate":null,"ProtectionEnabled":false,"TaskArn":"arn"}}`,
			"task protection: the agent answered with the opposite state"},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN an agent that answers a protect request this way
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			client, err := NewClient(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}

			// WHEN the task asks for protection THEN the error says what the agent said
			_, err = client.SetProtection(context.Background(), true, ExpiresInMinutes)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
}

func TestClientRefusesWhatTheAgentWouldRefuse(t *testing.T) {
	for _, uri := range []string{"", "169.254.170.2/api/x", "ftp://169.254.170.2/api/x", "http://"} {
		if _, err := NewClient(uri, nil); err == nil {
			t.Errorf("NewClient(%q) succeeded, want an error", uri)
		}
	}
	// ECS accepts 1 to 2880 minutes; the call is not made with anything else.
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a request was sent") }))
	defer srv.Close()
	client, _ := NewClient(srv.URL, nil)
	for _, minutes := range []int{0, 2881} {
		if _, err := client.SetProtection(context.Background(), true, minutes); err == nil {
			t.Errorf("SetProtection(%d minutes) succeeded, want an error", minutes)
		}
	}
}
