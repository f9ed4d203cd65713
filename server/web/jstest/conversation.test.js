// A whole conversation against a fake WebSocket: the order of what the page sends, tool answers,
// barge-in, stop, and how closes are reported.
import test from "node:test";
import assert from "node:assert/strict";
import { Conversation } from "../static/js/conversation.js";
import { FakeWebSocket, authorized, ev } from "./fakes.js";

globalThis.WebSocket = FakeWebSocket;

function setup(extra = {}) {
  const calls = { played: [], flushes: 0, outputs: [], tools: [], states: [], closed: null, draining: 0 };
  const audio = { play: (b) => calls.played.push(b), flush: () => calls.flushes++ };
  const hooks = {
    state: (s) => calls.states.push(s),
    output: (a) => calls.outputs.push(a),
    tool: (a) => calls.tools.push(a),
    draining: () => calls.draining++,
    closed: (info) => (calls.closed = info),
  };
  const c = new Conversation({
    url: "ws://localhost:8080/interact-s2s", token: "tok", voiceId: "amy", systemPrompt: "Be brief.", audio, hooks, ...extra,
  });
  c.start();
  const ws = FakeWebSocket.last;
  return { c, ws, calls };
}

function goLive(ws, serverTools) {
  ws.open();
  ws.receive(authorized("s1", serverTools));
}

test("authorization first, then the session is opened in order", () => {
  const { c, ws, calls } = setup();
  assert.equal(ws.url, "ws://localhost:8080/interact-s2s");
  ws.open();
  assert.deepEqual(ws.sent, [{ type: "authorization", token: "Bearer tok" }]);
  assert.equal(c.state, "authorizing");
  ws.receive({ type: "authorization", status: "success", sessionId: "s1" });
  assert.deepEqual(ws.names(), ["authorization", "sessionStart", "promptStart", "contentStart", "textInput", "contentEnd", "contentStart"]);
  const [, , promptStart, sys, text, sysEnd, audio] = ws.sent;
  const p = promptStart.event.promptStart.promptName;
  assert.equal(promptStart.event.promptStart.audioOutputConfiguration.voiceId, "amy");
  assert.equal(sys.event.contentStart.role, "SYSTEM");
  assert.equal(text.event.textInput.content, "Be brief.");
  assert.equal(sysEnd.event.contentEnd.contentName, sys.event.contentStart.contentName);
  assert.equal(audio.event.contentStart.type, "AUDIO");
  for (const m of ws.sent.slice(2)) assert.equal(Object.values(m.event)[0].promptName, p);
  assert.equal(c.state, "live");
  assert.equal(c.sessionId, "s1");
  assert.deepEqual(calls.states, ["connecting", "authorizing", "live"]);
});

test("audio is sent only once live, and dropped when the socket is backed up", () => {
  const { c, ws } = setup();
  c.sendAudio(new Int16Array(512).buffer);
  assert.equal(ws.sent.length, 0);
  goLive(ws);
  const before = ws.sent.length;
  c.sendAudio(new Int16Array(512).buffer);
  const last = ws.sent.at(-1).event.audioInput;
  assert.equal(Buffer.from(last.content, "base64").length, 1024);
  assert.equal(last.contentName, ws.sent[before - 1].event.contentStart.contentName);
  ws.bufferedAmount = 10 << 20;
  c.sendAudio(new Int16Array(512).buffer);
  assert.equal(ws.sent.length, before + 1);
  assert.equal(c.droppedFrames, 1);
});

test("history is sent after the system prompt and before audio", () => {
  const { ws } = setup({ history: [{ role: "USER", text: "hi" }, { role: "ASSISTANT", text: "hello" }] });
  goLive(ws);
  const starts = ws.sent.filter((m) => m.event?.contentStart).map((m) => m.event.contentStart.role + "/" + m.event.contentStart.type);
  assert.deepEqual(starts, ["SYSTEM/TEXT", "USER/TEXT", "ASSISTANT/TEXT", "USER/AUDIO"]);
});

/** Nova Sonic asks for a tool: toolUse inside a TOOL block. */
function askTool(ws, toolName, toolUseId, content = "{}") {
  ws.receive(ev("contentStart", { contentId: `c-${toolUseId}`, type: "TOOL", role: "TOOL" }));
  ws.receive(ev("toolUse", { contentId: `c-${toolUseId}`, toolName, toolUseId, content }));
  ws.receive(ev("contentEnd", { contentId: `c-${toolUseId}`, type: "TOOL", stopReason: "TOOL_USE" }));
}

/** The toolResult events the page sent: [{toolUseId, content}] (content parsed). */
function toolResults(ws) {
  const starts = new Map();
  const out = [];
  for (const m of ws.sent) {
    const start = m.event?.contentStart;
    if (start?.type === "TOOL") starts.set(start.contentName, start.toolResultInputConfiguration.toolUseId);
    const result = m.event?.toolResult;
    if (result) out.push({ toolUseId: starts.get(result.contentName), content: JSON.parse(result.content) });
  }
  return out;
}

