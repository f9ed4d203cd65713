// The page: wires the Start/Stop button, settings, status, level meter and transcript to a
// Conversation, and decides what happens after a conversation closes (done, reconnect, or explain).
//
// Reconnect policy:
//   - 1012 (the gateway is restarting, e.g. a deploy): reconnect on our own, at once, then with
//     exponential backoff while the new connection also fails for a retryable reason (the old task may
//     already be gone and the new one not yet ready). At most MAX_AUTO_RECONNECTS tries.
//   - Other retryable closes (model timeout, throttling, a dropped connection…): show the reason and a
//     "Reconnect" button; the person decides.
//   - Anything else: show the reason; Start begins a new conversation.
// A reconnect carries the transcript's final text over as Nova Sonic chat history, so the conversation
// continues where it stopped. Start always begins afresh.

import { AudioEngine, MicrophoneError } from "./audio.js";
import { SignInRequired, createAuth } from "./auth.js";
import { backoffDelay } from "./closecodes.js";
import { Conversation } from "./conversation.js";
import { VOICES } from "./protocol.js";
import { loadSettings } from "./settings.js";
import { Transcript } from "./transcript.js";

const MAX_AUTO_RECONNECTS = 6;

const VOICE_LABELS = {
  matthew: "Matthew (English, US, masculine)",
  tiffany: "Tiffany (English, US, feminine)",
  amy: "Amy (English, UK, feminine)",
  olivia: "Olivia (English, AU, feminine)",
  lupe: "Lupe (Spanish, US, feminine)",
};

const $ = (id) => document.getElementById(id);
const el = {
  start: $("start"),
  status: $("status"),
  dot: $("status-dot"),
  meter: $("mic-meter"),
  meterFill: $("mic-meter-fill"),
  notice: $("notice"),
  noticeText: $("notice-text"),
  noticeDetail: $("notice-detail"),
  reconnect: $("reconnect"),
  noticeSignIn: $("notice-sign-in"),
  noticeDismiss: $("notice-dismiss"),
  sessionInfo: $("session-info"),
  settings: $("settings"),
  voice: $("voice"),
  prompt: $("system-prompt"),
  clear: $("clear"),
  account: $("account"),
  accountName: $("account-name"),
  signIn: $("sign-in"),
  signOut: $("sign-out"),
};

const settings = loadSettings(window.NOVA_SONIC_CONFIG, window.location);
const auth = createAuth(settings);
const audio = new AudioEngine();
const transcript = new Transcript($("transcript"));

/** The live conversation, if any. */
let conversation = null;
/** Set while a conversation is wanted: from Start until Stop or a close that needs the person. */
let active = false;
/** Automatic reconnect in progress: {attempt, timer}. */
let reconnecting = null;
/** The assistant is being heard right now. */
let speaking = false;
/** Retryable failures in a row (reset after a quiet minute), for the Reconnect button's backoff. */
let failures = 0;
let lastFailure = 0;
let reconnectCountdown = 0;

// ---- Status, notice, meter ------------------------------------------------------------------------

function setStatus(text, dot = "") {
  el.status.textContent = text;
  el.dot.className = `dot ${dot}`;
}

function showNotice(text, { detail = "", reconnect = false, signIn = false } = {}) {
  clearInterval(reconnectCountdown);
  el.reconnect.disabled = false;
  el.reconnect.textContent = "Reconnect";
  el.noticeText.textContent = text;
  el.noticeDetail.textContent = detail;
  el.noticeDetail.hidden = !detail;
  el.reconnect.hidden = !reconnect;
  el.noticeSignIn.hidden = !signIn;
  el.notice.hidden = false;
  (reconnect ? el.reconnect : signIn ? el.noticeSignIn : el.noticeDismiss).focus();
}

function hideNotice() {
  el.notice.hidden = true;
}

/** Start/Stop button and settings follow whether a conversation is wanted. */
function renderControls(ending = false) {
  el.start.textContent = ending ? "Stopping…" : active ? "Stop" : "Start";
  el.start.classList.toggle("stop", active && !ending);
  el.start.disabled = ending;
  el.settings.disabled = active;
}

// The meter shows the microphone's loudness on a decibel scale (-60 dB … 0 dB), smoothed so it rises
// fast and falls slowly like a VU meter. Frames arrive every 32 ms; drawing happens once per display
// frame, and the ARIA value is updated a few times a second at most.
let micLevel = 0;
let shownLevel = 0;
let lastAria = 0;
function onLevel(rms) {
  micLevel = rms;
}
function drawMeter(now) {
  const db = micLevel > 0 ? 20 * Math.log10(micLevel) : -100;
  const target = audio.capturing ? Math.min(1, Math.max(0, (db + 60) / 60)) : 0;
  shownLevel = target > shownLevel ? target : shownLevel * 0.9 + target * 0.1;
  el.meterFill.style.transform = `scaleX(${shownLevel.toFixed(3)})`;
  if (now - lastAria > 250) {
    el.meter.setAttribute("aria-valuenow", String(Math.round(shownLevel * 100)));
    lastAria = now;
  }
  requestAnimationFrame(drawMeter);
}

