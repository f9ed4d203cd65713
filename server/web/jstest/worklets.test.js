// The AudioWorklet processors, run outside a browser: a minimal AudioWorkletGlobalScope (sampleRate,
// AudioWorkletProcessor with a port, registerProcessor) and render quanta of 128 samples.
import test from "node:test";
import assert from "node:assert/strict";

const processors = {};
class FakePort {
  constructor() { this.sent = []; this.onmessage = null; }
  postMessage(data) { this.sent.push(data); }
  deliver(data) { this.onmessage?.({ data }); }
}
globalThis.AudioWorkletProcessor = class { constructor() { this.port = new FakePort(); } };
globalThis.registerProcessor = (name, cls) => { processors[name] = cls; };
await import("../static/worklets/capture-processor.js");
await import("../static/worklets/playback-processor.js");

const QUANTUM = 128;

function newProcessor(name, rate, processorOptions = {}) {
  globalThis.sampleRate = rate;
  return new processors[name]({ processorOptions });
}

/** Feeds `seconds` of a sine at `freq` Hz to a capture processor; returns the 16 kHz output. */
function capture(rate, freq, seconds, amp = 0.5) {
  const p = newProcessor("capture-processor", rate);
  const total = Math.round(rate * seconds);
  for (let off = 0; off < total; off += QUANTUM) {
    const block = new Float32Array(QUANTUM);
    for (let i = 0; i < QUANTUM; i++) block[i] = amp * Math.sin((2 * Math.PI * freq * (off + i)) / rate);
    assert.equal(p.process([[block]], [[new Float32Array(QUANTUM)]]), true);
  }
  const frames = p.port.sent.filter((m) => m.type === "frame");
  const out = new Int16Array(frames.length * 512);
  frames.forEach((m, i) => out.set(new Int16Array(m.pcm), i * 512));
  return { out, frames };
}

const rms = (xs, from = 0) => {
  let s = 0;
  for (let i = from; i < xs.length; i++) s += (xs[i] / 32768) ** 2;
  return Math.sqrt(s / (xs.length - from));
};

for (const rate of [48000, 44100, 16000, 22050]) {
  test(`capture at ${rate} Hz gives 16 kHz in 512-sample frames, level kept`, () => {
    const { out, frames } = capture(rate, 440, 2);
    assert.ok(frames.every((m) => m.pcm.byteLength === 1024), "every frame is 1024 bytes");
    // Two seconds in → 32000 samples out, give or take the last partial frame.
    assert.ok(Math.abs(out.length - 32000) <= 512, `got ${out.length} samples`);
    // A 0.5-amplitude sine has RMS 0.354; the filter passes 440 Hz unchanged.
    assert.ok(Math.abs(rms(out, 1000) - 0.354) < 0.01, `rms ${rms(out, 1000)}`);
    assert.ok(Math.abs(frames.at(-1).level - 0.354) < 0.02, "frame level is the RMS");
  });
}

test("capture keeps a 3 kHz tone at its frequency (no pitch shift)", () => {
  const { out } = capture(44100, 3000, 1);
  // Count zero crossings: 3000 Hz → 6000 per second.
  let crossings = 0;
  for (let i = 2001; i < 14001; i++) if ((out[i - 1] < 0) !== (out[i] < 0)) crossings++;
  assert.ok(Math.abs(crossings - 4500) < 20, `crossings over 0.75 s: ${crossings}`);
});

test("capture removes what would alias (12 kHz at 48 kHz would fold to 4 kHz)", () => {
  const { out } = capture(48000, 12000, 1);
  assert.ok(rms(out, 1000) < 0.005, `aliased energy ${rms(out, 1000)}`);
});

test("capture clips instead of wrapping around", () => {
  const { out } = capture(16000, 100, 0.5, 3);
  assert.equal(Math.max(...out), 32767);
  assert.equal(Math.min(...out), -32768);
});

