// Runtime configuration of the web client, loaded by index.html before the app's modules.
//
// This file holds the LOCAL defaults that the gateway serves at /config.js during `make run`. When the
// client is deployed, the CDK stack replaces this file in the S3 bucket with the deployment's values
// (stacks/backend.go). Both set window.NOVA_SONIC_CONFIG. Every key is optional, and a deployment may
// write every value as a string; null or "" means "use the default". Keys:
//
//   websocketUrl      ws:// or wss:// URL of the gateway's /interact-s2s endpoint.
//                     Default (null): the page's own origin, ws(s)://<host>/interact-s2s.
//   auth              "local": send the fixed token "Bearer local-dev-token" (the local gateway accepts
//                     any token). "cognito": sign in with Cognito managed login (authorization code +
//                     PKCE) and send the user's access token.
//                     Default: "cognito" when userPoolClientId and cognitoDomain are set, else "local".
//   region            AWS region of the user pool, e.g. "us-east-1" (informational).
//   userPoolId        Cognito user pool id, e.g. "us-east-1_AbCdEf123" (informational).
//   userPoolClientId  Cognito app client id: a public client, no secret. Required for "cognito".
//   cognitoDomain     Managed-login domain, "<prefix>.auth.<region>.amazoncognito.com" or a custom domain,
//                     with or without "https://". Required for "cognito".
//   redirectUri       Where Cognito returns after sign-in and sign-out; must be one of the app client's
//                     callback and logout URLs. Default: the directory of the page, e.g.
//                     "https://d123.cloudfront.net/".
//   scopes            OAuth scopes to request. Default: "openid email profile".
//   voiceId           Voice selected when the page opens: matthew, tiffany, amy, olivia or lupe.
//                     Default: "matthew".
//   systemPrompt      System prompt shown when the page opens. Default: a short friendly-assistant prompt.
window.NOVA_SONIC_CONFIG = {
  websocketUrl: null /* same origin */,
  auth: "local",
  region: null,
  userPoolId: null,
  userPoolClientId: null,
  cognitoDomain: null,
  voiceId: "matthew",
};
