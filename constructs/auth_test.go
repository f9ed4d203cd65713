package constructs_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/jsii-runtime-go"

	appconstructs "novasonic/constructs"
)

func TestAuth(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN Auth is created for a web client at https://app.example.com/
	auth := appconstructs.NewAuth(stack, "Auth", &appconstructs.AuthProps{
		CallbackUrls: jsii.Strings("https://app.example.com/"),
	})

	// THEN only administrators create users, passwords are strong, TOTP MFA is optional, the pool is
	// retained, and the app client is public and uses the authorization code grant.
	template := synth(t, stack)
	check(t, "user pool", func() {
		template.HasResource(jsii.String("AWS::Cognito::UserPool"), assertions.Match_ObjectLike(&obj{
			"DeletionPolicy": "Retain",
			"Properties": assertions.Match_ObjectLike(&obj{
				"AdminCreateUserConfig": obj{"AllowAdminCreateUserOnly": true},
				"MfaConfiguration":      "OPTIONAL",
				"EnabledMfas":           []string{"SOFTWARE_TOKEN_MFA"},
				"UserPoolTier":          "ESSENTIALS",
				"Policies": obj{"PasswordPolicy": assertions.Match_ObjectLike(&obj{
					"MinimumLength":    12,
					"RequireLowercase": true,
					"RequireUppercase": true,
					"RequireNumbers":   true,
					"RequireSymbols":   true,
				})},
			}),
		}))
	})
	// The exact lists: an added USER_PASSWORD_AUTH would let a password travel to Cognito without SRP,
	// and an implicit grant would put tokens in the address bar.
	check(t, "app client", func() {
		template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), assertions.Match_ObjectLike(&obj{
			"GenerateSecret":                  false,
			"ExplicitAuthFlows":               []string{"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"},
			"AllowedOAuthFlows":               []string{"code"},
			"AllowedOAuthScopes":              []string{"openid", "email", "profile"},
			"AllowedOAuthFlowsUserPoolClient": true,
			"CallbackURLs":                    []string{"https://app.example.com/"},
			"SupportedIdentityProviders":      []string{"COGNITO"},
			"PreventUserExistenceErrors":      "ENABLED",
		}))
	})
	check(t, "managed login", func() {
		template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolDomain"), assertions.Match_ObjectLike(&obj{
			"ManagedLoginVersion": 2,
		}))
	})
	check(t, "branding", func() {
		template.ResourceCountIs(jsii.String("AWS::Cognito::ManagedLoginBranding"), jsii.Number(1))
	})
	if auth.UserPool == nil || auth.UserPoolClient == nil || auth.Domain == nil {
		t.Fatal("UserPool, UserPoolClient and Domain must be set")
	}
}

func TestAuthPlusRequiredMfa(t *testing.T) {
	// GIVEN a bare stack
	stack := newStack()

	// WHEN Auth asks for the Plus plan, required MFA and deletion with the stack
	appconstructs.NewAuth(stack, "Auth", &appconstructs.AuthProps{
		CallbackUrls:  jsii.Strings("https://app.example.com/"),
		Mfa:           awscognito.Mfa_REQUIRED,
		FeaturePlan:   awscognito.FeaturePlan_PLUS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	// THEN threat protection enforces and MFA is required
	template := synth(t, stack)
	check(t, "user pool", func() {
		template.HasResource(jsii.String("AWS::Cognito::UserPool"), assertions.Match_ObjectLike(&obj{
			"DeletionPolicy": "Delete",
			"Properties": assertions.Match_ObjectLike(&obj{
				"MfaConfiguration": "ON",
				"UserPoolTier":     "PLUS",
				"UserPoolAddOns":   obj{"AdvancedSecurityMode": "ENFORCED"},
			}),
		}))
	})
}
