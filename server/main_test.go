package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"novasonic/server/gateway"
	"novasonic/server/localbedrock"
)

func TestSettingsComeFromTheEnvironmentAndFlagsOverrideThem(t *testing.T) {
	env := map[string]string{
		"PORT": "9000", "BEDROCK_REGION": "us-west-2", "BEDROCK_MODEL_ID": "us.amazon.nova-2-sonic-v1:0",
		"ALLOWED_ORIGINS": "https://d111.cloudfront.net/, https://example.com", "LOG_LEVEL": "debug", "DRAIN_TIMEOUT": "90s",
		"COGNITO_USER_POOL_ID": "us-west-2_Abc", "COGNITO_CLIENT_ID": "client", "COGNITO_ISSUER_URL": "https://issuer.example.com/pool/",
		"MAX_CONVERSATIONS": "50", "MAX_CONVERSATIONS_PER_USER": "2", "MAX_CONNECTIONS_PER_ADDRESS": "7",
		"NEW_CONNECTIONS_PER_SECOND": "2.5", "INPUT_EVENTS_PER_SECOND": "100", "TOOL_TIMEOUT": "3s",
		"CLIENT_ADDRESS_HEADER": "CloudFront-Viewer-Address", "METRICS_PORT": "9500",
		"TIME_ZONE": "Europe/Paris", "WEATHER_API_URL": "http://weather.internal:8000", "STREAM_ROTATE_AFTER": "6m30s",
	}
	cfg, err := loadSettings([]string{"-port", "9100", "-max-conversations", "60"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != "9100" || cfg.bedrockRegion != "us-west-2" || cfg.modelID != "us.amazon.nova-2-sonic-v1:0" ||
		cfg.logLevel != slog.LevelDebug || cfg.drainTimeout != 90*time.Second || cfg.local ||
		cfg.userPoolID != "us-west-2_Abc" || cfg.clientID != "client" || cfg.issuerURL != "https://issuer.example.com/pool" || cfg.metricsPort != "9500" ||
		cfg.clientAddressHeader != "CloudFront-Viewer-Address" || cfg.timeZone.String() != "Europe/Paris" ||
		cfg.weatherURL != "http://weather.internal:8000" || cfg.rotateStreamsAfter != 6*time.Minute+30*time.Second {
		t.Fatalf("settings = %+v", cfg)
	}
	want := gateway.Limits{MaxConversations: 60, MaxConversationsPerUser: 2, MaxConnectionsPerAddress: 7,
		NewConnectionsPerSecond: 2.5, InputEventsPerSecond: 100, ToolTimeout: 3 * time.Second}
	if cfg.limits != want {
		t.Fatalf("limits = %+v, want %+v", cfg.limits, want)
	}
	if strings.Join(cfg.allowedOrigins, " ") != "https://d111.cloudfront.net https://example.com" {
		t.Fatalf("allowed origins = %q", cfg.allowedOrigins)
	}
}

func TestSettingsDefaults(t *testing.T) {
	cognito := func(k string) string {
		return map[string]string{"COGNITO_USER_POOL_ID": "us-east-1_Abc", "COGNITO_CLIENT_ID": "c"}[k]
	}
	cfg, err := loadSettings(nil, cognito)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != "8080" || cfg.host != "" || cfg.bedrockRegion != "us-east-1" || cfg.modelID != "amazon.nova-2-sonic-v1:0" ||
		cfg.drainTimeout != 110*time.Second || cfg.logLevel != slog.LevelInfo || len(cfg.allowedOrigins) != 0 || cfg.issuerURL != "" ||
		cfg.metricsPort != "9090" || cfg.clientAddressHeader != "" || cfg.timeZone != time.UTC ||
		cfg.weatherURL != "https://api.open-meteo.com" || cfg.limits != gateway.DefaultLimits() || cfg.rotateStreamsAfter != 7*time.Minute {
		t.Fatalf("defaults = %+v", cfg)
	}
	local, err := loadSettings([]string{"-local"}, func(string) string { return "" })
	if err != nil || local.host != "127.0.0.1" {
		t.Fatalf("-local listens on %q (err %v): the simulator accepts any token and must stay on loopback", local.host, err)
	}
	if local.metricsPort != "" {
		t.Fatalf("-local serves metrics on %q by default, want none (9090 is often taken on a developer's machine)", local.metricsPort)
	}
}

func TestBadSettingsAreRefusedWithTheKeyAndTheExpectedForm(t *testing.T) {
	for key, value := range map[string]string{
		"PORT": "http", "LOG_LEVEL": "loud", "DRAIN_TIMEOUT": "soon", "MAX_CONVERSATIONS": "0",
		"MAX_CONVERSATIONS_PER_USER": "many", "MAX_CONNECTIONS_PER_ADDRESS": "-1", "NEW_CONNECTIONS_PER_SECOND": "fast",
		"INPUT_EVENTS_PER_SECOND": "0", "TOOL_TIMEOUT": "10", "METRICS_PORT": "prometheus", "TIME_ZONE": "Mars/Olympus",
		"WEATHER_API_URL": "ftp://weather", "STREAM_ROTATE_AFTER": "7m30s", "COGNITO_ISSUER_URL": "http://issuer.example.com/pool",
	} {
		_, err := loadSettings([]string{"-local"}, func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), value) {
			t.Errorf("%s=%s: error %v should name the key and the value", key, value, err)
		}
	}
}

// The signing keys come from the issuer: over plain http from anywhere but this machine, whoever sits on the
// network could replace them and sign any token.
func TestAnIssuerOverridesCognitoOnlyOverHTTPSOrOnLoopback(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://issuer.example.com/us-east-1_Abc": true,
		"http://127.0.0.1:4000/us-east-1_Abc":      true,
		"http://[::1]:4000/us-east-1_Abc":          true,
		"http://localhost:4000/us-east-1_Abc":      true,
		"http://10.0.0.5:4000/us-east-1_Abc":       false,
		"http://issuer.example.com/us-east-1_Abc":  false,
		"ftp://127.0.0.1/us-east-1_Abc":            false,
		"https:///no-host":                         false,
	} {
		env := map[string]string{"COGNITO_USER_POOL_ID": "us-east-1_Abc", "COGNITO_CLIENT_ID": "c", "COGNITO_ISSUER_URL": issuer}
		cfg, err := loadSettings(nil, func(k string) string { return env[k] })
		if ok && (err != nil || cfg.issuerURL != issuer) {
			t.Errorf("COGNITO_ISSUER_URL=%s: settings %q, %v; want it accepted", issuer, cfg.issuerURL, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "COGNITO_ISSUER_URL")) {
			t.Errorf("COGNITO_ISSUER_URL=%s: error %v, want a refusal naming the setting", issuer, err)
		}
	}
}

