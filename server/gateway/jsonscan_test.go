package gateway

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// checkJSONSeeds are JSON texts around every rule checkJSON enforces, valid and not.
var checkJSONSeeds = []string{
	`{}`, `[]`, ` { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] } `, `{"a":{"b":{"c":[[],{}]}}}`,
	`"\u00e9\"\\\/\b\f\n\r\t"`, `0`, `-0`, `1.5E-7`, `"` + strings.Repeat("QUJD", 400) + `"`,
	`{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1,]`, `[1 2]`, `{"a":1}}`, `{"a":1`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
	`"\x"`, `"\u12g4"`, "\"a\nb\"", "\"\x00\"", `tru`, `nul`, `{"a":1} x`, `"unterminated`, `[}`, `{]`,
	strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting),
}

// checkJSON accepts exactly what encoding/json accepts (nested up to maxNesting): what the gateway passes
// on is what Bedrock's parser, and the fuzz test's encoding/json, can read.
func FuzzCheckJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range checkJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := checkJSON(b) == nil
		want := json.Valid(b)
		if got != want && !(want && nesting(b) > maxNesting) {
			t.Fatalf("checkJSON(%q) accepts %v, encoding/json %v", b, got, want)
		}
	})
}

// nesting is the deepest bracket nesting of a valid JSON text, outside strings.
func nesting(b []byte) int {
	deepest, depth, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			depth++
			deepest = max(deepest, depth)
		case !inString && (c == '}' || c == ']'):
			depth--
		}
	}
	return deepest
}

func TestCheckJSONRefusesNestingBeyondItsBound(t *testing.T) {
	deep := strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1)
	if checkJSON([]byte(deep)) == nil || !json.Valid([]byte(deep)) {
		t.Fatalf("nesting %d: checkJSON must refuse what encoding/json still reads", maxNesting+1)
	}
}

// The output inspector reads what the gateway acts on, and nothing from audio.
func TestInspectOutputReadsWhatTheGatewayActsOn(t *testing.T) {
	tests := []struct {
		payload string
		want    outputInfo
	}{
		{`{"event":{"audioOutput":{"contentId":"c","content":"AAAA"}}}`, outputInfo{name: "audioOutput"}},
		{` { "event" : { "audioOutput" : { "content" : "AAAA" } } } `, outputInfo{name: "audioOutput"}},
		{`{"event":{"contentEnd":{"contentId":"c-2","type":"AUDIO","stopReason":"INTERRUPTED"}}}`,
			outputInfo{name: "contentEnd", contentID: "c-2", contentType: "AUDIO", stopReason: "INTERRUPTED", interrupted: true}},
		{`{"event":{"contentEnd":{"type":"TOOL","stopReason":"TOOL_USE"}}}`, outputInfo{name: "contentEnd", contentType: "TOOL", stopReason: "TOOL_USE"}},
		{`{"event":{"contentStart":{"contentId":"c-1","type":"TEXT","role":"ASSISTANT","additionalModelFields":"{\"generationStage\":\"FINAL\"}"}}}`,
			outputInfo{name: "contentStart", contentID: "c-1", contentType: "TEXT", role: "ASSISTANT", stage: "FINAL"}},
		{`{"event":{"textOutput":{"role":"ASSISTANT","content":"{ \"interrupted\" : true }"}}}`, outputInfo{name: "textOutput", role: "ASSISTANT", text: `{ "interrupted" : true }`, interrupted: true}},
		{`{"event":{"textOutput":{"contentId":"c-3","role":"USER","content":"the word \"interrupted\" said aloud"}}}`,
			outputInfo{name: "textOutput", contentID: "c-3", role: "USER", text: `the word "interrupted" said aloud`}},
		{`{"event":{"toolUse":{"toolName":"getWeatherTool","toolUseId":"t-1","content":"{\"latitude\":1}"}}}`,
			outputInfo{name: "toolUse", toolName: "getWeatherTool", toolUseID: "t-1", toolInput: []byte(`{"latitude":1}`)}},
		{`{"event":{"usageEvent":{"details":{"delta":{"input":{"speechTokens":3,"textTokens":1},"output":{"speechTokens":5,"textTokens":2}}}}}}`,
			outputInfo{name: "usageEvent", usage: tokenUsage{Input: tokenCounts{SpeechTokens: 3, TextTokens: 1}, Output: tokenCounts{SpeechTokens: 5, TextTokens: 2}}}},
		{`{"event":{"somethingNew":{"x":[1,{"y":"}"}]}}}`, outputInfo{name: "somethingNew"}},
		{`{"other":{"audioOutput":{}}}`, outputInfo{}},
		{`{"event":"audioOutput"}`, outputInfo{}},
		{`{"event":{}}`, outputInfo{}},
		{`not json`, outputInfo{}},
		{`{"event":{"audioOutput":{"content":"AAAA`, outputInfo{}},
	}
	for _, tt := range tests {
		if got := inspectOutput([]byte(tt.payload)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("inspectOutput(%s) = %+v, want %+v", tt.payload, got, tt.want)
		}
	}
}
