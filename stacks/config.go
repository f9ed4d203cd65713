package stacks

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"novasonic/kube"
)

// Context keys. Each is read once, by LoadConfig, from cdk.json's "context" or `cdk synth -c key=value`.
// docs/ecs-stack.md lists the shared and ECS keys with their defaults, README_EKS.md the EKS keys; a test
// checks that every key is in one of them.
const (
	KeyStage                 = "stage"
	KeyBedrockRegion         = "bedrockRegion"
	KeyModelID               = "modelId"
	KeyVoiceID               = "voiceId"
	KeyDesiredTasks          = "desiredTasks"
	KeyMinTasks              = "minTasks"
	KeyMaxTasks              = "maxTasks"
	KeyTargetSessionsPerTask = "targetSessionsPerTask"
	KeyTaskCPU               = "taskCpu"
	KeyTaskMemoryMiB         = "taskMemoryMiB"
	KeyAllowedOrigins        = "allowedOrigins"
	KeyGeoAllowList          = "geoAllowList"
	KeyNatGateways           = "natGateways"
	KeyAvailabilityZones     = "availabilityZones"
	KeyMfa                   = "mfa"
	KeyUserPoolFeaturePlan   = "userPoolFeaturePlan"
	KeyWebACLArn             = "webAclArn"

	// The EKS stack's own keys (main_eks.go); the ECS stack ignores them, as the EKS stack ignores the
	// task keys.
	KeyEKSEndpointPublicCIDRs = "eksEndpointPublicCidrs"
	KeyEKSAdminRoleARN        = "eksAdminRoleArn"
	KeyPodCPUMillicores       = "podCpuMillicores"
	KeyPodMemoryMiB           = "podMemoryMiB"
	KeyMinReplicas            = "minReplicas"
	KeyMaxReplicas            = "maxReplicas"
	KeyPodScaling             = "podScaling"
	KeyTargetSessionsPerPod   = "targetSessionsPerPod"
)

// The values of KeyPodScaling.
const (
	// PodScalingCPUMemory is an HPA on CPU and memory from metrics-server: nothing extra to run.
	PodScalingCPUMemory = "cpu-memory"
	// PodScalingSessions adds the gateway's ActiveSessions metric through KEDA, which runs two more
	// Fargate pods (README_EKS.md, "Scaling on conversations").
	PodScalingSessions = "sessions"
)

// ProductionStage is the stage whose data outlives the stack.
const ProductionStage = "prod"

