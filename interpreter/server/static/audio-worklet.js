// The softphone's microphone path, run in the AudioWorkletGlobalScope:
// whatever rate the AudioContext runs at, the caller's audio leaves here as
// 20 ms frames of 16 kHz PCM16 (320 samples), posted to the page as
// ArrayBuffers. phone.js asks for a 16 kHz context, so the browser's own
// resampler usually does the work and the Downsampler below passes samples
// through; where a browser will not feed a microphone into a 16 kHz context
// the page falls back to the device's rate and the Downsampler low-passes
// and decimates (a windowed-sinc filter: linear interpolation would alias
// everything above 8 kHz into the speech band).
//
// The pure parts are exported so that node can test them without a browser
// (tests/server/test_pages.py); the processor is registered only where
// `registerProcessor` exists.

export const TARGET_RATE = 16000;
export const FRAME_SAMPLES = 320; // 20 ms at 16 kHz: what the media stream carries
const PHASES = 256; // fractional positions a kernel is cached for
const ZEROS_PER_SIDE = 24; // filter zero crossings each side (of the output rate)
const CUTOFF = 0.44; // of the output rate: 7,040 Hz at 16 kHz, below Nyquist's 8 kHz

// A streaming low-pass resampler from `inputRate` down to `outputRate`.
export class Downsampler {
  constructor(inputRate, outputRate = TARGET_RATE) {
    if (!(inputRate >= outputRate)) throw new RangeError(`cannot downsample ${inputRate} Hz to ${outputRate} Hz`);
    this.step = inputRate / outputRate; // input samples per output sample
    this.passThrough = inputRate === outputRate;
    this.half = Math.ceil(ZEROS_PER_SIDE * this.step); // kernel half-width, input samples
    this.cutoff = (CUTOFF * outputRate) / inputRate; // cycles per input sample
    this.kernels = new Map();
    this.buffer = new Float32Array(this.half); // starts with silence: the filter's history
    this.position = this.half - 1; // where the next output sample lies in `buffer`
  }

  // Output samples for the next input samples (a Float32Array of any length).
  push(input) {
    if (this.passThrough) return Float32Array.from(input);
    const joined = new Float32Array(this.buffer.length + input.length);
    joined.set(this.buffer);
    joined.set(input, this.buffer.length);
    const out = [];
    let position = this.position;
    while (Math.floor(Math.round(position * PHASES) / PHASES) + this.half < joined.length) {
      const quantized = Math.round(position * PHASES);
      const base = Math.floor(quantized / PHASES);
      const kernel = this.kernel(quantized - base * PHASES);
      const first = base - this.half + 1;
      let sum = 0;
      for (let i = 0; i < kernel.length; i++) sum += joined[first + i] * kernel[i];
      out.push(sum);
      position += this.step;
    }
    // Keep only the history the next output sample still needs.
    const keep = Math.max(0, Math.floor(position) - this.half + 1);
    this.buffer = joined.slice(keep);
    this.position = position - keep;
    return Float32Array.from(out);
  }

  // The filter taps for an output sample `phase / PHASES` past an input
  // sample, normalized to unit gain at 0 Hz.
  kernel(phase) {
    let taps = this.kernels.get(phase);
    if (taps !== undefined) return taps;
    const fraction = phase / PHASES;
    taps = new Float32Array(2 * this.half);
    let total = 0;
    for (let i = 0; i < taps.length; i++) {
      const distance = i - this.half + 1 - fraction; // input sample minus output position
      const x = 2 * this.cutoff * distance;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const u = distance / this.half; // -1..1 across the window
      const blackman = Math.abs(u) >= 1 ? 0 : 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      taps[i] = sinc * blackman;
      total += taps[i];
    }
    for (let i = 0; i < taps.length; i++) taps[i] /= total;
    this.kernels.set(phase, taps);
    return taps;
  }
}

// Samples in 16 kHz, whole 20 ms frames of PCM16 out (little-endian bytes).
export class Framer {
  constructor(size = FRAME_SAMPLES) {
    this.size = size;
    this.pending = new Int16Array(size);
    this.filled = 0;
  }

  // The frames these samples complete, each an ArrayBuffer of `2 * size` bytes.
  push(samples) {
    const frames = [];
    for (let i = 0; i < samples.length; i++) {
      const clamped = Math.max(-1, Math.min(1, samples[i]));
      this.pending[this.filled++] = Math.round(clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff);
      if (this.filled === this.size) {
        frames.push(littleEndian(this.pending));
        this.filled = 0;
      }
    }
    return frames;
  }
}

function littleEndian(samples) {
  const bytes = new ArrayBuffer(samples.length * 2);
  const view = new DataView(bytes);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i], true);
  return bytes;
}

if (typeof registerProcessor === "function") {
  // The microphone's first channel in; frames out through the port.
  class CaptureProcessor extends AudioWorkletProcessor {
    constructor() {
      super();
      this.downsampler = new Downsampler(sampleRate); // the context's rate (a worklet global)
      this.framer = new Framer();
    }

    process(inputs) {
      const channel = inputs[0] && inputs[0][0];
      if (channel) {
        for (const frame of this.framer.push(this.downsampler.push(channel))) {
          this.port.postMessage(frame, [frame]);
        }
      }
      return true; // keep running while the page holds the node
    }
  }
  registerProcessor("pcm16-capture", CaptureProcessor);
}
