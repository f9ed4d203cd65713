package constructs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// RuntimeConfigKey is the object key of the web client's runtime configuration. The page loads it with a
// <script> tag before its own code; it sets RuntimeConfigGlobal. The keys are documented in the local
// default of the same file, server/web/static/config.js, which the deployment replaces.
const RuntimeConfigKey = "config.js"

// RuntimeConfigGlobal is the browser global config.js assigns.
const RuntimeConfigGlobal = "window.NOVA_SONIC_CONFIG"

// WebsiteProps configures a Website.
type WebsiteProps struct {
	// RemovalPolicy applies to the site and log buckets. With DESTROY the buckets are emptied on delete.
	// Default: awscdk.RemovalPolicy_RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// LogRetentionDays is how long access logs are kept in the log bucket.
	// Default: 90.
	LogRetentionDays *float64
}

// Website holds the web client: a private, encrypted, TLS-only S3 bucket that only CloudFront reads (the
// FrontDoor adds the origin access control), and a log bucket that receives the site bucket's server access
// logs and CloudFront's standard logs. Deploy publishes the files and the runtime config.js once the
// distribution and the user pool exist.
type Website struct {
	constructs.Construct
	// Bucket holds the web client. Its logical ID is pinned by tests.
	Bucket awss3.Bucket
	// LogBucket holds S3 server access logs and CloudFront standard logs. Its logical ID is pinned by tests.
	LogBucket awss3.Bucket
}

// NewWebsite creates the site bucket and its log bucket.
func NewWebsite(scope constructs.Construct, id string, props *WebsiteProps) *Website {
	if props == nil {
		props = &WebsiteProps{}
	}
	this := constructs.NewConstruct(scope, &id)
	removal := removalPolicyOrRetain(props.RemovalPolicy)
	autoDelete := jsii.Bool(removal == awscdk.RemovalPolicy_DESTROY)
	logDays := props.LogRetentionDays
	if logDays == nil {
		logDays = jsii.Number(90)
	}

	logBucket := awss3.NewBucket(this, jsii.String("LogBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		// CloudFront standard logging writes with an ACL, which BUCKET_OWNER_ENFORCED would refuse.
		ObjectOwnership:   awss3.ObjectOwnership_OBJECT_WRITER,
		LifecycleRules:    &[]*awss3.LifecycleRule{{Expiration: awscdk.Duration_Days(logDays)}},
		RemovalPolicy:     removal,
		AutoDeleteObjects: autoDelete,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logBucket, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("this is the access-log bucket itself; logging its own access would log forever"),
	}}, jsii.Bool(false))

	bucket := awss3.NewBucket(this, jsii.String("Bucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: logBucket,
		ServerAccessLogsPrefix: jsii.String("site/"),
		RemovalPolicy:          removal,
		AutoDeleteObjects:      autoDelete,
	})

	return &Website{Construct: this, Bucket: bucket, LogBucket: logBucket}
}

// WebsiteDeploymentProps configures Website.Deploy.
type WebsiteDeploymentProps struct {
	// Distribution serves the bucket; the deployment invalidates its cache. Required.
	Distribution awscloudfront.IDistribution
	// ContentDirectory is a local directory whose files are published to the bucket root.
	// Default: none. When the directory is missing, only config.js is published and synth warns.
	ContentDirectory *string
	// RuntimeConfig becomes RuntimeConfigGlobal in config.js. Values may be CDK tokens (user pool id, domain
	// names); they are resolved at deploy time. Required.
	RuntimeConfig map[string]*string
}

// WebsiteDeployment is what Website.Deploy created.
type WebsiteDeployment struct {
	// Content publishes the web client's files, cacheable; nil when the content directory is missing.
	Content awss3deployment.BucketDeployment
	// RuntimeConfig publishes config.js with Cache-Control: no-cache.
	RuntimeConfig awss3deployment.BucketDeployment
}

