package templatecheck_test

import (
	"os"
	"slices"
	"testing"

	"novasonic/stacks/templatecheck"
)

var novaSonic = templatecheck.Bedrock{
	Region:  "us-east-1",
	ModelID: "amazon.nova-2-sonic-v1:0",
	Actions: []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithBidirectionalStream"},
}

// good returns a fresh copy of testdata/good.template.json, a small template shaped like the real stacks'
// that passes every check.
func good(t *testing.T) templatecheck.Template {
	t.Helper()
	return load(t, "testdata/good.template.json")
}

// load reads a template fixture afresh, so each test may mutate its copy.
func load(t *testing.T, path string) templatecheck.Template {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := templatecheck.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// resource returns a resource of tmpl for a mutation.
func resource(tmpl templatecheck.Template, id string) map[string]any {
	return tmpl["Resources"].(map[string]any)[id].(map[string]any)
}

func props(tmpl templatecheck.Template, id string) map[string]any {
	return templatecheck.Properties(resource(tmpl, id))
}

// statement returns statement i of a resource's PolicyDocument.
func statement(tmpl templatecheck.Template, id string, i int) map[string]any {
	return props(tmpl, id)["PolicyDocument"].(map[string]any)["Statement"].([]any)[i].(map[string]any)
}

func TestGoodTemplatePasses(t *testing.T) {
	tmpl := good(t)
	if p := templatecheck.Security(tmpl, novaSonic); len(p) != 0 {
		t.Errorf("Security = %q, want no problems", p)
	}
	if p := templatecheck.LogGroups(tmpl, 7, "Delete"); len(p) != 0 {
		t.Errorf("LogGroups = %q, want no problems", p)
	}
}

func TestSecurityFindsEachBreach(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(templatecheck.Template)
		want   []string
	}{
		"internet-facing load balancer": {
			func(tm templatecheck.Template) { props(tm, "Nlb")["Scheme"] = "internet-facing" },
			[]string{"load balancer Nlb has Scheme internet-facing, want internal (only CloudFront may face the internet)"},
		},
		"inline ingress from the world": {
			func(tm templatecheck.Template) {
				props(tm, "NlbSg")["SecurityGroupIngress"] = []any{map[string]any{"CidrIp": "0.0.0.0/0", "FromPort": 80.0}}
			},
			[]string{`security group NlbSg ingress[0] is open to the internet: {"CidrIp":"0.0.0.0/0","FromPort":80}`},
		},
		"ingress rule from an IPv6 range": {
			func(tm templatecheck.Template) {
				p := props(tm, "TaskIngress")
				delete(p, "SourceSecurityGroupId")
				p["CidrIpv6"] = "::/0"
			},
			[]string{`ingress rule TaskIngress is open to the internet: {"CidrIpv6":"::/0","FromPort":8080,"GroupId":{"Fn::GetAtt":["TaskSg","GroupId"]},"IpProtocol":"tcp","ToPort":8080}`},
		},
		"ingress from the VPC range": {
			func(tm templatecheck.Template) {
				p := props(tm, "TaskIngress")
				delete(p, "SourceSecurityGroupId")
				p["CidrIp"] = "10.0.0.0/16"
			},
			[]string{`ingress rule TaskIngress admits an address range instead of a security group: {"CidrIp":"10.0.0.0/16","FromPort":8080,"GroupId":{"Fn::GetAtt":["TaskSg","GroupId"]},"IpProtocol":"tcp","ToPort":8080}`},
		},
		"wildcard added to the Bedrock resource list": {
			func(tm templatecheck.Template) {
				s := statement(tm, "TaskRolePolicy", 0)
				s["Resource"] = []any{s["Resource"], "*"}
			},
			[]string{`TaskRolePolicy statement[0] grants Bedrock on ["arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0" "*"], want exactly ["arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"]`},
		},
		"another model": {
			func(tm templatecheck.Template) {
				statement(tm, "TaskRolePolicy", 0)["Resource"] = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"
			},
			[]string{`TaskRolePolicy statement[0] grants Bedrock on ["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"], want exactly ["arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"]`},
		},
		"a third Bedrock action": {
			func(tm templatecheck.Template) {
				s := statement(tm, "TaskRolePolicy", 0)
				s["Action"] = append(s["Action"].([]any), "bedrock:InvokeModelWithResponseStream")
			},
			[]string{`TaskRolePolicy statement[0] grants Bedrock actions ["bedrock:InvokeModel" "bedrock:InvokeModelWithBidirectionalStream" "bedrock:InvokeModelWithResponseStream"], want exactly ["bedrock:InvokeModel" "bedrock:InvokeModelWithBidirectionalStream"]`},
		},
		"bedrock:* in a role's inline policy": {
			func(tm templatecheck.Template) {
				inline := props(tm, "HandlerRole")["Policies"].([]any)[0].(map[string]any)
				inline["PolicyDocument"].(map[string]any)["Statement"].([]any)[0].(map[string]any)["Action"] = "bedrock:*"
			},
			[]string{
				`HandlerRole policy Inline statement[0] allows "bedrock:*"`,
				"2 statements grant Bedrock (TaskRolePolicy statement[0], HandlerRole policy Inline statement[0]), want exactly 1",
				`HandlerRole policy Inline statement[0] grants Bedrock actions ["bedrock:*"], want exactly ["bedrock:InvokeModel" "bedrock:InvokeModelWithBidirectionalStream"]`,
				`HandlerRole policy Inline statement[0] grants Bedrock on ["*"], want exactly ["arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"]`,
			},
		},
		"every action": {
			func(tm templatecheck.Template) { statement(tm, "TaskRolePolicy", 1)["Action"] = "*" },
			[]string{`TaskRolePolicy statement[1] allows "*"`},
		},
		"no Bedrock grant": {
			func(tm templatecheck.Template) {
				doc := props(tm, "TaskRolePolicy")["PolicyDocument"].(map[string]any)
				doc["Statement"] = doc["Statement"].([]any)[1:]
			},
			[]string{"0 statements grant Bedrock (), want exactly 1"},
		},
		"bucket without a public access block": {
			func(tm templatecheck.Template) {
				props(tm, "Site")["PublicAccessBlockConfiguration"].(map[string]any)["RestrictPublicBuckets"] = false
				delete(props(tm, "Site")["PublicAccessBlockConfiguration"].(map[string]any), "BlockPublicAcls")
			},
			[]string{"bucket Site does not set BlockPublicAcls, RestrictPublicBuckets to true"},
		},
		"bucket without encryption": {
			func(tm templatecheck.Template) { delete(props(tm, "Site"), "BucketEncryption") },
			[]string{"bucket Site has no BucketEncryption"},
		},
		"bucket that accepts plain HTTP": {
			func(tm templatecheck.Template) {
				doc := props(tm, "SitePolicy")["PolicyDocument"].(map[string]any)
				doc["Statement"] = doc["Statement"].([]any)[1:]
			},
			[]string{"bucket Site has no policy denying requests without TLS (aws:SecureTransport false)"},
		},
		"bucket readable by everyone": {
			func(tm templatecheck.Template) { statement(tm, "SitePolicy", 1)["Principal"] = "*" },
			[]string{`bucket policy SitePolicy statement[1] allows everyone: {"Action":"s3:GetObject","Effect":"Allow","Principal":"*","Resource":"*"}`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := good(t)
			tc.mutate(tmpl)
			if got := templatecheck.Security(tmpl, novaSonic); !slices.Equal(got, tc.want) {
				t.Errorf("Security =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

func TestLogGroupsFindsEachEscape(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(templatecheck.Template)
		want   []string
	}{
		"CDK's default retention": {
			func(tm templatecheck.Template) { props(tm, "CdkFunctionLogs")["RetentionInDays"] = 731.0 },
			[]string{"log group CdkFunctionLogs keeps logs for 731 days, want 7"},
		},
		"no retention": {
			func(tm templatecheck.Template) { delete(props(tm, "GatewayLogs"), "RetentionInDays") },
			[]string{"log group GatewayLogs keeps logs for <nil> days, want 7"},
		},
		"kept after the stack": {
			func(tm templatecheck.Template) {
				resource(tm, "ProviderLogs")["DeletionPolicy"] = "Retain"
				resource(tm, "ProviderLogs")["UpdateReplacePolicy"] = "Retain"
			},
			[]string{"log group ProviderLogs has DeletionPolicy Retain, want Delete", "log group ProviderLogs has UpdateReplacePolicy Retain, want Delete"},
		},
		"function without a group of its own": {
			func(tm templatecheck.Template) { delete(props(tm, "ProviderHandler"), "LoggingConfig") },
			[]string{"function ProviderHandler logs to /aws/lambda/<its name>, a group Lambda creates outside the stack that never expires"},
		},
		"function logging to a group of another stack": {
			func(tm templatecheck.Template) {
				props(tm, "ProviderHandler")["LoggingConfig"] = map[string]any{"LogGroup": "/shared/logs"}
			},
			[]string{"function ProviderHandler logs to /shared/logs, which is not a log group of this template"},
		},
		"group named after another function": {
			func(tm templatecheck.Template) {
				props(tm, "CdkFunctionLogs")["LogGroupName"] = map[string]any{"Fn::Join": []any{"", []any{"/aws/lambda/", map[string]any{"Ref": "Other"}}}}
			},
			[]string{"function CdkFunction logs to /aws/lambda/<its name>, a group Lambda creates outside the stack that never expires"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := good(t)
			tc.mutate(tmpl)
			if got := templatecheck.LogGroups(tmpl, 7, "Delete"); !slices.Equal(got, tc.want) {
				t.Errorf("LogGroups =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
	// The same template is wrong for production, which keeps logs three months and retains them.
	if got := templatecheck.LogGroups(good(t), 90, "Retain"); len(got) != 3*3 {
		t.Errorf("LogGroups(prod) found %d problems, want 9 (three groups, three properties each): %q", len(got), got)
	}
}

func TestDiffListsEveryChangedPath(t *testing.T) {
	want := map[string]any{
		"Resources": map[string]any{
			"A": map[string]any{"Properties": map[string]any{"Port": 80.0, "Tags": []any{"x", "y"}}},
			"B": map[string]any{"Type": "AWS::S3::Bucket"},
		},
	}
	got := map[string]any{
		"Resources": map[string]any{
			"A": map[string]any{"Properties": map[string]any{"Port": 8080.0, "Tags": []any{"x"}, "New": true}},
			"C": map[string]any{"Type": "AWS::SQS::Queue"},
		},
	}
	wantLines := []string{
		"Resources.A.Properties.New: added true",
		"Resources.A.Properties.Port: want 80, got 8080",
		`Resources.A.Properties.Tags[1]: removed (was "y")`,
		`Resources.B: removed (was {"Type":"AWS::S3::Bucket"})`,
		`Resources.C: added {"Type":"AWS::SQS::Queue"}`,
	}
	if lines := templatecheck.Diff(want, got); !slices.Equal(lines, wantLines) {
		t.Errorf("Diff =\n  %q\nwant\n  %q", lines, wantLines)
	}
	if lines := templatecheck.Diff(want, want); len(lines) != 0 {
		t.Errorf("Diff of equal templates = %q", lines)
	}
	if lines := templatecheck.Diff(map[string]any{"A": 1.0}, []any{1.0}); !slices.Equal(lines, []string{`(template): want {"A":1}, got [1]`}) {
		t.Errorf("Diff of a map and a list = %q", lines)
	}
}

func TestRender(t *testing.T) {
	for want, v := range map[string]any{
		"plain": "plain",
		"arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/m": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":bedrock:us-east-1::foundation-model/m"}}},
		"${Bucket.Arn}/*":                  map[string]any{"Fn::Join": []any{"", []any{map[string]any{"Fn::GetAtt": []any{"Bucket", "Arn"}}, "/*"}}},
		"arn:${AWS::Partition}:iam::aws:x": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:x"},
		`{"Fn::If":["c","a","b"]}`:         map[string]any{"Fn::If": []any{"c", "a", "b"}},
		`80`:                               80.0,
	} {
		if got := templatecheck.Render(v); got != want {
			t.Errorf("Render(%v) = %q, want %q", v, got, want)
		}
	}
}