test("promptStart declares both tools, whatever the gateway runs", () => {
  const { ws } = setup();
  goLive(ws, ["getDateAndTimeTool", "getWeatherTool"]);
  const prompt = ws.sent.find((m) => m.event?.promptStart).event.promptStart;
  assert.deepEqual(prompt.toolConfiguration.tools.map((t) => t.toolSpec.name), ["getDateAndTimeTool", "getWeatherTool"]);
});

test("an older gateway (no serverTools): the page answers the date tool with contentStart, toolResult and contentEnd", () => {
  const { ws, calls } = setup();
  goLive(ws);
  const n = ws.sent.length;
  askTool(ws, "getDateAndTimeTool", "use-9");
  const [start, result, end] = ws.sent.slice(n);
  assert.equal(ws.sent.length, n + 3);
  assert.equal(start.event.contentStart.type, "TOOL");
  assert.equal(start.event.contentStart.role, "TOOL");
  assert.equal(start.event.contentStart.interactive, false);
  assert.equal(start.event.contentStart.toolResultInputConfiguration.toolUseId, "use-9");
  const name = start.event.contentStart.contentName;
  assert.equal(result.event.toolResult.contentName, name);
  assert.equal(typeof JSON.parse(result.event.toolResult.content).dayOfWeek, "string");
  assert.deepEqual(Object.keys(end.event.contentEnd).sort(), ["contentName", "promptName"]);
  assert.equal(end.event.contentEnd.contentName, name);
  assert.deepEqual(calls.tools, [
    { toolUseId: "use-9", toolName: "getDateAndTimeTool", state: "running", by: "browser" },
    { toolUseId: "use-9", toolName: "getDateAndTimeTool", state: "done", by: "browser" },
  ]);
});

test("tools the gateway runs are not answered by the page; its toolResult notice finishes them", () => {
  const { c, ws, calls } = setup();
  goLive(ws, ["getDateAndTimeTool", "getWeatherTool"]);
  assert.deepEqual([...c.serverTools], ["getDateAndTimeTool", "getWeatherTool"]);
  const n = ws.sent.length;
  askTool(ws, "getWeatherTool", "w1", '{"latitude":47.6,"longitude":-122.3}');
  askTool(ws, "getDateAndTimeTool", "d1");
  assert.equal(ws.sent.length, n, "nothing sent: the gateway answers both");
  ws.receive({ type: "toolResult", toolUseId: "w1", toolName: "getWeatherTool", status: "success" });
  ws.receive({ type: "toolResult", toolUseId: "d1", toolName: "getDateAndTimeTool", status: "error" });
  assert.equal(ws.sent.length, n);
  assert.deepEqual(calls.tools, [
    { toolUseId: "w1", toolName: "getWeatherTool", state: "running", by: "gateway" },
    { toolUseId: "d1", toolName: "getDateAndTimeTool", state: "running", by: "gateway" },
    { toolUseId: "w1", toolName: "getWeatherTool", state: "done", by: "gateway" },
    { toolUseId: "d1", toolName: "getDateAndTimeTool", state: "failed", by: "gateway" },
  ]);
});

test("a tool the gateway does not run is still answered by the page, once per toolUse", () => {
  const { ws, calls } = setup();
  goLive(ws, ["getWeatherTool"]);
  askTool(ws, "getWeatherTool", "w1");
  askTool(ws, "getDateAndTimeTool", "d1");
  askTool(ws, "getDateAndTimeTool", "d1"); // a repeated toolUse must not be answered twice
  askTool(ws, "lookUpStock", "x1");
  const results = toolResults(ws);
  assert.deepEqual(results.map((r) => r.toolUseId), ["d1", "x1"]);
  assert.equal(typeof results[0].content.iso, "string");
  assert.deepEqual(results[1].content, { error: "unknown tool lookUpStock" });
  assert.deepEqual(calls.tools.map((a) => `${a.toolUseId} ${a.state} ${a.by}`), [
    "w1 running gateway", "d1 running browser", "d1 done browser", "x1 running browser", "x1 failed browser",
  ]);
});

test("an older gateway: the weather, which the page cannot fetch, is answered with an error, not left hanging", () => {
  const { ws, calls } = setup();
  goLive(ws);
  askTool(ws, "getWeatherTool", "w1", '{"latitude":1,"longitude":2}');
  const [result] = toolResults(ws);
  assert.equal(result.toolUseId, "w1");
  assert.match(result.content.error, /weather is not available/);
  assert.equal(calls.tools.at(-1).state, "failed");
});

test("a gateway tool still running when the conversation closes is shown as unfinished", () => {
  const { ws, calls } = setup();
  goLive(ws, ["getWeatherTool"]);
  askTool(ws, "getWeatherTool", "w1");
  ws.serverClose(1006);
  assert.deepEqual(calls.tools.map((a) => a.state), ["running", "unfinished"]);
});

