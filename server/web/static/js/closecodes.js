// What each WebSocket close code means to the person using the page, and what the page does next.
// The codes are the gateway's (server/gateway/closecodes.go); 1005 and 1006 are the browser's own
// ("no status" and "the connection dropped without a close frame").

/**
 * @typedef {Object} CloseInfo
 * @property {string} text       plain-words explanation for the user
 * @property {boolean} retryable a new conversation may work: offer "Reconnect"
 * @property {boolean} auto      reconnect on our own, right away (the gateway is restarting)
 * @property {boolean} backoff   if reconnecting, wait longer between tries (throttling)
 * @property {boolean} signIn    the user must sign in again
 * @property {boolean} normal    the conversation ended as asked
 */

const INFO = {
  1000: { text: "The conversation ended.", normal: true },
  1001: { text: "The connection was closed because the page or the server went away.", retryable: true },
  1003: { text: "The page sent data the gateway does not accept. This is a bug in the web client." },
  1005: { text: "The connection closed without a reason.", retryable: true },
  1006: {
    text: "The connection to the gateway was lost. Check that the gateway is running and your network is up.",
    retryable: true,
  },
  1009: { text: "The page sent a message that was too large (the limit is 128 KiB). Shorten the system prompt." },
  1011: { text: "The gateway had an internal error.", retryable: true },
  1012: { text: "The gateway is restarting.", retryable: true, auto: true },
  4400: { text: "The gateway refused a message from this page as malformed or out of order." },
  4401: { text: "You are not signed in, or your sign-in has expired.", signIn: true },
  4408: { text: "Nova Sonic timed out (the conversation was idle or reached its time limit).", retryable: true },
  4429: { text: "Too many conversations right now: the service is throttling requests.", retryable: true, backoff: true },
  4500: { text: "Nova Sonic ran into an error.", retryable: true },
  4502: {
    text: "The gateway is not allowed to use Nova Sonic (model access or permissions). An operator must fix this; reconnecting will not help.",
  },
  4503: { text: "Nova Sonic is unavailable at the moment.", retryable: true, backoff: true },
  4504: { text: "The connection was too slow for real-time audio.", retryable: true },
};

/**
 * Describes a close. serverError is the gateway's {"type":"error"} message that came just before the
 * close, if any; its message is specific ("promptStart before sessionStart") and safe to show.
 * @returns {CloseInfo & {code:number, detail:string}}
 */
export function describeClose(code, serverError) {
  const known = INFO[code];
  const info = {
    text: `The connection closed (code ${code}).`,
    retryable: false,
    auto: false,
    backoff: false,
    signIn: false,
    normal: false,
    ...known,
    code,
    detail: "",
  };
  if (!known) {
    // Unknown codes: trust the gateway's own verdict if it sent one, and treat server faults as transient.
    info.retryable = serverError ? Boolean(serverError.retryable) : code >= 4500 || code === 1013 || code === 1014;
  }
  if (serverError?.message && !info.normal) info.detail = String(serverError.message);
  return info;
}

/** Delay before reconnect attempt number `attempt` (0-based): exponential with jitter, capped. */
export function backoffDelay(attempt, { base = 500, cap = 15000, slow = false, random = Math.random } = {}) {
  const start = slow ? base * 4 : base;
  const d = Math.min(cap, start * 2 ** attempt);
  return Math.round(d / 2 + random() * (d / 2)); // "equal jitter": never less than half the step
}