func TestGatewayRefusesToStartWithoutCognitoOutsideLocalMode(t *testing.T) {
	_, err := loadSettings(nil, func(k string) string { return map[string]string{"COGNITO_USER_POOL_ID": "us-east-1_Abc"}[k] })
	if err == nil || !strings.Contains(err.Error(), "COGNITO_CLIENT_ID") {
		t.Fatalf("settings without a Cognito app client = %v, want a refusal to accept unverified tokens", err)
	}
}

// startLocal runs the gateway as `make run` does, with the simulated Nova Sonic on free ports, and returns
// its address, its metrics address and a function that stops it (Ctrl+C) and returns run's error.
func startLocal(t *testing.T, mutate func(*settings)) (addr, metricsAddr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	cfg, err := loadSettings([]string{"-local", "-port", "0", "-metrics-port", "0", "-drain-timeout", "30s", "-log-level", "error"},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	go func() {
		done <- run(ctx, cfg, slog.New(slog.DiscardHandler), func(a, m net.Addr) { addrs <- [2]string{a.String(), m.String()} })
	}()
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(patience):
			t.Fatal("the gateway did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case a := <-addrs:
		return a[0], a[1], stop
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	return "", "", nil
}

// patience bounds every wait for something that should happen; it is reached only when a test fails.
const patience = 30 * time.Second

// What `make run` starts: the gateway with the simulated Nova Sonic. A person speaks, pauses, and hears
// themselves back; then Ctrl+C drains and stops it cleanly.
func TestLocalModeServesTheWebClientAndASimulatedConversation(t *testing.T) {
	addr, metricsAddr, stop := startLocal(t, nil)

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "<html") {
		t.Fatalf("GET / = %d, want the web client page", resp.StatusCode)
	}

	conn := openConversation(t, addr)
	// One second of "speech" then two seconds of silence, in 32 ms frames as a browser sends them.
	speech := append(localbedrock.TonePCM(300, time.Second, 16000, 0.3), localbedrock.SilencePCM(2*time.Second, 16000)...)
	go streamAudio(conn, speech)

	var heardUser, heardAudio bool
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	for !heardUser || !heardAudio {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no simulated answer (user transcript %v, audio %v): %v", heardUser, heardAudio, err)
		}
		var ev map[string]map[string]map[string]any
		_ = json.Unmarshal(data, &ev)
		if text := ev["event"]["textOutput"]; text != nil && text["role"] == "USER" {
			heardUser = true
		}
		if ev["event"]["audioOutput"] != nil {
			heardAudio = true
		}
	}

	// The conversation shows in the Prometheus metrics, on their own port.
	metrics := scrape(t, metricsAddr)
	for _, want := range []string{
		"novasonic_conversations_active 1", `novasonic_frames_total{direction="in"}`, `novasonic_frames_total{direction="out"}`,
		"novasonic_response_latency_seconds_count 1", "go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The user ends the conversation, then Ctrl+C stops the gateway without waiting for the drain timeout.
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"event":{"sessionEnd":{}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run after Ctrl+C: %v", err)
	}
}

// openConversation authorizes a WebSocket and opens a conversation the way the web client does.
func openConversation(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/interact-s2s", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, ev := range []string{
		`{"type":"authorization","token":"Bearer local-dev-token"}`,
		`{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024,"topP":0.9,"temperature":0.7},"turnDetectionConfiguration":{"endpointingSensitivity":"HIGH"}}}}`,
		`{"event":{"promptStart":{"promptName":"p","textOutputConfiguration":{"mediaType":"text/plain"},"audioOutputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":24000,"sampleSizeBits":16,"channelCount":1,"voiceId":"matthew","encoding":"base64","audioType":"SPEECH"}}}}`,
		`{"event":{"contentStart":{"promptName":"p","contentName":"s","type":"TEXT","role":"SYSTEM","interactive":false,"textInputConfiguration":{"mediaType":"text/plain"}}}}`,
		`{"event":{"textInput":{"promptName":"p","contentName":"s","content":"Be brief."}}}`,
		`{"event":{"contentEnd":{"promptName":"p","contentName":"s"}}}`,
		`{"event":{"contentStart":{"promptName":"p","contentName":"a","type":"AUDIO","role":"USER","interactive":true,"audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}`,
	} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// streamAudio sends PCM in 32 ms frames, as fast as the socket takes them, until it fails.
func streamAudio(conn *websocket.Conn, pcm []byte) {
	for off := 0; off+1024 <= len(pcm); off += 1024 {
		if conn.WriteMessage(websocket.TextMessage, []byte(`{"event":{"audioInput":{"promptName":"p","contentName":"a","content":"`+
			base64.StdEncoding.EncodeToString(pcm[off:off+1024])+`"}}}`)) != nil {
			return
		}
	}
}

func scrape(t *testing.T, metricsAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitMetric waits until the gateway's /metrics shows line.
func waitMetric(t *testing.T, metricsAddr, line string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !strings.Contains(scrape(t, metricsAddr), line) {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// SIGTERM starts the drain at once, whatever plain HTTP requests are in flight; during the drain /health
// keeps answering (the container health check must not kill a draining gateway), /ready and new
// WebSockets get 503 with Retry-After, and the gateway stops as soon as the last conversation has ended.
func TestTheDrainStartsAtOnceAndKeepsHealthAnswering(t *testing.T) {
	addr, metricsAddr, stop := startLocal(t, nil)
	conn := openConversation(t, addr)
	waitMetric(t, metricsAddr, "novasonic_bedrock_streams_open 1") // the conversation is under way

	// A plain HTTP request that never completes its headers: http.Server.Shutdown would wait for it.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /health HTTP/1.1\r\nHost: gateway\r\n")); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }() // Ctrl+C
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no draining notice: %v", err)
		}
		if strings.Contains(string(data), `"type":"draining"`) {
			break
		}
	}
	// The notice came while the slow request was still open: the drain did not wait for it.
	_ = slow.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := slow.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("the slow request was answered or closed (%v) before the draining notice", err)
	}

	if r := get(t, "http://"+addr+"/health"); r.StatusCode != http.StatusOK {
		t.Fatalf("/health while draining = %d, want 200", r.StatusCode)
	}
	if r := get(t, "http://"+addr+"/ready"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready while draining = %d, want 503", r.StatusCode)
	}
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/interact-s2s", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a new WebSocket while draining: %v, want 503 with Retry-After", resp)
	}

	// The conversation ends on its own: the gateway stops long before its 30 s drain timeout.
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"event":{"sessionEnd":{}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// On ECS the agent sets ECS_AGENT_URI, and the gateway protects its task while a conversation is live.
func TestOnECSTheTaskIsProtectedWhileAConversationIsLive(t *testing.T) {
	// GIVEN the ECS agent's task-protection endpoint, standing in on a local server
	calls := make(chan string, 16)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls <- r.Method + " " + r.URL.Path + " " + string(body)
		var req struct{ ProtectionEnabled bool }
		_ = json.Unmarshal(body, &req)
		_ = json.NewEncoder(w).Encode(map[string]any{"protection": map[string]any{
			"ExpirationDate": nil, "ProtectionEnabled": req.ProtectionEnabled, "TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1",
		}})
	}))
	defer agent.Close()
	addr, _, _ := startLocal(t, func(cfg *settings) { cfg.ecsAgentURI = agent.URL + "/api/container-1" })

	// WHEN a browser opens a conversation
	conn := openConversation(t, addr)

	// THEN the agent is asked to protect the task, and to release it once the conversation has ended
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("agent call = %q, want %q", got, want)
			}
		case <-time.After(patience):
			t.Fatalf("the agent was not called; want %q", want)
		}
	}
	expect(`PUT /api/container-1/task-protection/v1/state {"ProtectionEnabled":true,"ExpiresInMinutes":10}`)
	_ = conn.Close()
	expect(`PUT /api/container-1/task-protection/v1/state {"ProtectionEnabled":false}`)
}

func TestTheECSAgentURIComesFromTheEnvironment(t *testing.T) {
	cfg, err := loadSettings([]string{"-local"}, func(k string) string {
		return map[string]string{"ECS_AGENT_URI": " http://169.254.170.2/api/0123-4567 "}[k]
	})
	if err != nil || cfg.ecsAgentURI != "http://169.254.170.2/api/0123-4567" {
		t.Fatalf("ecsAgentURI = %q (err %v), want the ECS_AGENT_URI ECS sets", cfg.ecsAgentURI, err)
	}
}
