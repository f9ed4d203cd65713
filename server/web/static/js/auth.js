// Where the token in the authorization message comes from.
//
// "local": the fixed token "local-dev-token". The local gateway (`make run`) accepts any bearer token.
//
// "cognito": Cognito managed login with the OAuth 2.0 authorization code grant and PKCE (RFC 7636), for
// a public app client (no secret):
//   1. signIn() makes a random code verifier and state, keeps them in sessionStorage (this tab only), and
//      sends the browser to https://<cognitoDomain>/oauth2/authorize with the verifier's SHA-256
//      challenge.
//   2. Cognito returns to redirectUri with ?code=…&state=…; completeSignIn() checks the state, trades the
//      code and the verifier for tokens at /oauth2/token, and removes the code from the address bar.
//   3. getToken() returns the access token while it is valid for at least another minute, else refreshes
//      it with the refresh token, else asks for a new sign-in.
// The access token is kept in sessionStorage (it survives a reload, not the tab) and the refresh token
// only in memory. No token is ever logged or shown. The page's Content-Security-Policy must allow
// connect-src to the Cognito domain for the token requests (see README.md).

const PKCE_KEY = "novaSonic.pkce";
const SESSION_KEY = "novaSonic.session";
const EXPIRY_MARGIN_MS = 60_000;

/** Thrown by getToken when the user must sign in (again). */
export class SignInRequired extends Error {
  constructor(message = "Sign in to start a conversation.") {
    super(message);
    this.name = "SignInRequired";
  }
}

/** @param {import("./settings.js").Settings} settings */
export function createAuth(settings, env = browserEnv()) {
  return settings.auth === "cognito" ? new CognitoAuth(settings.cognito, env) : new LocalAuth();
}

function browserEnv() {
  return {
    storage: globalThis.sessionStorage,
    location: globalThis.location,
    history: globalThis.history,
    fetch: globalThis.fetch?.bind(globalThis),
    crypto: globalThis.crypto,
    now: () => Date.now(),
  };
}

export class LocalAuth {
  kind = "local";
  async completeSignIn() {}
  isSignedIn() {
    return true;
  }
  userName() {
    return "";
  }
  async getToken() {
    return "local-dev-token";
  }
  async signIn() {}
  signOut() {}
}

export class CognitoAuth {
  kind = "cognito";

  constructor(cfg, env) {
    this.cfg = cfg;
    this.env = env;
    this.refreshToken = ""; // memory only
    this.session = readJSON(env.storage, SESSION_KEY); // {accessToken, expiresAt} or null
  }

  /**
   * Finishes a sign-in if the page was opened by Cognito's redirect. Returns an error message to show,
   * or "" when there was nothing to do or it worked.
   */
  async completeSignIn() {
    const url = new URL(this.env.location.href);
    const code = url.searchParams.get("code");
    const error = url.searchParams.get("error");
    if (!code && !error) return "";
    const returned = url.searchParams.get("state");
    const errorDescription = url.searchParams.get("error_description");
    const pkce = readJSON(this.env.storage, PKCE_KEY);
    this.env.storage.removeItem(PKCE_KEY); // one use only
    // Drop code and state from the address bar and history, whatever happens next.
    for (const k of ["code", "state", "error", "error_description"]) url.searchParams.delete(k);
    this.env.history.replaceState(null, "", url.pathname + url.search + url.hash);

    if (error) return `Sign-in failed: ${errorDescription || error}.`;
    if (!pkce || !returned || pkce.state !== returned) {
      return "This sign-in did not start in this tab. Please sign in again.";
    }
    try {
      const tokens = await this.#tokenRequest({
        grant_type: "authorization_code",
        client_id: this.cfg.clientId,
        code,
        redirect_uri: this.cfg.redirectUri,
        code_verifier: pkce.verifier,
      });
      this.#keep(tokens);
      return "";
    } catch (e) {
      return `Sign-in failed: ${e.message}`;
    }
  }

  isSignedIn() {
    return Boolean(this.#validAccessToken() || this.refreshToken);
  }

  /** The signed-in user's name from the access token's claims, for display only. */
  userName() {
    const claims = this.session ? jwtClaims(this.session.accessToken) : null;
    return claims?.username ?? claims?.email ?? "";
  }

  async getToken() {
    const valid = this.#validAccessToken();
    if (valid) return valid;
    if (this.refreshToken) {
      try {
        this.#keep(await this.#tokenRequest({
          grant_type: "refresh_token",
          client_id: this.cfg.clientId,
          refresh_token: this.refreshToken,
        }));
        return this.session.accessToken;
      } catch {
        this.refreshToken = "";
      }
    }
    this.#forget();
    throw new SignInRequired(this.session ? "Your sign-in has expired. Sign in again." : undefined);
  }

  /** Sends the browser to Cognito's managed login. Does not return (the page unloads). */
  async signIn() {
    const verifier = base64url(this.env.crypto.getRandomValues(new Uint8Array(32)));
    const state = base64url(this.env.crypto.getRandomValues(new Uint8Array(16)));
    this.env.storage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
    const url = new URL("/oauth2/authorize", this.cfg.domain);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: this.cfg.clientId,
      redirect_uri: this.cfg.redirectUri,
      scope: this.cfg.scopes,
      state,
      code_challenge: await pkceChallenge(verifier, this.env.crypto),
      code_challenge_method: "S256",
    }).toString();
    this.env.location.assign(url.href);
  }

  /** Forgets the tokens and ends the managed-login session (Cognito returns to redirectUri). */
  signOut() {
    this.#forget();
    const url = new URL("/logout", this.cfg.domain);
    url.search = new URLSearchParams({ client_id: this.cfg.clientId, logout_uri: this.cfg.redirectUri }).toString();
    this.env.location.assign(url.href);
  }

  #validAccessToken() {
    const s = this.session;
    return s && s.expiresAt - EXPIRY_MARGIN_MS > this.env.now() ? s.accessToken : "";
  }

  #keep(tokens) {
    if (!tokens.access_token) throw new Error("the token response had no access token");
    // Prefer the token's own expiry; expires_in is the fallback.
    const exp = jwtClaims(tokens.access_token)?.exp;
    const expiresAt = exp ? exp * 1000 : this.env.now() + (Number(tokens.expires_in) || 3600) * 1000;
    this.session = { accessToken: tokens.access_token, expiresAt };
    this.env.storage.setItem(SESSION_KEY, JSON.stringify(this.session));
    if (tokens.refresh_token) this.refreshToken = tokens.refresh_token;
  }

  #forget() {
    this.session = null;
    this.refreshToken = "";
    this.env.storage.removeItem(SESSION_KEY);
  }

  async #tokenRequest(params) {
    let res;
    try {
      res = await this.env.fetch(new URL("/oauth2/token", this.cfg.domain).href, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(params).toString(),
      });
    } catch {
      throw new Error("could not reach the sign-in service.");
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${body.error_description || body.error || `HTTP ${res.status}`}.`);
    return body;
  }
}

/** base64url without padding (RFC 4648 §5), as PKCE wants. */
export function base64url(bytes) {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The S256 code challenge: base64url(SHA-256(verifier)). */
export async function pkceChallenge(verifier, crypto = globalThis.crypto) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(digest);
}

/** A JWT's claims, without verifying it (the gateway verifies; this is for expiry and display). */
export function jwtClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

function readJSON(storage, key) {
  try {
    return JSON.parse(storage?.getItem(key) ?? "null");
  } catch {
    return null;
  }
}
