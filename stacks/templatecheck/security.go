package templatecheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Bedrock is the one Bedrock grant a stack may hold: its actions, on one foundation model in one region.
type Bedrock struct {
	// Region is where the gateway calls Bedrock.
	Region string
	// ModelID is the foundation model, for example amazon.nova-2-sonic-v1:0.
	ModelID string
	// Actions are the statement's actions, exactly (constructs.BedrockActions).
	Actions []string
}

// ModelARN is the only resource the Bedrock statement may name, as Render writes it.
func (b Bedrock) ModelARN() string {
	return "arn:${AWS::Partition}:bedrock:" + b.Region + "::foundation-model/" + b.ModelID
}

// Security returns every way the template breaks the rules both stacks share: no load balancer is
// internet-facing and no security group admits an address range (everything arrives through CloudFront
// and security-group references); exactly one IAM statement grants Bedrock, with exactly bedrock.Actions
// on exactly bedrock.ModelARN(), and no statement allows every action; every bucket blocks public access,
// is encrypted, refuses requests without TLS and grants nothing to everyone.
func Security(t Template, bedrock Bedrock) []string {
	var problems []string
	problems = append(problems, ingressProblems(t)...)
	problems = append(problems, iamProblems(t, bedrock)...)
	problems = append(problems, bucketProblems(t)...)
	return problems
}

// ingressProblems finds public load balancers and ingress rules from address ranges, inline in a security
// group or as separate AWS::EC2::SecurityGroupIngress resources.
func ingressProblems(t Template) []string {
	var problems []string
	lbs := t.Resources("AWS::ElasticLoadBalancingV2::LoadBalancer")
	for _, id := range sortedIDs(lbs) {
		if scheme := Properties(lbs[id])["Scheme"]; scheme != "internal" {
			problems = append(problems, fmt.Sprintf("load balancer %s has Scheme %v, want internal (only CloudFront may face the internet)", id, scheme))
		}
	}
	type rule struct {
		where string
		props map[string]any
	}
	var rules []rule
	groups := t.Resources("AWS::EC2::SecurityGroup")
	for _, id := range sortedIDs(groups) {
		inline, _ := Properties(groups[id])["SecurityGroupIngress"].([]any)
		for i, r := range inline {
			p, _ := r.(map[string]any)
			rules = append(rules, rule{fmt.Sprintf("security group %s ingress[%d]", id, i), p})
		}
	}
	separate := t.Resources("AWS::EC2::SecurityGroupIngress")
	for _, id := range sortedIDs(separate) {
		rules = append(rules, rule{"ingress rule " + id, Properties(separate[id])})
	}
	for _, r := range rules {
		cidr, v6 := r.props["CidrIp"], r.props["CidrIpv6"]
		switch {
		case cidr == "0.0.0.0/0" || v6 == "::/0":
			problems = append(problems, fmt.Sprintf("%s is open to the internet: %s", r.where, Render(r.props)))
		case cidr != nil || v6 != nil || r.props["SourcePrefixListId"] != nil:
			problems = append(problems, fmt.Sprintf("%s admits an address range instead of a security group: %s", r.where, Render(r.props)))
		case r.props["SourceSecurityGroupId"] == nil:
			problems = append(problems, fmt.Sprintf("%s names no source security group: %s", r.where, Render(r.props)))
		}
	}
	return problems
}

// statement is one IAM policy statement and where it was found.
type statement struct {
	where string
	body  map[string]any
}

// statements collects every statement of identity policies: AWS::IAM::Policy, AWS::IAM::ManagedPolicy and
// the inline Policies of AWS::IAM::Role.
func statements(t Template) []statement {
	var out []statement
	add := func(where string, doc any) {
		d, _ := doc.(map[string]any)
		list, _ := d["Statement"].([]any)
		for i, s := range list {
			body, _ := s.(map[string]any)
			out = append(out, statement{fmt.Sprintf("%s statement[%d]", where, i), body})
		}
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		policies := t.Resources(typ)
		for _, id := range sortedIDs(policies) {
			add(id, Properties(policies[id])["PolicyDocument"])
		}
	}
	roles := t.Resources("AWS::IAM::Role")
	for _, id := range sortedIDs(roles) {
		inline, _ := Properties(roles[id])["Policies"].([]any)
		for _, p := range inline {
			policy, _ := p.(map[string]any)
			add(fmt.Sprintf("%s policy %v", id, policy["PolicyName"]), policy["PolicyDocument"])
		}
	}
	return out
}

