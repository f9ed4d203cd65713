// Shapes of the messages the page sends (server/PROTOCOL.md and the Nova Sonic input events).
import test from "node:test";
import assert from "node:assert/strict";
import * as p from "../static/js/protocol.js";

test("authorization carries a bearer token", () => {
  assert.deepEqual(p.authorization("local-dev-token"), { type: "authorization", token: "Bearer local-dev-token" });
});

test("sessionStart", () => {
  assert.deepEqual(p.sessionStart(), {
    event: {
      sessionStart: {
        inferenceConfiguration: { maxTokens: 1024, topP: 0.9, temperature: 0.7 },
        turnDetectionConfiguration: { endpointingSensitivity: "MEDIUM" },
      },
    },
  });
});

test("promptStart asks for 24 kHz speech in the chosen voice and declares the date and weather tools", () => {
  const body = p.promptStart("prompt-1", "tiffany").event.promptStart;
  assert.equal(body.promptName, "prompt-1");
  assert.deepEqual(body.textOutputConfiguration, { mediaType: "text/plain" });
  assert.deepEqual(body.audioOutputConfiguration, {
    mediaType: "audio/lpcm", sampleRateHertz: 24000, sampleSizeBits: 16, channelCount: 1,
    voiceId: "tiffany", encoding: "base64", audioType: "SPEECH",
  });
  assert.deepEqual(body.toolUseOutputConfiguration, { mediaType: "application/json" });
  const [date, weather, ...rest] = body.toolConfiguration.tools;
  assert.deepEqual(rest, []);
  assert.equal(date.toolSpec.name, "getDateAndTimeTool");
  assert.equal(typeof date.toolSpec.inputSchema.json, "string", "inputSchema.json must be a JSON string");
  assert.deepEqual(JSON.parse(date.toolSpec.inputSchema.json), { type: "object", properties: {}, required: [] });
  assert.equal(weather.toolSpec.name, "getWeatherTool");
  assert.equal(typeof weather.toolSpec.inputSchema.json, "string");
  const schema = JSON.parse(weather.toolSpec.inputSchema.json);
  assert.equal(schema.type, "object");
  assert.deepEqual(schema.required, ["latitude", "longitude"]);
  assert.deepEqual(Object.keys(schema.properties), ["latitude", "longitude"]);
  assert.equal(schema.properties.latitude.type, "number");
  assert.equal(schema.properties.longitude.type, "number");
  for (const { toolSpec } of [date, weather]) assert.ok(toolSpec.description.length > 20, toolSpec.name);
});

test("system prompt is one SYSTEM text block with the whole prompt", () => {
  const prompt = "x".repeat(5000);
  const evs = p.systemPrompt("p", "c", prompt);
  assert.equal(evs.length, 3);
  assert.deepEqual(evs[0], {
    event: {
      contentStart: {
        promptName: "p", contentName: "c", type: "TEXT", role: "SYSTEM", interactive: false,
        textInputConfiguration: { mediaType: "text/plain" },
      },
    },
  });
  assert.deepEqual(evs[1], { event: { textInput: { promptName: "p", contentName: "c", content: prompt } } });
  assert.deepEqual(evs[2], { event: { contentEnd: { promptName: "p", contentName: "c" } } });
});

test("audio contentStart and audioInput", () => {
  assert.deepEqual(p.audioContentStart("p", "a").event.contentStart, {
    promptName: "p", contentName: "a", type: "AUDIO", role: "USER", interactive: true,
    audioInputConfiguration: {
      mediaType: "audio/lpcm", sampleRateHertz: 16000, sampleSizeBits: 16, channelCount: 1,
      audioType: "SPEECH", encoding: "base64",
    },
  });
  assert.deepEqual(p.audioInput("p", "a", "AAA="), { event: { audioInput: { promptName: "p", contentName: "a", content: "AAA=" } } });
});

