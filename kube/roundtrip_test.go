package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// roundTrip renders obj as the manifest that is applied, writes it as YAML and decodes it strictly (an
// unknown or duplicate field is an error) into a new T. The result must equal obj: a field that the API
// type does not know, or that does not survive the trip, fails the test.
func roundTrip[T any](t *testing.T, obj *T) *T {
	t.Helper()
	manifest, err := Manifest(obj)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := manifest["status"]; ok {
		t.Errorf("%T manifest has a status block", obj)
	}
	text, err := yaml.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	decoded := new(T)
	if err := yaml.UnmarshalStrict(text, decoded); err != nil {
		t.Fatalf("strict decoding of %T failed: %v\n%s", obj, err, text)
	}
	if !equality.Semantic.DeepEqual(obj, decoded) {
		t.Fatalf("%T changed on the round trip:\n%s", obj, text)
	}
	return decoded
}
