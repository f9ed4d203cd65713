package stacks_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"novasonic/stacks"
)

// lookup serves a fixed context for ParseConfig.
func lookup(ctx map[string]any) func(string) any {
	return func(key string) any { return ctx[key] }
}

func TestConfigDefaults(t *testing.T) {
	// GIVEN an empty context WHEN it is parsed THEN every key takes its documented default
	cfg, err := stacks.ParseConfig(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, stacks.DefaultConfig()) {
		t.Errorf("config = %+v, want the defaults %+v", cfg, stacks.DefaultConfig())
	}
	if cfg.ModelID != "amazon.nova-2-sonic-v1:0" || cfg.BedrockRegion != "us-east-1" || cfg.Stage != "dev" ||
		cfg.MinTasks != 2 || cfg.MaxTasks != 10 || cfg.TargetSessionsPerTask != 75 || cfg.TaskCPU != 1024 || cfg.TaskMemoryMiB != 2048 || cfg.NatGateways != 1 {
		t.Errorf("defaults changed: %+v; update docs/ecs-stack.md too", cfg)
	}
	if cfg.PodCPUMillicores != 1000 || cfg.PodMemoryMiB != 2048 || cfg.MinReplicas != 2 || cfg.MaxReplicas != 10 ||
		cfg.PodScaling != "cpu-memory" || cfg.SessionScaling() || cfg.TargetSessionsPerPod != 75 || cfg.EKSAdminRoleARN != "" || cfg.EKSEndpointPublicCIDRs != nil {
		t.Errorf("EKS defaults changed: %+v; update README_EKS.md too", cfg)
	}
	if cfg.IsProduction() || cfg.RemovalPolicy() != awscdk.RemovalPolicy_DESTROY {
		t.Error("dev must delete its data with the stack")
	}
}