test("a gateway toolResult notice before its toolUse arrives is shown once, finished", () => {
  const { ws, calls } = setup();
  goLive(ws, ["getWeatherTool"]);
  ws.receive({ type: "toolResult", toolUseId: "w1", toolName: "getWeatherTool", status: "success" });
  askTool(ws, "getWeatherTool", "w1");
  assert.deepEqual(calls.tools, [{ toolUseId: "w1", toolName: "getWeatherTool", state: "done", by: "gateway" }]);
  assert.equal(toolResults(ws).length, 0);
});

test("speech plays, and barge-in flushes it", () => {
  const { ws, calls } = setup();
  goLive(ws);
  ws.receive(ev("contentStart", { contentId: "a", type: "AUDIO", role: "ASSISTANT" }));
  ws.receive(ev("audioOutput", { contentId: "a", content: "AAAA" }));
  assert.deepEqual(calls.played, ["AAAA"]);
  ws.receive(ev("contentEnd", { contentId: "a", type: "AUDIO", stopReason: "INTERRUPTED" }));
  assert.equal(calls.flushes, 1);
  assert.deepEqual(calls.outputs, [{ type: "bargeIn" }]);
  ws.receive(ev("audioOutput", { contentId: "a", content: "BBBB" }));
  assert.deepEqual(calls.played, ["AAAA"], "late audio of the interrupted block is dropped");
});

test("stop ends the audio, the prompt and the session, then waits for the gateway's close", () => {
  const { c, ws, calls } = setup();
  goLive(ws);
  const n = ws.sent.length;
  const audioName = ws.sent[n - 1].event.contentStart.contentName;
  c.stop();
  assert.deepEqual(ws.names().slice(n), ["contentEnd", "promptEnd", "sessionEnd"]);
  assert.equal(ws.sent[n].event.contentEnd.contentName, audioName);
  assert.deepEqual(ws.sent.at(-1), { event: { sessionEnd: {} } });
  assert.equal(c.state, "ending");
  assert.equal(ws.closedWith, undefined, "the gateway closes, not the page");
  ws.receive(ev("audioOutput", { contentId: "a", content: "AAAA" }));
  assert.deepEqual(calls.played, [], "no speech after Stop");
  ws.serverClose(1000);
  assert.equal(calls.closed.normal, true);
  assert.equal(calls.closed.userEnded, true);
  c.stop(); // a second Stop does nothing
  assert.deepEqual(ws.names().slice(n), ["contentEnd", "promptEnd", "sessionEnd"]);
});

test("a gateway error and close are reported with the gateway's words", () => {
  const { ws, calls } = setup();
  goLive(ws);
  ws.receive({ type: "draining", message: "restarting" });
  assert.equal(calls.draining, 1);
  ws.receive({ type: "error", code: "throttled", closeCode: 4429, message: "Too many requests", retryable: true });
  ws.serverClose(4429);
  assert.equal(calls.closed.code, 4429);
  assert.equal(calls.closed.retryable, true);
  assert.equal(calls.closed.backoff, true);
  assert.equal(calls.closed.detail, "Too many requests");
  assert.equal(calls.closed.wasLive, true);
});

test("a reset after the gateway's last words is the close it announced (its close frame was lost)", () => {
  {
    const { ws, calls } = setup();
    goLive(ws);
    ws.receive({ type: "draining", message: "the gateway is restarting" });
    ws.serverClose(1006);
    assert.equal(calls.closed.code, 1012);
    assert.equal(calls.closed.auto, true, "reconnects by itself, as after a 1012");
    assert.equal(calls.closed.text, "The voice service is restarting.");
  }
  {
    const { ws, calls } = setup();
    goLive(ws);
    ws.receive({ type: "error", code: "throttled", closeCode: 4429, message: "Too many requests", retryable: true });
    ws.serverClose(1006);
    assert.equal(calls.closed.code, 4429);
    assert.equal(calls.closed.backoff, true);
    assert.equal(calls.closed.detail, "Too many requests");
  }
  {
    const { ws, calls } = setup();
    goLive(ws);
    ws.serverClose(1006); // nothing said first: the connection was lost
    assert.equal(calls.closed.code, 1006);
    assert.equal(calls.closed.auto, false);
  }
});

test("a connection that never opens is explained to a deployed user without developer words", () => {
  const { ws, calls } = setup();
  ws.serverClose(1006);
  assert.equal(calls.closed.text, "Could not reach the voice service. Check your internet connection, then try again.");
  assert.equal(calls.closed.retryable, true);
  assert.equal(calls.closed.wasLive, false);
});

test("in local mode the same failure names the gateway's address and how to start it", () => {
  const { ws, calls } = setup({ local: true });
  ws.serverClose(1006);
  assert.equal(calls.closed.text,
    "Could not connect to the gateway at ws://localhost:8080/interact-s2s. Is it running? Start it with make run (or make gateway).");
});

test("Stop before the socket opens closes it quietly", () => {
  const { c, ws, calls } = setup();
  c.stop();
  assert.equal(ws.closedWith, 1000);
  ws.serverClose(1006);
  assert.equal(calls.closed.normal, true);
});
