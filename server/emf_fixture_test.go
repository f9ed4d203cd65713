package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// kube/testdata/gateway-emf-lines.log holds the lines the EKS log router's EMF rule is tested against
// (kube/logrouter_test.go). This keeps them the gateway's exact output, so a change to the EMF documents
// fails here instead of silently no longer matching the router's rule on EKS.
func TestEMFLinesFixtureForTheEKSLogRouter(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "kube", "testdata", "gateway-emf-lines.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Three open conversations, five ended normally and 100 speech input tokens in the period: the
	// service's document and one per outcome.
	now := emfSnapshot{
		active:  3,
		endedBy: map[string]float64{"normal": 5},
		tokens:  map[string]float64{emfSpeechInputTokens: 100},
	}
	previous := emfSnapshot{endedBy: map[string]float64{}, tokens: map[string]float64{}}
	got := emfDocuments("NovaSonic", "nova-sonic-gateway-dev", now, previous, time.UnixMilli(1_767_225_600_000))
	if string(got) != string(want) {
		t.Fatalf("the gateway writes\n%s\nbut kube/testdata/gateway-emf-lines.log holds\n%s\nupdate the fixture", got, want)
	}
}
