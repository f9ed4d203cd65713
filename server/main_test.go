package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"novasonic/server/localbedrock"
)

func TestSettingsComeFromTheEnvironmentAndFlagsOverrideThem(t *testing.T) {
	env := map[string]string{
		"PORT": "9000", "BEDROCK_REGION": "us-west-2", "BEDROCK_MODEL_ID": "us.amazon.nova-2-sonic-v1:0",
		"ALLOWED_ORIGINS": "https://d111.cloudfront.net/, https://example.com", "LOG_LEVEL": "debug", "DRAIN_TIMEOUT": "90s",
		"COGNITO_USER_POOL_ID": "us-west-2_Abc", "COGNITO_CLIENT_ID": "client",
	}
	cfg, err := loadSettings([]string{"-port", "9100"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != "9100" || cfg.bedrockRegion != "us-west-2" || cfg.modelID != "us.amazon.nova-2-sonic-v1:0" ||
		cfg.logLevel != slog.LevelDebug || cfg.drainTimeout != 90*time.Second || cfg.local ||
		cfg.userPoolID != "us-west-2_Abc" || cfg.clientID != "client" {
		t.Fatalf("settings = %+v", cfg)
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
		cfg.drainTimeout != 110*time.Second || cfg.logLevel != slog.LevelInfo || len(cfg.allowedOrigins) != 0 {
		t.Fatalf("defaults = %+v", cfg)
	}
	local, err := loadSettings([]string{"-local"}, func(string) string { return "" })
	if err != nil || local.host != "127.0.0.1" {
		t.Fatalf("-local listens on %q (err %v): the simulator accepts any token and must stay on loopback", local.host, err)
	}
}

func TestBadSettingsAreRefusedWithTheKeyAndTheExpectedForm(t *testing.T) {
	for key, value := range map[string]string{
		"PORT": "http", "LOG_LEVEL": "loud", "DRAIN_TIMEOUT": "soon",
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

func TestGatewayRefusesToStartWithoutCognitoOutsideLocalMode(t *testing.T) {
	_, err := loadSettings(nil, func(k string) string { return map[string]string{"COGNITO_USER_POOL_ID": "us-east-1_Abc"}[k] })
	if err == nil || !strings.Contains(err.Error(), "COGNITO_CLIENT_ID") {
		t.Fatalf("settings without a Cognito app client = %v, want a refusal to accept unverified tokens", err)
	}
}

// What `make run` starts: the gateway with the simulated Nova Sonic. A person speaks, pauses, and hears
// themselves back; then Ctrl+C drains and stops it cleanly.
func TestLocalModeServesTheWebClientAndASimulatedConversation(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	addrCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		cfg := settings{local: true, host: "127.0.0.1", port: "0", bedrockRegion: "us-east-1",
			modelID: localbedrock.ModelNova2Sonic, drainTimeout: 2 * time.Second, logLevel: slog.LevelError}
		done <- run(ctx, cfg, slog.New(slog.DiscardHandler), func(a net.Addr) { addrCh <- a })
	}()
	var addr string
	select {
	case a := <-addrCh:
		addr = a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "<html") {
		t.Fatalf("GET / = %d, want the web client page", resp.StatusCode)
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/interact-s2s", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(s string) {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"type":"authorization","token":"Bearer local-dev-token"}`)
	for _, ev := range []string{
		`{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024,"topP":0.9,"temperature":0.7},"turnDetectionConfiguration":{"endpointingSensitivity":"HIGH"}}}}`,
		`{"event":{"promptStart":{"promptName":"p","textOutputConfiguration":{"mediaType":"text/plain"},"audioOutputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":24000,"sampleSizeBits":16,"channelCount":1,"voiceId":"matthew","encoding":"base64","audioType":"SPEECH"}}}}`,
		`{"event":{"contentStart":{"promptName":"p","contentName":"s","type":"TEXT","role":"SYSTEM","interactive":false,"textInputConfiguration":{"mediaType":"text/plain"}}}}`,
		`{"event":{"textInput":{"promptName":"p","contentName":"s","content":"Be brief."}}}`,
		`{"event":{"contentEnd":{"promptName":"p","contentName":"s"}}}`,
		`{"event":{"contentStart":{"promptName":"p","contentName":"a","type":"AUDIO","role":"USER","interactive":true,"audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}`,
	} {
		send(ev)
	}
	// One second of "speech" then two seconds of silence, in 32 ms frames as a browser sends them.
	speech := append(localbedrock.TonePCM(300, time.Second, 16000, 0.3), localbedrock.SilencePCM(2*time.Second, 16000)...)
	go func() {
		for off := 0; off+1024 <= len(speech); off += 1024 {
			if conn.WriteMessage(websocket.TextMessage, []byte(`{"event":{"audioInput":{"promptName":"p","contentName":"a","content":"`+
				base64.StdEncoding.EncodeToString(speech[off:off+1024])+`"}}}`)) != nil {
				return
			}
		}
	}()

	var heardUser, heardAudio bool
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
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

	stop() // Ctrl+C
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after Ctrl+C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not stop after Ctrl+C")
	}
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
	cfg, err := loadSettings([]string{"-local", "-port", "0"}, func(k string) string {
		return map[string]string{"ECS_AGENT_URI": agent.URL + "/api/container-1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.drainTimeout = 2 * time.Second
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	defer func() {
		stop()
		<-done
	}()
	addrCh := make(chan net.Addr, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.DiscardHandler), func(a net.Addr) { addrCh <- a }) }()
	addr := (<-addrCh).String()

	// WHEN a browser opens a conversation
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/interact-s2s", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"authorization","token":"Bearer local-dev-token"}`)); err != nil {
		t.Fatal(err)
	}

	// THEN the agent is asked to protect the task, and to release it once the conversation has ended
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("agent call = %q, want %q", got, want)
			}
		case <-time.After(30 * time.Second): // a few poll intervals, generous for a loaded machine
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
