// The life of a conversation on the page, without the DOM: Start and Stop, what happens after a
// conversation closes (done, reconnect on its own, or explain and offer Reconnect), and what the status
// line says at each step. app.js gives it the page (a View) and the audio engine; the unit tests give it
// fakes (jstest/controller.test.js).
//
// Reconnect policy:
//   - 1012, or a {"type":"draining"} notice before it (the gateway is restarting, e.g. a deploy): reconnect
//     on our own, at once, then with exponential backoff while the new connection also fails for a
//     retryable reason (the old task may already be gone and the new one not yet ready). At most
//     MAX_AUTO_RECONNECTS tries. Meanwhile the microphone is off and the old session id is hidden.
//   - Other retryable closes (model timeout, throttling, a dropped connection…): explain, and offer
//     "Reconnect" beside "Start over". After repeated failures within a minute, and at once for throttling,
//     Reconnect counts down a growing backoff before it can be pressed.
//   - Anything else: explain; Start begins a new conversation.
// A reconnect, automatic or by hand, carries the transcript's final text over as Nova Sonic chat history,
// so the conversation continues where it stopped. Start (and Start over) always begins afresh.

import { MicrophoneError } from "./audio.js";
import { SignInRequired } from "./auth.js";
import { backoffDelay } from "./closecodes.js";
import { Conversation } from "./conversation.js";

/** Automatic reconnect tries after a restart before the page gives up and asks the person. */
export const MAX_AUTO_RECONNECTS = 6;

/** Failures further apart than this do not add up for the Reconnect button's backoff. */
const FAILURE_MEMORY_MS = 60_000;

/** What the status line says, and the colour of its dot, at each step. */
export const STATUS = Object.freeze({
  ready: ["Ready", ""],
  microphone: ["Starting the microphone…", "busy"],
  connecting: ["Connecting…", "busy"],
  authorizing: ["Opening the conversation…", "busy"],
  listening: ["Listening — speak now", "live"],
  speaking: ["Assistant is speaking…", "speaking"],
  ending: ["Ending the conversation…", "busy"],
  notConnected: ["Not connected", "error"],
});

/**
 * The delay before automatic reconnect try number `attempt` (0-based). The first goes out almost at once:
 * after a restart notice another gateway task is ready. Later ones back off.
 */
export function autoReconnectDelay(attempt, { slow = false, random = Math.random } = {}) {
  if (attempt === 0) return 200 + Math.round(random() * 300);
  return backoffDelay(attempt - 1, { slow, random });
}

/**
 * @typedef {Object} View  the page as the controller changes it (app.js implements it on the DOM)
 * @property {(text:string, dot:string) => void} status  the status line; dot "", "busy", "live",
 *   "speaking" or "error"
 * @property {(mode:"idle"|"active"|"ending"|"retry") => void} controls  the main button and the settings:
 *   idle "Start"; active "Stop" (settings locked); ending "Stopping…" (disabled); retry "Start over", a
 *   secondary button beside the notice's Reconnect
 * @property {(notice:{text:string, detail?:string, reconnect?:boolean, signIn?:boolean}|null) => void} notice
 *   an explanation with its buttons, or null to hide it
 * @property {(seconds:number) => void} reconnectHold  Reconnect can be pressed in this many seconds (0: now)
 * @property {(id:string) => void} sessionId  the live conversation's id, "" to hide it
 * @property {() => {voiceId:string, systemPrompt:string}} choices  the settings for the next conversation
 * @property {(rms:number) => void} level  the microphone's level, 0..1, every 32 ms while it is on
 */

export class CallController {
  /**
   * @param {{view:View, audio:import("./audio.js").AudioEngine, transcript:import("./transcript.js").Transcript,
   *          auth:{kind:string, isSignedIn:() => boolean, getToken:() => Promise<string>},
   *          settings:import("./settings.js").Settings,
   *          newConversation?:(opts:object) => Conversation, random?:() => number}} deps
   */
  constructor({ view, audio, transcript, auth, settings, newConversation = (opts) => new Conversation(opts), random = Math.random }) {
    Object.assign(this, { view, audio, transcript, auth, settings, newConversation, random });
    /** The current conversation, if any. */
    this.conversation = null;
    /** A conversation is wanted: from Start until Stop or a close that needs the person. */
    this.wanted = false;
    /** Automatic reconnect in progress: {attempt, timer}. */
    this.reconnect = null;
    /** Reconnect pressed: say so when the conversation is back. */
    this.resuming = false;
    /** The restart was announced in the transcript already (a draining notice before the 1012). */
    this.restartNoted = false;
    /** The assistant is being heard right now. */
    this.speaking = false;
    /** Retryable failures in a row, for the Reconnect button's backoff. */
    this.failures = 0;
    this.lastFailure = -Infinity;
    this.holdTimer = 0;
  }

  /** The main button: Start (or Start over) when idle, Stop during a conversation. */
  onStartClick() {
    if (this.wanted) this.stop();
    else this.start();
  }

  /** The notice's Reconnect button: a new conversation that continues the transcript. */
  onReconnectClick() {
    this.start({ carryOver: true });
  }

