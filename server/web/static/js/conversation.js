// One conversation: one WebSocket to the gateway, one Nova Sonic session.
//
//   open ─▶ {"type":"authorization"} ─▶ wait for "success" ─▶ sessionStart, promptStart, system prompt,
//   history (after a reconnect), audio contentStart ─▶ audioInput every 32 ms ─▶ (Stop) contentEnd,
//   promptEnd, sessionEnd ─▶ the gateway delivers the last output and closes with 1000.
//
// Audio is streamed continuously, silence included: Nova Sonic detects the end of the user's turn
// itself. What to do after the socket closes (reconnect or not) is the caller's decision; this class
// only reports the close, explained by closecodes.js.

import {
  audioContentStart,
  audioInput,
  authorization,
  contentEnd,
  historyBlocks,
  pcmToBase64,
  promptEnd,
  promptStart,
  runTool,
  sessionEnd,
  sessionStart,
  systemPrompt,
  toolResult,
  uuid,
} from "./protocol.js";
import { OutputTracker } from "./output.js";
import { connectFailure, describeClose } from "./closecodes.js";

/** The gateway closes unauthenticated sockets after 10 s; give up a little earlier with a clear word. */
const AUTH_TIMEOUT_MS = 9000;
/** A socket that neither opens nor fails within this time is given up (a proxy that holds the
 * request, or a browser that blocks it without an event). */
const CONNECT_TIMEOUT_MS = 15000;
/** After sessionEnd the gateway flushes and closes at once; if it does not, close ourselves. */
const END_TIMEOUT_MS = 5000;
/** Stop queueing audio when this much is waiting to be sent (~8 s of audio): the link is too slow, and
 * old speech is worth less than the gateway noticing a stalled client. */
const MAX_BUFFERED_BYTES = 256 * 1024;

/**
 * @typedef {Object} ConversationHooks
 * @property {(state:string) => void} state   "connecting" | "authorizing" | "live" | "ending" | "closed"
 * @property {(action:object) => void} output  actions from OutputTracker (text, bargeIn, turnEnd)
 * @property {(activity:ToolActivity) => void} tool  a tool call started or finished
 * @property {(message:object) => void} draining  the gateway announced a restart
 * @property {(info:object) => void} closed    the socket closed; info from describeClose plus flags
 */

/**
 * @typedef {Object} ToolActivity
 * @property {string} toolUseId
 * @property {string} toolName
 * @property {"running"|"done"|"failed"|"unfinished"} state  unfinished: the conversation closed first
 * @property {"gateway"|"browser"} by  who runs it
 */

export class Conversation {
  /**
   * @param {{url:string, token:string, voiceId:string, systemPrompt:string,
   *          history?:{role:string,text:string}[], audio:import("./audio.js").AudioEngine,
   *          hooks:ConversationHooks, local?:boolean}} opts  local: a developer's gateway (`make run`), so
   *          messages may speak of the gateway and how to start it
   */
  constructor(opts) {
    this.opts = opts;
    this.hooks = opts.hooks;
    this.audio = opts.audio;
    this.tracker = new OutputTracker();
    this.promptName = uuid();
    this.audioContentName = uuid();
    this.state = "idle";
    this.opened = false; // the socket opened at least once
    this.endRequested = false; // Stop was pressed
    this.serverError = null; // the gateway's {"type":"error"} before its close
    this.drainNotice = false; // the gateway said {"type":"draining"}
    this.sessionId = "";
    this.droppedFrames = 0;
    this.timer = 0;
    /** The tools the gateway runs itself (its authorization reply's serverTools); the page answers the rest. */
    this.serverTools = new Set();
    /** toolUseId → ToolActivity of every tool call seen, so each is shown once and answered at most once. */
    this.tools = new Map();
  }

