// Package tools holds the tools the gateway answers itself when Nova Sonic asks for them: the ones the
// replaced system's servers ran for its browser client (getDateAndTimeTool, getWeatherTool). Each
// implements gateway.Tool; server/main.go registers them.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	// The container image has no zone database: embed one, so that TIME_ZONE works everywhere.
	_ "time/tzdata"
)

// DateAndTime answers getDateAndTimeTool with the current date and time in one time zone.
type DateAndTime struct {
	// Location is the time zone of the answer. Default UTC: the gateway does not know where its users are.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Name implements gateway.Tool.
func (DateAndTime) Name() string { return "getDateAndTimeTool" }

// dateAndTime is getDateAndTimeTool's answer: the replaced system's fields, plus an ISO 8601 timestamp.
type dateAndTime struct {
	Date          string `json:"date"` // 2026-11-30
	Year          int    `json:"year"`
	Month         int    `json:"month"`
	Day           int    `json:"day"`
	DayOfWeek     string `json:"dayOfWeek"`
	Timezone      string `json:"timezone"`
	FormattedTime string `json:"formattedTime"` // 15:04
	ISO8601       string `json:"iso8601"`
}

// Run implements gateway.Tool; the tool takes no input.
func (d DateAndTime) Run(context.Context, []byte) (json.RawMessage, error) {
	now, loc := time.Now, d.Location
	if d.Now != nil {
		now = d.Now
	}
	if loc == nil {
		loc = time.UTC
	}
	t := now().In(loc)
	zone, _ := t.Zone()
	return json.Marshal(dateAndTime{
		Date: t.Format(time.DateOnly), Year: t.Year(), Month: int(t.Month()), Day: t.Day(),
		DayOfWeek: t.Weekday().String(), Timezone: zone, FormattedTime: t.Format("15:04"),
		ISO8601: t.Format(time.RFC3339),
	})
}

// Weather answers getWeatherTool with the current weather at a latitude and longitude, from Open-Meteo's
// forecast API (no key needed), as the replaced system did.
type Weather struct {
	// BaseURL is the Open-Meteo API. Default "https://api.open-meteo.com"; tests use a local stand-in.
	BaseURL string
	// Client makes the request; the call's context bounds it. Default http.DefaultClient.
	Client *http.Client
}

// DefaultWeatherURL is Open-Meteo's public API.
const DefaultWeatherURL = "https://api.open-meteo.com"

// maxWeatherBytes bounds the answer read from the weather API: a current-weather reply is a few hundred
// bytes, and the result goes into the model's context.
const maxWeatherBytes = 64 << 10

// Name implements gateway.Tool.
func (Weather) Name() string { return "getWeatherTool" }

// Run implements gateway.Tool. The input is {"latitude": ..., "longitude": ...}, as numbers or as strings
// (the replaced system's client declares them as strings).
func (w Weather) Run(ctx context.Context, input []byte) (json.RawMessage, error) {
	var in struct {
		Latitude  json.RawMessage `json:"latitude"`
		Longitude json.RawMessage `json:"longitude"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, errors.New("the input must be a JSON object with latitude and longitude")
	}
	lat, err := coordinate(in.Latitude, "latitude", 90)
	if err != nil {
		return nil, err
	}
	lon, err := coordinate(in.Longitude, "longitude", 180)
	if err != nil {
		return nil, err
	}
	base := w.BaseURL
	if base == "" {
		base = DefaultWeatherURL
	}
	q := url.Values{
		"latitude": {strconv.FormatFloat(lat, 'f', -1, 64)}, "longitude": {strconv.FormatFloat(lon, 'f', -1, 64)},
		"current_weather": {"true"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/forecast?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("weather request: %w", err)
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, errors.New("the weather service could not be reached")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWeatherBytes+1))
	switch {
	case err != nil:
		return nil, errors.New("the weather service's answer was cut off")
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("the weather service answered with status %d", resp.StatusCode)
	case len(body) > maxWeatherBytes || !json.Valid(body):
		return nil, errors.New("the weather service's answer is not usable")
	}
	// The replaced system's shape, so that prompts written for it keep working.
	return json.Marshal(map[string]json.RawMessage{"weather_data": body})
}

// coordinate reads a latitude or longitude given as a JSON number or string, within ±limit degrees.
func coordinate(raw json.RawMessage, name string, limit float64) (float64, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < -limit || v > limit {
		return 0, fmt.Errorf("%s must be a number between -%g and %g", name, limit, limit)
	}
	return v, nil
}