test("tool result: contentStart TOOL, toolResult with a JSON string, contentEnd", () => {
  const [start, result, end] = p.toolResult("p", "t", "use-1", { ok: true });
  assert.deepEqual(start.event.contentStart, {
    promptName: "p", contentName: "t", interactive: false, type: "TOOL", role: "TOOL",
    toolResultInputConfiguration: { toolUseId: "use-1", type: "TEXT", textInputConfiguration: { mediaType: "text/plain" } },
  });
  assert.deepEqual(result.event.toolResult, { promptName: "p", contentName: "t", content: '{"ok":true}' });
  assert.deepEqual(end.event.contentEnd, { promptName: "p", contentName: "t" });
});

test("closing events", () => {
  assert.deepEqual(p.contentEnd("p", "a"), { event: { contentEnd: { promptName: "p", contentName: "a" } } });
  assert.deepEqual(p.promptEnd("p"), { event: { promptEnd: { promptName: "p" } } });
  assert.deepEqual(p.sessionEnd(), { event: { sessionEnd: {} } });
});

test("a 512-sample frame is 1024 bytes of little-endian PCM", () => {
  const frame = new Int16Array(512);
  frame[0] = 1; frame[1] = -2; frame[511] = 32767;
  const b64 = p.pcmToBase64(frame);
  const bytes = Buffer.from(b64, "base64");
  assert.equal(bytes.length, 1024);
  assert.equal(bytes.readInt16LE(0), 1);
  assert.equal(bytes.readInt16LE(2), -2);
  assert.equal(bytes.readInt16LE(1022), 32767);
  assert.deepEqual(p.base64ToPcm(b64), frame);
  assert.deepEqual(p.pcmToBase64(frame.buffer), b64, "accepts the ArrayBuffer the worklet transfers");
});

test("base64ToPcm drops an odd trailing byte", () => {
  assert.equal(p.base64ToPcm(Buffer.from([1, 0, 2]).toString("base64")).length, 1);
});

test("splitUtf8 never splits a character and respects the byte limit", () => {
  const s = "héllo wörld 🎙️ ".repeat(200);
  const pieces = p.splitUtf8(s, 1000);
  assert.equal(pieces.join(""), s);
  for (const piece of pieces) assert.ok(Buffer.byteLength(piece) <= 1000);
  assert.deepEqual(p.splitUtf8("", 10), [""]);
});

test("history keeps the newest messages within 38 KiB and starts with the user", () => {
  const long = "a".repeat(20000);
  const history = [
    { role: "USER", text: long },
    { role: "ASSISTANT", text: long },
    { role: "USER", text: "hi" },
    { role: "ASSISTANT", text: "hello" },
  ];
  let n = 0;
  const evs = p.historyBlocks("p", history, () => `c${n++}`);
  const starts = evs.filter((e) => e.event.contentStart).map((e) => e.event.contentStart);
  // The first 20 kB user line no longer fits; the assistant line that would then lead is dropped too.
  assert.deepEqual(starts.map((s) => s.role), ["USER", "ASSISTANT"]);
  assert.ok(starts.every((s) => s.type === "TEXT" && s.interactive === false));
  assert.deepEqual(p.historyBlocks("p", []), []);
  const big = p.historyBlocks("p", [{ role: "USER", text: long }], () => "c");
  assert.equal(big.filter((e) => e.event.textInput).length, 20, "split into 1000-byte textInputs");
});

test("the page runs the date tool; the weather and unknown tools get an error result", () => {
  const { ok, result } = p.runTool("getDateAndTimeTool", {}, new Date("2026-03-04T05:06:07Z"));
  assert.equal(ok, true);
  assert.equal(result.iso, "2026-03-04T05:06:07.000Z");
  assert.equal(result.dayOfWeek, "Wednesday");
  for (const k of ["date", "time", "timeZone"]) assert.equal(typeof result[k], "string");
  assert.deepEqual(p.runTool("getWeatherTool", { latitude: 1, longitude: 2 }), {
    ok: false,
    result: { error: "The weather is not available: this voice service does not run the weather tool." },
  });
  assert.deepEqual(p.runTool("rm -rf", {}), { ok: false, result: { error: "unknown tool rm -rf" } });
  assert.equal(p.runTool("toString", {}).ok, false, "only the page's own tools, not Object.prototype's");
});

test("uuid", () => {
  assert.match(p.uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