  /** The notice's Dismiss button. */
  dismissNotice() {
    this.#stopHold();
    this.view.notice(null);
    if (!this.wanted) this.view.controls("idle");
  }

  /**
   * Starts a conversation; carryOver sends the transcript as history. Everything up to audio.init() runs
   * inside the click: browsers let audio start only within a user gesture.
   */
  async start({ carryOver = false } = {}) {
    this.#stopHold();
    this.view.notice(null);
    if (!this.auth.isSignedIn()) {
      this.view.notice({ text: "Sign in to start a conversation.", signIn: this.auth.kind === "cognito" });
      return;
    }
    const audioReady = this.audio.init();
    this.wanted = true;
    this.resuming = carryOver;
    this.restartNoted = false;
    this.view.controls("active");
    this.#status("microphone");
    try {
      await audioReady;
      await this.#startMicrophone();
    } catch (e) {
      this.#fail(microphoneText(e));
      return;
    }
    if (!this.wanted) {
      this.audio.stopCapture(); // Stop was pressed while the permission prompt was open
      return;
    }
    if (!carryOver) this.transcript.addNote(`New conversation — voice ${this.view.choices().voiceId}`, "divider");
    this.#connect(carryOver);
  }

  /** Stop pressed: end the conversation the orderly way; the close comes back through the closed hook. */
  stop() {
    if (this.reconnect) {
      this.#cancelReconnect();
      this.conversation?.abort(); // a reconnect attempt may be connecting right now
      this.#finish("Reconnect cancelled.");
      return;
    }
    this.audio.stopCapture(); // the microphone goes off at once, whatever the gateway does next
    if (this.conversation) this.conversation.stop();
    else this.#finish("Stopped.");
  }

  /** Sign-out or leaving the page: drop the socket at once, so the gateway ends the Bedrock stream. */
  abort() {
    this.conversation?.abort();
  }

  /** The microphone went away (unplugged, permission withdrawn). */
  microphoneEnded() {
    if (!this.wanted) return;
    this.conversation?.abort();
    this.#fail("The microphone stopped (unplugged, or access was withdrawn). Press Start to try again.");
  }

  /** The assistant started or stopped being heard (from the playback worklet). */
  playing(playing) {
    this.speaking = playing;
    if (this.conversation?.state === "live") this.#status(playing ? "speaking" : "listening");
  }

  /** A snapshot for diagnostics and the browser tests: no audio, no token. */
  diagnostics() {
    const c = this.conversation;
    return {
      wanted: this.wanted,
      state: c?.state ?? "idle",
      sessionId: c?.sessionId ?? "",
      serverTools: c ? [...c.serverTools] : [],
      reconnectAttempt: this.reconnect?.attempt ?? 0,
      capturing: this.audio.capturing,
      playback: structuredClone(this.audio.stats),
    };
  }

  // ---- Internals ------------------------------------------------------------------------------------