  start() {
    this.#setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.opts.url);
    } catch (e) {
      // A malformed URL throws synchronously; report it like any other failed connection.
      this.serverError = { message: `The gateway address ${this.opts.url} is not valid: ${e.message}` };
      queueMicrotask(() => this.#closed(1006, "bad URL"));
      return;
    }
    this.ws = ws;
    // A Content-Security-Policy that does not list the gateway blocks the socket, and some browsers then
    // fire no close event at all: watch for the violation to say so at once.
    this.onViolation = (e) => {
      if (this.state === "connecting" && e.violatedDirective?.startsWith("connect-src")) {
        this.serverError = {
          message: this.opts.local
            ? `The page's Content-Security-Policy does not allow connecting to ${this.opts.url} (connect-src).`
            : "This site is not set up to reach its voice service (the page's security policy blocks it). Please tell the site's operator.",
          retryable: false,
        };
        this.#giveUp();
      }
    };
    globalThis.document?.addEventListener("securitypolicyviolation", this.onViolation);
    this.timer = setTimeout(() => this.#giveUp(), CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(this.timer);
      this.opened = true;
      this.#setState("authorizing");
      this.#send(authorization(this.opts.token));
      this.timer = setTimeout(() => {
        this.serverError = { message: "The voice service did not answer in time.", retryable: true };
        ws.close(4000, "authorization timeout");
      }, AUTH_TIMEOUT_MS);
    };
    ws.onmessage = (e) => this.#onMessage(e.data);
    ws.onclose = (e) => this.#closed(e.code, e.reason);
    ws.onerror = () => {}; // always followed by close, which carries the code
  }

