// Reads the runtime configuration that config.js puts on window (see the comment at the top of
// config.js for every key) and fills in the defaults. Deployed and local configurations have the same
// shape; the deployed one is written by the CDK stack and may hold only strings.

import { DEFAULT_SYSTEM_PROMPT, VOICES } from "./protocol.js";

/** The gateway's WebSocket path. */
export const INTERACT_PATH = "/interact-s2s";

/**
 * @typedef {Object} Settings
 * @property {string} websocketUrl
 * @property {"local"|"cognito"} auth
 * @property {{clientId:string, domain:string, redirectUri:string, scopes:string, region:string, userPoolId:string}|null} cognito
 * @property {string} voiceId
 * @property {string} systemPrompt
 * @property {string[]} problems  configuration mistakes to show the user
 */

/**
 * @param {object|undefined} raw  window.NOVA_SONIC_CONFIG
 * @param {{href:string, protocol:string, host:string}} location  the page's location
 * @returns {Settings}
 */
export function loadSettings(raw, location) {
  const cfg = raw && typeof raw === "object" ? raw : {};
  const str = (k) => (typeof cfg[k] === "string" ? cfg[k].trim() : "");
  const problems = [];
  if (!raw) problems.push("config.js did not load; using local defaults.");

  let websocketUrl = str("websocketUrl");
  if (!websocketUrl) {
    websocketUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${INTERACT_PATH}`;
  } else if (!/^wss?:\/\//i.test(websocketUrl)) {
    problems.push(`websocketUrl "${websocketUrl}" is not a ws:// or wss:// URL.`);
  }

  const clientId = str("userPoolClientId");
  const domain = str("cognitoDomain");
  let auth = str("auth").toLowerCase();
  if (!auth) auth = clientId && domain ? "cognito" : "local";
  if (auth !== "local" && auth !== "cognito") {
    problems.push(`auth "${auth}" is neither "local" nor "cognito"; using "local".`);
    auth = "local";
  }

  let cognito = null;
  if (auth === "cognito") {
    if (!clientId || !domain) problems.push('auth "cognito" needs userPoolClientId and cognitoDomain.');
    cognito = {
      clientId,
      domain: cognitoOrigin(domain, problems),
      // Cognito compares redirect URIs exactly; the CDK registers the site root with a trailing slash.
      redirectUri: str("redirectUri") || new URL("./", location.href).href.replace(/[?#].*$/, ""),
      scopes: str("scopes") || "openid email profile",
      region: str("region"),
      userPoolId: str("userPoolId"),
    };
  }

  let voiceId = str("voiceId").toLowerCase() || "matthew";
  if (!VOICES.includes(voiceId)) {
    problems.push(`voiceId "${voiceId}" is not one of ${VOICES.join(", ")}; using matthew.`);
    voiceId = "matthew";
  }

  return {
    websocketUrl,
    auth,
    cognito,
    voiceId,
    systemPrompt: str("systemPrompt") || DEFAULT_SYSTEM_PROMPT,
    problems,
  };
}

/** Accepts "prefix.auth.region.amazoncognito.com" or a full https:// URL; returns only the origin. */
function cognitoOrigin(domain, problems) {
  if (!domain) return "";
  try {
    const url = new URL(/^https?:\/\//i.test(domain) ? domain : `https://${domain}`);
    if (url.protocol !== "https:") throw new Error("not https");
    return url.origin;
  } catch {
    problems.push(`cognitoDomain "${domain}" is not a host name or https:// URL.`);
    return "";
  }
}
