"""A simulated caller who speaks: the caller script played as audio through
the real audio runtime.

`AudioCaller` is a `CallerChannel` built on the audio path
(interpreter/media/path.py): the agent's speech is made by the embedded TTS
and played out frame by frame on the media clock; the caller's lines are
spoken by eSpeak NG in another voice and go in as 20 ms frames, where voice
activity detection, endpointing and speech recognition hear them exactly as
they would a phone caller. Barge-in is decided at the frame, and what the
runtime keeps of an interrupted reply is what played.

The script's cues mean what they mean in text mode (docs/caller-scripts.md),
judged from the audio: the agent's turn is over when its playout finished
and the line has been silent for the script's `pause`. Digits go out of band
(as RFC 4733 events do). A `garbled` line is spoken backwards: recognition
decides what, if anything, it makes of it. The script's media `faults` are
text mode's only.

Both directions are kept, so the call can be written to a stereo WAV file
(`record`): the caller on the left, the agent on the right.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from interpreter.ir import BargePolicy
from interpreter.media.clock import MediaClock
from interpreter.media.listening import SpeechListener
from interpreter.media.path import AudioPath
from interpreter.media.playout import Samples
from interpreter.media.ports import (
    CallSink,
    Heard,
    ListenSettings,
    PlayoutFailure,
    Recording,
    Utterance,
    Voice,
)
from interpreter.providers.stt.base import SttProvider
from interpreter.providers.tts import espeak
from interpreter.providers.tts.base import TtsProvider
from interpreter.providers.vad.webrtc import WebRtcVad
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Hangup,
    Press,
    Say,
    Timing,
    Wait,
)
from interpreter.transports.simulated import DIGIT_INTERVAL, CallerAction
from interpreter.transports.simulated_media import AgentLine, loop_now, stamp

RATE = 16_000
FRAME = RATE // 50
CALLER_VOICE = Voice("espeak", "en-us+m3")  # not the agent's default voice
# After the caller's last frame, how long to wait for the final transcript
# before the next step (endpointing's trailing silence plus recognition).
SETTLE_SECONDS = 1.5


@dataclass
class _Playing:
    playout_id: int
    kind: str
    text: str
    queued: float
    start: float | None = None  # the first frame with sound


@dataclass
class _Turns:
    """The agent's turns, as the caller hears them."""

    finished: int = 0
    start: float | None = None  # of the turn playing now; None while silent
    silent_since: float = 0.0
    lines: list[AgentLine] = field(default_factory=list)


