// What each WebSocket close code means to the person using the page, and what the page does next.
// The codes are the gateway's (server/gateway/closecodes.go); 1005 and 1006 are the browser's own
// ("no status" and "the connection dropped without a close frame").

/**
 * @typedef {Object} CloseInfo
 * @property {string} text       plain-words explanation for the person using the page
 * @property {boolean} retryable a new conversation may work: offer "Reconnect"
 * @property {boolean} auto      reconnect on our own, right away (the gateway is restarting)
 * @property {boolean} backoff   if reconnecting, wait longer between tries (throttling)
 * @property {boolean} signIn    the user must sign in again
 * @property {boolean} normal    the conversation ended as asked
 */

// Each entry says what happened (`text`), then what to do: `user` is for someone using a deployed site,
// who can neither see nor restart the gateway; `dev` is for a developer running `make run`, and replaces
// `user` in local mode. Neither says "gateway" to a deployed user: to them it is "the voice service".
const INFO = {
  1000: { text: "The conversation ended.", normal: true },
  1001: { text: "The connection was closed because the page or the voice service went away.", retryable: true },
  1003: {
    text: "The page sent data the voice service does not accept.",
    user: "Reload the page and try again.",
    dev: "This is a bug in the web client (it sent a binary frame).",
  },
  1005: { text: "The connection closed without a reason.", retryable: true },
  1007: {
    text: "The page sent text the voice service cannot read.",
    user: "Reload the page and try again.",
    dev: "This is a bug in the web client (a text frame that is not valid UTF-8).",
  },
  1008: {
    text: "The page sent messages faster than any conversation needs.",
    user: "Reload the page and try again.",
    dev: "The gateway's INPUT_EVENTS_PER_SECOND limit was reached: a bug in the web client, or the limit is too low.",
  },
  1006: {
    text: "The connection to the voice service was lost.",
    user: "Check your internet connection, then reconnect.",
    dev: "Is the gateway still running? Start it again with make run (or make gateway).",
    retryable: true,
  },
  1009: { text: "The page sent a message that was too large (the limit is 128 KiB).", user: "Shorten the system prompt." },
  1011: {
    text: "The voice service had an internal error.",
    dev: "The gateway's log has the cause under this session id.",
    retryable: true,
  },
  1012: { text: "The voice service is restarting.", retryable: true, auto: true },
  1013: { text: "The voice service is full right now.", user: "Wait a few seconds, then reconnect.", retryable: true, backoff: true },
  4400: {
    text: "The voice service refused a message from this page.",
    user: "Reload the page and try again.",
    dev: "The message below says which; a bug in the web client, or input Nova Sonic rejects.",
  },
  4401: { text: "You are not signed in, or your sign-in has expired.", signIn: true },
  4408: { text: "The conversation timed out: it was quiet for too long, or reached its time limit.", retryable: true },
  4409: {
    text: "You already have as many conversations open as allowed.",
    user: "End a conversation in another tab or window, then start again.",
    dev: "The gateway's MAX_CONVERSATIONS_PER_USER limit was reached (local mode counts every tab with the same token as one user).",
  },
  4429: { text: "The voice service is busy right now.", user: "Wait a little, then reconnect.", retryable: true, backoff: true },
  4500: { text: "The voice model ran into an error.", retryable: true },
  4502: {
    text: "The voice service is not set up correctly, so reconnecting will not help.",
    user: "Please tell the site's operator.",
    dev: "Bedrock refused the gateway: check model access to Nova Sonic, the gateway's AWS credentials and permissions, BEDROCK_REGION and BEDROCK_MODEL_ID.",
  },
  4503: { text: "The voice model is unavailable at the moment.", retryable: true, backoff: true },
  4504: { text: "The connection was too slow for real-time audio.", retryable: true },
};

/**
 * Describes a close. serverError is the gateway's {"type":"error"} message that came just before the
 * close, if any; its message is specific ("promptStart before sessionStart") and safe to show. In local
 * mode (a developer's `make run`) the advice is for the developer; otherwise for the person using the site.
 * @param {number} code
 * @param {{message?:string, retryable?:boolean}|null} [serverError]
 * @param {{local?:boolean}} [opts]
 * @returns {CloseInfo & {code:number, detail:string}}
 */
export function describeClose(code, serverError, { local = false } = {}) {
  const known = INFO[code];
  const { user, dev, ...flags } = known ?? {};
  const info = {
    text: `The connection closed (code ${code}).`,
    retryable: false,
    auto: false,
    backoff: false,
    signIn: false,
    normal: false,
    ...flags,
    code,
    detail: "",
  };
  const advice = local ? (dev ?? user) : user;
  if (advice) info.text = `${info.text} ${advice}`;
  if (!known) {
    // Unknown codes: trust the gateway's own verdict if it sent one, and treat server faults as transient.
    info.retryable = serverError ? Boolean(serverError.retryable) : code >= 4500 || code === 1013 || code === 1014;
  }
  if (serverError?.message && !info.normal) info.detail = String(serverError.message);
  return info;
}

/**
 * The words for a conversation that never connected. A deployed user cannot check a server, so they are
 * told to check their own connection; a developer is told the URL and how to start the gateway.
 */
export function connectFailure(url, { local = false } = {}) {
  return local
    ? `Could not connect to the gateway at ${url}. Is it running? Start it with make run (or make gateway).`
    : "Could not reach the voice service. Check your internet connection, then try again.";
}

/** Delay before reconnect attempt number `attempt` (0-based): exponential with jitter, capped. */
export function backoffDelay(attempt, { base = 500, cap = 15000, slow = false, random = Math.random } = {}) {
  const start = slow ? base * 4 : base;
  const d = Math.min(cap, start * 2 ** attempt);
  return Math.round(d / 2 + random() * (d / 2)); // "equal jitter": never less than half the step
}