// iamProblems checks the Bedrock grant and forbids Allow statements on every action.
func iamProblems(t Template, bedrock Bedrock) []string {
	var problems []string
	var grants []statement
	for _, s := range statements(t) {
		if s.body["Effect"] != "Allow" {
			continue
		}
		if s.body["NotAction"] != nil || s.body["NotResource"] != nil {
			problems = append(problems, fmt.Sprintf("%s allows by exclusion (NotAction/NotResource): %s", s.where, Render(s.body)))
		}
		actions := stringList(s.body["Action"])
		for _, a := range actions {
			if a == "*" || strings.EqualFold(a, "bedrock:*") {
				problems = append(problems, fmt.Sprintf("%s allows %q", s.where, a))
			}
		}
		if slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(strings.ToLower(a), "bedrock:") }) {
			grants = append(grants, s)
		}
	}
	if len(grants) != 1 {
		where := make([]string, len(grants))
		for i, g := range grants {
			where[i] = g.where
		}
		problems = append(problems, fmt.Sprintf("%d statements grant Bedrock (%s), want exactly 1", len(grants), strings.Join(where, ", ")))
	}
	wantActions := slices.Sorted(slices.Values(bedrock.Actions))
	for _, g := range grants {
		actions := slices.Sorted(slices.Values(stringList(g.body["Action"])))
		if !slices.Equal(actions, wantActions) {
			problems = append(problems, fmt.Sprintf("%s grants Bedrock actions %q, want exactly %q", g.where, actions, wantActions))
		}
		// The exact list: one more entry, a wildcard or another model, is a wider grant.
		if resources := stringList(g.body["Resource"]); !slices.Equal(resources, []string{bedrock.ModelARN()}) {
			problems = append(problems, fmt.Sprintf("%s grants Bedrock on %q, want exactly [%q]", g.where, resources, bedrock.ModelARN()))
		}
		if g.body["Condition"] != nil {
			problems = append(problems, fmt.Sprintf("%s has a condition %s; the grant is expected to be plain", g.where, Render(g.body["Condition"])))
		}
	}
	return problems
}

// publicAccessBlocks are the four settings of PublicAccessBlockConfiguration, all required true.
var publicAccessBlocks = []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"}

// bucketProblems checks that every bucket is private, encrypted and TLS-only.
func bucketProblems(t Template) []string {
	var problems []string
	tlsOnly := map[string]bool{}
	policies := t.Resources("AWS::S3::BucketPolicy")
	for _, id := range sortedIDs(policies) {
		p := Properties(policies[id])
		bucket := strings.TrimSuffix(strings.TrimPrefix(Render(p["Bucket"]), "${"), "}")
		doc, _ := p["PolicyDocument"].(map[string]any)
		list, _ := doc["Statement"].([]any)
		for i, s := range list {
			st, _ := s.(map[string]any)
			everyone := Render(st["Principal"]) == `{"AWS":"*"}` || st["Principal"] == "*"
			condition := Render(st["Condition"])
			if st["Effect"] == "Deny" && everyone && condition == `{"Bool":{"aws:SecureTransport":"false"}}` {
				tlsOnly[bucket] = true
			}
			if st["Effect"] == "Allow" && everyone {
				problems = append(problems, fmt.Sprintf("bucket policy %s statement[%d] allows everyone: %s", id, i, Render(st)))
			}
		}
	}
	buckets := t.Resources("AWS::S3::Bucket")
	for _, id := range sortedIDs(buckets) {
		p := Properties(buckets[id])
		block, _ := p["PublicAccessBlockConfiguration"].(map[string]any)
		var open []string
		for _, k := range publicAccessBlocks {
			if block[k] != true {
				open = append(open, k)
			}
		}
		if len(open) > 0 {
			sort.Strings(open)
			problems = append(problems, fmt.Sprintf("bucket %s does not set %s to true", id, strings.Join(open, ", ")))
		}
		if p["BucketEncryption"] == nil {
			problems = append(problems, fmt.Sprintf("bucket %s has no BucketEncryption", id))
		}
		if !tlsOnly[id] {
			problems = append(problems, fmt.Sprintf("bucket %s has no policy denying requests without TLS (aws:SecureTransport false)", id))
		}
	}
	return problems
}
