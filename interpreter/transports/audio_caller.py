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

With `transcribe_agent` (a recognizer), the agent's frames are kept and,
when the caller closes after the call, each agent line's stretch of them is
transcribed and compared with what the runtime says was heard
(hearing_check.py): `agent_heard`. The recognition runs once, after the
call, never on the media tick; without it the tick only skips a branch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from interpreter.ir import BargePolicy, CompiledFlow
from interpreter.media.clock import MediaClock
from interpreter.media.dtmf import tones
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
from interpreter.media.recognition import Recognizer
from interpreter.media.sounds import SOUNDS
from interpreter.providers.stt.base import SttProvider
from interpreter.providers.stt.vocabulary import Vocabulary, vocabulary_for
from interpreter.providers.tts import espeak
from interpreter.providers.tts.base import TtsProvider
from interpreter.providers.vad.webrtc import WebRtcVad
from interpreter.transports.caller_script import CallerScript, Say, Sound
from interpreter.transports.forwarding import ForwardingSink
from interpreter.transports.hearing_check import HeardLine, check_lines
from interpreter.transports.script_follower import DIGIT_INTERVAL, Hearing, ScriptFollower
from interpreter.transports.simulated_media import AgentLine, loop_now, stamp

RATE = 16_000
FRAME = RATE // 50
KEY_MS = 100  # a key's tone; the rest of DIGIT_INTERVAL is the gap before the next
CALLER_VOICE = Voice("espeak", "en-us+m3")  # not the agent's default voice
# After the caller's last frame, how long to wait for the final transcript
# before the next step (endpointing's trailing silence plus recognition).
SETTLE_SECONDS = 1.5
AUDIBLE = 300  # a sample above this (about -40 dBFS) is sound, for the records


@dataclass
class _Playing:
    playout_id: int
    kind: str
    text: str
    queued: float
    start: float | None = None  # the first frame with sound
    first_frame: int = 0  # index of the agent frame it was queued at (when kept)


@dataclass
class _Turns:
    """The agent's turns, as the caller hears them (a `Hearing`)."""

    turns_finished: int = 0
    # Of the turn playing now (from when it was queued: the embedded TTS
    # starts within milliseconds); None while silent.
    turn_start: float | None = None
    silent_since: float = 0.0
    heard: list[AgentLine] = field(default_factory=list)