// ---- Conversation lifecycle -----------------------------------------------------------------------

function onStartClick() {
  if (active) {
    stop();
    return;
  }
  start();
}

/** Start pressed (or Reconnect, with carryOver). Everything up to audio.init() runs inside the click. */
async function start({ carryOver = false } = {}) {
  hideNotice();
  if (!auth.isSignedIn()) {
    showNotice("Sign in to start a conversation.", { signIn: true });
    return;
  }
  // Browsers let audio start only inside a user gesture: create the contexts before any await.
  const audioReady = audio.init();
  active = true;
  renderControls();
  setStatus("Starting the microphone…", "busy");
  try {
    await audioReady;
    await audio.startCapture((pcm) => conversation?.sendAudio(pcm), onLevel);
  } catch (e) {
    fail(e instanceof MicrophoneError ? e.message : `Audio could not start: ${e.message}`);
    return;
  }
  if (!active) {
    audio.stopCapture(); // Stop was pressed while the permission prompt was open
    return;
  }
  if (!carryOver) transcript.addNote(`New conversation — voice ${el.voice.value}`, "divider");
  connect(carryOver);
}

/** Opens a conversation with the current settings; carryOver sends the transcript as history. */
async function connect(carryOver) {
  let token;
  try {
    token = await auth.getToken();
  } catch (e) {
    fail(e.message, { signIn: e instanceof SignInRequired });
    return;
  }
  if (!active) return;
  const conv = new Conversation({
    url: settings.websocketUrl,
    token,
    voiceId: el.voice.value,
    systemPrompt: el.prompt.value.trim() || settings.systemPrompt,
    history: carryOver ? transcript.history() : [],
    audio,
    hooks: hooksFor(() => conv),
    local: settings.auth === "local",
  });
  conversation = conv;
  conv.start();
}

/** Stop pressed: end the conversation the orderly way; the close comes back through hooks.closed. */
function stop() {
  if (reconnecting) {
    cancelReconnect();
    conversation?.abort(); // a reconnect attempt may be connecting right now
    finish("Reconnect cancelled.");
    return;
  }
  audio.stopCapture(); // the microphone goes off at once, whatever the gateway does next
  if (conversation) {
    conversation.stop();
  } else {
    finish("Stopped.");
  }
}

/** The conversation is over for good: release the microphone and return to Ready. */
function finish(statusText = "Ready") {
  active = false;
  conversation = null;
  speaking = false;
  audio.stopCapture();
  audio.flush();
  el.sessionInfo.hidden = true;
  renderControls();
  setStatus(statusText, "");
}

function fail(message, { detail = "", reconnect = false, signIn = false } = {}) {
  finish("Not connected");
  setStatus("Not connected", "error");
  showNotice(message, { detail, reconnect, signIn: signIn && auth.kind === "cognito" });
}

function cancelReconnect() {
  if (!reconnecting) return;
  clearTimeout(reconnecting.timer);
  reconnecting = null;
}

/** Schedules the next automatic reconnect, or gives up after MAX_AUTO_RECONNECTS. */
function scheduleReconnect(info) {
  const attempt = reconnecting ? reconnecting.attempt : 0;
  if (attempt >= MAX_AUTO_RECONNECTS) {
    reconnecting = null;
    fail(`Could not reconnect after ${attempt} tries. ${info.text}`, { detail: info.detail, reconnect: true });
    return;
  }
  // The first try after a restart notice goes out almost at once: another gateway task is ready.
  const delay = attempt === 0 ? 200 + Math.round(Math.random() * 300) : backoffDelay(attempt - 1, { slow: info.backoff });
  const seconds = Math.max(1, Math.round(delay / 1000));
  if (attempt === 0) {
    transcript.addNote(`${info.text} Reconnecting…`);
    setStatus(`${info.text} Reconnecting…`, "busy");
  } else {
    setStatus(`The gateway is not reachable yet. Trying again in ${seconds} s (try ${attempt + 1} of ${MAX_AUTO_RECONNECTS})…`, "busy");
  }
  reconnecting = {
    attempt: attempt + 1,
    timer: setTimeout(() => {
      if (active) connect(true);
    }, delay),
  };
}

/**
 * Retry with backoff, by hand: after repeated failures (or throttling) the Reconnect button waits a
 * little longer each time before it can be pressed, counting down the seconds.
 */
function holdReconnect(info) {
  const now = Date.now();
  failures = now - lastFailure > 60_000 ? 1 : failures + 1;
  lastFailure = now;
  if (failures < 2 && !info.backoff) return;
  let left = Math.ceil(backoffDelay(failures - 1, { slow: info.backoff }) / 1000);
  clearInterval(reconnectCountdown);
  const tick = () => {
    el.reconnect.disabled = left > 0;
    el.reconnect.textContent = left > 0 ? `Reconnect (${left} s)` : "Reconnect";
    if (left-- <= 0) clearInterval(reconnectCountdown);
  };
  tick();
  if (document.activeElement === el.reconnect) el.noticeDismiss.focus(); // a disabled button loses focus
  reconnectCountdown = setInterval(tick, 1000);
}

