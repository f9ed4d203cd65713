package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"novasonic/server/localbedrock"
)

// A 30-second conversation at real-time pace through the real SDK and the local Bedrock, with streams
// rotated every few seconds (the production rotation is at 7 of 8 minutes): at least five handovers.
// Every audio frame (numbered: localbedrock.SequencedFrame) reaches exactly one stream, in order; the
// browser hears every answer once, in order, as one conversation; and each new stream is replayed the
// conversation so far as history, which the local Bedrock checks against Nova's rules.
func TestALongConversationContinuesAcrossStreams(t *testing.T) {
	const (
		speechFrames  = 20 // an utterance: 640 ms; Converse answers each
		silenceFrames = 30 // then 960 ms of silence: longer than handoverSilence
		frames        = 940
	)
	var m *Metrics
	tm := testTiming
	// Seconds instead of minutes; the window is wide enough that handovers wait for a turn boundary or
	// a silence, as in production.
	tm.rotateAfter, tm.handoverWindow = 2*time.Second, 3*time.Second
	lb, err := localbedrock.Start(localbedrock.Options{Behavior: localbedrock.Converse(speechFrames), MaxStreamDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	client := bedrockruntime.New(bedrockruntime.Options{}, lb.ClientOptions())
	_, hs := startGatewayTimed(t, &Bedrock{Client: client, ModelID: localbedrock.ModelNova2Sonic}, tm, withMetrics(&m))
	conn := dial(t, hs, "Bearer any-token")
	for _, ev := range openingEvents() {
		send(t, conn, ev)
	}

	// The browser reads everything until the close.
	var (
		mu                sync.Mutex
		answers           []string // the ASSISTANT FINAL texts, in order
		completionStarts  int
		closeCode         int
		readDone          = make(chan struct{})
		assistantFinalIDs = map[string]bool{}
	)
	go func() {
		defer close(readDone)
		_ = conn.SetReadDeadline(time.Now().Add(patience + 30*time.Second))
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					closeCode = ce.Code
				}
				return
			}
			var ev map[string]map[string]map[string]any
			_ = json.Unmarshal(data, &ev)
			mu.Lock()
			for name, body := range ev["event"] {
				switch name {
				case "completionStart":
					completionStarts++
				case "contentStart":
					if body["role"] == "ASSISTANT" && strings.Contains(fmt.Sprint(body["additionalModelFields"]), "FINAL") {
						assistantFinalIDs[fmt.Sprint(body["contentId"])] = true
					}
				case "textOutput":
					if assistantFinalIDs[fmt.Sprint(body["contentId"])] {
						answers = append(answers, fmt.Sprint(body["content"]))
					}
				}
			}
			mu.Unlock()
		}
	}()

	// Thirty seconds of speech and pauses, one numbered frame every 32 ms.
	start := time.Now()
	for seq := range uint32(frames) {
		speech := int(seq)%(speechFrames+silenceFrames) < speechFrames
		frame := localbedrock.SequencedFrame(seq, speech)
		send(t, conn, `{"event":{"audioInput":{"promptName":"`+promptName+`","contentName":"`+audioName+`","content":"`+base64.StdEncoding.EncodeToString(frame)+`"}}}`)
		time.Sleep(time.Until(start.Add(time.Duration(seq+1) * 32 * time.Millisecond)))
	}
	for _, ev := range closingEvents() {
		send(t, conn, ev)
	}
	<-readDone
	waitNoOpenStreams(t, lb)

	recs := lb.Records()
	slices.SortFunc(recs, func(a, b localbedrock.StreamRecord) int { return a.Started.Compare(b.Started) })
	t.Logf("%d streams for %v of conversation; %v continuations", len(recs), time.Since(start).Round(time.Second), testutil.ToFloat64(m.Continuations))
	if len(recs) < 6 {
		t.Fatalf("%d streams, want at least 6: five rotations", len(recs))
	}

	// Every frame reached exactly one stream, in order.
	var got []uint32
	var labels [][]string // the utterances each stream answered, from the frames it received
	for _, rec := range recs {
		var mine []string
		n, first := 0, uint32(0)
		for _, ev := range rec.Events {
			seq, speech, ok := localbedrock.FrameSequence(ev.Audio)
			if ev.Name != evAudioInput || !ok {
				continue
			}
			got = append(got, seq)
			if speech {
				if n == 0 {
					first = seq
				}
				if n++; n == speechFrames {
					mine, n = append(mine, localbedrock.SequenceLabel(first, seq)), 0
				}
			}
		}
		labels = append(labels, mine)
	}
	for i, seq := range got {
		if seq != uint32(i) {
			t.Fatalf("frame %d reached Bedrock as the %dth; frames must reach exactly one stream, in order (got %v…)", seq, i, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	if len(got) != frames {
		t.Fatalf("%d of %d frames reached Bedrock", len(got), frames)
	}

	// The browser heard one conversation: each answer once, in order, and one completionStart.
	var want []string
	for _, mine := range labels {
		for _, l := range mine {
			want = append(want, "answer to "+l)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(answers, want) {
		t.Fatalf("the browser heard\n  %q\nwant every answer once, in order:\n  %q", answers, want)
	}
	if completionStarts != 1 || closeCode != int(CloseNormal) {
		t.Fatalf("%d completionStart events and close %d; want 1 and 1000", completionStarts, closeCode)
	}

	// Each new stream was told the conversation so far.
	var history []localbedrock.HistoryMessage
	for k, rec := range recs {
		wantHistory := history
		if len(wantHistory) > historyMaxMessages {
			wantHistory = wantHistory[len(wantHistory)-historyMaxMessages:]
		}
		if gotHistory := rec.History(); !slices.Equal(gotHistory, wantHistory) && !(len(gotHistory) == 0 && len(wantHistory) == 0) {
			t.Fatalf("stream %d was replayed\n  %v\nwant\n  %v", k, gotHistory, wantHistory)
		}
		for _, l := range labels[k] {
			history = append(history, localbedrock.HistoryMessage{Role: "USER", Text: l}, localbedrock.HistoryMessage{Role: "ASSISTANT", Text: "answer to " + l})
		}
	}
}
