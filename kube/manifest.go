package kube

import (
	"encoding/json"
	"fmt"
)

// Manifest returns obj as the JSON object kubectl applies: apiVersion, kind, metadata and spec or data,
// without the status block that the typed API objects always serialize. awseksv2's KubernetesManifest
// takes such maps; CDK tokens inside string values stay as they are and CloudFormation resolves them.
func Manifest(obj any) (map[string]any, error) {
	m, err := jsonObject(obj)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m["apiVersion"] == nil || m["kind"] == nil {
		return nil, fmt.Errorf("manifest %T has no apiVersion or kind", obj)
	}
	// Status is written by controllers; an empty one in a manifest only adds noise to the template.
	delete(m, "status")
	return m, nil
}

// jsonObject returns v as its JSON object, with the field names and omissions of its JSON tags.
func jsonObject(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	return m, nil
}
