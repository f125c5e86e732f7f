"""A telephony media stream as the call's `CallerChannel`.

The channel is an `AudioPath` (media/path.py) whose frames come from and go
to a provider's socket:

- Inbound: each `media` message is filed in a jitter buffer by its
  chunk/sequence number (Telnyx does not promise order); the media clock
  takes one frame a tick from it, a lost frame concealed and then silence.
  `dtmf` becomes the call's digit; `stop` is the caller hanging up.
- Outbound: the path hands out one frame per tick and the channel sends it
  in that tick, so the provider is never sent audio ahead of the clock: what
  a `clear` drops is only what the network and the provider hold. After each
  frame in which a word's audio ended, a `mark` follows (marks.py).
- Barge-in: when the path stops the agent (at the frame) or the runtime
  stops it, the channel sends `clear`, and what the call is told was heard
  comes from the acknowledged marks only: the path knows what it sent, the
  marks say what played.
- Endings are classified: `stop` is `hung_up`; a socket that closed without
  one, or no audio for `frame_gap` seconds, is `closed(reason)` (a
  transport error: the call ends as `transport_lost` with its trace complete).

Streams at a rate the VAD does not take (24 kHz) run the path at 16 kHz,
resampled both ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interpreter.ir import BargePolicy
from interpreter.media import frames
from interpreter.media.clock import MediaClock
from interpreter.media.jitter import JitterBuffer
from interpreter.media.listening import SpeechListener
from interpreter.media.path import AudioPath
from interpreter.media.playout import Samples
from interpreter.media.ports import (
    AudioFormat,
    CallSink,
    Heard,
    ListenSettings,
    Recording,
    Utterance,
)
from interpreter.media.recognition import Recognizer
from interpreter.media.resample import Resampler
from interpreter.providers.stt.base import SttProvider
from interpreter.providers.tts.base import TtsProvider
from interpreter.providers.vad.webrtc import RATES as VAD_RATES
from interpreter.providers.vad.webrtc import WebRtcVad
from interpreter.transports.forwarding import ForwardingSink
from interpreter.transports.media_stream.events import (
    Clear,
    Dtmf,
    InboundEvent,
    MarkAcked,
    Media,
    OutboundEvent,
    OutboundMark,
    OutboundMedia,
    ProviderError,
    Stopped,
)
from interpreter.transports.media_stream.marks import MarkLedger

FRAME_GAP_S = 5.0  # no audio from the provider this long: the stream is lost
JITTER_DEPTH = 3  # frames buffered before the first plays: 60 ms for a late frame
PATH_RATE_FOR_WIDEBAND = 16_000
MAX_NOTED_ERRORS = 20  # a provider's errors kept and traced; the rest only counted


@dataclass(slots=True)
class StreamStats:
    """What the stream did, for the server's log and the tests."""

    frames_in: int = 0
    frames_out: int = 0
    clears: int = 0
    protocol_errors: int = 0
    provider_errors: list[str] = field(default_factory=list)  # the first MAX_NOTED_ERRORS
    provider_error_count: int = 0


