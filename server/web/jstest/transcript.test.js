// The transcript: what a reader sees line by line, what is carried over as history after a reconnect,
// tool lines, and when the list follows new lines.
import test from "node:test";
import assert from "node:assert/strict";
import { FakeResizeObserver, LINE_HEIGHT, installDOM, lines } from "./fakes.js";
import { Transcript, toolText } from "../static/js/transcript.js";

function setup(opts) {
  const list = installDOM(opts);
  return { list, t: new Transcript(list) };
}

/** The text segments of a message line as [text, classes]. */
function segments(li) {
  const body = li.lastElementChild;
  return body.children.map((s) => [s.textContent, s.className]);
}

test("each speaker's turn is one line; text blocks of a turn are joined with a space", () => {
  const { list, t } = setup();
  t.addText("USER", "FINAL", "Hello there. ");
  t.addText("USER", "FINAL", " How are you?");
  t.addText("ASSISTANT", "FINAL", "Fine.");
  assert.deepEqual(lines(list), ["message user: You: Hello there. How are you?", "message assistant: Assistant: Fine."]);
  assert.equal(list.children[0].dataset.role, "USER");
});

test("speculative text is greyed and hidden from screen readers, then replaced block by block by the final text", () => {
  const { list, t } = setup();
  t.addText("ASSISTANT", "SPECULATIVE", "It is sunny.");
  t.addText("ASSISTANT", "SPECULATIVE", "Take a hat.");
  const li = list.children[0];
  assert.deepEqual(segments(li), [["It is sunny.", "segment speculative"], [" Take a hat.", "segment speculative"]]);
  assert.equal(li.lastElementChild.children[0].getAttribute("aria-hidden"), "true");
  t.addText("ASSISTANT", "FINAL", "It is sunny today.");
  assert.deepEqual(segments(li), [["It is sunny today.", "segment"], [" Take a hat.", "segment speculative"]]);
  assert.equal(li.lastElementChild.children[0].getAttribute("aria-hidden"), null, "spoken text is read out");
  t.addText("ASSISTANT", "FINAL", "Take a hat.");
  assert.deepEqual(segments(li), [["It is sunny today.", "segment"], ["Take a hat.", "segment"]]);
  assert.equal(list.children.length, 1);
});

test("barge-in strikes out what was never said and marks the line once", () => {
  const { list, t } = setup();
  t.addText("ASSISTANT", "SPECULATIVE", "One.");
  t.addText("ASSISTANT", "SPECULATIVE", "Two.");
  t.addText("ASSISTANT", "FINAL", "One.");
  t.interrupted();
  t.interrupted(); // the second barge-in signal of the same turn
  const li = list.children[0];
  assert.equal(li.className, "message assistant interrupted");
  assert.deepEqual(segments(li), [["One.", "segment"], [" Two.", "segment speculative unspoken"], [" (interrupted)", "interrupted-mark"]]);
  t.addText("USER", "FINAL", "Stop.");
  t.interrupted(); // not the assistant's line: nothing to mark
  assert.equal(list.children[1].className, "message user");
});

test("after the assistant's turn ends, its next text starts a new line", () => {
  const { list, t } = setup();
  t.addText("ASSISTANT", "FINAL", "First answer.");
  t.endTurn();
  t.addText("ASSISTANT", "FINAL", "Second answer.");
  assert.deepEqual(lines(list), ["message assistant: Assistant: First answer.", "message assistant: Assistant: Second answer."]);
});

test("notes are their own lines, and the next text starts a new line", () => {
  const { list, t } = setup();
  t.addText("USER", "FINAL", "a");
  t.addNote("Reconnected; the conversation continues.");
  t.addText("USER", "FINAL", "b");
  t.addNote("The connection was lost.", "error");
  assert.deepEqual(lines(list), [
    "message user: You: a",
    "note info: Reconnected; the conversation continues.",
    "message user: You: b",
    "note error: The connection was lost.",
  ]);
});

test("history: the final text since the last divider, oldest first, one entry per speaker's turn", () => {
  const { t } = setup();
  t.addText("USER", "FINAL", "old conversation");
  t.addNote("New conversation — voice amy", "divider");
  t.addText("USER", "FINAL", "What is the time?");
  t.addText("ASSISTANT", "SPECULATIVE", "It is noon.");
  t.addText("ASSISTANT", "FINAL", "It is noon.");
  t.addText("ASSISTANT", "SPECULATIVE", "Never said.");
  t.addNote("The voice service is restarting. Reconnecting…");
  t.tool({ toolUseId: "u1", toolName: "getDateAndTimeTool", state: "done" });
  t.addText("ASSISTANT", "FINAL", "Anything else?");
  t.endTurn();
  t.addText("USER", "SPECULATIVE", "Yes."); // USER text is always final; the stage is ignored
  assert.deepEqual(t.history(), [
    { role: "USER", text: "What is the time?" },
    { role: "ASSISTANT", text: "It is noon. Anything else?" },
    { role: "USER", text: "Yes." },
  ]);
});

