// Microphone capture and speech playback, each through an AudioWorklet (worklets/*.js).
//
// Two AudioContexts:
//   - capture runs at the device's own rate: Firefox refuses to connect a microphone to a context of
//     another rate, so the capture worklet resamples to 16 kHz itself;
//   - playback runs at 24 kHz, Nova Sonic's output rate, so chunks are played sample for sample and the
//     browser resamples to the device once. (If a browser refuses 24 kHz, the worklet resamples.)
// Browsers only let an AudioContext start after a user gesture, so init() must be called from the Start
// button's click handler, before its first await.

import { INPUT_FRAME_SAMPLES, INPUT_SAMPLE_RATE, OUTPUT_SAMPLE_RATE, base64ToPcm } from "./protocol.js";

const CAPTURE_WORKLET = new URL("../worklets/capture-processor.js", import.meta.url);
const PLAYBACK_WORKLET = new URL("../worklets/playback-processor.js", import.meta.url);

/** A microphone problem, with a message for the user. */
export class MicrophoneError extends Error {}

/** How many flushes the playback statistics remember. */
const FLUSH_LOG_LENGTH = 20;

/**
 * @typedef {Object} PlaybackStats  what was played, for diagnostics and the browser tests (no audio in it)
 * @property {number} chunks            audioOutput chunks queued
 * @property {number} receivedSeconds   speech queued, in seconds
 * @property {number} playedSeconds     speech that went to the output, per the playback worklet
 * @property {number} peak              largest absolute sample played (0..1)
 * @property {{reason:string, ackMs:number, droppedSeconds:number}[]} flushes  the latest flushes: why, how
 *   long the worklet took to confirm (its output is silent from then on), and how much queued speech it dropped
 * @property {number} outputLatencyMs   the playback context's base and output latency: sound leaves the
 *   device this much after the worklet renders it
 */

export class AudioEngine {
  constructor() {
    this.captureCtx = null;
    this.playCtx = null;
    this.player = null;
    this.capture = null; // {stream, source, node} while the microphone is on
    this.ready = null; // promise: worklets loaded
    /** Called with true/false when the assistant starts or stops being heard. */
    this.onPlaying = () => {};
    /** @type {PlaybackStats} */
    this.stats = { chunks: 0, receivedSeconds: 0, playedSeconds: 0, peak: 0, flushes: [], outputLatencyMs: 0 };
    this.pendingFlushes = []; // {reason, at} of flushes the worklet has not confirmed yet, oldest first
  }

  /** Creates the contexts (synchronously, inside the user gesture) and loads the worklets. */
  init() {
    if (!this.ready) {
      const AC = globalThis.AudioContext ?? globalThis.webkitAudioContext;
      if (!AC || !globalThis.AudioWorkletNode) {
        this.ready = Promise.reject(new MicrophoneError("This browser cannot process audio (no AudioWorklet). Use a current Chrome, Edge or Firefox."));
        return this.ready;
      }
      this.captureCtx = new AC({ latencyHint: "interactive" });
      try {
        this.playCtx = new AC({ latencyHint: "interactive", sampleRate: OUTPUT_SAMPLE_RATE });
      } catch {
        this.playCtx = new AC({ latencyHint: "interactive" }); // the worklet resamples instead
      }
      this.ready = Promise.all([
        this.captureCtx.audioWorklet.addModule(CAPTURE_WORKLET),
        this.playCtx.audioWorklet.addModule(PLAYBACK_WORKLET),
      ]).catch((e) => {
        // Start afresh next time: new contexts, so no processor is registered twice.
        this.captureCtx.close();
        this.playCtx.close();
        this.ready = this.captureCtx = this.playCtx = null;
        throw new MicrophoneError(`The page's audio modules could not be loaded; is the server reachable? (${e.message})`);
      }).then(() => {
        this.player = new AudioWorkletNode(this.playCtx, "playback-processor", {
          numberOfInputs: 0,
          numberOfOutputs: 1,
          outputChannelCount: [1],
          processorOptions: { sourceRate: OUTPUT_SAMPLE_RATE },
        });
        this.player.port.onmessage = (e) => this.#onPlayerMessage(e.data);
        this.player.connect(this.playCtx.destination);
      });
    }
    // Resuming within the gesture is what lets the contexts start under autoplay rules.
    this.captureCtx?.resume();
    this.playCtx?.resume();
    return this.ready;
  }