class AudioCaller:
    """A `CallerChannel` whose caller follows a script, in audio."""

    def __init__(self, script: CallerScript, clock: MediaClock, tts: TtsProvider,
                 stt: SttProvider, *, policy: BargePolicy | None = None) -> None:
        self.script = script
        self.said: list[CallerAction] = []
        self.background: list[AgentLine] = []
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.end_reason: str | None = None
        self.listener = SpeechListener(WebRtcVad(RATE), stt, RATE)
        self.path = AudioPath(clock, RATE, tts, self.listener, inbound=self._next_inbound,
                              outbound=self._outbound, policy=policy)
        self._turns = _Turns()
        self._playing: deque[_Playing] = deque()  # queued on the path, in order
        self._background_start: tuple[str, float] | None = None
        self._voice: list[Samples] = []  # caller audio waiting to go in
        self._caller_frames: list[Samples] = []
        self._agent_frames: list[Samples] = []
        self._sink: CallSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._change = asyncio.Event()
        self._start = 0.0
        self._turns_seen = 0
        self._lines_seen = 0

    # ------------------------------------------------------------ records

    @property
    def heard(self) -> list[AgentLine]:
        return self._turns.lines

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def record(self, path: str | Path) -> Path:
        """Write the call so far as a stereo WAV: caller left, agent right."""
        length = max(len(self._caller_frames), len(self._agent_frames))
        stereo = np.zeros((length * FRAME, 2), dtype=np.int16)
        for channel, frames in enumerate((self._caller_frames, self._agent_frames)):
            if frames:
                audio = np.concatenate(frames)
                stereo[:len(audio), channel] = audio
        target = Path(path)
        soundfile.write(str(target), stereo, RATE, subtype="PCM_16")
        return target

    # ------------------------------------------------------------ CallerChannel

    def attach(self, sink: CallSink) -> None:
        if self._sink is not None:
            raise RuntimeError("an AudioCaller is attached once, to one call")
        self._sink, self._start = sink, loop_now()
        self.path.attach(_Watch(self, sink))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audio caller")

    def answer(self) -> None:
        if self.answered_at is None:
            self.answered_at = stamp()

    def listen(self, settings: ListenSettings) -> None:
        self.path.listen(settings)

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        if self.ended:
            return
        said = [item.value for item in items if item.kind == "say"]
        kind = "say" if said else next((i.kind for i in items if i.kind != "silence"), "")
        text = " ".join(said) if said else next(
            (i.value for i in items if i.kind != "silence"), "")
        if kind:
            self._playing.append(_Playing(playout_id, kind, text, loop_now()))
        self.path.play(playout_id, items)

    def stop_playout(self) -> Heard:
        heard = self.path.stop_playout()
        if self._playing:
            self._line_ended(self._playing[0].playout_id, cut_off=True, heard=heard.text)
        self._playing.clear()  # queued after it: never played
        return heard

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        self._background_start = (url, stamp())
        self.path.play_background(playout_id, url, loops)

    def stop_background(self) -> None:
        self._background_ended(cut_off=True)
        self.path.stop_background()

    def send_digits(self, digits: str) -> None:
        self.path.send_digits(digits)

    def start_recording(self, control_id: str, recording: Recording) -> str:
        return self.path.start_recording(control_id, recording)

    def stop_recording(self, control_id: str) -> None:
        self.path.stop_recording(control_id)

    def hangup(self, reason: str) -> None:
        if not self.ended:
            self._end(reason)

    async def finished(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})
            if not self._task.cancelled():
                self._task.result()

    async def close(self) -> None:
        if not self.ended:
            self._end("closed")
        await self.finished()
        self.listener.close()
        self._task = None

    # ------------------------------------------------------------ frames

    def _next_inbound(self) -> Samples | None:
        frame = self._voice.pop(0) if self._voice else np.zeros(FRAME, dtype=np.int16)
        self._caller_frames.append(frame)
        return frame

    def _outbound(self, frame: Samples) -> None:
        self._agent_frames.append(frame)
        playing = self._playing[0] if self._playing else None
        if playing is not None and playing.start is None and np.any(frame):
            playing.start = stamp()
            if playing.kind == "say":
                self._turns.start = playing.start
            self._change.set()

    # ------------------------------------------------------------ the agent's lines

    def _line_ended(self, playout_id: int, *, cut_off: bool, heard: str = "") -> None:
        """Playout `playout_id` ended: its line is kept; the agent falls silent
        unless the next playout follows."""
        turns = self._turns
        while self._playing and self._playing[0].playout_id <= playout_id:
            playing = self._playing.popleft()
            turns.lines.append(AgentLine(
                playing.kind, playing.text, playing.start or stamp(playing.queued), stamp(),
                cut_off, heard if cut_off else playing.text))
            if playing.kind == "say" and not cut_off:
                turns.finished += 1
        if not self._playing:
            turns.start = None
            turns.silent_since = loop_now()
        self._change.set()

    def playout_ended(self, playout_id: int, *, failed: bool) -> None:
        """The path reported the end of a playout (or of the background track)."""
        if any(playing.playout_id == playout_id for playing in self._playing):
            self._line_ended(playout_id, cut_off=failed)
        elif self._background_start is not None and not failed:
            self._background_ended(cut_off=False)

    def _background_ended(self, *, cut_off: bool) -> None:
        if self._background_start is not None:
            url, start = self._background_start
            self.background.append(AgentLine("background", url, start, stamp(), cut_off))
            self._background_start = None

    def _end(self, reason: str) -> None:
        self.ended_at, self.end_reason = stamp(), reason
        if self._playing:
            self.stop_playout()
        self._background_ended(cut_off=True)
        self.path.hangup(reason)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    # ------------------------------------------------------------ the script

    async def _run(self) -> None:
        previous_end = self._start
        for step in self.script.steps:
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
            else:
                note = await self._cue(step.timing, previous_end)
                await self._act(step, note)
                if self.ended:
                    return
            previous_end = loop_now()
        await asyncio.sleep(self.script.linger)
        self._hang_up("linger")

    async def _cue(self, timing: Timing, previous_end: float) -> str:
        deadline = loop_now() + self.script.patience
        if timing.cue is Cue.AT:
            await _sleep_until(self._start + timing.seconds)
            return ""
        if timing.cue is Cue.AFTER:
            await _sleep_until(previous_end + timing.seconds)
            return ""
        while timing.after_hearing and not self._has_heard(timing.after_hearing):
            if not await self._change_before(deadline):
                return "patience ran out"
        if timing.cue is Cue.BARGE_IN:
            while self._turns.start is None:
                if not await self._change_before(deadline):
                    return "patience ran out"
            await _sleep_until(self._turns.start + timing.seconds)
            return ""
        while (ready := self._turn_over_at(timing)) is None or loop_now() < ready:
            if not await self._change_before(deadline if ready is None
                                             else min(ready, deadline)) and ready is None:
                return "patience ran out"
        return ""

    def _turn_over_at(self, timing: Timing) -> float | None:
        turns = self._turns
        if turns.start is not None or self._playing or (
                not timing.after_hearing and turns.finished <= self._turns_seen):
            return None
        return turns.silent_since + self.script.pause

    def _has_heard(self, phrase: str) -> bool:
        wanted = " ".join(phrase.lower().split())
        return any(wanted in " ".join(line.heard.lower().split())
                   for line in self._turns.lines[self._lines_seen:])

    async def _change_before(self, when: float) -> bool:
        """Wait for a change in what the caller hears; False once `when` passed."""
        if loop_now() >= when:
            return False
        self._change.clear()
        try:
            async with asyncio.timeout_at(when):
                await self._change.wait()
        except TimeoutError:
            pass
        return True

    async def _act(self, step: Say | Press | Hangup, note: str) -> None:
        assert self._sink is not None
        start = loop_now()
        if isinstance(step, Hangup):
            self._hang_up(note)
            return
        value = ""
        spoken: float | None = None  # when the caller's last frame went in
        try:
            if isinstance(step, Say):
                value = step.text
                voice = espeak.speak(step.text, CALLER_VOICE, RATE).samples
                if step.garbled:
                    note = f"{note}, garbled" if note else "garbled"
                    voice = voice[::-1].copy()
                padded = np.concatenate([voice, np.zeros(-len(voice) % FRAME, np.int16)])
                self._voice.extend(padded.reshape(-1, FRAME))
                await asyncio.sleep(len(padded) / RATE)
                spoken = loop_now()
                await asyncio.sleep(SETTLE_SECONDS)
            else:
                for index, digit in enumerate(step.digits):
                    if index:
                        await asyncio.sleep(DIGIT_INTERVAL)
                    self._sink.digit(digit)
                    value += digit
        finally:
            # Kept even when the call ends mid-action: the record shows how far it got.
            self.said.append(CallerAction("say" if isinstance(step, Say) else "press", value,
                                          stamp(start), stamp(spoken), note))
        self._turns_seen = self._turns.finished
        self._lines_seen = len(self._turns.lines)

    def _hang_up(self, note: str) -> None:
        if self.ended or self._sink is None:
            return
        self._sink.hung_up()
        self.said.append(CallerAction("hangup", "", stamp(), stamp(), note))
        self._end("caller hung up")


def script_lines(script: CallerScript) -> list[str]:
    """What the caller will say."""
    return [step.text for step in script.steps if isinstance(step, Say) and not step.garbled]


class _Watch:
    """The path's sink: passes everything on, noting what the caller hears end."""

    def __init__(self, caller: AudioCaller, sink: CallSink) -> None:
        self._caller, self._sink = caller, sink

    def speech_started(self) -> None:
        self._sink.speech_started()

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        self._sink.transcript(text, final, confidence)

    def digit(self, digit: str) -> None:
        self._sink.digit(digit)

    def hung_up(self) -> None:
        self._sink.hung_up()

    def closed(self, reason: str) -> None:
        self._sink.closed(reason)

    def playout_finished(self, playout_id: int) -> None:
        self._caller.playout_ended(playout_id, failed=False)
        self._sink.playout_finished(playout_id)

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self._caller.playout_ended(playout_id, failed=True)
        self._sink.playout_failed(playout_id, failure)

    def transcription_failed(self, reason: str) -> None:
        self._sink.transcription_failed(reason)


async def _sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - loop_now()))
