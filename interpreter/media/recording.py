"""Recordings on the audio path: the `record` and `record_call` verbs.

A recorder keeps the frames of both directions from the tick after it
starts until it stops, and writes them when it stops (or the call ends:
what was recorded is kept). Directions as the platform names them: "speak"
is the caller, "listen" what the caller hears (the agent), "both" the two,
mixed or in stereo (caller left, agent right). A `max_length` cuts the
recording there even if nothing stops it. With `beep` the caller hears a
short tone first and the recording starts when it ends.

Files go to the recordings folder: the path's `recordings` argument, else
`CALLKERNEL_RECORDINGS`, else a callkernel-recordings folder in the system's
temporary folder. WAV is PCM16; mp3 is written by libsndfile (through
soundfile). libsndfile has no MP4 container: an mp4 recording is written
as WAV, and its URL says so by its extension.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from interpreter.media.frames import FRAME_MS, Samples
from interpreter.media.ports import Recording
from interpreter.media.sounds import tone

BEEP_HZ = 1000.0
BEEP_SECONDS = 0.25
BEEP_DBFS = -12.0

# format → (file extension, libsndfile format, subtype)
_WRITTEN_AS = {
    "wav": ("wav", "WAV", "PCM_16"),
    "mp3": ("mp3", "MP3", "MPEG_LAYER_III"),
    "mp4": ("wav", "WAV", "PCM_16"),  # no MP4 in libsndfile
}


def recordings_folder(configured: Path | None = None) -> Path:
    if configured is not None:
        return configured
    named = os.environ.get("CALLKERNEL_RECORDINGS")
    return Path(named) if named else Path(tempfile.gettempdir()) / "callkernel-recordings"


def beep(rate: int) -> Samples:
    """The tone before a recording: 1 kHz for a quarter of a second."""
    return tone(BEEP_HZ, BEEP_DBFS, BEEP_SECONDS, rate)


@dataclass
class Recorder:
    """One recording: the frames of both directions from `start_tick` on,
    `max_ticks` of them at most, until the caller's silence ends it (the
    recording's initial and end-of-silence timeouts, when it has them)."""

    recording: Recording
    target: Path
    start_tick: int
    max_ticks: int | None

    def __post_init__(self) -> None:
        self.caller: list[Samples] = []
        self.agent: list[Samples] = []
        self.ended = False
        self._spoke = False
        self._speaking = False
        self._silent_since = self.start_tick

    def speech(self, started: bool, tick: int) -> None:
        """The caller's voice started or (endpointing decided) ended."""
        self._spoke = self._spoke or started
        self._speaking = started
        self._silent_since = tick

    def _silence_ended(self, tick: int) -> bool:
        limit = self.recording.end_silence_s if self._spoke else \
            self.recording.initial_timeout_s
        return bool(limit) and not self._speaking and \
            (tick - self._silent_since) * FRAME_MS >= 1000 * float(limit or 0)

    @classmethod
    def to_folder(cls, folder: Path, control_id: str, recording: Recording, start_tick: int,
                  max_seconds: float | None) -> Recorder:
        folder.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in control_id)[:64]
        extension = _WRITTEN_AS.get(recording.format, _WRITTEN_AS["wav"])[0]
        target = folder / f"{name}-{uuid.uuid4().hex[:8]}.{extension}"
        limit = None if not max_seconds else max(1, round(max_seconds * 1000 / FRAME_MS))
        return cls(recording, target, start_tick, limit)

    @property
    def url(self) -> str:
        return self.target.resolve().as_uri()

    def add(self, tick: int, caller: Samples, agent: Samples) -> None:
        if tick < self.start_tick or self.ended:
            return
        if (self.max_ticks is not None and len(self.caller) >= self.max_ticks) \
                or self._silence_ended(tick):
            self.ended = True  # what was recorded is written when it stops
            return
        self.caller.append(caller)
        self.agent.append(agent)

    def write(self, rate: int) -> None:
        caller = np.concatenate(self.caller) if self.caller else np.zeros(0, np.int16)
        agent = np.concatenate(self.agent) if self.agent else np.zeros(0, np.int16)
        direction = self.recording.direction
        if direction == "speak":
            audio = caller
        elif direction == "listen":
            audio = agent
        elif self.recording.stereo:
            audio = np.stack([caller, agent], axis=1)
        else:
            audio = np.clip(caller.astype(np.int32) + agent, -32768, 32767).astype(np.int16)
        _, container, subtype = _WRITTEN_AS.get(self.recording.format, _WRITTEN_AS["wav"])
        soundfile.write(str(self.target), audio, rate, format=container, subtype=subtype)