test("capture waits for the microphone and stops on request", () => {
  const p = newProcessor("capture-processor", 48000);
  assert.equal(p.process([[]], [[]]), true, "no channels yet");
  p.port.deliver({ type: "stop" });
  assert.equal(p.process([[new Float32Array(QUANTUM)]], [[new Float32Array(QUANTUM)]]), false);
});

// ---- playback ----

function render(p, quanta) {
  const out = [];
  for (let q = 0; q < quanta; q++) {
    const block = new Float32Array(QUANTUM);
    assert.equal(p.process([], [[block]]), true);
    out.push(...block);
  }
  return out;
}

const pcm = (values) => Int16Array.from(values).buffer;

test("playback is gapless and sample-exact at 24 kHz", () => {
  const p = newProcessor("playback-processor", 24000, { sourceRate: 24000, prebufferSeconds: 0 });
  const samples = Array.from({ length: 1000 }, (_, i) => ((i * 37) % 2000) - 1000);
  // Chunks of odd sizes, as the network delivers them.
  p.port.deliver({ type: "audio", pcm: pcm(samples.slice(0, 300)) });
  p.port.deliver({ type: "audio", pcm: pcm(samples.slice(300, 301)) });
  p.port.deliver({ type: "audio", pcm: pcm(samples.slice(301)) });
  const out = render(p, 10);
  for (let i = 0; i < 1000; i++) assert.equal(Math.round(out[i] * 0x8000), samples[i], `sample ${i}`);
  assert.ok(out.slice(1000).every((x) => x === 0), "silence after the end");
  assert.deepEqual(p.port.sent.filter((m) => m.type === "state").map((m) => m.playing), [true, false]);
  // What went to the output, reported when playback stops: 1000 samples, the loudest being -1000.
  assert.deepEqual(p.port.sent.at(-1).played, { seconds: 1000 / 24000, peak: 1000 / 0x8000 });
});

test("playback prebuffers after silence, but not forever", () => {
  const p = newProcessor("playback-processor", 24000, { sourceRate: 24000, prebufferSeconds: 0.06 });
  p.port.deliver({ type: "audio", pcm: pcm(new Array(100).fill(1000)) }); // 4 ms < 60 ms prebuffer
  const first = render(p, 5);
  assert.ok(first.every((x) => x === 0), "waits for more audio");
  const later = render(p, 10); // past 60 ms of waiting: plays what it has
  assert.equal(later.filter((x) => x !== 0).length, 100);
});

test("flush drops queued speech at once (barge-in)", () => {
  const p = newProcessor("playback-processor", 24000, { sourceRate: 24000, prebufferSeconds: 0 });
  p.port.deliver({ type: "audio", pcm: pcm(new Array(24000).fill(1000)) });
  render(p, 2);
  p.port.deliver({ type: "flush" });
  assert.ok(render(p, 3).every((x) => x === 0));
  const flushed = p.port.sent.find((m) => m.type === "flushed");
  assert.ok(Math.abs(flushed.droppedSeconds - (24000 - 256) / 24000) < 1e-9);
  assert.deepEqual(flushed.played, { seconds: 256 / 24000, peak: 1000 / 0x8000 }, "only what was rendered counts as played");
  assert.equal(p.port.sent.filter((m) => m.type === "state").at(-1).playing, false);
});

test("playback resamples when the context is not at 24 kHz", () => {
  const p = newProcessor("playback-processor", 48000, { sourceRate: 24000, prebufferSeconds: 0 });
  p.port.deliver({ type: "audio", pcm: pcm(new Array(640).fill(0).map((_, i) => i * 10)) });
  p.port.deliver({ type: "audio", pcm: pcm(new Array(640).fill(6400)) });
  const out = render(p, 30).map((x) => Math.round(x * 0x8000));
  const played = out.findLastIndex((x) => x !== 0) + 1;
  assert.ok(Math.abs(played - 2560) <= 2, `1280 samples at 24 kHz → 2560 at 48 kHz, got ${played}`);
  assert.equal(out[2], 10, "halfway samples are interpolated");
  assert.equal(out[1279], 6395, "across the chunk boundary too");
});
