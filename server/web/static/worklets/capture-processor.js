// AudioWorklet processor that turns the microphone into Nova Sonic's input format: 16 kHz, 16-bit
// signed little-endian, mono, in frames of 512 samples (32 ms).
//
// The AudioContext runs at the device's rate (usually 48 kHz or 44.1 kHz; Firefox cannot connect a
// microphone to a context of another rate), so this processor resamples:
//   1. a low-pass FIR filter (windowed sinc) removes everything above ~6.7 kHz, which would otherwise
//      fold back into the speech band as aliasing when the rate drops to 16 kHz;
//   2. output samples are read off the filtered signal every `ratio` input samples (48000/16000 = 3,
//      44100/16000 = 2.75625) by linear interpolation between the two neighbouring input samples.
// The position of the next output sample is carried from one 128-sample render quantum to the next, so
// the stream has no seams: N seconds of input always give N seconds of output, whatever the rate.
//
// Messages posted to the main thread: {type:"frame", pcm: ArrayBuffer (Int16 × 512), level: 0..1 RMS}.
// Messages accepted: {type:"stop"} ends the processor.

const TARGET_RATE = 16000;
const FRAME_SAMPLES = 512;
const TAPS = 63; // odd, so the filter is symmetric with a whole-sample delay

/** Windowed-sinc low-pass taps for cutoff `fc` (as a fraction of the input rate), Hamming window. */
function lowPass(taps, fc) {
  const h = new Float32Array(taps);
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum; // unity gain at DC
  return h;
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options?.processorOptions ?? {};
    this.targetRate = opts.targetRate ?? TARGET_RATE;
    this.frameSamples = opts.frameSamples ?? FRAME_SAMPLES;
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's rate.
    this.ratio = sampleRate / this.targetRate;
    // Filter only when the rate goes down; cut a little below the new Nyquist (8 kHz at 16 kHz).
    this.taps = this.ratio > 1 ? lowPass(TAPS, (0.42 * this.targetRate) / sampleRate) : null;
    // The filter's history, stored twice so the newest TAPS samples are always contiguous.
    this.hist = new Float32Array(2 * TAPS);
    this.histPos = 0;
    this.prev = 0; // the filtered sample before the current one
    this.frac = 0; // where the next output sample lies, in input samples after `prev` (0 <= frac < 1)
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.sumSquares = 0;
    this.stopped = false;
    this.port.onmessage = (e) => {
      if (e.data?.type === "stop") this.stopped = true;
    };
  }

  process(inputs) {
    if (this.stopped) return false;
    const input = inputs[0];
    // No channels until the microphone delivers; keep the node alive.
    if (!input || input.length === 0) return true;
    const n = input[0].length;
    for (let i = 0; i < n; i++) {
      // Mono: average the channels (most microphones already give one).
      let x = input[0][i];
      if (input.length > 1) {
        for (let c = 1; c < input.length; c++) x += input[c][i];
        x /= input.length;
      }
      this.push(this.taps ? this.filter(x) : x);
    }
    return true;
  }

  filter(x) {
    const h = this.taps;
    this.hist[this.histPos] = x;
    this.hist[this.histPos + TAPS] = x;
    this.histPos = (this.histPos + 1) % TAPS;
    // hist[histPos .. histPos+TAPS-1] is oldest → newest; the taps are symmetric, so order is moot.
    let y = 0;
    const base = this.histPos;
    for (let k = 0; k < TAPS; k++) y += h[k] * this.hist[base + k];
    return y;
  }

  /** Takes one filtered input sample `y`; emits every output sample lying between `prev` and `y`. */
  push(y) {
    while (this.frac < 1) {
      this.emit(this.prev + (y - this.prev) * this.frac);
      this.frac += this.ratio;
    }
    this.frac -= 1;
    this.prev = y;
  }

  emit(v) {
    const s = v > 1 ? 1 : v < -1 ? -1 : v;
    this.frame[this.filled++] = s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
    this.sumSquares += s * s;
    if (this.filled === this.frameSamples) {
      const level = Math.sqrt(this.sumSquares / this.frameSamples);
      // Transfer the buffer rather than copy it; a fresh one is cheap at 31 frames a second.
      this.port.postMessage({ type: "frame", pcm: this.frame.buffer, level }, [this.frame.buffer]);
      this.frame = new Int16Array(this.frameSamples);
      this.filled = 0;
      this.sumSquares = 0;
    }
  }
}

registerProcessor("capture-processor", CaptureProcessor);
