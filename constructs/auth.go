package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// AuthProps configures Auth.
type AuthProps struct {
	// CallbackUrls are the addresses Cognito's managed login may return to with an authorization code,
	// normally the CloudFront URL of the web client with a trailing slash. Required.
	CallbackUrls *[]*string
	// DomainPrefix is the managed-login domain prefix, https://<prefix>.auth.<region>.amazoncognito.com.
	// It must be unique in the region and may not contain "aws", "amazon" or "cognito".
	// Default: "nova-sonic-<account id>-<construct address hash>", unique per account and stack.
	DomainPrefix *string
	// Mfa says whether users must, may or cannot add a second factor (TOTP apps; SMS is not offered).
	// Default: awscognito.Mfa_OPTIONAL.
	Mfa awscognito.Mfa
	// FeaturePlan is the user pool's Cognito feature plan. PLUS turns on threat protection (compromised
	// credentials and adaptive authentication) at a per-user price.
	// Default: awscognito.FeaturePlan_ESSENTIALS.
	FeaturePlan awscognito.FeaturePlan
	// SelfSignUp lets anyone with the URL create an account; every account can start Bedrock sessions.
	// Default: false (an administrator creates users).
	SelfSignUp *bool
	// RemovalPolicy applies to the user pool.
	// Default: awscdk.RemovalPolicy_RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
}

// Auth is the sign-in for the web client: a Cognito user pool with a strong password policy and an app
// client that signs users in through Cognito's managed login with the authorization code grant and PKCE.
// The gateway accepts the access tokens this client issues.
type Auth struct {
	constructs.Construct
	// UserPool holds the users. Its logical ID is pinned by tests: replacing it deletes every user.
	UserPool awscognito.UserPool
	// UserPoolClient is the web client's public app client (no secret: it runs in a browser).
	UserPoolClient awscognito.UserPoolClient
	// Domain is the managed-login domain. There is deliberately no sign-in URL: the web client starts
	// sign-in itself with a state and a PKCE challenge, and refuses a code returned to a sign-in it did
	// not start, so a link straight to managed login is a dead end.
	Domain awscognito.UserPoolDomain
}

// NewAuth creates the user pool, its managed-login domain and the web client's app client.
func NewAuth(scope constructs.Construct, id string, props *AuthProps) *Auth {
	if props == nil {
		props = &AuthProps{}
	}
	// Without a callback URL the app client cannot complete a sign-in.
	requireProps("NewAuth", id, required{"CallbackUrls", props.CallbackUrls == nil || len(*props.CallbackUrls) == 0})
	this := constructs.NewConstruct(scope, &id)

	mfa := props.Mfa
	if mfa == "" {
		mfa = awscognito.Mfa_OPTIONAL
	}
	plan := props.FeaturePlan
	if plan == "" {
		plan = awscognito.FeaturePlan_ESSENTIALS
	}
	selfSignUp := props.SelfSignUp
	if selfSignUp == nil {
		selfSignUp = jsii.Bool(false)
	}

	userPool := awscognito.NewUserPool(this, jsii.String("UserPool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled:   selfSignUp,
		SignInAliases:       &awscognito.SignInAliases{Email: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		AutoVerify:          &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		AccountRecovery:     awscognito.AccountRecovery_EMAIL_ONLY,
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:        jsii.Number(12),
			RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true),
			RequireDigits:    jsii.Bool(true),
			RequireSymbols:   jsii.Bool(true),
			// Administrators create users with a temporary password that Cognito emails to them.
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:                          mfa,
		MfaSecondFactor:              &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		FeaturePlan:                  plan,
		StandardThreatProtectionMode: threatProtection(plan),
		RemovalPolicy:                removalPolicyOrRetain(props.RemovalPolicy),
	})

	prefix := props.DomainPrefix
	if prefix == nil {
		// Account id plus a hash of this construct's address: unique per account, stable across deploys,
		// and free of the words Cognito forbids.
		prefix = awscdk.Fn_Join(jsii.String("-"), &[]*string{
			jsii.String("nova-sonic"), awscdk.Aws_ACCOUNT_ID(), jsii.String((*this.Node().Addr())[2:10]),
		})
	}
	domain := userPool.AddDomain(jsii.String("Domain"), &awscognito.UserPoolDomainOptions{
		CognitoDomain:       &awscognito.CognitoDomainOptions{DomainPrefix: prefix},
		ManagedLoginVersion: awscognito.ManagedLoginVersion_NEWER_MANAGED_LOGIN,
	})

	client := userPool.AddClient(jsii.String("WebClient"), &awscognito.UserPoolClientOptions{
		// A browser cannot keep a secret; PKCE protects the code exchange instead.
		GenerateSecret: jsii.Bool(false),
		AuthFlows:      &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: props.CallbackUrls,
			LogoutUrls:   props.CallbackUrls,
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		// The gateway checks the access token once, when a conversation starts; the web client refreshes
		// it before starting the next one.
		AccessTokenValidity:  awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:      awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity: awscdk.Duration_Days(jsii.Number(7)),
	})

	// The newer managed login renders nothing until the app client has a branding style; Cognito's
	// default style is enough.
	awscognito.NewCfnManagedLoginBranding(this, jsii.String("Branding"), &awscognito.CfnManagedLoginBrandingProps{
		UserPoolId:               userPool.UserPoolId(),
		ClientId:                 client.UserPoolClientId(),
		UseCognitoProvidedValues: jsii.Bool(true),
	}).Node().AddDependency(domain)

	if mfa != awscognito.Mfa_REQUIRED {
		cdknag.NagSuppressions_AddResourceSuppressions(userPool, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-COG2"),
			Reason: jsii.String("MFA is configurable (context key mfa); this deployment lets users enrol a TOTP " +
				"app without forcing it, and users are created by an administrator only"),
		}}, jsii.Bool(false))
	}
	if plan != awscognito.FeaturePlan_PLUS {
		cdknag.NagSuppressions_AddResourceSuppressions(userPool, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-COG8"),
			Reason: jsii.String("threat protection needs the Plus feature plan, billed per active user; it is " +
				"one context key away (userPoolFeaturePlan=plus) and self sign-up is off by default"),
		}}, jsii.Bool(false))
	}

	return &Auth{Construct: this, UserPool: userPool, UserPoolClient: client, Domain: domain}
}

// threatProtection turns on Cognito threat protection where the feature plan includes it.
func threatProtection(plan awscognito.FeaturePlan) awscognito.StandardThreatProtectionMode {
	if plan == awscognito.FeaturePlan_PLUS {
		return awscognito.StandardThreatProtectionMode_FULL_FUNCTION
	}
	return ""
}