// Config is the app's configuration, read once from the CDK context and passed down as props. The zero
// value is not valid; use DefaultConfig or LoadConfig.
type Config struct {
	// Stage names the deployment. Every stage but DefaultStage is its own stack (StackName) with its own
	// resources. "prod" retains the user pool, buckets and log groups when the stack is deleted and keeps
	// logs longer; any other stage deletes them with the stack. Default DefaultStage ("dev").
	Stage string
	// BedrockRegion is where the gateway calls Bedrock, independent of the stack's region.
	// Default "us-east-1".
	BedrockRegion string
	// ModelID is the Nova Sonic foundation model. Default "amazon.nova-2-sonic-v1:0".
	ModelID string
	// VoiceID is the voice the web client asks for. Default "matthew".
	VoiceID string
	// DesiredTasks, when non-zero, is written into the ECS service and reset on every deploy. Default 0
	// (unset: autoscaling owns the count).
	DesiredTasks int
	// MinTasks and MaxTasks bound autoscaling. Defaults 2 and 10.
	MinTasks, MaxTasks int
	// TargetSessionsPerTask is the average number of open conversations per task autoscaling aims at.
	// Default 75 (BENCHMARKS.md, Sizing).
	TargetSessionsPerTask int
	// TaskCPU is the Fargate task size in CPU units (1024 = 1 vCPU). Default 1024.
	TaskCPU int
	// TaskMemoryMiB is the Fargate task memory. Default 2048.
	TaskMemoryMiB int
	// AllowedOrigins are browser origins allowed to open the WebSocket in addition to the CloudFront
	// URL, which is always allowed. Default none.
	AllowedOrigins []string
	// GeoAllowList restricts CloudFront to these ISO 3166-1 alpha-2 countries. Default none (no
	// restriction).
	GeoAllowList []string
	// NatGateways is 1 (shared by both zones) or 2 (one per zone). Default 1.
	NatGateways int
	// AvailabilityZones are the two zone names (us-east-1a, not the zone ID use1-az1) the VPC spans, for
	// accounts where a zone the region would otherwise give first cannot host CloudFront VPC origins.
	// Default none: the first two zones of the deploying region, resolved at deploy time, which keeps the
	// stack environment-agnostic.
	AvailabilityZones []string
	// Mfa is "off", "optional" or "required" (TOTP). Default "optional".
	Mfa string
	// UserPoolFeaturePlan is "essentials" or "plus" (threat protection, billed per user).
	// Default "essentials".
	UserPoolFeaturePlan string
	// WebACLArn is a CLOUDFRONT-scope WAF web ACL ARN to attach. Default none.
	WebACLArn string

	// EKSEndpointPublicCIDRs opens the EKS cluster's Kubernetes API endpoint to these IPv4 networks, for
	// kubectl from outside the VPC; the private endpoint stays on. Default none: private only.
	EKSEndpointPublicCIDRs []string
	// EKSAdminRoleARN is the IAM role given cluster-admin access to the EKS cluster, for the people and
	// pipelines that run kubectl. Default none (synth warns: nobody can run kubectl).
	EKSAdminRoleARN string
	// PodCPUMillicores and PodMemoryMiB are the Fargate size of each EKS gateway pod. Defaults 1000 and
	// 2048, the ECS task's size.
	PodCPUMillicores, PodMemoryMiB int
	// MinReplicas and MaxReplicas bound the EKS gateway's autoscaler. Defaults 2 and 10.
	MinReplicas, MaxReplicas int
	// PodScaling is PodScalingCPUMemory or PodScalingSessions. Default PodScalingCPUMemory.
	PodScaling string
	// TargetSessionsPerPod is the average number of open conversations per pod session scaling aims at.
	// Default 75 (BENCHMARKS.md, Sizing).
	TargetSessionsPerPod int
}

// DefaultConfig returns the configuration used for every key that the context leaves out.
func DefaultConfig() Config {
	return Config{
		Stage:                 DefaultStage,
		BedrockRegion:         "us-east-1",
		ModelID:               "amazon.nova-2-sonic-v1:0",
		VoiceID:               "matthew",
		MinTasks:              2,
		MaxTasks:              10,
		TargetSessionsPerTask: 75,
		TaskCPU:               1024,
		TaskMemoryMiB:         2048,
		NatGateways:           1,
		Mfa:                   "optional",
		UserPoolFeaturePlan:   "essentials",
		PodCPUMillicores:      1000,
		PodMemoryMiB:          2048,
		MinReplicas:           2,
		MaxReplicas:           10,
		PodScaling:            PodScalingCPUMemory,
		TargetSessionsPerPod:  kube.DefaultTargetSessionsPerPod,
	}
}

// LoadConfig reads every configuration key from node's context (cdk.json or -c), applies defaults and
// validates the result. The error names each bad key, the value it got and the form it expects.
func LoadConfig(node constructs.Node) (Config, error) {
	return ParseConfig(func(key string) any { return node.TryGetContext(jsii.String(key)) })
}

