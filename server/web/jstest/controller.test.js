// The page's conversation controller: status transitions, and the reconnect policy after each kind of
// close, against the real Conversation and Transcript with a fake socket, DOM, audio and clock.
import test, { mock } from "node:test";
import assert from "node:assert/strict";
import { MicrophoneError } from "../static/js/audio.js";
import { backoffDelay, describeClose } from "../static/js/closecodes.js";
import { CallController, MAX_AUTO_RECONNECTS, STATUS, autoReconnectDelay } from "../static/js/controller.js";
import { Transcript } from "../static/js/transcript.js";
import { FakeAudio, FakeWebSocket, authorized, ev, installDOM, lines } from "./fakes.js";

globalThis.WebSocket = FakeWebSocket;

/** The page as the controller changes it, as one log of calls. */
class FakeView {
  constructor() {
    this.log = [];
  }
  status(text, dot) {
    this.log.push(["status", text, dot]);
  }
  controls(mode) {
    this.log.push(["controls", mode]);
  }
  notice(notice) {
    this.log.push(["notice", notice]);
  }
  reconnectHold(seconds) {
    this.log.push(["hold", seconds]);
  }
  sessionId(id) {
    this.log.push(["sessionId", id]);
  }
  choices() {
    return { voiceId: "amy", systemPrompt: "  " };
  }
  level() {}
  /** The arguments of every call of one kind, in order. */
  calls(kind) {
    return this.log.filter(([k]) => k === kind).map(([, ...args]) => (args.length === 1 ? args[0] : args));
  }
  last(kind) {
    return this.calls(kind).at(-1);
  }
}

const LOCAL = { websocketUrl: "ws://gw.test/interact-s2s", auth: "local", systemPrompt: "Default prompt." };
const DEPLOYED = { ...LOCAL, auth: "cognito" };
const signedIn = (kind) => ({ kind, isSignedIn: () => true, getToken: async () => "token" });

// Let the promise chains of start() and connect() run; timers stay mocked.
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function setup(t, { settings = LOCAL, auth = signedIn(settings.auth) } = {}) {
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 });
  t.after(() => mock.timers.reset());
  FakeWebSocket.all.length = 0;
  const list = installDOM();
  const view = new FakeView();
  const audio = new FakeAudio();
  const transcript = new Transcript(list);
  // random() = 0.5: every jittered delay is exactly 3/4 of its step, so the test can tick to the millisecond.
  const c = new CallController({ view, audio, transcript, auth, settings, random: () => 0.5 });
  return { c, view, audio, list, transcript };
}

/** Start pressed, the socket opens and the gateway authorizes. */
async function startLive(c, sessionId = "s1") {
  c.onStartClick();
  await settle();
  const ws = FakeWebSocket.last;
  ws.open();
  ws.receive(authorized(sessionId));
  await settle();
  return ws;
}

/** One FINAL text block of a speaker, as Nova Sonic sends it. */
function say(ws, role, text, id = `${role}-${text}`) {
  ws.receive(ev("contentStart", { contentId: id, type: "TEXT", role, additionalModelFields: '{"generationStage":"FINAL"}' }));
  ws.receive(ev("textOutput", { contentId: id, role, content: text }));
  ws.receive(ev("contentEnd", { contentId: id, type: "TEXT", stopReason: "END_TURN" }));
}

/** The history blocks a new session was opened with: ["USER: text", …]. */
function historySent(ws) {
  const roles = new Map();
  const out = [];
  for (const m of ws.sent) {
    const start = m.event?.contentStart;
    if (start?.type === "TEXT" && start.role !== "SYSTEM") roles.set(start.contentName, start.role);
    const input = m.event?.textInput;
    if (input && roles.has(input.contentName)) out.push(`${roles.get(input.contentName)}: ${input.content}`);
  }
  return out;
}

const notes = (list) => lines(list).filter((l) => l.startsWith("note"));

