package tools

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDateAndTimeAnswersInItsTimeZone(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 19, 5, 0, 0, time.UTC)
	out, err := DateAndTime{Location: la, Now: func() time.Time { return at }}.Run(context.Background(), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"date":"2026-11-30","year":2026,"month":11,"day":30,"dayOfWeek":"Monday","timezone":"PST","formattedTime":"11:05","iso8601":"2026-11-30T11:05:00-08:00"}`
	if string(out) != want {
		t.Fatalf("answer\n got %s\nwant %s", out, want)
	}
}

// openMeteo stands in for Open-Meteo's forecast API: it checks the query the tool sends and answers like
// the real service.
func openMeteo(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	return hs.URL
}

const currentWeather = `{"latitude":47.6,"longitude":-122.3,"current_weather":{"temperature":8.1,"windspeed":11.2,"weathercode":3}}`

func TestWeatherAsksOpenMeteoForTheCurrentWeather(t *testing.T) {
	for name, input := range map[string]string{
		"numbers":                       `{"latitude":47.6,"longitude":-122.3}`,
		"strings (the replaced client)": `{"latitude":"47.6","longitude":"-122.3"}`,
	} {
		t.Run(name, func(t *testing.T) {
			base := openMeteo(t, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if r.URL.Path != "/v1/forecast" || q.Get("latitude") != "47.6" || q.Get("longitude") != "-122.3" || q.Get("current_weather") != "true" {
					http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
					return
				}
				_, _ = w.Write([]byte(currentWeather))
			})
			out, err := Weather{BaseURL: base}.Run(context.Background(), []byte(input))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != `{"weather_data":`+currentWeather+`}` {
				t.Fatalf("answer %s", out)
			}
		})
	}
}

func TestWeatherFailsWithAReasonTheModelCanSay(t *testing.T) {
	ok := openMeteo(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(currentWeather)) })
	tests := []struct {
		name, input, base, want string
	}{
		{"latitude out of range", `{"latitude":91,"longitude":0}`, ok, "latitude must be"},
		{"longitude not a number", `{"latitude":1,"longitude":"east"}`, ok, "longitude must be"},
		{"not an object", `[1,2]`, ok, "JSON object"},
		{"service error", `{"latitude":1,"longitude":2}`, openMeteo(t, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}), "status 503"},
		{"not JSON", `{"latitude":1,"longitude":2}`, openMeteo(t, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html>"))
		}), "not usable"},
		{"unreachable", `{"latitude":1,"longitude":2}`, "http://127.0.0.1:1", "could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Weather{BaseURL: tt.base}.Run(context.Background(), []byte(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// The gateway bounds every tool call with a deadline; the tool must give up when it passes.
func TestWeatherStopsAtTheCallsDeadline(t *testing.T) {
	base := openMeteo(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Weather{BaseURL: base}.Run(ctx, []byte(`{"latitude":1,"longitude":2}`))
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Run succeeded after its context ended")
	}
}

func TestToolsAreNamedAsTheReplacedClientDeclaresThem(t *testing.T) {
	if (DateAndTime{}).Name() != "getDateAndTimeTool" || (Weather{}).Name() != "getWeatherTool" {
		t.Fatal("tool names changed: the replaced system's client declares getDateAndTimeTool and getWeatherTool")
	}
	var v any
	out, _ := DateAndTime{}.Run(context.Background(), nil)
	if json.Unmarshal(out, &v) != nil {
		t.Fatal("getDateAndTimeTool's answer is not JSON")
	}
}
