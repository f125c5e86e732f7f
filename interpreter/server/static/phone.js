// The browser softphone (/phone): talk to a flow through the microphone.
//
// The call is a media stream in the `callkernel` dialect (docs/media-streams.md):
// the Twilio message shape with 16 kHz little-endian PCM16, over
// /v1/media/callkernel. The page plays the provider's part — it sends
// `connected`, `start`, a `media` frame every 20 ms and `stop`; it plays the
// agent's `media`, answers each `mark` once the audio sent before it has
// played, and on `clear` drops what is queued and answers the pending marks.
// The server's first message, `call`, names the call; what the call does is
// read from its follow socket (/v1/calls/{id}/ws).
//
// The message builders are pure and exported, so node can check them without
// a browser (tests/server/test_pages.py); the record view is records.js,
// shared with the console. The page itself starts only where there is a
// document.

import { describeRecord, followCall, lineItem } from "./records.js";
import { api, token, tokenForm } from "./session.js";

export const MEDIA_PATH = "/v1/media/callkernel";
export const SAMPLE_RATE = 16000;
export const FLOW_PARAMETER = "callkernel_flow"; // names the flow (docs/softphone.md)
export const TOKEN_PARAMETER = "callkernel_token";
const PLAY_LEAD_S = 0.06; // queued audio starts this far ahead when the queue ran dry

// ------------------------------------------------------------ the wire

export function connectedMessage() {
  return { event: "connected", protocol: "Call", version: "1.0.0" };
}

export function startMessage({ streamSid, callSid, flow, token, sequence = 1 }) {
  return {
    event: "start", sequenceNumber: String(sequence), streamSid,
    start: {
      streamSid, callSid, tracks: ["inbound"],
      customParameters: { [FLOW_PARAMETER]: flow, from: "softphone", [TOKEN_PARAMETER]: token },
      mediaFormat: { encoding: "audio/x-L16", sampleRate: SAMPLE_RATE, channels: 1 },
    },
  };
}

export function mediaMessage({ streamSid, sequence, chunk, payload }) {
  return {
    event: "media", sequenceNumber: String(sequence), streamSid,
    media: { track: "inbound", chunk: String(chunk), timestamp: String((chunk - 1) * 20), payload },
  };
}

export function markMessage({ streamSid, sequence, name }) {
  return { event: "mark", sequenceNumber: String(sequence), streamSid, mark: { name } };
}

export function stopMessage({ streamSid, callSid, sequence }) {
  return { event: "stop", sequenceNumber: String(sequence), streamSid, stop: { callSid } };
}

export function randomId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function bytesToBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return btoa(text);
}