class AudioCaller(ScriptFollower):
    """A `CallerChannel` whose caller follows a script, in audio."""

    def __init__(self, script: CallerScript, clock: MediaClock, tts: TtsProvider,
                 stt: SttProvider | Recognizer, *, policy: BargePolicy | None = None,
                 keep_audio: bool = False,
                 transcribe_agent: SttProvider | None = None) -> None:
        """`keep_audio`: keep both directions for `record` (64 kB a second).
        `transcribe_agent`: the recognizer to check what the caller heard of
        the agent with, after the call (keeps the agent's frames: 32 kB a second)."""
        self._follow_init(script)
        self.background: list[AgentLine] = []
        self.listener = SpeechListener(WebRtcVad(RATE), stt, RATE)
        # Keys are pressed in band, as a phone's keypad sounds on an audio-only
        # line: the path finds them in the caller's audio.
        self.path = AudioPath(clock, RATE, tts, self.listener, inbound=self._next_inbound,
                              outbound=self._outbound, policy=policy, in_band_dtmf=True)
        self._turns = _Turns()
        self._playing: deque[_Playing] = deque()  # queued on the path, in order
        self._background_start: tuple[int, str, float] | None = None  # id, URL, start
        self._voice: deque[Samples] = deque()  # caller audio waiting to go in
        self._keep_audio = keep_audio
        self._caller_frames: list[Samples] = []
        self._agent_frames: list[Samples] = []
        self._transcriber = transcribe_agent
        self._keep_agent = keep_audio or transcribe_agent is not None
        # Each heard line's agent frames, [first, end): parallel to `heard`.
        self._stretches: list[tuple[int, int]] = []
        self._checked: list[HeardLine] | None = None

    # ------------------------------------------------------------ records

    @property
    def heard(self) -> list[AgentLine]:
        return self._turns.heard

    @property
    def agent_heard(self) -> list[HeardLine]:
        """What the caller heard of each agent line, checked (empty until the
        caller closed, and without `transcribe_agent`)."""
        return self._checked or []

    @property
    def heard_checks(self) -> list[tuple[float, str]]:
        """For the conversation: each checked line's start (loop time) and its `heard` text."""
        return [(checked.line.start, checked.describe()) for checked in self.agent_heard]

    def record(self, path: str | Path) -> Path:
        """Write the call so far as a stereo WAV: caller left, agent right."""
        if not self._keep_audio:
            raise RuntimeError("this AudioCaller was made without keep_audio")
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
        self._begin(sink)
        self.path.attach(_Watch(self, sink))

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
            self._playing.append(_Playing(playout_id, kind, text, loop_now(),
                                          first_frame=len(self._agent_frames)))
            if self._turns.turn_start is None:
                self._turns.turn_start = loop_now()
                self._changed()
        self.path.play(playout_id, items)

    def stop_playout(self) -> Heard:
        heard = self.path.stop_playout()
        if self._playing and self._playing[0].start is not None:
            self._line_ended(self._playing[0].playout_id, cut_off=True, heard=heard.text)
        self._playing.clear()  # queued after it (or held after a barge-in): never played
        return heard

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        self._background_start = (playout_id, url, stamp())
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

    def _release(self) -> None:
        self.listener.release()

    async def close(self) -> None:
        """End the call on the caller's side if still up; then, with
        `transcribe_agent`, check what the caller heard of the agent."""
        await super().close()
        if self._transcriber is not None and self._checked is None:
            audio = [np.concatenate(self._agent_frames[first:end] or [np.zeros(0, np.int16)])
                     for first, end in self._stretches]
            self._checked = check_lines(self._transcriber, self._turns.heard, audio)

    # ------------------------------------------------------------ frames

    def _next_inbound(self) -> Samples | None:
        frame = self._voice.popleft() if self._voice else None  # None: silence
        if self._keep_audio:
            self._caller_frames.append(np.zeros(FRAME, np.int16) if frame is None else frame)
        return frame

    def _outbound(self, frame: Samples) -> None:
        if self._keep_agent:
            self._agent_frames.append(frame)
        playing = self._playing[0] if self._playing else None
        if playing is not None and playing.start is None and np.any(frame):
            playing.start = stamp()

    # ------------------------------------------------------------ the agent's lines

    def _line_ended(self, playout_id: int, *, cut_off: bool, heard: str = "") -> None:
        """Playout `playout_id` ended: its line is kept; the agent falls silent
        unless the next playout follows."""
        turns = self._turns
        while self._playing and self._playing[0].playout_id <= playout_id:
            playing = self._playing.popleft()
            turns.heard.append(AgentLine(
                playing.kind, playing.text, playing.start or stamp(playing.queued), stamp(),
                cut_off, heard if cut_off else playing.text))
            # From when it was queued, or the line before it ended, to this
            # frame (the one being made, when the playout ends in a tick).
            said_from = self._stretches[-1][1] if self._stretches else 0
            self._stretches.append((max(playing.first_frame, said_from),
                                    len(self._agent_frames) + 1))
            if not cut_off:
                turns.turns_finished += 1
        if not self._playing:
            turns.turn_start = None
            turns.silent_since = loop_now()
        self._changed()

    def playout_stopped(self, playout_id: int, heard: str) -> None:
        """The path stopped the playout at the frame (a barge-in): the line
        playing keeps what was heard; those queued behind it never played."""
        if self._playing and self._playing[0].playout_id == playout_id:
            self._line_ended(playout_id, cut_off=True, heard=heard)
        else:
            self._playing = deque(p for p in self._playing if p.playout_id != playout_id)

    def playout_ended(self, playout_id: int, *, failed: bool) -> None:
        """The path reported the end of a playout (or of the background track)."""
        if any(playing.playout_id == playout_id for playing in self._playing):
            self._line_ended(playout_id, cut_off=failed)
        elif self._background_start is not None and self._background_start[0] == playout_id:
            self._background_ended(cut_off=failed)

    def _background_ended(self, *, cut_off: bool) -> None:
        if self._background_start is not None:
            _, url, start = self._background_start
            self.background.append(AgentLine("background", url, start, stamp(), cut_off))
            self._background_start = None

    def _stop_media(self, reason: str) -> None:
        if self._playing:
            self.stop_playout()
        self._background_ended(cut_off=True)
        self.path.hangup(reason)

    # ------------------------------------------------------------ the script

    def _hearing(self) -> Hearing:
        return self._turns

    async def _speak(self, step: Say) -> float | None:
        voice = espeak.speak(step.text, CALLER_VOICE, RATE).samples
        if step.garbled:
            voice = voice[::-1].copy()
        frames = _framed(voice)
        began = loop_now()
        self._voice.extend(frames)
        await asyncio.sleep(len(frames) * FRAME / RATE)
        # The speech ended at its last audible sample, not at the synthesizer's
        # trailing pause.
        audible = np.flatnonzero(np.abs(voice.astype(np.int32)) > AUDIBLE)
        ended = began + (int(audible[-1]) + 1 if len(audible) else 0) / RATE
        await asyncio.sleep(SETTLE_SECONDS)  # the final transcript, before the next step
        return ended

    def _press(self, digit: str) -> None:
        key = tones(digit, RATE, tone_ms=KEY_MS, gap_ms=round(DIGIT_INTERVAL * 1000) - KEY_MS)
        self._voice.extend(_framed(key))

    async def _sound(self, step: Sound) -> None:
        audio = SOUNDS[step.name](RATE)
        frames = _framed(audio)
        self._voice.extend(frames)
        await asyncio.sleep(len(frames) * FRAME / RATE)


