package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"novasonic/server/localbedrock"
	"novasonic/server/tools"
)

// The frames of the replaced system's browser client (its WebSocketEventManager.ts on main, see
// shared/reference/upstream-inventory.md §4.4 and §9), in its order. It authorizes and then sends
// sessionStart without waiting for a reply, declares the two tools its servers ran, marks its system
// prompt interactive, streams 32 ms frames, never answers a toolUse, and stops with a bare sessionEnd
// followed by close() without a code.
const upstreamPrompt = "6b4f1a3e-2c7d-4e9a-9f1b-3d2c1a0e5f7b"

var upstreamOpening = []string{
	`{"type":"authorization","token":"Bearer eyJraWQiOiJ1cHN0cmVhbSJ9.e30.c2ln"}`,
	`{"event":{"sessionStart":{"inferenceConfiguration":{"maxTokens":1024,"topP":0.9,"temperature":0.7},"turnDetectionConfiguration":{"endpointingSensitivity":"MEDIUM"}}}}`,
	`{"event":{"promptStart":{"promptName":"` + upstreamPrompt + `","textOutputConfiguration":{"mediaType":"text/plain"},"audioOutputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":24000,"sampleSizeBits":16,"channelCount":1,"voiceId":"tiffany","encoding":"base64","audioType":"SPEECH"},"toolUseOutputConfiguration":{"mediaType":"application/json"},"toolConfiguration":{"tools":[` +
		`{"toolSpec":{"name":"getDateAndTimeTool","description":"get information about the current date and time","inputSchema":{"json":"{\"type\":\"object\",\"properties\":{},\"required\":[]}"}}},` +
		`{"toolSpec":{"name":"getWeatherTool","description":"Get the current weather for a given location, based on its WGS84 coordinates.","inputSchema":{"json":"{\"type\":\"object\",\"properties\":{\"latitude\":{\"type\":\"string\",\"description\":\"Geographical WGS84 latitude of the location.\"},\"longitude\":{\"type\":\"string\",\"description\":\"Geographical WGS84 longitude of the location.\"}},\"required\":[\"latitude\",\"longitude\"]}"}}}` +
		`]}}}}`,
	`{"event":{"contentStart":{"promptName":"` + upstreamPrompt + `","contentName":"0c5a7d2e-1111-4a3b-8c9d-2e3f4a5b6c7d","type":"TEXT","interactive":true,"role":"SYSTEM","textInputConfiguration":{"mediaType":"text/plain"}}}}`,
	`{"event":{"textInput":{"promptName":"` + upstreamPrompt + `","contentName":"0c5a7d2e-1111-4a3b-8c9d-2e3f4a5b6c7d","content":"You are a friend. The user and you will engage in a spoken dialog exchanging the transcripts of a natural real-time conversation. Keep your responses short, generally two or three sentences for chatty scenarios."}}}`,
	`{"event":{"contentEnd":{"promptName":"` + upstreamPrompt + `","contentName":"0c5a7d2e-1111-4a3b-8c9d-2e3f4a5b6c7d"}}}`,
	`{"event":{"contentStart":{"promptName":"` + upstreamPrompt + `","contentName":"9e8d7c6b-2222-4f5e-a1b2-c3d4e5f60718","type":"AUDIO","interactive":true,"role":"USER","audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}`,
}

func upstreamAudio(pcm []byte) string {
	return strings.Replace(audioInput(pcm), `"promptName":"`+promptName+`","contentName":"`+audioName+`"`,
		`"promptName":"`+upstreamPrompt+`","contentName":"9e8d7c6b-2222-4f5e-a1b2-c3d4e5f60718"`, 1)
}

// The replaced system's client works unchanged, tool turns included: the gateway answers the weather
// tool the client declares (its servers did), the model uses the answer, and the client's abrupt stop is
// a normal end that closes everything it left open.
func TestTheReplacedSystemsClientWorksUnchangedToolTurnsIncluded(t *testing.T) {
	weather := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("latitude") != "47.6062" || r.URL.Query().Get("longitude") != "-122.3321" {
			http.Error(w, "unexpected coordinates", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"current_weather":{"temperature":8.1,"windspeed":11.2}}`))
	}))
	defer weather.Close()
	var m *Metrics
	lb, hs := startStack(t, localbedrock.Options{Behavior: localbedrock.ToolUse("getWeatherTool", `{"latitude":"47.6062","longitude":"-122.3321"}`)},
		withMetrics(&m), func(o *Options) {
			o.Tools = []Tool{tools.DateAndTime{}, tools.Weather{BaseURL: weather.URL}}
		})
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(hs), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, frame := range append(upstreamOpening, upstreamAudio(make([]byte, 1024)), upstreamAudio(make([]byte, 1024))) {
		send(t, conn, frame)
	}

	// Like the replaced client, read everything and keep what has an "event".
	var answer string
	var sawToolUse bool
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	for answer == "" {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no answer to the tool turn: %v", err)
		}
		var ev map[string]map[string]map[string]any
		if json.Unmarshal(data, &ev) != nil || ev["event"] == nil {
			continue // the client logs these and goes on
		}
		if ev["event"]["toolUse"] != nil {
			sawToolUse = true
		}
		if text := ev["event"]["textOutput"]; text != nil && text["role"] == "ASSISTANT" {
			answer, _ = text["content"].(string)
		}
	}
	if !sawToolUse || !strings.Contains(answer, `"weather_data":{"current_weather":{"temperature":8.1`) {
		t.Fatalf("answer %q: want the model to use the gateway's weather result", answer)
	}

	// Stop: a bare sessionEnd, then close() without a code.
	send(t, conn, `{"event":{"sessionEnd":{}}}`)
	_ = conn.WriteControl(websocket.CloseMessage, []byte{}, time.Now().Add(time.Second))
	conn.Close()
	waitNoOpenStreams(t, lb)
	waitFor(t, func() bool { return testutil.ToFloat64(m.ConversationsEnded.WithLabelValues(CloseNormal.Name())) == 1 })

	rec := onlyRecord(t, lb)
	names := rec.EventNames()
	if got := strings.Join(names[len(names)-3:], ","); got != "contentEnd,promptEnd,sessionEnd" || rec.End != localbedrock.EndHalfClose {
		t.Fatalf("Bedrock's stream ended %q after %s; want the gateway to close the audio content and the prompt first", rec.End, got)
	}
	results := 0
	for _, ev := range rec.Events {
		if ev.Name == evToolResult {
			results++
		}
	}
	if results != 1 {
		t.Fatalf("Bedrock got %d tool results, want exactly one", results)
	}
}