// ParseConfig is LoadConfig over any lookup; lookup returns nil for a missing key. Values may be JSON
// types (from cdk.json) or strings (from -c key=value).
func ParseConfig(lookup func(key string) any) (Config, error) {
	c := DefaultConfig()
	p := parser{lookup: lookup}
	p.str(KeyStage, &c.Stage, stagePattern, "lowercase letters, digits and hyphens, starting with a letter, at most 16 characters (e.g. dev, prod)")
	p.str(KeyBedrockRegion, &c.BedrockRegion, regionPattern, "an AWS region code such as us-east-1")
	p.str(KeyModelID, &c.ModelID, modelPattern, "a foundation model id such as amazon.nova-2-sonic-v1:0")
	p.str(KeyVoiceID, &c.VoiceID, voicePattern, "a Nova Sonic voice id in lowercase, such as matthew or tiffany")
	p.integer(KeyDesiredTasks, &c.DesiredTasks, 0, 100)
	p.integer(KeyMinTasks, &c.MinTasks, 1, 100)
	p.integer(KeyMaxTasks, &c.MaxTasks, 1, 100)
	p.integer(KeyTargetSessionsPerTask, &c.TargetSessionsPerTask, 1, 1000)
	p.integer(KeyTaskCPU, &c.TaskCPU, 256, 16384)
	p.integer(KeyTaskMemoryMiB, &c.TaskMemoryMiB, 512, 122880)
	p.list(KeyAllowedOrigins, &c.AllowedOrigins, validOrigin, "comma-separated origins such as https://app.example.com or http://localhost:8080 (scheme and host, no path)")
	p.list(KeyGeoAllowList, &c.GeoAllowList, countryPattern.MatchString, "comma-separated ISO 3166-1 alpha-2 country codes in capitals, such as US,CA,DE")
	p.integer(KeyNatGateways, &c.NatGateways, 1, 2)
	p.list(KeyAvailabilityZones, &c.AvailabilityZones, zonePattern.MatchString,
		"two availability zone names of the deploying region such as us-east-1a,us-east-1b (names, not zone IDs such as use1-az1: "+
			"aws ec2 describe-availability-zones --query 'AvailabilityZones[].[ZoneName,ZoneId]' lists both)")
	p.oneOf(KeyMfa, &c.Mfa, "off", "optional", "required")
	p.oneOf(KeyUserPoolFeaturePlan, &c.UserPoolFeaturePlan, "essentials", "plus")
	p.str(KeyWebACLArn, &c.WebACLArn, webACLPattern, "a WAF web ACL ARN with global (CLOUDFRONT) scope: arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>")
	p.list(KeyEKSEndpointPublicCIDRs, &c.EKSEndpointPublicCIDRs, validEndpointCIDR,
		"comma-separated IPv4 networks such as 203.0.113.0/24,198.51.100.7/32 (no host bits set, never 0.0.0.0/0); leave it unset for a private endpoint")
	p.str(KeyEKSAdminRoleARN, &c.EKSAdminRoleARN, roleARNPattern, "an IAM role ARN such as arn:aws:iam::123456789012:role/platform-admin")
	p.integer(KeyPodCPUMillicores, &c.PodCPUMillicores, 250, 16000)
	p.integer(KeyPodMemoryMiB, &c.PodMemoryMiB, 512, 122880)
	p.integer(KeyMinReplicas, &c.MinReplicas, 1, 100)
	p.integer(KeyMaxReplicas, &c.MaxReplicas, 1, 100)
	p.oneOf(KeyPodScaling, &c.PodScaling, PodScalingCPUMemory, PodScalingSessions)
	p.integer(KeyTargetSessionsPerPod, &c.TargetSessionsPerPod, 1, 1000)

	// Checks across keys run after every key is read, so each message can quote the final values.
	if profile := inferenceProfilePattern.FindString(c.ModelID); profile != "" {
		p.fail(KeyModelID, c.ModelID, "a foundation model id without the "+profile+" inference-profile prefix, such as amazon.nova-2-sonic-v1:0")
	}
	if c.MinTasks > c.MaxTasks {
		p.errs = append(p.errs, fmt.Errorf("%s (%d) must not exceed %s (%d)", KeyMinTasks, c.MinTasks, KeyMaxTasks, c.MaxTasks))
	}
	if c.DesiredTasks != 0 && (c.DesiredTasks < c.MinTasks || c.DesiredTasks > c.MaxTasks) {
		p.errs = append(p.errs, fmt.Errorf("%s must lie between %s and %s (%d to %d), got %d; or leave it unset so autoscaling owns the count",
			KeyDesiredTasks, KeyMinTasks, KeyMaxTasks, c.MinTasks, c.MaxTasks, c.DesiredTasks))
	}
	if err := validZones(c.AvailabilityZones); err != nil {
		p.errs = append(p.errs, err)
	}
	if err := validFargateSize(c.TaskCPU, c.TaskMemoryMiB); err != nil {
		p.errs = append(p.errs, err)
	}
	if c.MinReplicas > c.MaxReplicas {
		p.errs = append(p.errs, fmt.Errorf("%s (%d) must not exceed %s (%d)", KeyMinReplicas, c.MinReplicas, KeyMaxReplicas, c.MaxReplicas))
	}
	// The pod sizes EKS on Fargate offers are the kube package's, which sizes the container from them.
	if _, err := kube.FargateResources(int64(c.PodCPUMillicores), int64(c.PodMemoryMiB)); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s %d and %s %d: %w", KeyPodCPUMillicores, c.PodCPUMillicores, KeyPodMemoryMiB, c.PodMemoryMiB, err))
	}
	if len(p.errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration (cdk.json context or -c key=value): %w", errors.Join(p.errs...))
	}
	return c, nil
}