func TestConfigParsesJSONAndStrings(t *testing.T) {
	// GIVEN values as cdk.json gives them (JSON numbers, arrays) and as -c gives them (strings)
	ctx := map[string]any{
		"stage":             "prod",
		"bedrockRegion":     "eu-north-1",
		"minTasks":          3.0,
		"maxTasks":          "12",
		"desiredTasks":      "4",
		"taskCpu":           "2048",
		"taskMemoryMiB":     4096.0,
		"allowedOrigins":    "https://app.example.com, http://localhost:8080",
		"geoAllowList":      []any{"US", "CA"},
		"natGateways":       "2",
		"mfa":               "required",
		"availabilityZones": "us-east-1b, us-east-1c",
		// The EKS stack's keys.
		"eksEndpointPublicCidrs": []any{"203.0.113.0/24", "198.51.100.7/32"},
		"eksAdminRoleArn":        "arn:aws:iam::123456789012:role/admins/platform-admin",
		"podCpuMillicores":       "2000",
		"podMemoryMiB":           4096.0,
		"minReplicas":            "3",
		"maxReplicas":            6.0,
		"podScaling":             "sessions",
		"targetSessionsPerPod":   "30",
	}

	// WHEN it is parsed
	cfg, err := stacks.ParseConfig(lookup(ctx))

	// THEN both forms are read
	if err != nil {
		t.Fatal(err)
	}
	want := stacks.DefaultConfig()
	want.Stage, want.BedrockRegion = "prod", "eu-north-1"
	want.MinTasks, want.MaxTasks, want.DesiredTasks = 3, 12, 4
	want.TaskCPU, want.TaskMemoryMiB = 2048, 4096
	want.AllowedOrigins = []string{"https://app.example.com", "http://localhost:8080"}
	want.GeoAllowList = []string{"US", "CA"}
	want.NatGateways, want.Mfa = 2, "required"
	want.AvailabilityZones = []string{"us-east-1b", "us-east-1c"}
	want.EKSEndpointPublicCIDRs = []string{"203.0.113.0/24", "198.51.100.7/32"}
	want.EKSAdminRoleARN = "arn:aws:iam::123456789012:role/admins/platform-admin"
	want.PodCPUMillicores, want.PodMemoryMiB, want.MinReplicas, want.MaxReplicas = 2000, 4096, 3, 6
	want.PodScaling, want.TargetSessionsPerPod = "sessions", 30
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config = %+v\nwant %+v", cfg, want)
	}
	if !cfg.IsProduction() || cfg.RemovalPolicy() != awscdk.RemovalPolicy_RETAIN {
		t.Error("prod must retain its data")
	}
	if !cfg.SessionScaling() {
		t.Error("podScaling sessions does not turn session scaling on")
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		ctx  map[string]any
		want string // the key, the bad value and the expected form
	}{
		"tasks not a number":  {map[string]any{"minTasks": "many"}, `minTasks must be a whole number from 1 to 100, got "many"`},
		"fractional tasks":    {map[string]any{"maxTasks": 2.5}, `maxTasks must be a whole number from 1 to 100, got "2.5"`},
		"min above max":       {map[string]any{"minTasks": 5.0, "maxTasks": 3.0}, "minTasks (5) must not exceed maxTasks (3)"},
		"desired out of band": {map[string]any{"desiredTasks": 20.0}, "desiredTasks must lie between minTasks and maxTasks (2 to 10), got 20"},
		"region":              {map[string]any{"bedrockRegion": "Virginia"}, `bedrockRegion must be an AWS region code such as us-east-1, got "Virginia"`},
		"inference profile": {map[string]any{"modelId": "us.amazon.nova-2-sonic-v1:0"},
			`modelId must be a foundation model id without the us. inference-profile prefix`},
		"model id":       {map[string]any{"modelId": "Nova Sonic"}, `modelId must be a foundation model id such as amazon.nova-2-sonic-v1:0, got "Nova Sonic"`},
		"stage":          {map[string]any{"stage": "Prod!"}, `stage must be lowercase letters, digits and hyphens`},
		"cpu":            {map[string]any{"taskCpu": 1000.0}, "taskCpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384"},
		"memory for cpu": {map[string]any{"taskMemoryMiB": 1024.0}, "taskMemoryMiB 1024 does not fit taskCpu 1024: Fargate allows 2048 to 8192 MiB"},
		"origin with path": {map[string]any{"allowedOrigins": "https://app.example.com/"},
			`allowedOrigins must be comma-separated origins such as https://app.example.com`},
		"plain http origin": {map[string]any{"allowedOrigins": "http://app.example.com"}, `got "http://app.example.com"`},
		"country":           {map[string]any{"geoAllowList": "us"}, `geoAllowList must be comma-separated ISO 3166-1 alpha-2 country codes in capitals, such as US,CA,DE, got "us"`},
		"nat":               {map[string]any{"natGateways": 0.0}, `natGateways must be a whole number from 1 to 2, got "0"`},
		"mfa":               {map[string]any{"mfa": "yes"}, `mfa must be one of off, optional, required, got "yes"`},
		"zone ID instead of a name": {map[string]any{"availabilityZones": "use1-az1,use1-az2"},
			`availabilityZones must be two availability zone names of the deploying region such as us-east-1a,us-east-1b (names, not zone IDs such as use1-az1: aws ec2 describe-availability-zones --query 'AvailabilityZones[].[ZoneName,ZoneId]' lists both), got "use1-az1"`},
		"one zone":      {map[string]any{"availabilityZones": "us-east-1a"}, "availabilityZones must name exactly two zones, got 1 (us-east-1a)"},
		"three zones":   {map[string]any{"availabilityZones": []any{"eu-west-1a", "eu-west-1b", "eu-west-1c"}}, "availabilityZones must name exactly two zones, got 3 (eu-west-1a,eu-west-1b,eu-west-1c)"},
		"the same zone": {map[string]any{"availabilityZones": "us-east-1a,us-east-1a"}, "availabilityZones must name two different zones, got us-east-1a twice"},
		"zones of two regions": {map[string]any{"availabilityZones": "us-east-1a,us-west-2a"},
			"availabilityZones must name zones of one region (the stack's), got us-east-1a in us-east-1 and us-west-2a in us-west-2"},
		"local zone": {map[string]any{"availabilityZones": "us-west-2a,us-west-2-lax-1a"}, `got "us-west-2-lax-1a"`},
		"plan":       {map[string]any{"userPoolFeaturePlan": "lite"}, `userPoolFeaturePlan must be one of essentials, plus, got "lite"`},
		"web acl":    {map[string]any{"webAclArn": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/1"}, `webAclArn must be a WAF web ACL ARN with global (CLOUDFRONT) scope`},
		// The EKS stack's keys.
		"endpoint open to the world": {map[string]any{"eksEndpointPublicCidrs": "203.0.113.0/24,0.0.0.0/0"},
			`eksEndpointPublicCidrs must be comma-separated IPv4 networks such as 203.0.113.0/24,198.51.100.7/32 (no host bits set, never 0.0.0.0/0); leave it unset for a private endpoint, got "0.0.0.0/0"`},
		"endpoint host bits":   {map[string]any{"eksEndpointPublicCidrs": "203.0.113.9/24"}, `eksEndpointPublicCidrs must be comma-separated IPv4 networks`},
		"endpoint IPv6":        {map[string]any{"eksEndpointPublicCidrs": "2001:db8::/32"}, `got "2001:db8::/32"`},
		"endpoint not a CIDR":  {map[string]any{"eksEndpointPublicCidrs": "203.0.113.0"}, `got "203.0.113.0"`},
		"admin role name":      {map[string]any{"eksAdminRoleArn": "platform-admin"}, `eksAdminRoleArn must be an IAM role ARN such as arn:aws:iam::123456789012:role/platform-admin, got "platform-admin"`},
		"admin user, not role": {map[string]any{"eksAdminRoleArn": "arn:aws:iam::123456789012:user/alice"}, `eksAdminRoleArn must be an IAM role ARN`},
		"pod cpu not a size":   {map[string]any{"podCpuMillicores": 300.0}, "podCpuMillicores 300 and podMemoryMiB 2048: pod CPU 300m is not a Fargate size: use 250, 500, 1000, 2000, 4000, 8000 or 16000 millicores"},
		"pod memory for cpu":   {map[string]any{"podCpuMillicores": "250", "podMemoryMiB": "4096"}, "podCpuMillicores 250 and podMemoryMiB 4096: pod memory 4096 MiB is not a Fargate size for 250m CPU: use one of [512 1024 2048] MiB"},
		"pod cpu out of range": {map[string]any{"podCpuMillicores": "32000"}, `podCpuMillicores must be a whole number from 250 to 16000, got "32000"`},
		"min above max pods":   {map[string]any{"minReplicas": 4.0, "maxReplicas": "3"}, "minReplicas (4) must not exceed maxReplicas (3)"},
		"scaling":              {map[string]any{"podScaling": "keda"}, `podScaling must be one of cpu-memory, sessions, got "keda"`},
		"no sessions per pod":  {map[string]any{"targetSessionsPerPod": "0"}, `targetSessionsPerPod must be a whole number from 1 to 1000, got "0"`},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN a context with one bad value WHEN it is parsed
			_, err := stacks.ParseConfig(lookup(tc.ctx))

			// THEN the error names the key, the value and the expected form, in lowercase
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tc.want)
			}
			if first := err.Error()[:1]; first != strings.ToLower(first) {
				t.Errorf("error %q starts with a capital", err)
			}
		})
	}
}

func TestLoadConfigFromAppContext(t *testing.T) {
	// GIVEN an app whose context holds a bad value, as `cdk synth -c minTasks=many` would pass it
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{"minTasks": "many", "voiceId": "tiffany"}})

	// WHEN the configuration is loaded THEN it fails naming the key
	if _, err := stacks.LoadConfig(app.Node()); err == nil || !strings.Contains(err.Error(), "minTasks must be a whole number") {
		t.Errorf("LoadConfig error = %v, want one naming minTasks", err)
	}

	// AND a good value is read from the same place
	good := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{"voiceId": "tiffany"}})
	cfg, err := stacks.LoadConfig(good.Node())
	if err != nil || cfg.VoiceID != "tiffany" {
		t.Errorf("LoadConfig = %+v, %v; want voiceId tiffany", cfg, err)
	}
}