// Deploy publishes the web client and its runtime config.js to the bucket and invalidates the
// distribution's cache. It uses the CDK's BucketDeployment, so no Lambda code of ours is involved.
//
// Two deployments, because Cache-Control is set per deployment. The client's files may be cached as usual.
// config.js changes with every deploy that changes a URL or an id, under the same name, so it is served
// with Cache-Control: no-cache: browsers revalidate it on every load instead of keeping a stale copy that
// points at a deleted user pool. The content deployment prunes the bucket to exactly one release but
// excludes config.js, which keeps the prune from deleting it.
func (w *Website) Deploy(props *WebsiteDeploymentProps) *WebsiteDeployment {
	if props == nil {
		props = &WebsiteDeploymentProps{}
	}
	requireProps("Website.Deploy", *w.Node().Id(),
		required{"Distribution", props.Distribution == nil}, required{"RuntimeConfig", props.RuntimeConfig == nil})
	script, err := runtimeConfigScript(props.RuntimeConfig)
	if err != nil {
		panic(fmt.Sprintf("website: render %s: %v", RuntimeConfigKey, err))
	}
	deployment := &WebsiteDeployment{}
	if dir := props.ContentDirectory; dir != nil {
		if info, err := os.Stat(*dir); err == nil && info.IsDir() {
			// The directory's own config.js holds local defaults for `make run`; the deployment writes its own.
			deployment.Content = awss3deployment.NewBucketDeployment(w.Construct, jsii.String("Deployment"), &awss3deployment.BucketDeploymentProps{
				DestinationBucket: w.Bucket,
				Sources: &[]awss3deployment.ISource{awss3deployment.Source_Asset(dir, &awss3assets.AssetOptions{
					Exclude: jsii.Strings(RuntimeConfigKey),
				})},
				Exclude:           jsii.Strings(RuntimeConfigKey),
				Distribution:      props.Distribution,
				DistributionPaths: jsii.Strings("/*"),
				Prune:             jsii.Bool(true),
				MemoryLimit:       jsii.Number(bucketDeploymentMemoryMiB),
			})
		} else {
			awscdk.Annotations_Of(w.Construct).AddWarningV2(jsii.String("novasonic:website-content-missing"), jsii.String(fmt.Sprintf(
				"web client directory %s not found: only %s is deployed; build or add the web client and deploy again",
				*dir, RuntimeConfigKey)), nil)
		}
	}
	deployment.RuntimeConfig = awss3deployment.NewBucketDeployment(w.Construct, jsii.String("RuntimeConfig"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: w.Bucket,
		Sources:           &[]awss3deployment.ISource{awss3deployment.Source_Data(jsii.String(RuntimeConfigKey), jsii.String(script), nil)},
		CacheControl:      &[]awss3deployment.CacheControl{awss3deployment.CacheControl_NoCache()},
		// One object among the content's: pruning here would delete the web client.
		Prune:        jsii.Bool(false),
		Distribution: props.Distribution,
		// Its own invalidation, after its own upload: the content's /* may finish first, and an edge
		// would then cache the previous config.js again (it carried no Cache-Control before this change).
		DistributionPaths: jsii.Strings("/" + RuntimeConfigKey),
		// The same memory as the content deployment, so both share the CDK's one handler function.
		MemoryLimit: jsii.Number(bucketDeploymentMemoryMiB),
	})
	suppressBucketDeploymentFindings(deployment.RuntimeConfig)
	return deployment
}

// bucketDeploymentMemoryMiB is the memory of the CDK's BucketDeployment handler, which unzips the assets.
const bucketDeploymentMemoryMiB = 512

// runtimeConfigScript renders config.js. Keys are sorted (encoding/json), so the template is stable.
func runtimeConfigScript(values map[string]*string) (string, error) {
	plain := make(map[string]string, len(values))
	for k, v := range values {
		if v == nil {
			return "", fmt.Errorf("value of %q is nil", k)
		}
		plain[k] = *v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(plain); err != nil {
		return "", err
	}
	return "// Written at deploy time by the CDK stack; do not edit.\n" + RuntimeConfigGlobal + " = " +
		string(bytes.TrimSpace(buf.Bytes())) + ";\n", nil
}

// suppressBucketDeploymentFindings records why the CDK-owned BucketDeployment handler (a singleton Lambda
// at stack level, named after its memory size) may keep the findings cdk-nag raises on it. The
// suppression goes on the handler function, found as the parent of its role, and its children.
func suppressBucketDeploymentFindings(deployment awss3deployment.BucketDeployment) {
	handler := deployment.HandlerRole().Node().Scope()
	cdknag.NagSuppressions_AddResourceSuppressions(handler, &[]*cdknag.NagPackSuppression{
		{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("the CDK's BucketDeployment handler role uses AWSLambdaBasicExecutionRole to write its own logs"),
			AppliesTo: &[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		},
		{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("the CDK's BucketDeployment grant: read the staged assets in the CDK asset bucket, " +
				"replace every object of the site bucket (prune), and invalidate the distribution, whose API takes no resource ARN"),
			AppliesTo: &[]interface{}{
				"Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*", "Action::s3:Abort*",
				"Action::s3:DeleteObject*",
				"Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
				cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<.*Bucket[0-9A-F]{8}\.Arn>\/\*$/`)},
				"Resource::*",
			},
		},
		{
			Id:     jsii.String("AwsSolutions-L1"),
			Reason: jsii.String("the runtime of the CDK's BucketDeployment handler is chosen by the CDK release and upgraded with aws-cdk-lib"),
		},
	}, jsii.Bool(true))
}