test("history is empty after Clear and before anything was said", () => {
  const { list, t } = setup();
  assert.deepEqual(t.history(), []);
  t.addText("USER", "FINAL", "hi");
  t.clear();
  assert.equal(list.children.length, 0);
  assert.deepEqual(t.history(), []);
});

test("a tool call is one line that follows it from running to done", () => {
  const { list, t } = setup();
  t.addText("ASSISTANT", "FINAL", "Let me look.");
  t.tool({ toolUseId: "w1", toolName: "getWeatherTool", state: "running", by: "gateway" });
  t.tool({ toolUseId: "d1", toolName: "getDateAndTimeTool", state: "running", by: "browser" });
  t.tool({ toolUseId: "w1", toolName: "getWeatherTool", state: "done", by: "gateway" });
  t.tool({ toolUseId: "d1", toolName: "getDateAndTimeTool", state: "failed", by: "browser" });
  assert.deepEqual(lines(list), [
    "message assistant: Assistant: Let me look.",
    "note tool done: Looked up the weather.",
    "note tool failed: Could not look up the date and time.",
  ]);
  assert.equal(list.children[1].dataset.toolUseId, "w1");
  t.addText("ASSISTANT", "FINAL", "It is sunny.");
  assert.equal(list.children.length, 4, "the answer after a tool line is a new line");
  t.clear();
  t.tool({ toolUseId: "w1", toolName: "getWeatherTool", state: "running" });
  assert.deepEqual(lines(list), ["note tool running: Looking up the weather…"], "Clear forgets the old lines");
});

test("tool lines say what happened in plain words, for unknown tools too", () => {
  assert.equal(toolText("getDateAndTimeTool", "running"), "Looking up the date and time…");
  assert.equal(toolText("getWeatherTool", "unfinished"), "The weather lookup did not finish: the conversation ended.");
  assert.equal(toolText("lookUpStock", "running"), "Running the tool lookUpStock…");
  assert.equal(toolText("lookUpStock", "done"), "The tool lookUpStock finished.");
  assert.equal(toolText("lookUpStock", "failed"), "The tool lookUpStock failed.");
  assert.equal(toolText("lookUpStock", "unfinished"), "The tool lookUpStock did not finish: the conversation ended.");
  assert.equal(toolText("constructor", "done"), "The tool constructor finished.", "no Object.prototype lookups");
});

test("the list follows new lines while the reader is at the bottom, and stays put while they read back", () => {
  const { list, t } = setup({ listHeight: 5 * LINE_HEIGHT });
  for (let i = 0; i < 8; i++) t.addNote(`line ${i}`);
  assert.equal(list.scrollTop, 3 * LINE_HEIGHT, "scrolled to the newest line");
  t.addText("USER", "FINAL", "newest");
  assert.equal(list.scrollTop, list.scrollHeight - list.clientHeight);
  list.scrollTop = 0; // the reader scrolls back
  list.dispatch("scroll");
  t.addText("ASSISTANT", "FINAL", "answer");
  t.addNote("another note");
  t.tool({ toolUseId: "u", toolName: "getWeatherTool", state: "running" });
  assert.equal(list.scrollTop, 0, "not pulled away from what they read");
  list.scrollTop = list.scrollHeight; // back to the bottom
  list.dispatch("scroll");
  t.addNote("follows again");
  assert.equal(list.scrollTop, list.scrollHeight - list.clientHeight);
});

test("when the list's box shrinks (a notice opens above it), the newest line stays in view", () => {
  const { list, t } = setup({ listHeight: 8 * LINE_HEIGHT });
  for (let i = 0; i < 10; i++) t.addNote(`line ${i}`);
  assert.equal(list.scrollTop, 2 * LINE_HEIGHT);
  list.clientHeight = 4 * LINE_HEIGHT; // the notice takes half of the transcript's height
  FakeResizeObserver.resizeAll();
  assert.equal(list.scrollTop, 6 * LINE_HEIGHT, "scrolled so that the last line is at the bottom again");
  list.scrollTop = 0; // the reader scrolls back to read
  list.dispatch("scroll");
  list.clientHeight = 3 * LINE_HEIGHT;
  FakeResizeObserver.resizeAll();
  assert.equal(list.scrollTop, 0, "a reader who scrolled back is left where they are");
});