test("a conversation's status: microphone, connecting, listening, speaking, ending, ready", async (t) => {
  const { c, view, audio, list } = await setup(t);
  const ws = await startLive(c);
  assert.equal(audio.capturing, true);
  c.playing(true);
  c.playing(false);
  c.onStartClick(); // Stop
  assert.equal(audio.capturing, false, "the microphone goes off at once on Stop");
  assert.deepEqual(ws.names().slice(-3), ["contentEnd", "promptEnd", "sessionEnd"]);
  ws.serverClose(1000);
  assert.deepEqual(view.calls("status"), [
    STATUS.microphone, STATUS.connecting, STATUS.authorizing, STATUS.listening, STATUS.speaking, STATUS.listening,
    STATUS.ending, STATUS.ready,
  ]);
  assert.deepEqual(view.calls("controls"), ["active", "ending", "idle"]);
  assert.deepEqual(view.calls("sessionId"), ["s1", "", ""]);
  assert.deepEqual(notes(list), ["note divider: New conversation — voice amy", "note info: Conversation ended."]);
  const prompt = ws.sent.find((m) => m.event?.textInput).event.textInput.content;
  assert.equal(prompt, "Default prompt.", "a blank system prompt falls back to the configured one");
});

test("a restart (draining, then 1012) reconnects by itself: one note, microphone off, old id gone, history kept", async (t) => {
  const { c, view, audio, list } = await setup(t);
  const first = await startLive(c, "s1");
  say(first, "USER", "What time is it?");
  say(first, "ASSISTANT", "It is noon.");
  first.receive({ type: "draining", message: "the gateway is restarting" });
  first.receive({ type: "error", code: "service_restart", closeCode: 1012, message: "the gateway is restarting; reconnect", retryable: true });
  first.serverClose(1012);

  assert.equal(audio.capturing, false, "no microphone while nothing carries the audio");
  assert.deepEqual(audio.flushes, ["reconnect"]);
  assert.equal(view.last("sessionId"), "", "the old session id is not shown while reconnecting");
  assert.deepEqual(view.last("status"), ["The voice service is restarting. Reconnecting…", "busy"]);
  assert.deepEqual(view.calls("notice"), [null], "no notice: nothing for the person to do");

  const delay = autoReconnectDelay(0, { random: () => 0.5 });
  assert.equal(delay, 350);
  mock.timers.tick(delay - 1);
  await settle();
  assert.equal(FakeWebSocket.all.length, 1, "not before the delay");
  mock.timers.tick(1);
  await settle();
  assert.equal(FakeWebSocket.all.length, 2);
  const second = FakeWebSocket.last;
  second.open();
  second.receive(authorized("s2"));
  await settle();

  assert.deepEqual(historySent(second), ["USER: What time is it?", "ASSISTANT: It is noon."]);
  assert.equal(view.last("sessionId"), "s2");
  assert.deepEqual(view.last("status"), STATUS.listening);
  assert.equal(audio.capturing, true, "the microphone is back with the conversation");
  assert.equal(audio.captureStarts, 2);
  assert.deepEqual(notes(list), [
    "note divider: New conversation — voice amy",
    "note info: The voice service is restarting; the conversation will reconnect by itself.",
    "note info: Reconnected; the conversation continues.",
  ]);
  assert.deepEqual(view.calls("controls"), ["active"], "Stop stays available throughout");
});

test("a 1012 without a draining notice is announced once, by the close", async (t) => {
  const { c, list } = await setup(t);
  (await startLive(c)).serverClose(1012);
  assert.deepEqual(notes(list).slice(1), ["note info: The voice service is restarting. Reconnecting…"]);
});

