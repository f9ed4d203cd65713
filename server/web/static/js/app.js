// The page: builds the DOM side (the View the controller drives, the level meter, the account bar) and
// wires the buttons to a CallController, which decides what happens during and after a conversation
// (controller.js, where the reconnect policy is described).

import { AudioEngine } from "./audio.js";
import { createAuth } from "./auth.js";
import { CallController, STATUS } from "./controller.js";
import { VOICES } from "./protocol.js";
import { loadSettings } from "./settings.js";
import { Transcript } from "./transcript.js";

const VOICE_LABELS = {
  matthew: "Matthew (English, US, masculine)",
  tiffany: "Tiffany (English, US, feminine)",
  amy: "Amy (English, UK, feminine)",
  olivia: "Olivia (English, AU, feminine)",
  lupe: "Lupe (Spanish, US, feminine)",
};

/** A screen with room for the settings and the transcript at once. */
const WIDE_SCREEN = "(min-width: 48rem) and (min-height: 44rem)";

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
  reconnectHint: $("reconnect-hint"),
  sessionInfo: $("session-info"),
  settings: $("settings"),
  settingsPanel: $("settings-panel"),
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

// ---- The View: status, controls, notice --------------------------------------------------------------

/** The settings were unfolded when the call started. */
let settingsWereOpen = false;

/** @type {import("./controller.js").View} */
const view = {
  status(text, dot) {
    el.status.textContent = text;
    el.dot.className = `dot ${dot}`;
  },
  controls(mode) {
    el.start.textContent = { idle: "Start", active: "Stop", ending: "Stopping…", retry: "Start over" }[mode];
    el.start.classList.toggle("stop", mode === "active");
    // After a failure that can be retried, Reconnect is the main action and Start over the other one.
    el.start.classList.toggle("primary", mode !== "retry");
    el.start.classList.toggle("secondary", mode === "retry");
    el.start.disabled = mode === "ending";
    el.settings.disabled = mode === "active" || mode === "ending";
    // During a call the settings cannot change: fold them away so that the transcript has the room (on a
    // phone the newest turn would otherwise be below the fold), and unfold them again afterwards.
    if (mode === "active" && el.settingsPanel.open) {
      settingsWereOpen = true;
      el.settingsPanel.open = false;
    } else if ((mode === "idle" || mode === "retry") && settingsWereOpen) {
      settingsWereOpen = false;
      el.settingsPanel.open = true;
    }
  },
  notice(notice) {
    if (!notice) {
      el.notice.hidden = true;
      return;
    }
    const { text, detail = "", reconnect = false, signIn = false } = notice;
    el.reconnect.disabled = false;
    el.reconnect.textContent = "Reconnect";
    el.noticeText.textContent = text;
    el.noticeDetail.textContent = detail;
    el.noticeDetail.hidden = !detail;
    el.reconnect.hidden = !reconnect;
    el.reconnectHint.hidden = !reconnect;
    el.noticeSignIn.hidden = !signIn;
    el.notice.hidden = false;
    (reconnect ? el.reconnect : signIn ? el.noticeSignIn : el.noticeDismiss).focus();
  },
  reconnectHold(seconds) {
    el.reconnect.disabled = seconds > 0;
    el.reconnect.textContent = seconds > 0 ? `Reconnect (${seconds} s)` : "Reconnect";
    if (seconds > 0 && document.activeElement === el.reconnect) el.noticeDismiss.focus(); // a disabled button loses focus
  },
  sessionId(id) {
    el.sessionInfo.textContent = id ? `Session ${id}` : "";
    el.sessionInfo.hidden = !id;
  },
  choices() {
    return { voiceId: el.voice.value, systemPrompt: el.prompt.value };
  },
  level(rms) {
    micLevel = rms;
  },
};

const controller = new CallController({ view, audio, transcript, auth, settings });
audio.onPlaying = (playing) => controller.playing(playing);
audio.onMicrophoneEnded = () => controller.microphoneEnded();

// The meter shows the microphone's loudness on a decibel scale (-60 dB … 0 dB), smoothed so it rises
// fast and falls slowly like a VU meter. Frames arrive every 32 ms; drawing happens once per display
// frame, and the ARIA value is updated a few times a second at most.
let micLevel = 0;
let shownLevel = 0;
let lastAria = 0;
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
  // Unfolded where there is room for them beside a transcript; folded on a phone.
  el.settingsPanel.open = window.matchMedia(WIDE_SCREEN).matches;

  el.start.addEventListener("click", () => controller.onStartClick());
  el.reconnect.addEventListener("click", () => controller.onReconnectClick());
  el.noticeDismiss.addEventListener("click", () => controller.dismissNotice());
  const signIn = () => auth.signIn().catch((e) => view.notice({ text: `Sign-in could not start: ${e.message}` }));
  el.noticeSignIn.addEventListener("click", signIn);
  el.signIn.addEventListener("click", signIn);
  el.signOut.addEventListener("click", () => {
    controller.abort();
    auth.signOut();
  });
  el.clear.addEventListener("click", () => transcript.clear());
  // Leaving the page: close the socket so the gateway ends the Bedrock stream at once.
  window.addEventListener("pagehide", () => controller.abort());
  requestAnimationFrame(drawMeter);
  // Read-only state for support and the browser tests (server/web/e2e): no audio, no token.
  window.novaSonicDiagnostics = () => controller.diagnostics();

  view.controls("idle");
  view.status(...STATUS.ready);
  if (settings.problems.length > 0) {
    view.notice({ text: "The page's configuration (config.js) has problems:", detail: settings.problems.join(" ") });
  }
  const signInError = await auth.completeSignIn();
  renderAccount();
  if (signInError) view.notice({ text: signInError, signIn: auth.kind === "cognito" });
}

main();
