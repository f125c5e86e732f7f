"""Audio for the VAD and endpointing tests: the spoken fixtures in
tests/data/audio (eSpeak NG, 16 kHz) and the synthetic sounds of
interpreter/media/sounds.py, at 8 or 16 kHz, plus helpers that run them frame by frame."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from interpreter.media.endpoint import EndpointEvent, SpeechDetector
from interpreter.media.sounds import click, cough, tone, white_noise

Samples = npt.NDArray[np.int16]

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
FIXTURE_RATE = 16_000
PHRASES: tuple[str, ...] = tuple(json.loads((AUDIO / "manifest.json").read_text()))
FRAME_MS = 20


def samples_per_frame(rate: int) -> int:
    return rate * FRAME_MS // 1000


@functools.cache
def speech(name: str, rate: int = FIXTURE_RATE, gain_db: float = 0.0) -> Samples:
    """A spoken fixture at `rate`, `gain_db` louder (or quieter)."""
    audio, file_rate = soundfile.read(str(AUDIO / name), dtype="int16")
    assert file_rate == FIXTURE_RATE
    if rate != file_rate:
        audio = soxr.resample(audio, file_rate, rate)
    scaled = audio.astype(np.float64) * 10 ** (gain_db / 20)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def onset(samples: Samples) -> int:
    """The first sample of speech: where the signal first passes 1% of its peak."""
    peak = int(np.abs(samples.astype(np.int32)).max())
    return int(np.argmax(np.abs(samples.astype(np.int32)) > peak // 100))


def silence(seconds: float, rate: int) -> Samples:
    return np.zeros(round(seconds * rate), dtype=np.int16)


def join(*parts: Samples) -> Samples:
    return np.concatenate(parts).astype(np.int16)


def frames(samples: Samples, rate: int) -> Iterable[Samples]:
    """`samples` cut into 20 ms frames (the last one padded with silence)."""
    size = samples_per_frame(rate)
    padded = np.concatenate([samples, np.zeros(-len(samples) % size, dtype=np.int16)])
    return list(padded.reshape(-1, size))


def hear(detector: SpeechDetector, samples: Samples, rate: int,
         first_tick: int = 0) -> list[EndpointEvent]:
    """Every event `detector` reports while hearing `samples`, one tick a frame."""
    events: list[EndpointEvent] = []
    for tick, frame in enumerate(frames(samples, rate), start=first_tick):
        events.extend(detector.hear(tick, frame))
    return events


__all__ = ["click", "cough", "tone", "white_noise"]  # made in interpreter/media/sounds.py