  /** Abandons the socket without waiting for events that may never come, and reports the close. */
  #giveUp(code = 1006) {
    const ws = this.ws;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close();
    } catch {
      // closing a socket that never opened may throw in old browsers; it is gone either way
    }
    this.#closed(code, "given up");
  }

  /** Sends one 32 ms microphone frame, if the audio block is open. */
  sendAudio(pcm) {
    if (this.state !== "live") return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.droppedFrames++;
      return;
    }
    this.#send(audioInput(this.promptName, this.audioContentName, pcmToBase64(pcm)));
  }

  /** Ends the conversation the orderly way and lets the gateway close the socket. */
  stop() {
    if (this.state === "closed" || this.state === "ending") return;
    this.endRequested = true;
    this.audio.flush(); // the user asked for silence
    if (this.state === "live") {
      this.#send(contentEnd(this.promptName, this.audioContentName));
      this.#send(promptEnd(this.promptName));
      this.#send(sessionEnd());
    } else {
      this.ws?.close(1000, "stopped");
    }
    this.#setState("ending");
    clearTimeout(this.timer);
    // The gateway closes right after the model's last words; if nothing comes, stop waiting.
    this.timer = setTimeout(() => this.#giveUp(1000), END_TIMEOUT_MS);
  }

  /** Drops the socket without ceremony (page unload, cancelled reconnect). */
  abort() {
    this.endRequested = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "abort");
  }

  #setState(state) {
    this.state = state;
    this.hooks.state(state);
  }

  #send(obj) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  #onMessage(data) {
    if (typeof data !== "string") return; // the gateway only sends text
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.event && typeof msg.event === "object") {
      const [name, body] = Object.entries(msg.event)[0] ?? [];
      if (name) for (const action of this.tracker.handle(name, body)) this.#act(action);
      return;
    }
    switch (msg.type) {
      case "authorization":
        clearTimeout(this.timer);
        if (msg.status === "success" && this.state === "authorizing") {
          this.sessionId = msg.sessionId ?? "";
          // An older gateway sends no serverTools and runs no tool: the page then answers every toolUse.
          if (Array.isArray(msg.serverTools)) this.serverTools = new Set(msg.serverTools.filter((n) => typeof n === "string"));
          this.#begin();
        }
        break;
      case "toolResult":
        // The gateway ran a tool itself and answered Nova Sonic; this only says how it went.
        if (typeof msg.toolUseId === "string") {
          this.#toolState(msg.toolUseId, msg.toolName, msg.status === "success" ? "done" : "failed");
        }
        break;
      case "error":
        this.serverError = msg; // the close that follows says what it means
        break;
      case "draining":
        this.drainNotice = true;
        this.hooks.draining(msg);
        break;
    }
  }

  /** Authorized: open the Nova Sonic session and the audio stream. */
  #begin() {
    const p = this.promptName;
    this.#send(sessionStart());
    this.#send(promptStart(p, this.opts.voiceId));
    for (const ev of systemPrompt(p, uuid(), this.opts.systemPrompt)) this.#send(ev);
    for (const ev of historyBlocks(p, this.opts.history ?? [])) this.#send(ev);
    this.#send(audioContentStart(p, this.audioContentName));
    this.#setState("live"); // sendAudio starts passing frames from here on
  }

  #act(action) {
    switch (action.type) {
      case "audio":
        if (!this.endRequested) this.audio.play(action.base64);
        return;
      case "bargeIn":
        // The user spoke over the assistant: silence it now, not after the queued speech.
        this.audio.flush("bargeIn");
        break;
      case "toolUse":
        this.#toolStarted(action);
        return;
      case "toolCall":
        this.#answerTool(action);
        return;
    }
    this.hooks.output(action);
  }

  /** Nova Sonic asked for a tool: show it as running, run by the gateway if it said it runs that tool. */
  #toolStarted({ toolName, toolUseId }) {
    if (typeof toolUseId !== "string" || this.tools.has(toolUseId)) return; // a repeated toolUse
    const by = this.serverTools.has(toolName) ? "gateway" : "browser";
    const activity = { toolUseId, toolName, state: "running", by };
    this.tools.set(toolUseId, activity);
    this.hooks.tool({ ...activity });
  }

  /**
   * The tool's block ended: answer it, unless the gateway runs it. Exactly one toolResult per toolUse goes
   * to Nova Sonic: from the gateway for its own tools, from the page for the others, never from both.
   */
  #answerTool({ toolName, toolUseId, input }) {
    if (this.serverTools.has(toolName) || this.state !== "live") return;
    const activity = this.tools.get(toolUseId);
    if (activity && activity.state !== "running") return; // answered already
    const { ok, result } = runTool(toolName, input);
    for (const ev of toolResult(this.promptName, uuid(), toolUseId, result)) this.#send(ev);
    this.#toolState(toolUseId, toolName, ok ? "done" : "failed");
  }

  #toolState(toolUseId, toolName, state) {
    let activity = this.tools.get(toolUseId);
    if (!activity) {
      // A result before its toolUse reached the page: show it all the same.
      activity = { toolUseId, toolName: typeof toolName === "string" ? toolName : "tool", state: "", by: "gateway" };
      this.tools.set(toolUseId, activity);
    }
    if (activity.state === state) return;
    activity.state = state;
    this.hooks.tool({ ...activity });
  }

  /**
   * The close code the gateway meant. A close frame can be lost on the way: a server that closes its TCP
   * connection while our audio frames are still arriving makes its kernel reset the connection, and the
   * browser then reports 1006 without having read the frames before it. The gateway's own words, when they
   * got through, say what it meant: the code in its {"type":"error"}, or a restart it announced.
   */
  #meant(code) {
    if (code !== 1006 || !this.opened) return code;
    if (Number.isInteger(this.serverError?.closeCode)) return this.serverError.closeCode;
    return this.drainNotice ? 1012 : code;
  }

  #closed(code, reason) {
    if (this.state === "closed") return;
    clearTimeout(this.timer);
    globalThis.document?.removeEventListener("securitypolicyviolation", this.onViolation);
    const info = describeClose(this.#meant(code), this.serverError, { local: this.opts.local });
    if (this.endRequested && !this.serverError && (code === 1000 || code === 1005 || code === 1006)) {
      // We asked for the end; a missing close frame after that is not a failure.
      Object.assign(info, { normal: true, retryable: false, text: "The conversation ended." });
    } else if (!this.opened && code === 1006) {
      info.text = this.serverError?.message ?? connectFailure(this.opts.url, { local: this.opts.local });
      info.detail = "";
    }
    if (this.serverError?.retryable === false) info.retryable = false;
    info.reason = reason;
    info.userEnded = this.endRequested;
    info.wasLive = this.state === "live" || this.state === "ending";
    info.droppedFrames = this.droppedFrames;
    for (const activity of this.tools.values()) {
      if (activity.state === "running") this.#toolState(activity.toolUseId, activity.toolName, "unfinished");
    }
    this.#setState("closed");
    this.hooks.closed(info);
  }
}
