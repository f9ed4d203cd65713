package gateway

import (
	"context"
	"encoding/base64"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/gorilla/websocket"

	"novasonic/server/localbedrock"
)

// The per-frame work the gateway adds on the hot path: a browser sends an audioInput about every 32 ms,
// and Bedrock answers with audioOutput events several times faster than real time.

func BenchmarkParseAudioInput(b *testing.B) {
	var st inputState
	for _, ev := range openingEvents() {
		if _, err := st.parseInputEvent([]byte(ev)); err != nil {
			b.Fatal(err)
		}
	}
	frame := []byte(audioInput(make([]byte, 1024))) // 32 ms at 16 kHz
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.parseInputEvent(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspectAudioOutput(b *testing.B) {
	payload := []byte(`{"event":{"audioOutput":{"contentId":"c","sessionId":"s","promptName":"p","completionId":"x","role":"ASSISTANT","content":"` +
		base64.StdEncoding.EncodeToString(make([]byte, 4800)) + `"}}}`) // 100 ms at 24 kHz
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if inspectOutput(payload).name != "audioOutput" {
			b.Fatal("not recognised")
		}
	}
}

// BenchmarkRelayAudioFrame measures one audio frame's whole trip in one process: WebSocket client →
// gateway (validation) → real SDK (encoding, SigV4 chunk signing, HTTP/2 over TLS) → local Bedrock
// (decoding, signature check). The figure includes the local Bedrock's own work: compare runs, not
// absolute times. At most relayWindow frames are in flight: a flood beyond the gateway's input queue
// would be dropped by design (input_queue_full), and never arrive.
func BenchmarkRelayAudioFrame(b *testing.B) {
	const relayWindow = 128
	lb, err := localbedrock.Start(localbedrock.Options{Behavior: localbedrock.Listen(), IdleInputTimeout: time.Hour, CountEventsOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer lb.Close()
	gw, hs := startGatewayB(b, &Bedrock{Client: bedrockruntime.New(bedrockruntime.Options{}, lb.ClientOptions()), ModelID: localbedrock.ModelNova2Sonic})
	defer hs.Close()
	defer gw.cancelBase()

	conn, _, err := websocket.DefaultDialer.Dial(wsURL(hs), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	frames := append([]string{`{"type":"authorization","token":"Bearer t"}`}, openingEvents()...)
	for _, f := range frames {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			b.Fatal(err)
		}
	}
	frame := []byte(audioInput(make([]byte, 1024)))
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	arrived := func(n int) {
		want := int64(n) * 1024
		for deadline := time.Now().Add(time.Minute); ; {
			if recs := lb.Records(); len(recs) == 1 && recs[0].AudioBytes >= want {
				return
			}
			if time.Now().After(deadline) {
				b.Fatal("audio did not arrive at the local Bedrock")
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	for i := range b.N {
		if i >= relayWindow && i%(relayWindow/2) == 0 {
			arrived(i - relayWindow)
		}
		if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			b.Fatal(err)
		}
	}
	arrived(b.N)
}

// BenchmarkSDKLeakPerStream measures what bedrockruntime v1.63.13 leaves behind for every stream: a
// goroutine that waits forever on a channel nobody closes (see main_test.go). It reports the goroutines
// and stack bytes still held per stream after each stream has been closed the documented way.
func BenchmarkSDKLeakPerStream(b *testing.B) {
	lb, err := localbedrock.Start(localbedrock.Options{Behavior: localbedrock.Listen()})
	if err != nil {
		b.Fatal(err)
	}
	defer lb.Close()
	models := &Bedrock{Client: bedrockruntime.New(bedrockruntime.Options{}, lb.ClientOptions()), ModelID: localbedrock.ModelNova2Sonic}
	start := goroutinesAndStack()
	for range b.N {
		stream, err := models.OpenStream(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Send(context.Background(), chunk([]byte(sessionStart()))); err != nil {
			b.Fatal(err)
		}
		_ = stream.CloseSend()
		for range stream.Events() {
		}
		_ = stream.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = lb.WaitForOpenStreams(ctx, 0)
	time.Sleep(100 * time.Millisecond) // let the streams' other goroutines finish
	end := goroutinesAndStack()
	b.ReportMetric(float64(end.goroutines-start.goroutines)/float64(b.N), "leaked-goroutines/stream")
	b.ReportMetric(float64(end.stack-start.stack)/float64(b.N), "leaked-stack-B/stream")
}

type footprint struct {
	goroutines int
	stack      int64
}

func goroutinesAndStack() footprint {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return footprint{goroutines: runtime.NumGoroutine(), stack: int64(m.StackInuse)}
}
