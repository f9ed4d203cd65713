package localbedrock

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The local Bedrock decodes and encodes the events a load run sends thousands of times a second without
// encoding/json's reflection (server/cmd/loadtest). These tests hold each fast path to what encoding/json
// gives for the same bytes, and check that the shapes the SDK and the browsers send do take it.

func TestAudioOutputIsWhatSendWouldMarshal(t *testing.T) {
	for _, id := range []ids{
		{SessionID: "s-1", PromptName: "prompt-1", CompletionID: "c-1"},
		{SessionID: "s\"<&>", PromptName: "línea\n\u2028", CompletionID: ""},
	} {
		pcm := []byte{0, 1, 2, 3, 250, 251, 252}
		head, err := audioOutputHead(id, "content-9")
		if err != nil {
			t.Fatal(err)
		}
		got := audioOutputJSON(head, pcm)
		want, err := json.Marshal(map[string]map[string]any{"event": {"audioOutput": struct {
			ids
			ContentID string `json:"contentId"`
			Content   string `json:"content"`
		}{id, "content-9", base64.StdEncoding.EncodeToString(pcm)}}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("audioOutput\n got %s\nwant %s", got, want)
		}
	}
}

func TestChunkPayloadsDecodeAsEncodingJSONDecodesThem(t *testing.T) {
	nova := base64.StdEncoding.EncodeToString([]byte(`{"event":{"sessionEnd":{}}}`))
	for _, payload := range []string{
		`{"bytes":"` + nova + `"}`,
		`{"bytes":""}`,
		`{ "bytes" : "` + nova + `" }`,
		`{"bytes":"` + nova[:8] + `\n` + nova[8:] + `"}`,
		"{\"bytes\":\"" + nova[:8] + "\t" + nova[8:] + "\"}",
		"{\"bytes\":\"" + nova[:8] + "\n" + nova[8:] + "\"}",
		`{"bytes":"\u0065` + nova[1:] + `"}`,
		`{"bytes":"` + nova[:5] + `*` + nova[6:] + `"}`,
		`{"bytes":"` + nova[:len(nova)-1] + `"}`,
		`{"bytes":null}`,
		`{"bytes":"` + nova + `","other":1}`,
		`{"bytes":"` + nova + `"}}`,
	} {
		got, gotErr := decodeChunkPayload([]byte(payload))
		var p chunkPayload
		wantErr := json.Unmarshal([]byte(payload), &p)
		if !bytes.Equal(got, p.Bytes) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("%s: decoded %q, %v; encoding/json %q, %v", payload, got, gotErr, p.Bytes, wantErr)
		}
	}
	// The SDK's payload takes the direct path: one allocation, the decoded JSON.
	sdk := []byte(`{"bytes":"` + nova + `"}`)
	if n := testing.AllocsPerRun(10, func() { _, _ = decodeChunkPayload(sdk) }); n != 1 {
		t.Errorf("decoding the SDK's chunk payload allocates %v times, want once", n)
	}
}

// audioInputSeeds are the shapes around the fast path: what it takes and what it must leave to
// encoding/json.
var audioInputSeeds = []struct {
	nova string
	fast bool
}{
	{`{"event":{"audioInput":{"promptName":"p","contentName":"c","content":"AAEC"}}}`, true},
	{`{"event":{"audioInput":{"content":"AAEC","contentName":"c","promptName":"p"}}}`, true},
	{`{"event":{"audioInput":{"promptName":"p","contentName":"c"}}}`, true},
	{`{"event":{"audioInput":{}}}`, true},
	{`{"event":{"audioInput":{"promptName":"p","promptName":"q","content":"AAEC"}}}`, false},
	{`{"event":{"audioInput":{"promptName":"p","contentName":"c","content":"AAEC","role":"USER"}}}`, false},
	{`{"event":{"audioInput":{"PromptName":"p","contentName":"c","content":"AAEC"}}}`, false},
	{`{"event":{"audioInput":{"promptName":"\u0070","contentName":"c","content":"AAEC"}}}`, false},
	{`{"event":{"audioInput": {"promptName":"p","contentName":"c","content":"AAEC"}}}`, false},
	{`{"event":{"audioInput":{"promptName":"p", "contentName":"c"}}}`, false},
	{`{"event":{"audioInput":{"promptName":"p","contentName":"c",}}}`, false},
	{`{"event":{"audioInput":{"promptName":"p","contentName":7}}}`, false},
	{"{\"event\":{\"audioInput\":{\"promptName\":\"\xff\",\"contentName\":\"c\"}}}", false},
	{`{"event":{"textInput":{"promptName":"p","contentName":"c","content":"hi"}}}`, false},
	{`{"event":{"audioInput":{"promptName":"p"}},"event":{"sessionEnd":{}}}`, false},
}