// IsProduction reports whether this stage keeps its data when the stack is deleted.
func (c Config) IsProduction() bool { return c.Stage == ProductionStage }

// RemovalPolicy is RETAIN for production and DESTROY for every other stage.
func (c Config) RemovalPolicy() awscdk.RemovalPolicy {
	if c.IsProduction() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// LogRetentionDays is how long every log group of the stack keeps its events: three months for production
// and one week for every other stage.
func (c Config) LogRetentionDays() float64 {
	if c.IsProduction() {
		return 90
	}
	return 7
}

// SessionScaling reports whether the EKS gateway scales on ActiveSessions through KEDA.
func (c Config) SessionScaling() bool { return c.PodScaling == PodScalingSessions }

// CognitoMfa maps Mfa to the CDK value.
func (c Config) CognitoMfa() awscognito.Mfa {
	switch c.Mfa {
	case "off":
		return awscognito.Mfa_OFF
	case "required":
		return awscognito.Mfa_REQUIRED
	default:
		return awscognito.Mfa_OPTIONAL
	}
}

// CognitoFeaturePlan maps UserPoolFeaturePlan to the CDK value.
func (c Config) CognitoFeaturePlan() awscognito.FeaturePlan {
	if c.UserPoolFeaturePlan == "plus" {
		return awscognito.FeaturePlan_PLUS
	}
	return awscognito.FeaturePlan_ESSENTIALS
}

var (
	stagePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$`)
	modelPattern   = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)+(-v[0-9]+)?(:[0-9a-z]+)*$`)
	voicePattern   = regexp.MustCompile(`^[a-z][a-z_-]{1,31}$`)
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
	// A zone name is its region's code plus one letter. Local Zones and Wavelength Zones (us-west-2-lax-1a)
	// are not what this two-zone VPC is designed for, so they do not match.
	zonePattern   = regexp.MustCompile(`^([a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9])[a-z]$`)
	webACLPattern = regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[A-Za-z0-9_-]+/[a-f0-9-]+$`)
	// An IAM role ARN, with an optional path (role/admins/platform-admin).
	roleARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	// Cross-region inference profiles put a geography before the provider; the bidirectional stream
	// runs in one region and the grant names one foundation model.
	inferenceProfilePattern = regexp.MustCompile(`^(us|eu|apac|jp|au|ca|us-gov|global)\.`)
)

// validOrigin accepts scheme://host[:port], https anywhere and http only for localhost.
func validOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"
	}
	return false
}

// validEndpointCIDR accepts an IPv4 network in canonical form that is not the whole internet: the
// Kubernetes API endpoint must never be world-open by configuration.
func validEndpointCIDR(s string) bool {
	prefix, err := netip.ParsePrefix(s)
	return err == nil && prefix.Addr().Is4() && prefix == prefix.Masked() && prefix.Bits() > 0
}

// validZones checks that a zone list, when given, names two different zones of one region: the VPC has
// exactly two zones, and the stack deploys to one region.
func validZones(zones []string) error {
	if len(zones) == 0 {
		return nil
	}
	if len(zones) != 2 {
		return fmt.Errorf("%s must name exactly two zones, got %d (%s)", KeyAvailabilityZones, len(zones), strings.Join(zones, ","))
	}
	if zones[0] == zones[1] {
		return fmt.Errorf("%s must name two different zones, got %s twice", KeyAvailabilityZones, zones[0])
	}
	if a, b := zonePattern.FindStringSubmatch(zones[0])[1], zonePattern.FindStringSubmatch(zones[1])[1]; a != b {
		return fmt.Errorf("%s must name zones of one region (the stack's), got %s in %s and %s in %s", KeyAvailabilityZones, zones[0], a, zones[1], b)
	}
	return nil
}

// fargateMemory lists, per CPU size, the smallest and largest memory and the step, in MiB.
var fargateMemory = map[int][3]int{
	256:   {512, 2048, 512},
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// validFargateSize checks a CPU and memory pair against the sizes Fargate offers.
func validFargateSize(cpu, memory int) error {
	r, ok := fargateMemory[cpu]
	if !ok {
		return fmt.Errorf("%s must be one of 256, 512, 1024, 2048, 4096, 8192, 16384 (CPU units, 1024 = 1 vCPU), got %d", KeyTaskCPU, cpu)
	}
	fits := memory >= r[0] && memory <= r[1] && (memory-r[0])%r[2] == 0
	// The 256-unit size is the one whose memory steps are not even: 512, 1024 or 2048.
	if cpu == 256 && memory == 1536 {
		fits = false
	}
	if !fits {
		return fmt.Errorf("%s %d does not fit %s %d: Fargate allows %d to %d MiB in steps of %d for that CPU size",
			KeyTaskMemoryMiB, memory, KeyTaskCPU, cpu, r[0], r[1], r[2])
	}
	return nil
}

// parser collects every configuration error instead of stopping at the first, so one synth shows them all.
type parser struct {
	lookup func(string) any
	errs   []error
}

// fail records that key holds got instead of the form want describes.
func (p *parser) fail(key string, got any, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s must be %s, got %q", key, want, fmt.Sprint(got)))
}

// str reads a string that must match pattern.
func (p *parser) str(key string, dst *string, pattern *regexp.Regexp, want string) {
	v := p.lookup(key)
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok || !pattern.MatchString(s) {
		p.fail(key, v, want)
		return
	}
	*dst = s
}

// oneOf reads a string that must be one of choices.
func (p *parser) oneOf(key string, dst *string, choices ...string) {
	v := p.lookup(key)
	if v == nil {
		return
	}
	s, ok := v.(string)
	for _, c := range choices {
		if ok && s == c {
			*dst = s
			return
		}
	}
	p.fail(key, v, "one of "+strings.Join(choices, ", "))
}

// integer reads a whole number in [lo, hi], given as a JSON number or a string of digits.
func (p *parser) integer(key string, dst *int, lo, hi int) {
	v := p.lookup(key)
	if v == nil {
		return
	}
	want := fmt.Sprintf("a whole number from %d to %d", lo, hi)
	var n int
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) {
			p.fail(key, v, want)
			return
		}
		n = int(x)
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			p.fail(key, v, want)
			return
		}
		n = i
	default:
		p.fail(key, v, want)
		return
	}
	if n < lo || n > hi {
		p.fail(key, v, want)
		return
	}
	*dst = n
}

// list reads a comma-separated string or a JSON array of strings; each item must satisfy valid. An empty
// string means an empty list.
func (p *parser) list(key string, dst *[]string, valid func(string) bool, want string) {
	v := p.lookup(key)
	if v == nil {
		return
	}
	var items []string
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				p.fail(key, v, want)
				return
			}
			items = append(items, s)
		}
	default:
		p.fail(key, v, want)
		return
	}
	for _, s := range items {
		if !valid(s) {
			p.fail(key, s, want)
			return
		}
	}
	*dst = items
}