/**
 * The hooks of one conversation. Events of a conversation that is no longer the current one (aborted by
 * Stop, sign-out or a lost microphone) are ignored, so a late close cannot end its successor.
 * @returns {import("./conversation.js").ConversationHooks}
 */
function hooksFor(self) {
  const current = (fn) => (arg) => {
    if (self() === conversation) fn(arg);
  };
  return Object.fromEntries(Object.entries(hooks).map(([name, fn]) => [name, current(fn)]));
}

const hooks = {
  state(state) {
    switch (state) {
      case "connecting":
        setStatus("Connecting to the gateway…", "busy");
        break;
      case "authorizing":
        setStatus("Signing in to the gateway…", "busy");
        break;
      case "live":
        if (reconnecting) transcript.addNote("Reconnected; the conversation continues.");
        reconnecting = null;
        setStatus(speaking ? "Assistant is speaking…" : "Listening — speak now", speaking ? "speaking" : "live");
        el.sessionInfo.textContent = conversation?.sessionId ? `Session ${conversation.sessionId}` : "";
        el.sessionInfo.hidden = !conversation?.sessionId;
        break;
      case "ending":
        setStatus("Ending the conversation…", "busy");
        renderControls(true);
        break;
    }
  },
  output(action) {
    switch (action.type) {
      case "text":
        transcript.addText(action.role, action.stage, action.text);
        break;
      case "bargeIn":
        transcript.interrupted();
        break;
      case "turnEnd":
        transcript.endTurn();
        break;
    }
  },
  tool(activity) {
    transcript.tool(activity);
  },
  draining() {
    transcript.addNote("The gateway is restarting; this conversation will reconnect by itself.");
  },
  closed(info) {
    conversation = null;
    speaking = false;
    if (info.normal || info.userEnded) {
      transcript.addNote("Conversation ended.");
      finish();
      return;
    }
    if (!active) return;
    // Automatic reconnect: after 1012, and while a reconnect series keeps failing for retryable reasons.
    if (info.auto || (reconnecting && info.retryable)) {
      audio.flush();
      scheduleReconnect(info);
      return;
    }
    reconnecting = null;
    transcript.addNote(info.text, "error");
    fail(info.text, { detail: info.detail, reconnect: info.retryable, signIn: info.signIn });
    if (info.retryable) holdReconnect(info);
    if (info.droppedFrames > 0) console.warn(`web client: ${info.droppedFrames} audio frames dropped on a slow link`);
  },
};

audio.onPlaying = (playing) => {
  speaking = playing;
  if (conversation?.state === "live") {
    setStatus(playing ? "Assistant is speaking…" : "Listening — speak now", playing ? "speaking" : "live");
  }
};
audio.onMicrophoneEnded = () => {
  if (!active) return;
  conversation?.abort();
  fail("The microphone stopped (unplugged, or access was withdrawn). Press Start to try again.");
};

// ---- Page setup ---------------------------------------------------------------------------------

function renderAccount() {
  if (auth.kind !== "cognito") return;
  el.account.hidden = false;
  const signedIn = auth.isSignedIn();
  el.accountName.textContent = signedIn && auth.userName() ? `Signed in as ${auth.userName()}` : "";
  el.signIn.hidden = signedIn;
  el.signOut.hidden = !signedIn;
}

async function main() {
  for (const v of VOICES) el.voice.add(new Option(VOICE_LABELS[v] ?? v, v));
  el.voice.value = settings.voiceId;
  el.prompt.value = settings.systemPrompt;

  el.start.addEventListener("click", onStartClick);
  el.reconnect.addEventListener("click", () => start({ carryOver: true }));
  el.noticeDismiss.addEventListener("click", hideNotice);
  const signIn = () => auth.signIn().catch((e) => showNotice(`Sign-in could not start: ${e.message}`));
  el.noticeSignIn.addEventListener("click", signIn);
  el.signIn.addEventListener("click", signIn);
  el.signOut.addEventListener("click", () => {
    conversation?.abort();
    auth.signOut();
  });
  el.clear.addEventListener("click", () => transcript.clear());
  // Leaving the page: close the socket so the gateway ends the Bedrock stream at once.
  window.addEventListener("pagehide", () => conversation?.abort());
  requestAnimationFrame(drawMeter);

  renderControls();
  setStatus("Ready");
  if (settings.problems.length > 0) {
    showNotice("The page's configuration (config.js) has problems:", { detail: settings.problems.join(" ") });
  }
  const signInError = await auth.completeSignIn();
  renderAccount();
  if (signInError) showNotice(signInError, { signIn: true });
}

main();