// A base64 payload of little-endian PCM16 → samples in -1..1.
export function base64ToSamples(payload) {
  const text = atob(payload);
  const view = new DataView(new ArrayBuffer(text.length));
  for (let i = 0; i < text.length; i++) view.setUint8(i, text.charCodeAt(i));
  const samples = new Float32Array(text.length >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 0x8000;
  return samples;
}

// Marks waiting for the audio before them to play: each is due at the time
// (on the AudioContext's clock) the audio queued before it ends.
export class MarkQueue {
  constructor() { this.waiting = []; }
  add(name, at) { this.waiting.push({ name, at }); }
  due(now) {
    const names = [];
    while (this.waiting.length && this.waiting[0].at <= now) names.push(this.waiting.shift().name);
    return names;
  }
  clear() { return this.waiting.splice(0).map((mark) => mark.name); }
}

// ------------------------------------------------------------ the page

if (typeof document !== "undefined") main();

function main() {
  const $ = (id) => document.getElementById(id);
  let call = null; // the call in progress

  const status = (text) => { $("status").textContent = text; };

  const showToken = tokenForm($, (saved) => {
    $("call").disabled = !saved || call !== null;
    if (saved) loadFlows().catch((error) => status(`could not list flows: ${error.message}`));
  });

  async function loadFlows() {
    const { flows, bound } = await api("/v1/flows");
    const names = [...flows.filter((flow) => flow.live !== null).map((flow) => flow.name), ...bound.map((flow) => flow.name)];
    const select = $("flow");
    const chosen = select.value;
    select.replaceChildren(...names.sort().map((name) => new Option(name, name, false, name === chosen)));
    status(names.length ? "ready" : "no flow has a live version: publish one (/console)");
  }

  $("call").addEventListener("click", () => {
    startCall($("flow").value).catch((error) => { status(`call failed: ${error.message}`); endCall(); });
  });
  $("hangup").addEventListener("click", () => hangUp());

  async function startCall(flow) {
    if (!flow) throw new Error("pick a flow");
    for (const id of ["transcript", "tools", "events"]) $(id).replaceChildren();
    $("context").textContent = $("step").textContent = $("call-id").textContent = "—";
    const streamSid = randomId("MZ");
    call = { streamSid, callSid: randomId("CA"), sequence: 0, chunk: 0, marks: new MarkQueue(), sources: new Set() };
    $("call").disabled = true;
    $("hangup").disabled = false;
    status("asking for the microphone…");
    call.microphone = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    call.context = audioContext(call.microphone);
    call.playHead = 0;
    await call.context.audioWorklet.addModule("/static/audio-worklet.js");
    const capture = new AudioWorkletNode(call.context, "pcm16-capture");
    // The worklet outputs silence; connected through a muted gain so every
    // browser keeps pulling it.
    const mute = new GainNode(call.context, { gain: 0 });
    call.source.connect(capture).connect(mute).connect(call.context.destination);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${MEDIA_PATH}`);
    call.socket = socket;
    status("connecting…");
    socket.onopen = () => {
      send(connectedMessage());
      send(startMessage({ streamSid, callSid: call.callSid, flow, token: token(), sequence: ++call.sequence }));
      capture.port.onmessage = (event) => {
        // Frames still in flight from the worklet after a hang-up are dropped.
        if (call === null || call.streamSid !== streamSid) return;
        const chunk = ++call.chunk;
        send(mediaMessage({ streamSid, sequence: ++call.sequence, chunk, payload: bytesToBase64(event.data) }));
      };
      status("in call");
      call.ticker = setInterval(answerMarks, 20);
    };
    socket.onmessage = (event) => received(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (call && call.socket === socket) {
        status(`call over: ${event.reason || "socket closed"} (${event.code})`);
        endCall();
      }
    };
  }

  // A 16 kHz context lets the browser resample the microphone; a browser
  // that will not feed a microphone into it gets one at the device's rate
  // (the worklet then downsamples itself).
  function audioContext(microphone) {
    try {
      const context = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
      call.source = context.createMediaStreamSource(microphone);
      return context;
    } catch {
      const context = new AudioContext({ latencyHint: "interactive" });
      call.source = context.createMediaStreamSource(microphone);
      return context;
    }
  }

  function send(message) {
    if (call && call.socket.readyState === WebSocket.OPEN) call.socket.send(JSON.stringify(message));
  }

  function received(message) {
    switch (message.event) {
      case "media": play(base64ToSamples(message.media.payload)); break;
      case "mark": call.marks.add(message.mark.name, call.playHead); answerMarks(); break;
      case "clear": clearAudio(); break;
      case "call": follow(message.call.callId); break; // the server's first message
    }
  }

  function play(samples) {
    const { context } = call;
    const buffer = context.createBuffer(1, samples.length, SAMPLE_RATE); // resampled by the browser
    buffer.copyToChannel(samples, 0);
    const source = new AudioBufferSourceNode(context, { buffer });
    source.connect(context.destination);
    call.playHead = Math.max(call.playHead, context.currentTime + PLAY_LEAD_S);
    source.start(call.playHead);
    call.playHead += buffer.duration;
    call.sources.add(source);
    source.onended = () => call && call.sources.delete(source);
  }

  function answerMarks() {
    if (!call) return;
    for (const name of call.marks.due(call.context.currentTime)) send(markMessage({ streamSid: call.streamSid, sequence: ++call.sequence, name }));
  }

  function clearAudio() {
    for (const source of call.sources) source.stop();
    call.sources.clear();
    call.playHead = call.context.currentTime;
    for (const name of call.marks.clear()) send(markMessage({ streamSid: call.streamSid, sequence: ++call.sequence, name }));
  }

  function follow(callId) {
    $("call-id").textContent = callId;
    followCall(callId, token(), (record) => render(describeRecord(record)),
               (note) => line("events", note));
  }

  function render(view) {
    if (!view) return;
    if (view.context !== undefined) $("context").textContent = view.context;
    if (view.step !== undefined) $("step").textContent = view.step;
    if (view.lane === "where" && view.text) line("events", view.text);
    else if (view.lane !== "where") line(view.lane, view.text, view.who);
  }

  function line(lane, text, who) {
    const item = lineItem(text, who);
    $(lane).append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function hangUp() {
    if (!call) return;
    send(stopMessage({ streamSid: call.streamSid, callSid: call.callSid, sequence: ++call.sequence }));
    status("hung up");
    endCall();
  }

  function endCall() {
    if (!call) return;
    const ending = call;
    call = null;
    clearInterval(ending.ticker);
    if (ending.socket && ending.socket.readyState <= WebSocket.OPEN) ending.socket.close(1000, "hung up");
    if (ending.microphone) for (const track of ending.microphone.getTracks()) track.stop();
    if (ending.context) ending.context.close();
    $("hangup").disabled = true;
    $("call").disabled = !token();
  }

  showToken();
}
