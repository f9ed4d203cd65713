// Local token and the Cognito authorization code + PKCE flow, against a fake browser.
import test from "node:test";
import assert from "node:assert/strict";
import { CognitoAuth, LocalAuth, SignInRequired, jwtClaims, pkceChallenge } from "../static/js/auth.js";

test("local auth sends the fixed development token", async () => {
  const a = new LocalAuth();
  assert.equal(a.isSignedIn(), true);
  assert.equal(await a.getToken(), "local-dev-token");
});

test("PKCE S256 challenge (RFC 7636 appendix B)", async () => {
  assert.equal(await pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
});

const cfg = {
  clientId: "client123",
  domain: "https://auth.example.com",
  redirectUri: "https://app.example.com/",
  scopes: "openid email profile",
};

function jwt(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${enc({ alg: "none" })}.${enc(claims)}.sig`;
}

function fakeEnv(href, responses = []) {
  const store = new Map();
  const env = {
    now: () => 1_000_000_000_000,
    storage: {
      getItem: (k) => (store.has(k) ? store.get(k) : null),
      setItem: (k, v) => store.set(k, String(v)),
      removeItem: (k) => store.delete(k),
    },
    location: { href, search: new URL(href).search, assign: (u) => (env.assigned = u) },
    history: { replaceState: (_s, _t, u) => (env.replaced = u) },
    crypto: globalThis.crypto,
    requests: [],
    fetch: async (url, init) => {
      env.requests.push({ url, init });
      const r = responses.shift();
      return { ok: r.status === 200, status: r.status, json: async () => r.body };
    },
    store,
  };
  return env;
}

test("signIn redirects to the managed login with a PKCE challenge", async () => {
  const env = fakeEnv("https://app.example.com/");
  await new CognitoAuth(cfg, env).signIn();
  const url = new URL(env.assigned);
  assert.equal(url.origin + url.pathname, "https://auth.example.com/oauth2/authorize");
  const q = Object.fromEntries(url.searchParams);
  const pkce = JSON.parse(env.store.get("novaSonic.pkce"));
  assert.equal(q.response_type, "code");
  assert.equal(q.client_id, "client123");
  assert.equal(q.redirect_uri, "https://app.example.com/");
  assert.equal(q.scope, "openid email profile");
  assert.equal(q.state, pkce.state);
  assert.equal(q.code_challenge_method, "S256");
  assert.equal(q.code_challenge, await pkceChallenge(pkce.verifier));
  assert.ok(pkce.verifier.length >= 43, "RFC 7636 wants at least 43 characters");
});

test("the redirect back is exchanged for tokens and removed from the address bar", async () => {
  const exp = 1_000_000_000 + 3600;
  const access = jwt({ exp, username: "ana" });
  const env = fakeEnv("https://app.example.com/?code=abc&state=s1", [
    { status: 200, body: { access_token: access, refresh_token: "r1", expires_in: 3600, token_type: "Bearer" } },
  ]);
  env.store.set("novaSonic.pkce", JSON.stringify({ verifier: "v".repeat(43), state: "s1" }));
  const a = new CognitoAuth(cfg, env);
  assert.equal(await a.completeSignIn(), "");
  assert.equal(env.replaced, "/");
  assert.equal(env.store.has("novaSonic.pkce"), false, "the verifier is used once");
  const [req] = env.requests;
  assert.equal(req.url, "https://auth.example.com/oauth2/token");
  assert.equal(req.init.method, "POST");
  assert.deepEqual(Object.fromEntries(new URLSearchParams(req.init.body)), {
    grant_type: "authorization_code", client_id: "client123", code: "abc",
    redirect_uri: "https://app.example.com/", code_verifier: "v".repeat(43),
  });
  assert.equal(await a.getToken(), access);
  assert.equal(a.userName(), "ana");
  assert.equal(a.refreshToken, "r1");
  assert.doesNotMatch(env.store.get("novaSonic.session"), /r1/, "the refresh token stays in memory");
});

test("a state that does not match is refused without a token request", async () => {
  const env = fakeEnv("https://app.example.com/?code=abc&state=evil");
  env.store.set("novaSonic.pkce", JSON.stringify({ verifier: "v", state: "s1" }));
  const msg = await new CognitoAuth(cfg, env).completeSignIn();
  assert.match(msg, /sign in again/i);
  assert.equal(env.requests.length, 0);
});

test("Cognito's error redirect is explained", async () => {
  const env = fakeEnv("https://app.example.com/?error=access_denied&error_description=User+cancelled");
  assert.equal(await new CognitoAuth(cfg, env).completeSignIn(), "Sign-in failed: User cancelled.");
});

test("an expired token is refreshed, and without a refresh token sign-in is required", async () => {
  const now = 1_000_000_000_000;
  const env = fakeEnv("https://app.example.com/", [{ status: 200, body: { access_token: jwt({ exp: now / 1000 + 3600 }) } }]);
  env.store.set("novaSonic.session", JSON.stringify({ accessToken: "old", expiresAt: now + 30_000 }));
  const a = new CognitoAuth(cfg, env);
  a.refreshToken = "r1";
  const fresh = await a.getToken();
  assert.notEqual(fresh, "old");
  assert.equal(Object.fromEntries(new URLSearchParams(env.requests[0].init.body)).grant_type, "refresh_token");

  const b = new CognitoAuth(cfg, fakeEnv("https://app.example.com/"));
  assert.equal(b.isSignedIn(), false);
  await assert.rejects(b.getToken(), SignInRequired);
});

test("jwtClaims tolerates garbage", () => {
  assert.equal(jwtClaims("nope"), null);
  assert.deepEqual(jwtClaims(jwt({ a: "é" })), { a: "é" });
});