  /**
   * Turns the microphone on. onFrame receives each 32 ms frame (ArrayBuffer of 512 Int16 samples at
   * 16 kHz); onLevel its RMS level, 0..1.
   */
  async startCapture(onFrame, onLevel) {
    await this.ready;
    if (this.capture) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new MicrophoneError("The microphone is only available on https:// pages or on localhost.");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (e) {
      throw new MicrophoneError(micErrorText(e));
    }
    await this.captureCtx.resume();
    const source = this.captureCtx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(this.captureCtx, "capture-processor", {
      numberOfInputs: 1,
      numberOfOutputs: 1, // silent; connected so that every browser keeps pulling the node
      channelCount: 1,
      channelCountMode: "explicit", // the graph mixes a stereo microphone down to mono
      processorOptions: { targetRate: INPUT_SAMPLE_RATE, frameSamples: INPUT_FRAME_SAMPLES },
    });
    node.port.onmessage = (e) => {
      if (e.data?.type !== "frame") return;
      onLevel(e.data.level);
      onFrame(e.data.pcm);
    };
    source.connect(node).connect(this.captureCtx.destination);
    // If the device goes away (unplugged, permission revoked), say so rather than send silence.
    for (const track of stream.getAudioTracks()) track.onended = () => this.onMicrophoneEnded?.();
    this.capture = { stream, source, node };
  }

  stopCapture() {
    const c = this.capture;
    if (!c) return;
    this.capture = null;
    c.node.port.postMessage({ type: "stop" });
    c.node.port.onmessage = null;
    c.source.disconnect();
    c.node.disconnect();
    for (const track of c.stream.getTracks()) {
      track.onended = null;
      track.stop();
    }
  }

  get capturing() {
    return this.capture !== null;
  }

  /** Queues one audioOutput chunk (base64 16-bit PCM at 24 kHz) for gapless playback. */
  play(base64) {
    if (!this.player) return;
    const pcm = base64ToPcm(base64);
    this.stats.chunks++;
    this.stats.receivedSeconds += pcm.length / OUTPUT_SAMPLE_RATE;
    this.player.port.postMessage({ type: "audio", pcm: pcm.buffer }, [pcm.buffer]);
  }

  /** Barge-in or stop: drops every queued sample at once. reason is kept in the statistics. */
  flush(reason = "stop") {
    if (!this.player) return;
    this.pendingFlushes.push({ reason, at: performance.now() });
    this.player.port.postMessage({ type: "flush" });
  }

  #onPlayerMessage(msg) {
    if (msg?.played) {
      this.stats.playedSeconds = msg.played.seconds;
      this.stats.peak = msg.played.peak;
    }
    if (msg?.type === "state") {
      this.onPlaying(msg.playing);
    } else if (msg?.type === "flushed") {
      // The worklet answers flushes in order; its output is silent from the moment it sent this.
      const sent = this.pendingFlushes.shift();
      if (!sent) return;
      const ctx = this.playCtx;
      this.stats.outputLatencyMs = ((ctx?.baseLatency ?? 0) + (ctx?.outputLatency ?? 0)) * 1000;
      this.stats.flushes.push({ reason: sent.reason, ackMs: performance.now() - sent.at, droppedSeconds: msg.droppedSeconds });
      if (this.stats.flushes.length > FLUSH_LOG_LENGTH) this.stats.flushes.shift();
    }
  }
}

function micErrorText(e) {
  switch (e?.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return "Microphone access was denied. Allow the microphone for this page (the icon in the address bar) and press Start again.";
    case "NotFoundError":
    case "DevicesNotFoundError":
      return "No microphone was found. Connect one and press Start again.";
    case "NotReadableError":
    case "TrackStartError":
      return "The microphone could not be opened; another application may be using it.";
    case "SecurityError":
      return "The microphone is only available on https:// pages or on localhost.";
    default:
      return `The microphone could not be started (${e?.name ?? "unknown error"}).`;
  }
}