test("a restart whose new connections keep failing backs off, then asks the person", async (t) => {
  const { c, view, list } = await setup(t);
  (await startLive(c)).serverClose(1012);
  for (let attempt = 0; attempt < MAX_AUTO_RECONNECTS; attempt++) {
    const delay = autoReconnectDelay(attempt, { random: () => 0.5 });
    assert.equal(delay, attempt === 0 ? 350 : backoffDelay(attempt - 1, { random: () => 0.5 }));
    mock.timers.tick(delay - 1);
    await settle();
    assert.equal(FakeWebSocket.all.length, attempt + 1, `try ${attempt + 1} waits ${delay} ms`);
    mock.timers.tick(1);
    await settle();
    assert.equal(FakeWebSocket.all.length, attempt + 2);
    FakeWebSocket.last.serverClose(1006); // the new task is not there yet
    if (attempt + 1 < MAX_AUTO_RECONNECTS) {
      const next = autoReconnectDelay(attempt + 1, { random: () => 0.5 });
      assert.deepEqual(view.last("status"), [
        `The voice service is not reachable yet. Trying again in ${Math.max(1, Math.round(next / 1000))} s (try ${attempt + 2} of 6)…`,
        "busy",
      ]);
    }
  }
  assert.deepEqual(view.last("notice"), {
    text: "Could not reconnect after 6 tries. Could not connect to the gateway at ws://gw.test/interact-s2s. Is it running? Start it with make run (or make gateway).",
    detail: "",
    reconnect: true,
    signIn: false,
  });
  assert.equal(view.last("controls"), "retry");
  assert.deepEqual(view.last("status"), STATUS.notConnected);
  mock.timers.tick(60_000);
  await settle();
  assert.equal(FakeWebSocket.all.length, 1 + MAX_AUTO_RECONNECTS, "no more tries on its own");
  assert.equal(notes(list).length, 2, "the failed tries add no lines to the transcript");
});

test("a lost connection (gateway killed): plain words, Reconnect beside Start over; Reconnect continues with history", async (t) => {
  const { c, view, audio, list } = await setup(t);
  const first = await startLive(c, "s1");
  say(first, "USER", "Hello.");
  say(first, "ASSISTANT", "Hi!");
  first.serverClose(1006);

  const text = describeClose(1006, null, { local: true }).text;
  assert.equal(text, "The connection to the voice service was lost. Is the gateway still running? Start it again with make run (or make gateway).");
  assert.deepEqual(view.last("notice"), { text, detail: "", reconnect: true, signIn: false });
  assert.equal(view.last("controls"), "retry", "Start becomes Start over, a secondary button");
  assert.deepEqual(view.last("status"), STATUS.notConnected);
  assert.equal(view.last("sessionId"), "");
  assert.equal(audio.capturing, false);
  assert.deepEqual(notes(list).slice(1), [`note error: ${text}`]);
  assert.deepEqual(view.calls("hold"), [], "the first failure may be retried at once");

  c.onReconnectClick();
  await settle();
  const second = FakeWebSocket.last;
  second.open();
  second.receive(authorized("s2"));
  await settle();
  assert.deepEqual(historySent(second), ["USER: Hello.", "ASSISTANT: Hi!"]);
  assert.equal(view.last("controls"), "active");
  assert.equal(view.last("sessionId"), "s2");
  assert.deepEqual(notes(list).slice(1), [`note error: ${text}`, "note info: Reconnected; the conversation continues."]);
});

test("Start over after a failure begins a new conversation without history", async (t) => {
  const { c } = await setup(t);
  const first = await startLive(c);
  say(first, "USER", "Hello.");
  first.serverClose(1006);
  c.onStartClick(); // "Start over"
  await settle();
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(authorized("s2"));
  assert.deepEqual(historySent(FakeWebSocket.last), []);
});