def _framed(audio: Samples) -> Samples:
    """Audio as rows of 20 ms frames, the last padded with silence."""
    padded = np.concatenate([audio, np.zeros(-len(audio) % FRAME, np.int16)])
    return padded.reshape(-1, FRAME)


def for_flow(flow: CompiledFlow, script: CallerScript,
             recognizer: Callable[[Vocabulary], SttProvider | Recognizer], *,
             keep_audio: bool = False, transcribe_agent: SttProvider | None = None
             ) -> AudioCaller:
    """An audio caller for a call of `flow`, speaking with eSpeak; its speech
    is recognized by `recognizer(vocabulary)` (a host's recognizer) with the
    flow's phrases and the script's lines as hints, as a deployment's hints
    would: a call tests the flow and the audio path, not how far the embedded
    model guesses unknown words."""
    vocabulary = vocabulary_for(flow).with_hints(script_lines(script))
    return AudioCaller(script, MediaClock(), espeak.EspeakTts(), recognizer(vocabulary),
                       keep_audio=keep_audio, transcribe_agent=transcribe_agent)


def script_lines(script: CallerScript) -> list[str]:
    """What the caller will say."""
    return [step.text for step in script.steps if isinstance(step, Say) and not step.garbled]


class _Watch(ForwardingSink):
    """The path's sink: passes everything on, noting what the caller hears end."""

    def __init__(self, caller: AudioCaller, sink: CallSink) -> None:
        super().__init__(sink)
        self._caller = caller

    def playout_finished(self, playout_id: int) -> None:
        self._caller.playout_ended(playout_id, failed=False)
        super().playout_finished(playout_id)

    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        self._caller.playout_stopped(playout_id, heard.text)
        super().playout_stopped(playout_id, heard, cause)

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self._caller.playout_ended(playout_id, failed=True)
        super().playout_failed(playout_id, failure)