func TestCompactAudioInputTakesTheFastPath(t *testing.T) {
	for _, s := range audioInputSeeds {
		if _, _, ok := decodeAudioInput([]byte(s.nova)); ok != s.fast {
			t.Errorf("%s: fast path %v, want %v", s.nova, ok, s.fast)
		}
	}
}

// FuzzAudioInputFastPath checks that whatever the fast path accepts, encoding/json reads the same way.
func FuzzAudioInputFastPath(f *testing.F) {
	for _, s := range audioInputSeeds {
		f.Add([]byte(s.nova))
	}
	f.Fuzz(func(t *testing.T, nova []byte) {
		ev, fields, ok := decodeAudioInput(nova)
		if !ok {
			return
		}
		want, wantFields, err := decodeInputJSON(nova)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refused it: %v", nova, err)
		}
		if !reflect.DeepEqual(ev, want) || !reflect.DeepEqual(fields, wantFields) {
			t.Fatalf("%q: fast path %+v %+v, encoding/json %+v %+v", nova, ev, fields, want, wantFields)
		}
	})
}

// A load run's server keeps each stream's counts, not its events, and still answers every frame.
func TestCountEventsOnlyKeepsCountsNotEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	srv := startServer(t, Options{Behavior: Echo(), CountEventsOnly: true})
	p := newNames()
	ss := openSession(ctx, t, newClient(srv), ModelNova2Sonic)
	ss.send(opening(p, "HIGH")...)
	pcm := TonePCM(200, 320*time.Millisecond, 16000, 0.3) // ten frames
	ss.sendAudio(p, pcm)
	audioOut := 0
	echoed := ss.until(func(e outEvent) bool {
		if e.Name == "audioOutput" {
			audioOut++
		}
		return audioOut == 10
	})
	if _, err := ss.finish(p); err != nil {
		t.Fatalf("Err() after a normal session: %v", err)
	}
	rec := lastRecord(ctx, t, srv)
	const in = 6 + 10 + 3 // opening, audio, closing
	if len(rec.Events) != 0 || rec.EventsDropped != in || rec.AudioBytes != int64(len(pcm)) || rec.End != EndHalfClose {
		t.Fatalf("record: %d events kept, %d not kept, %d audio bytes, end %q; want 0, %d, %d, %q",
			len(rec.Events), rec.EventsDropped, rec.AudioBytes, rec.End, in, len(pcm), EndHalfClose)
	}
	if got := len(names(echoed)); got != 1+1+10 { // completionStart, contentStart, ten audioOutput
		t.Fatalf("%d events before the last echo, want 12: %v", got, names(echoed))
	}
}

// The server advertises the largest frame it reads in its first SETTINGS frame: Go's 1 MiB by default, or
// what MaxReadFrameSize says. A client's memory per stream follows it (Options.MaxReadFrameSize).
func TestTheAdvertisedFrameSizeIsMaxReadFrameSize(t *testing.T) {
	for _, tc := range []struct{ set, want uint32 }{{0, 1 << 20}, {16384, 16384}} {
		srv := startServer(t, Options{MaxReadFrameSize: int(tc.set)})
		conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL(), "https://"), &tls.Config{RootCAs: srv.CertPool(), NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
			t.Fatal(err)
		}
		f, err := http2.NewFramer(nil, conn).ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		settings, ok := f.(*http2.SettingsFrame)
		if !ok {
			t.Fatalf("first frame %T, want SETTINGS", f)
		}
		if got, _ := settings.Value(http2.SettingMaxFrameSize); got != tc.want {
			t.Errorf("MaxReadFrameSize %d: advertised %d, want %d", tc.set, got, tc.want)
		}
		conn.Close()
	}
}
