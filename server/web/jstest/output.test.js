// How Nova Sonic's output events become transcript lines, playback and barge-in.
import test from "node:test";
import assert from "node:assert/strict";
import { OutputTracker, generationStage, isInterruptedMarker } from "../static/js/output.js";

const SPEC = '{"generationStage":"SPECULATIVE"}';
const FINAL = '{"generationStage":"FINAL"}';

test("user and assistant text with their generation stage", () => {
  const t = new OutputTracker();
  t.handle("contentStart", { contentId: "u", type: "TEXT", role: "USER", additionalModelFields: FINAL });
  assert.deepEqual(t.handle("textOutput", { contentId: "u", role: "USER", content: "hello" }), [
    { type: "text", role: "USER", stage: "FINAL", text: "hello", contentId: "u" },
  ]);
  t.handle("contentStart", { contentId: "s", type: "TEXT", role: "ASSISTANT", additionalModelFields: SPEC });
  assert.equal(t.handle("textOutput", { contentId: "s", role: "ASSISTANT", content: "Hi there." })[0].stage, "SPECULATIVE");
  t.handle("contentStart", { contentId: "f", type: "TEXT", role: "ASSISTANT", additionalModelFields: FINAL });
  assert.equal(t.handle("textOutput", { contentId: "f", role: "ASSISTANT", content: "Hi there." })[0].stage, "FINAL");
  assert.deepEqual(t.handle("contentEnd", { contentId: "f", type: "TEXT", stopReason: "END_TURN" }), [
    { type: "turnEnd", role: "ASSISTANT", interrupted: false },
  ]);
  assert.deepEqual(t.handle("textOutput", { contentId: "u", role: "USER", content: "  " }), [], "blank text is skipped");
});

test("audio is passed on", () => {
  const t = new OutputTracker();
  t.handle("contentStart", { contentId: "a", type: "AUDIO", role: "ASSISTANT" });
  assert.deepEqual(t.handle("audioOutput", { contentId: "a", content: "AAAA" }), [{ type: "audio", base64: "AAAA" }]);
});

test("barge-in by the interrupted marker flushes and drops the cut-off speech", () => {
  const t = new OutputTracker();
  t.handle("contentStart", { contentId: "a", type: "AUDIO", role: "ASSISTANT" });
  t.handle("contentStart", { contentId: "x", type: "TEXT", role: "ASSISTANT", additionalModelFields: FINAL });
  assert.deepEqual(t.handle("textOutput", { contentId: "x", role: "ASSISTANT", content: '{ "interrupted" : true }' }), [{ type: "bargeIn" }]);
  assert.deepEqual(t.handle("audioOutput", { contentId: "a", content: "AAAA" }), [], "late audio of the interrupted block");
  t.handle("contentStart", { contentId: "b", type: "AUDIO", role: "ASSISTANT" });
  assert.equal(t.handle("audioOutput", { contentId: "b", content: "BBBB" }).length, 1, "the next answer plays");
});

test("barge-in by contentEnd INTERRUPTED", () => {
  const t = new OutputTracker();
  t.handle("contentStart", { contentId: "a", type: "AUDIO", role: "ASSISTANT" });
  assert.deepEqual(t.handle("contentEnd", { contentId: "a", type: "AUDIO", stopReason: "INTERRUPTED" }), [{ type: "bargeIn" }]);
  assert.deepEqual(t.handle("audioOutput", { contentId: "a", content: "AAAA" }), []);
});

test("an interrupted final text block also ends the turn", () => {
  const t = new OutputTracker();
  t.handle("contentStart", { contentId: "f", type: "TEXT", role: "ASSISTANT", additionalModelFields: FINAL });
  assert.deepEqual(t.handle("contentEnd", { contentId: "f", type: "TEXT", stopReason: "INTERRUPTED" }), [
    { type: "bargeIn" },
    { type: "turnEnd", role: "ASSISTANT", interrupted: true },
  ]);
});

test("a tool call is answered when its TOOL block ends", () => {
  const t = new OutputTracker();
  t.handle("contentStart", { contentId: "t", type: "TOOL", role: "TOOL" });
  assert.deepEqual(t.handle("toolUse", { contentId: "t", toolName: "getDateAndTimeTool", toolUseId: "u1", content: '{"a":1}' }), [
    { type: "toolUse", toolName: "getDateAndTimeTool", toolUseId: "u1" },
  ], "shown as running at once");
  assert.deepEqual(t.handle("contentEnd", { contentId: "t", type: "TOOL", stopReason: "TOOL_USE" }), [
    { type: "toolCall", toolName: "getDateAndTimeTool", toolUseId: "u1", input: { a: 1 } },
  ]);
  assert.deepEqual(t.handle("contentEnd", { contentId: "t2", type: "TOOL" }), [], "answered once");
});

test("other events are ignored", () => {
  const t = new OutputTracker();
  for (const name of ["completionStart", "completionEnd", "usageEvent", "somethingNew"]) assert.deepEqual(t.handle(name, {}), []);
});

test("helpers", () => {
  assert.equal(generationStage(SPEC), "SPECULATIVE");
  assert.equal(generationStage(FINAL), "FINAL");
  assert.equal(generationStage(undefined), "FINAL");
  assert.equal(generationStage("not json"), "FINAL");
  assert.equal(isInterruptedMarker('{"interrupted":true}'), true);
  assert.equal(isInterruptedMarker('{"interrupted":false}'), false);
  assert.equal(isInterruptedMarker("{interrupted}"), false);
  assert.equal(isInterruptedMarker("I was interrupted"), false);
});