  #status(key) {
    const [text, dot] = STATUS[key];
    this.view.status(text, dot);
  }

  #startMicrophone() {
    return this.audio.startCapture((pcm) => this.conversation?.sendAudio(pcm), (rms) => this.view.level(rms));
  }

  /** Opens a conversation with the current settings; carryOver sends the transcript as history. */
  async #connect(carryOver) {
    let token;
    try {
      token = await this.auth.getToken();
    } catch (e) {
      this.#fail(e.message, { signIn: e instanceof SignInRequired });
      return;
    }
    if (!this.wanted) return;
    const { voiceId, systemPrompt } = this.view.choices();
    const conv = this.newConversation({
      url: this.settings.websocketUrl,
      token,
      voiceId,
      systemPrompt: systemPrompt.trim() || this.settings.systemPrompt,
      history: carryOver ? this.transcript.history() : [],
      audio: this.audio,
      hooks: this.#hooksFor(() => conv),
      local: this.settings.auth === "local",
    });
    this.conversation = conv;
    conv.start();
  }

  /** The conversation is over for good: release the microphone and return to idle. */
  #finish(statusText = STATUS.ready[0]) {
    this.wanted = false;
    this.conversation = null;
    this.speaking = false;
    this.resuming = false;
    this.audio.stopCapture();
    this.audio.flush("stop");
    this.view.sessionId("");
    this.view.controls("idle");
    this.view.status(statusText, "");
  }

  #fail(message, { detail = "", reconnect = false, signIn = false } = {}) {
    this.#finish();
    this.view.controls(reconnect ? "retry" : "idle");
    this.#status("notConnected");
    this.view.notice({ text: message, detail, reconnect, signIn: signIn && this.auth.kind === "cognito" });
  }

  #cancelReconnect() {
    if (!this.reconnect) return;
    clearTimeout(this.reconnect.timer);
    this.reconnect = null;
  }

  /** Schedules the next automatic reconnect, or gives up after MAX_AUTO_RECONNECTS. */
  #scheduleReconnect(info) {
    const attempt = this.reconnect ? this.reconnect.attempt : 0;
    if (attempt >= MAX_AUTO_RECONNECTS) {
      this.reconnect = null;
      this.#fail(`Could not reconnect after ${attempt} tries. ${info.text}`, { detail: info.detail, reconnect: true });
      return;
    }
    const delay = autoReconnectDelay(attempt, { slow: info.backoff, random: this.random });
    if (attempt === 0) {
      // One note per restart: the draining notice may have announced it already.
      if (!this.restartNoted) this.transcript.addNote(`${info.text} Reconnecting…`);
      this.restartNoted = true;
      this.view.status(`${info.text} Reconnecting…`, "busy");
    } else {
      const seconds = Math.max(1, Math.round(delay / 1000));
      this.view.status(
        `The voice service is not reachable yet. Trying again in ${seconds} s (try ${attempt + 1} of ${MAX_AUTO_RECONNECTS})…`,
        "busy",
      );
    }
    this.reconnect = {
      attempt: attempt + 1,
      timer: setTimeout(() => {
        if (this.wanted) this.#connect(true);
      }, delay),
    };
  }

  /**
   * Retry with backoff, by hand: after repeated failures (or throttling) the Reconnect button waits a
   * little longer each time before it can be pressed, counting down the seconds.
   */
  #holdReconnect(info) {
    const now = Date.now();
    this.failures = now - this.lastFailure > FAILURE_MEMORY_MS ? 1 : this.failures + 1;
    this.lastFailure = now;
    if (this.failures < 2 && !info.backoff) return;
    const countDown = (left) => {
      this.view.reconnectHold(left);
      if (left > 0) this.holdTimer = setTimeout(() => countDown(left - 1), 1000);
    };
    countDown(Math.ceil(backoffDelay(this.failures - 1, { slow: info.backoff, random: this.random }) / 1000));
  }

  #stopHold() {
    clearTimeout(this.holdTimer);
    this.holdTimer = 0;
  }

  /** The microphone is off while a restart reconnects; it comes back with the conversation. */
  async #resumeMicrophone() {
    try {
      await this.#startMicrophone();
    } catch (e) {
      if (!this.wanted) return;
      this.conversation?.abort();
      this.#fail(microphoneText(e));
      return;
    }
    if (!this.wanted || this.conversation?.state !== "live") this.audio.stopCapture();
  }

  /**
   * The hooks of one conversation. Events of a conversation that is no longer the current one (aborted by
   * Stop, sign-out or a lost microphone) are ignored, so a late close cannot end its successor.
   * @returns {import("./conversation.js").ConversationHooks}
   */
  #hooksFor(self) {
    const hooks = {
      state: (state) => this.#onState(state),
      output: (action) => this.#onOutput(action),
      tool: (activity) => this.transcript.tool(activity),
      draining: () => this.#onDraining(),
      closed: (info) => this.#onClosed(info),
    };
    const current = (fn) => (arg) => {
      if (self() === this.conversation) fn(arg);
    };
    return Object.fromEntries(Object.entries(hooks).map(([name, fn]) => [name, current(fn)]));
  }

  #onState(state) {
    switch (state) {
      case "connecting":
        this.#status("connecting");
        break;
      case "authorizing":
        this.#status("authorizing");
        break;
      case "live":
        if (this.reconnect || this.resuming) this.transcript.addNote("Reconnected; the conversation continues.");
        this.reconnect = null;
        this.resuming = false;
        this.restartNoted = false;
        this.#status(this.speaking ? "speaking" : "listening");
        this.view.sessionId(this.conversation.sessionId);
        if (!this.audio.capturing) this.#resumeMicrophone();
        break;
      case "ending":
        this.#status("ending");
        this.view.controls("ending");
        break;
    }
  }

  #onOutput(action) {
    switch (action.type) {
      case "text":
        this.transcript.addText(action.role, action.stage, action.text);
        break;
      case "bargeIn":
        this.transcript.interrupted();
        break;
      case "turnEnd":
        this.transcript.endTurn();
        break;
    }
  }

  #onDraining() {
    if (this.restartNoted) return;
    this.restartNoted = true;
    this.transcript.addNote("The voice service is restarting; the conversation will reconnect by itself.");
  }

  #onClosed(info) {
    this.conversation = null;
    this.speaking = false;
    this.view.sessionId(""); // that session is gone, whatever comes next
    if (info.normal || info.userEnded) {
      this.transcript.addNote("Conversation ended.");
      this.#finish();
      return;
    }
    if (!this.wanted) return;
    // Automatic reconnect: after 1012, and while a reconnect series keeps failing for retryable reasons.
    if (info.auto || (this.reconnect && info.retryable)) {
      this.audio.stopCapture(); // nothing would carry the audio; the browser's recording light goes off
      this.audio.flush("reconnect");
      this.#scheduleReconnect(info);
      return;
    }
    this.reconnect = null;
    this.transcript.addNote(info.text, "error");
    this.#fail(info.text, { detail: info.detail, reconnect: info.retryable, signIn: info.signIn });
    if (info.retryable) this.#holdReconnect(info);
    if (info.droppedFrames > 0) console.warn(`web client: ${info.droppedFrames} audio frames dropped on a slow link`);
  }
}

function microphoneText(e) {
  return e instanceof MicrophoneError ? e.message : `Audio could not start: ${e.message}`;
}