class MediaStreamChannel:
    """A `CallerChannel` on one provider media stream."""

    def __init__(self, clock: MediaClock, fmt: AudioFormat, tts: TtsProvider,
                 stt: SttProvider | Recognizer, send: Callable[[OutboundEvent], None], *,
                 frame_gap: float = FRAME_GAP_S, jitter_depth: int = JITTER_DEPTH,
                 policy: BargePolicy | None = None, recordings: Path | None = None) -> None:
        """`send`: hands an outbound event to the socket's writer (it never
        blocks the tick)."""
        self.format = frames.check_format(fmt)
        rate = fmt.sample_rate if fmt.sample_rate in VAD_RATES else PATH_RATE_FOR_WIDEBAND
        self.rate = rate
        self.listener = SpeechListener(WebRtcVad(rate), stt, rate)
        self.path = AudioPath(clock, rate, tts, self.listener, inbound=self._inbound,
                              outbound=self._outbound, policy=policy, recordings=recordings)
        self.jitter = JitterBuffer(fmt, jitter_depth)
        self.marks = MarkLedger()
        self._words_sent = 0  # heard words of the current run the marks know of
        self.stats = StreamStats()
        self.end_reason: str | None = None  # why the channel ended, once it has
        self.ended = asyncio.Event()  # the call hung up, or the stream ended
        self._send = send
        self._frame_gap = frame_gap
        self._to_path = Resampler(fmt.sample_rate, rate) if rate != fmt.sample_rate else None
        self._to_wire = Resampler(rate, fmt.sample_rate) if rate != fmt.sample_rate else None
        self._silence = frames.silence_payload(fmt)
        self._sink: CallSink | None = None
        self._heard_at_commit: Heard | None = None
        self._tick = 0
        self._stopped_tick = -1  # the tick the path last committed a stop in
        self._last_audio = 0.0  # loop time of the last media message
        self._received = False

    # ------------------------------------------------------------ the socket's side

    def received(self, event: InboundEvent) -> None:
        """An event read off the socket (after `start`)."""
        match event:
            case Media(sequence=sequence, payload=payload):
                self._last_audio = asyncio.get_running_loop().time()
                self._received = True
                self.stats.frames_in += 1
                self.jitter.push(sequence, payload)
            case Dtmf(digit=digit):
                if self._sink is not None:
                    self._sink.digit(digit)
            case MarkAcked(name=name):
                self.marks.acked(name)
            case Stopped():
                self._end("the caller hung up (stop)", hung_up=True)
            case ProviderError(code=code, detail=detail):
                # Telnyx reports problems with what we sent this way; the
                # stream goes on, and its closing (if it comes) ends the call.
                self.stats.provider_error_count += 1
                if self.stats.provider_error_count <= MAX_NOTED_ERRORS:
                    self.stats.provider_errors.append(f"{code}: {detail}")
                    if self._sink is not None:  # to the call's trace
                        self._sink.speech_noted(f"the provider reported an error on the "
                                                f"media stream: {code}: {detail}")
            case _:
                pass  # a second `connected`/`start`: nothing to do

    def socket_closed(self, reason: str = "the socket closed without a stop") -> None:
        """The socket is gone (the handler calls this however it ended)."""
        self._end(f"media stream: {reason}", hung_up=False)

    # ------------------------------------------------------------ CallerChannel

    def attach(self, sink: CallSink) -> None:
        self._sink = sink
        self._last_audio = asyncio.get_running_loop().time()
        self.path.attach(_Stops(self, sink))

    def answer(self) -> None:
        """A media stream is answered by the provider before it starts."""

    def listen(self, settings: ListenSettings) -> None:
        self.path.listen(settings)

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        self.path.play(playout_id, items)

    def stop_playout(self) -> Heard:
        self.path.stop_playout()
        committed, self._heard_at_commit = self._heard_at_commit, None
        if committed is not None:
            return committed  # the path stopped it at the frame: cleared then
        return self._clear()

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        self.path.play_background(playout_id, url, loops)

    def stop_background(self) -> None:
        self.path.stop_background()

    def send_digits(self, digits: str) -> None:
        self.path.send_digits(digits)  # in band, as tones the provider plays

    def start_recording(self, control_id: str, recording: Recording) -> str:
        return self.path.start_recording(control_id, recording)

    def stop_recording(self, control_id: str) -> None:
        self.path.stop_recording(control_id)

    def hangup(self, reason: str) -> None:
        """The call ended: the path stops; the handler closes the socket."""
        self.path.hangup(reason)
        self.listener.release()
        self._sink = None
        if self.end_reason is None:
            self.end_reason = f"the call ended: {reason}"
        self.ended.set()

    # ------------------------------------------------------------ the tick

    def _inbound(self) -> Samples | None:
        self._tick += 1
        if self._sink is not None and \
                asyncio.get_running_loop().time() - self._last_audio > self._frame_gap:
            self._end(f"media stream: no audio for {self._frame_gap:g} s", hung_up=False)
            return None
        if not self._received:
            return None
        frame = frames.decode(self.jitter.pop(), self.format)
        if self._to_path is not None:
            frame = self._to_path.frame(frame)
        return frame

    def _outbound(self, frame: Samples) -> None:
        playout = self.path.playout
        if not playout.speaking and not np.any(frame):
            return  # nothing to play: the provider plays silence by itself
        wire = frame if self._to_wire is None else self._to_wire.frame(frame)
        self._send(OutboundMedia(frames.encode(wire, self.format)))
        self.stats.frames_out += 1
        # The heard text is built only when a word ended in this frame.
        words = playout.heard_words()
        if words != self._words_sent:
            self._words_sent = words
            mark = self.marks.after_frame(playout.heard())
            if mark is not None:
                self._send(OutboundMark(mark))

    # ------------------------------------------------------------ stops and ends

    def committed(self, heard: Heard) -> Heard:
        """The path stopped the agent at the frame: clear, once per stop; what
        the acknowledged marks say was heard replaces what the path sent."""
        if self._stopped_tick == self._tick:
            return heard  # the playouts queued behind the first: nothing heard
        self._stopped_tick = self._tick
        self._heard_at_commit = self._clear()
        return self._heard_at_commit

    def _clear(self) -> Heard:
        self._send(Clear())
        self.stats.clears += 1
        return self.marks.clear()

    def _end(self, reason: str, *, hung_up: bool) -> None:
        sink = self._sink
        if self.end_reason is not None or sink is None:
            return
        self.end_reason = reason
        self._sink = None  # nothing more reaches the call from this stream
        if hung_up:
            sink.hung_up()
        else:
            sink.closed(reason)


class _Stops(ForwardingSink):
    """The path's sink: a stop it commits is cleared at the provider and
    reported with the acknowledged words."""

    def __init__(self, channel: MediaStreamChannel, sink: CallSink) -> None:
        super().__init__(sink)
        self._channel = channel

    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        super().playout_stopped(playout_id, self._channel.committed(heard), cause)
