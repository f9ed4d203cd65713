package constructs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

func TestWebsiteBuckets(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN a Website is created with defaults
	appconstructs.NewWebsite(stack, "Website", nil)

	// THEN both buckets block public access, encrypt, are retained, and refuse plain HTTP; the site
	// bucket logs to the log bucket, which accepts CloudFront's ACL-based log delivery.
	template := synth(t, stack)
	check(t, "two buckets", func() { template.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(2)) })
	for id, bucket := range resources(t, template, "AWS::S3::Bucket") {
		props := bucket["Properties"].(map[string]any)
		block, _ := props["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if block[k] != true {
				t.Errorf("bucket %s: PublicAccessBlockConfiguration.%s = %v, want true", id, k, block[k])
			}
		}
		if props["BucketEncryption"] == nil {
			t.Errorf("bucket %s has no BucketEncryption", id)
		}
		if bucket["DeletionPolicy"] != "Retain" {
			t.Errorf("bucket %s: DeletionPolicy = %v, want Retain", id, bucket["DeletionPolicy"])
		}
	}
	check(t, "TLS only", func() {
		template.ResourcePropertiesCountIs(jsii.String("AWS::S3::BucketPolicy"), assertions.Match_ObjectLike(&obj{
			"PolicyDocument": obj{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&obj{
				"Effect":    "Deny",
				"Condition": obj{"Bool": obj{"aws:SecureTransport": "false"}},
			})})},
		}), jsii.Number(2))
	})
	check(t, "site access logs", func() {
		template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), assertions.Match_ObjectLike(&obj{
			"LoggingConfiguration": assertions.Match_ObjectLike(&obj{"LogFilePrefix": "site/"}),
		}))
	})
	check(t, "log bucket ownership", func() {
		template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), assertions.Match_ObjectLike(&obj{
			"OwnershipControls": obj{"Rules": []any{obj{"ObjectOwnership": "ObjectWriter"}}},
		}))
	})
}

func TestWebsiteDeployWithoutContent(t *testing.T) {
	// GIVEN a website served by a distribution, deleted with the stack
	stack := newStack()
	website := appconstructs.NewWebsite(stack, "Website", &appconstructs.WebsiteProps{RemovalPolicy: awscdk.RemovalPolicy_DESTROY})
	distribution := awscloudfront.NewDistribution(stack, jsii.String("Cdn"), &awscloudfront.DistributionProps{
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin: awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(website.Bucket, nil),
		},
	})

	// WHEN the web client is deployed from a directory that does not exist
	website.Deploy(&appconstructs.WebsiteDeploymentProps{
		Distribution:     distribution,
		ContentDirectory: jsii.String("/nonexistent/web/static"),
		RuntimeConfig:    map[string]*string{"websocketUrl": jsii.String("wss://example.cloudfront.net/interact-s2s")},
	})

	// THEN config.js alone is deployed, uncached by browsers, without pruning, with its own invalidation;
	// the buckets empty themselves on delete, and synth warns about the missing directory.
	template := synth(t, stack)
	deployments := resources(t, template, "Custom::CDKBucketDeployment")
	if len(deployments) != 1 {
		t.Fatalf("%d deployments, want 1 (config.js)", len(deployments))
	}
	for id, d := range deployments {
		assertRuntimeConfigDeployment(t, id, d)
	}
	check(t, "auto delete", func() {
		template.ResourceCountIs(jsii.String("Custom::S3AutoDeleteObjects"), jsii.Number(2))
	})
	check(t, "warning", func() {
		assertions.Annotations_FromStack(stack).HasWarning(jsii.String("/Test/Website"),
			assertions.Match_StringLikeRegexp(jsii.String("web client directory /nonexistent/web/static not found")))
	})
}

// assertRuntimeConfigDeployment checks the deployment of config.js: one source, Cache-Control no-cache so
// browsers revalidate it on every load, no pruning (it would delete the web client), and an invalidation
// of /config.js.
func assertRuntimeConfigDeployment(t *testing.T, id string, d map[string]any) {
	t.Helper()
	p := d["Properties"].(map[string]any)
	got, _ := json.Marshal(map[string]any{
		"SourceObjectKeys": len(p["SourceObjectKeys"].([]any)), "SystemMetadata": p["SystemMetadata"], "Prune": p["Prune"],
		"DistributionPaths": p["DistributionPaths"], "Exclude": p["Exclude"],
	})
	want := `{"DistributionPaths":["/config.js"],"Exclude":null,"Prune":false,"SourceObjectKeys":1,"SystemMetadata":{"cache-control":"no-cache"}}`
	if string(got) != want {
		t.Errorf("config.js deployment %s = %s\nwant %s", id, got, want)
	}
}

func TestWebsiteDeployWithContent(t *testing.T) {
	// GIVEN a website and a directory with a page and a local config.js
	stack := newStack()
	website := appconstructs.NewWebsite(stack, "Website", nil)
	distribution := awscloudfront.NewDistribution(stack, jsii.String("Cdn"), &awscloudfront.DistributionProps{
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin: awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(website.Bucket, nil),
		},
	})
	dir := t.TempDir()
	writeFile(t, dir+"/index.html", "<!doctype html>")
	writeFile(t, dir+"/config.js", "window.NOVA_SONIC_CONFIG = {auth: 'local'};")

	// WHEN it is deployed
	website.Deploy(&appconstructs.WebsiteDeploymentProps{
		Distribution:     distribution,
		ContentDirectory: jsii.String(dir),
		RuntimeConfig:    map[string]*string{"voiceId": jsii.String("matthew")},
	})

	// THEN the page is one cacheable deployment that prunes the bucket but leaves config.js alone, and
	// config.js is another, uncached; there is no warning
	template := synth(t, stack)
	deployments := resources(t, template, "Custom::CDKBucketDeployment")
	if len(deployments) != 2 {
		t.Fatalf("%d deployments, want 2 (the content and config.js)", len(deployments))
	}
	for id, d := range deployments {
		if strings.HasPrefix(id, "WebsiteRuntimeConfig") {
			assertRuntimeConfigDeployment(t, id, d)
			continue
		}
		p := d["Properties"].(map[string]any)
		got, _ := json.Marshal(map[string]any{
			"SourceObjectKeys": len(p["SourceObjectKeys"].([]any)), "SystemMetadata": p["SystemMetadata"], "Prune": p["Prune"],
			"DistributionPaths": p["DistributionPaths"], "Exclude": p["Exclude"],
		})
		want := `{"DistributionPaths":["/*"],"Exclude":["config.js"],"Prune":true,"SourceObjectKeys":1,"SystemMetadata":null}`
		if string(got) != want {
			t.Errorf("content deployment %s = %s\nwant %s", id, got, want)
		}
	}
	check(t, "no warning", func() {
		assertions.Annotations_FromStack(stack).HasNoWarning(jsii.String("/Test/Website"), assertions.Match_AnyValue())
	})
}
