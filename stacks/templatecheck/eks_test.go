package templatecheck_test

import (
	"reflect"
	"testing"

	"novasonic/stacks/templatecheck"
)

// eksTemplate returns a fresh copy of testdata/eks.template.json: a private cluster with every log type
// and two manifests, one with a token.
func eksTemplate(t *testing.T) templatecheck.Template {
	t.Helper()
	return load(t, "testdata/eks.template.json")
}

func TestEKSClustersFindsEachBreach(t *testing.T) {
	if p := templatecheck.EKSClusters(eksTemplate(t)); len(p) != 0 {
		t.Fatalf("EKSClusters(private, five log types) = %q, want no problems", p)
	}
	vpc := func(tm templatecheck.Template) map[string]any {
		return props(tm, "Cluster")["ResourcesVpcConfig"].(map[string]any)
	}
	for name, tc := range map[string]struct {
		mutate func(templatecheck.Template)
		want   []string
	}{
		"a log type missing": {
			func(tm templatecheck.Template) {
				logging := props(tm, "Cluster")["Logging"].(map[string]any)["ClusterLogging"].(map[string]any)
				logging["EnabledTypes"] = logging["EnabledTypes"].([]any)[:4]
			},
			[]string{`cluster Cluster logs control-plane types ["api" "audit" "authenticator" "controllerManager"], want all five ["api" "audit" "authenticator" "controllerManager" "scheduler"]`},
		},
		"no logging": {
			func(tm templatecheck.Template) { delete(props(tm, "Cluster"), "Logging") },
			[]string{`cluster Cluster logs control-plane types [], want all five ["api" "audit" "authenticator" "controllerManager" "scheduler"]`},
		},
		"no private endpoint": {
			func(tm templatecheck.Template) { vpc(tm)["EndpointPrivateAccess"] = false },
			[]string{"cluster Cluster has EndpointPrivateAccess false, want true (kubectl from inside the VPC)"},
		},
		"public endpoint without networks": {
			func(tm templatecheck.Template) { vpc(tm)["EndpointPublicAccess"] = true },
			[]string{"cluster Cluster has a public endpoint without PublicAccessCidrs, which EKS opens to 0.0.0.0/0"},
		},
		"public access left to EKS's default": {
			func(tm templatecheck.Template) { delete(vpc(tm), "EndpointPublicAccess") },
			[]string{"cluster Cluster has a public endpoint without PublicAccessCidrs, which EKS opens to 0.0.0.0/0"},
		},
		"public endpoint open to the internet": {
			func(tm templatecheck.Template) {
				vpc(tm)["EndpointPublicAccess"] = true
				vpc(tm)["PublicAccessCidrs"] = []any{"203.0.113.0/24", "0.0.0.0/0"}
			},
			[]string{`cluster Cluster opens its public endpoint to the internet: ["203.0.113.0/24" "0.0.0.0/0"]`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := eksTemplate(t)
			tc.mutate(tmpl)
			if got := templatecheck.EKSClusters(tmpl); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EKSClusters =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}

	// A public endpoint restricted to given networks is what the configuration may ask for.
	tmpl := eksTemplate(t)
	vpc(tmpl)["EndpointPublicAccess"] = true
	vpc(tmpl)["PublicAccessCidrs"] = []any{"203.0.113.0/24"}
	if p := templatecheck.EKSClusters(tmpl); len(p) != 0 {
		t.Errorf("EKSClusters(public to 203.0.113.0/24) = %q, want no problems", p)
	}
}

func TestKubernetesObjectsReadsEveryManifest(t *testing.T) {
	objects, err := templatecheck.KubernetesObjects(eksTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	type id struct{ resource, apiVersion, kind, namespace, name string }
	var got []id
	for _, o := range objects {
		got = append(got, id{o.Resource, o.APIVersion, o.Kind, o.Namespace, o.Name})
	}
	want := []id{
		{"Binding", "elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "nova-sonic", "gateway"},
		{"Router", "v1", "Namespace", "", "aws-observability"},
		{"Router", "v1", "ConfigMap", "aws-observability", "aws-logging"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("objects = %+v\nwant %+v", got, want)
	}
	// Tokens are rendered inside the values they sit in.
	if arn := objects[0].Object["spec"].(map[string]any)["targetGroupARN"]; arn != "${TargetGroup}" {
		t.Errorf("targetGroupARN = %v, want ${TargetGroup}", arn)
	}

	// A manifest that is not a list of objects is an error, not an empty result.
	tmpl := eksTemplate(t)
	props(tmpl, "Router")["Manifest"] = "{not json"
	if _, err := templatecheck.KubernetesObjects(tmpl); err == nil {
		t.Error("a broken manifest was read without an error")
	}
}
