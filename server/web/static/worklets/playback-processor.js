// AudioWorklet processor that plays Nova Sonic's speech (16-bit PCM, 24 kHz mono) without gaps.
//
// The main thread posts each audioOutput chunk as it arrives; chunks come in bursts, faster than real
// time, so they wait here in a FIFO queue and are played back to back, 128 samples per render quantum,
// at the audio clock's pace: no timers are involved, so nothing can drift or overlap.
//
// Jitter: after silence, playback starts only once PREBUFFER_SECONDS of audio is queued (or the first
// chunk has waited that long), so a slightly late second chunk does not cause a click and a gap. If the
// queue runs dry mid-answer, the processor outputs silence and prebuffers again.
//
// Barge-in: {type:"flush"} drops everything queued at once, so the assistant stops talking within one
// render quantum (~3 ms) of the message arriving.
//
// The context normally runs at 24 kHz (the page asks for it). If a browser refused that rate, the
// processor resamples by linear interpolation from `sourceRate` to the context's `sampleRate`.
//
// Messages accepted: {type:"audio", pcm: ArrayBuffer of Int16 samples}, {type:"flush"}.
// Messages posted:   {type:"state", playing: boolean, played} when speech starts or stops;
//                    {type:"flushed", droppedSeconds, played} after a flush.
// `played` counts what actually went to the output since the processor started: {seconds, peak}, peak being
// the largest absolute sample (0..1). It lets the page (and its browser tests) tell speech that was heard
// from speech that was only received.

const PREBUFFER_SECONDS = 0.06;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options?.processorOptions ?? {};
    this.sourceRate = opts.sourceRate ?? 24000;
    this.step = this.sourceRate / sampleRate; // source samples per output sample
    this.prebuffer = Math.round((opts.prebufferSeconds ?? PREBUFFER_SECONDS) * this.sourceRate);
    this.queue = []; // Float32Array chunks, oldest first
    this.pos = 0; // read position (fractional) in queue[0]
    this.queued = 0; // samples in the queued chunks, the played part of queue[0] included
    this.playing = false;
    this.waited = 0; // output samples spent waiting for the prebuffer
    this.playedSamples = 0; // output samples taken from the queue
    this.peak = 0; // largest absolute output sample so far
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg?.type === "audio") {
      const pcm = new Int16Array(msg.pcm);
      if (pcm.length === 0) return;
      const f = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 0x8000;
      this.queue.push(f);
      this.queued += f.length;
    } else if (msg?.type === "flush") {
      const droppedSeconds = this.remaining() / this.sourceRate;
      this.queue = [];
      this.pos = 0;
      this.queued = 0;
      this.waited = 0;
      this.setPlaying(false);
      this.port.postMessage({ type: "flushed", droppedSeconds, played: this.played() });
    }
  }

  setPlaying(playing) {
    if (this.playing === playing) return;
    this.playing = playing;
    this.port.postMessage({ type: "state", playing, played: this.played() });
  }

  played() {
    return { seconds: this.playedSamples / sampleRate, peak: this.peak };
  }

  /** Samples still to play. `queued` counts whole chunks; the head chunk is partly played. */
  remaining() {
    return this.queued - Math.floor(this.pos);
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    const n = out.length;
    if (!this.playing) {
      if (this.queued === 0) return true; // outputs are zero-filled already
      this.waited += n;
      if (this.remaining() < this.prebuffer && this.waited * this.step < this.prebuffer) return true;
      this.waited = 0;
      this.setPlaying(true);
    }
    let i = 0;
    while (i < n && this.queue.length > 0) {
      const chunk = this.queue[0];
      const idx = Math.floor(this.pos);
      if (this.step === 1) {
        // Same rate: copy straight from the chunk.
        const take = Math.min(n - i, chunk.length - idx);
        out.set(chunk.subarray(idx, idx + take), i);
        i += take;
        this.pos += take;
      } else {
        // Linear interpolation; the right neighbour may be the first sample of the next chunk.
        const t = this.pos - idx;
        const a = chunk[idx];
        const b = idx + 1 < chunk.length ? chunk[idx + 1] : this.queue.length > 1 ? this.queue[1][0] : a;
        out[i++] = a + (b - a) * t;
        this.pos += this.step;
      }
      while (this.queue.length > 0 && this.pos >= this.queue[0].length) {
        this.pos -= this.queue[0].length;
        this.queued -= this.queue[0].length;
        this.queue.shift();
      }
    }
    this.playedSamples += i;
    for (let k = 0; k < i; k++) {
      const a = Math.abs(out[k]);
      if (a > this.peak) this.peak = a;
    }
    // Mirror to any extra output channels (a stereo destination).
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (this.queue.length === 0) {
      this.queued = 0;
      this.pos = 0;
      this.setPlaying(false); // ran dry: the answer ended, or the network is late
    }
    return true;
  }
}

registerProcessor("playback-processor", PlaybackProcessor);
