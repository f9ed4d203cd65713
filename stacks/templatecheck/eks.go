package templatecheck

import (
	"encoding/json"
	"fmt"
	"slices"
)

// EKSControlPlaneLogTypes are the five EKS control-plane log types, as CloudFormation spells them.
var EKSControlPlaneLogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

// EKSClusters returns every way an AWS::EKS::Cluster of the template breaks what cdk-nag's EKS1 and EKS2
// rules stand for. cdk-nag 2.38.2 evaluates those rules only on the aws-eks module's clusters, never on
// aws-eks-v2's native AWS::EKS::Cluster (its rules test for another class), so this is their equivalent:
//   - EKS2: all five control-plane log types are enabled;
//   - EKS1: the Kubernetes API endpoint is not open to the internet. The private endpoint is on, and the
//     public one is off or admits only listed networks, none of them 0.0.0.0/0. EKS opens a public
//     endpoint without PublicAccessCidrs to everyone, so a missing list is a problem too.
//
// EKS1 itself flags any public endpoint; the stack may open one to given networks on request, and a test
// of the default configuration asserts that the public endpoint is off.
func EKSClusters(t Template) []string {
	var problems []string
	clusters := t.Resources("AWS::EKS::Cluster")
	for _, id := range sortedIDs(clusters) {
		p := Properties(clusters[id])
		logging, _ := p["Logging"].(map[string]any)
		clusterLogging, _ := logging["ClusterLogging"].(map[string]any)
		enabled, _ := clusterLogging["EnabledTypes"].([]any)
		var types []string
		for _, e := range enabled {
			entry, _ := e.(map[string]any)
			types = append(types, Render(entry["Type"]))
		}
		slices.Sort(types)
		if !slices.Equal(types, EKSControlPlaneLogTypes) {
			problems = append(problems, fmt.Sprintf("cluster %s logs control-plane types %q, want all five %q", id, types, EKSControlPlaneLogTypes))
		}

		vpc, _ := p["ResourcesVpcConfig"].(map[string]any)
		if vpc["EndpointPrivateAccess"] != true {
			problems = append(problems, fmt.Sprintf("cluster %s has EndpointPrivateAccess %v, want true (kubectl from inside the VPC)", id, vpc["EndpointPrivateAccess"]))
		}
		// EKS's default for EndpointPublicAccess is true.
		if public, set := vpc["EndpointPublicAccess"]; !set || public != false {
			cidrs := stringList(vpc["PublicAccessCidrs"])
			switch {
			case len(cidrs) == 0:
				problems = append(problems, fmt.Sprintf("cluster %s has a public endpoint without PublicAccessCidrs, which EKS opens to 0.0.0.0/0", id))
			case slices.Contains(cidrs, "0.0.0.0/0"):
				problems = append(problems, fmt.Sprintf("cluster %s opens its public endpoint to the internet: %q", id, cidrs))
			}
		}
	}
	return problems
}

// KubernetesObject is one object that a KubernetesManifest resource (Custom::AWSCDK-EKS-KubernetesResource)
// applies, with CloudFormation values rendered as Render writes them (${LogicalId}, ${AWS::Region}).
type KubernetesObject struct {
	// Resource is the logical ID of the resource that applies the object.
	Resource string
	// APIVersion, Kind, Namespace and Name identify the object; Namespace is empty for cluster objects.
	APIVersion, Kind, Namespace, Name string
	// Object is the whole object as kubectl receives it.
	Object map[string]any
}

// KubernetesObjects returns every object the template's KubernetesManifest resources apply, in logical-ID
// order and, within a resource, in apply order.
func KubernetesObjects(t Template) ([]KubernetesObject, error) {
	var out []KubernetesObject
	manifests := t.Resources("Custom::AWSCDK-EKS-KubernetesResource")
	for _, id := range sortedIDs(manifests) {
		// The Manifest property is a JSON string, or an Fn::Join around one when it holds tokens; rendered,
		// the tokens sit inside its string values, so it stays valid JSON.
		var objects []map[string]any
		if err := json.Unmarshal([]byte(Render(Properties(manifests[id])["Manifest"])), &objects); err != nil {
			return nil, fmt.Errorf("manifest of %s: %w", id, err)
		}
		for _, o := range objects {
			meta, _ := o["metadata"].(map[string]any)
			str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
			out = append(out, KubernetesObject{
				Resource: id, APIVersion: str(o, "apiVersion"), Kind: str(o, "kind"),
				Namespace: str(meta, "namespace"), Name: str(meta, "name"), Object: o,
			})
		}
	}
	return out, nil
}