test("Reconnect backs off after repeated failures within a minute, and at once after throttling", async (t) => {
  const { c, view } = await setup(t);
  const fail = async (code) => {
    const ws = await startLive(c);
    ws.serverClose(code);
  };
  await fail(4500);
  assert.deepEqual(view.calls("hold"), []);
  await fail(4500); // the second failure in a minute: wait ceil(750 ms) = 1 s
  assert.deepEqual(view.calls("hold"), [1]);
  mock.timers.tick(1000);
  assert.deepEqual(view.calls("hold"), [1, 0]);
  await fail(4500); // the third: ceil(1500 ms) = 2 s, counted down
  mock.timers.tick(1000);
  mock.timers.tick(1000);
  assert.deepEqual(view.calls("hold"), [1, 0, 2, 1, 0]);
  mock.timers.tick(61_000); // a quiet minute forgets the failures
  await fail(4500);
  assert.deepEqual(view.calls("hold"), [1, 0, 2, 1, 0]);
  mock.timers.tick(61_000);
  await fail(4429); // throttled: back off from the first failure, with the slow step (ceil(1500 ms))
  assert.deepEqual(view.calls("hold").slice(5), [2]);
  assert.equal(backoffDelay(0, { slow: true, random: () => 0.5 }), 1500);
});

test("a deployed user gets the deployed wording, and no Reconnect where it cannot help", async (t) => {
  const { c, view } = await setup(t, { settings: DEPLOYED });
  const ws = await startLive(c);
  ws.receive({ type: "error", code: "bedrock_rejected", closeCode: 4502, message: "Bedrock refused the request.", retryable: false });
  ws.serverClose(4502);
  assert.deepEqual(view.last("notice"), {
    text: "The voice service is not set up correctly, so reconnecting will not help. Please tell the site's operator.",
    detail: "Bedrock refused the request.",
    reconnect: false,
    signIn: false,
  });
  assert.equal(view.last("controls"), "idle");
});

test("an expired sign-in offers Sign in (Cognito)", async (t) => {
  const { c, view } = await setup(t, { settings: DEPLOYED });
  (await startLive(c)).serverClose(4401);
  assert.equal(view.last("notice").signIn, true);
  assert.equal(view.last("notice").reconnect, false);
});

test("Stop while reconnecting by itself cancels the reconnect", async (t) => {
  const { c, view, audio, list } = await setup(t);
  const first = await startLive(c);
  first.serverClose(1012);
  c.onStartClick(); // Stop
  assert.deepEqual(view.last("status"), ["Reconnect cancelled.", ""]);
  assert.equal(view.last("controls"), "idle");
  mock.timers.tick(60_000);
  await settle();
  assert.equal(FakeWebSocket.all.length, 1);
  assert.equal(audio.capturing, false);
  await startLive(c, "s2"); // a new conversation afterwards is not the cancelled reconnect's
  assert.equal(notes(list).at(-1), "note divider: New conversation — voice amy");
  assert.equal(c.diagnostics().reconnectAttempt, 0);
});

test("a late close of an abandoned conversation does not end the next one", async (t) => {
  const { c, view } = await setup(t);
  const first = await startLive(c, "s1");
  first.serverClose(1012);
  mock.timers.tick(350);
  await settle();
  const second = FakeWebSocket.last;
  c.onStartClick(); // Stop cancels the attempt in flight
  assert.equal(second.closedWith, 1000);
  const second2 = await startLive(c, "s3");
  second.serverClose(1006); // the abandoned attempt's close arrives late
  assert.equal(view.last("sessionId"), "s3");
  assert.deepEqual(view.last("status"), STATUS.listening);
  assert.equal(second2.closedWith, undefined);
});

test("a microphone that cannot start is explained and nothing connects", async (t) => {
  const { c, view, audio } = await setup(t);
  audio.failCapture = new MicrophoneError("Microphone access was denied.");
  c.onStartClick();
  await settle();
  assert.deepEqual(view.last("notice"), { text: "Microphone access was denied.", detail: "", reconnect: false, signIn: false });
  assert.equal(FakeWebSocket.all.length, 0);
  assert.equal(view.last("controls"), "idle");
});

test("Dismiss hides the notice and turns Start over back into Start", async (t) => {
  const { c, view } = await setup(t);
  (await startLive(c)).serverClose(1006);
  assert.equal(view.last("controls"), "retry");
  c.dismissNotice();
  assert.equal(view.last("notice"), null);
  assert.equal(view.last("controls"), "idle");
});
