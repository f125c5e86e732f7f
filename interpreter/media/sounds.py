"""Sounds that are not speech, made with a seeded generator (so the same
every time): what a caller's line carries besides words — clicks, coughs,
hiss. The simulated audio caller's `sound` steps play them, and the VAD
tests and benchmarks check that none of them starts speech.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from interpreter.media.frames import Samples


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


# The caller script's `sound` step: name → the sound at a rate.
SOUNDS = {
    "cough": lambda rate: cough(rate),
    "click": lambda rate: click(40, rate),
    "noise": lambda rate: white_noise(-30, 2.0, rate),  # longer than interrupt_on_noise: true
}
