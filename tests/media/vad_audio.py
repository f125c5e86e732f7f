"""Audio for the VAD and endpointing tests: the spoken fixtures in
tests/data/audio (eSpeak NG, 16 kHz) and synthetic sounds made with a seeded
generator, at 8 or 16 kHz, plus helpers that run them frame by frame."""

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


def _amplitude(dbfs: float) -> float:
    return 32768 * 10 ** (dbfs / 20)


def _clip(x: npt.NDArray[np.float64]) -> Samples:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def white_noise(dbfs: float, seconds: float, rate: int, seed: int = 7) -> Samples:
    """Gaussian white noise with an RMS level of `dbfs`."""
    rng = np.random.default_rng(seed)
    return _clip(rng.normal(0.0, _amplitude(dbfs), round(seconds * rate)))


def tone(hz: float, dbfs: float, seconds: float, rate: int) -> Samples:
    """A sine with an RMS level of `dbfs`."""
    t = np.arange(round(seconds * rate)) / rate
    return _clip(_amplitude(dbfs) * np.sqrt(2) * np.sin(2 * np.pi * hz * t))


def click(ms: float, rate: int, dbfs: float = -10.0, seed: int = 3) -> Samples:
    """A burst of noise `ms` long under a Hann window (a tap, a knock)."""
    n = round(ms * rate / 1000)
    return _clip(white_noise(dbfs, n / rate, rate, seed).astype(np.float64) * np.hanning(n))


def cough(rate: int, ms: float = 300, dbfs: float = -12.0, seed: int = 5) -> Samples:
    """A cough: band-passed noise (200-3000 Hz) that bursts in 10 ms and
    decays over ~80 ms; breath noise, no pitch."""
    n = round(ms * rate / 1000)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    hz = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(hz < 200) | (hz > 3000)] = 0
    t = np.arange(n) / rate
    burst = np.fft.irfft(spectrum, n) * np.minimum(t / 0.010, 1.0) * np.exp(-t / 0.080)
    return _clip(burst / np.sqrt(np.mean(burst**2)) * _amplitude(dbfs))


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
