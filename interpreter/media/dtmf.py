"""In-band DTMF: a streaming detector for the caller's 20 ms frames, and the
tones `send_digits` plays.

Detection. Each key is one of four row tones (697-941 Hz) plus one of four
column tones (1209-1633 Hz). The detector measures the eight tones and
their second harmonics with single-bin DFTs (Goertzel's sums, done as one
matrix product per frame) over 20 ms windows that hop by 10 ms: each frame
is summed as two halves, and a window is the previous half plus the next
one, phase-aligned. With a 10 ms hop every tone of 40 ms or more fills at
least two consecutive windows wherever it falls across the frames.

A window holds a key when, as ITU-T Q.24 and the classic receivers
(spandsp, Asterisk) have it:
- the strongest row and column tones are each at least MIN_TONE_DBFS;
- twist: the row tone is at most 8 dB over the column tone (normal twist,
  the high group lost on the line) and the column at most 4 dB over the row
  (reverse twist);
- each is 8 dB over the other tones of its group (relative peak);
- the two tones carry at least TONE_SHARE of the window's energy (speech and
  music spread theirs over many frequencies; a tone 3.5% off frequency, which
  Q.24 says to reject, loses too much of its power to its probes);
- neither has a strong second harmonic (voices and instruments do). A row
  tone's harmonic (1394-1882 Hz) lies within 100 Hz of a column tone, whose
  first sidelobe in a 20 ms window reaches -13 dB there: that much is
  allowed for on top of HARMONIC_DB.

A key is reported once, when two consecutive windows hold it (30 ms of
tone: a 40 ms tone always is, one of 23 ms or less never is, as Q.24 asks). It is then held
while each window still shows its two tones carrying HOLD_SHARE of the
energy, and released by the first that does not: a 40 ms gap always has
one, so the same key pressed again after it is reported again, while a
10 ms drop-out inside a tone is not a new press.

An energy gate comes first: a frame under GATE_DBFS ends any key and costs
one dot product, or nothing when the media clock passes in the level it
measured for all calls at once (`frames.energy_dbfs`). A frame over the
gate costs ~13 µs, speech included (bench/bench_dtmf.py). Every key is
heard through white noise 8 dB under its tones, none in eSpeak speech.

Generation. `tones` plays keys at equal row and column levels, each key
`tone_ms` of tone then `gap_ms` of silence; "w" is a 500 ms pause and "W"
one second, as SWML's `send_digits` has it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from interpreter.media.frames import SAMPLE_RATES, Samples, samples_per_frame
from interpreter.media.keys import DIGITS, KEYPAD, WAITS_MS

ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMN_HZ = (1209.0, 1336.0, 1477.0, 1633.0)

GATE_DBFS = -42.0  # a frame under this is no key (two tones at the minimum read -33)
MIN_TONE_DBFS = -36.0  # each tone's RMS level; Q.24 asks for -25 dBm0 (about -28 dBFS)
NORMAL_TWIST_DB = 8.0  # row tone over column tone
REVERSE_TWIST_DB = 4.0  # column tone over row tone
RELATIVE_PEAK_DB = 8.0  # the chosen tone over the others of its group
TONE_SHARE = 0.85  # of the window's energy in the two tones, to start a key
HOLD_SHARE = 0.4  # ... to go on holding it (half a window of tone reads 0.5)
HARMONIC_DB = 12.0  # a second harmonic at least this far under its tone
SIDELOBE = 0.22  # a rectangular window's first sidelobe, as an amplitude (-13 dB)
CONFIRM_WINDOWS = 2  # consecutive windows that must hold a key to report it
TOLERANCE = 0.015  # of a tone's frequency: Q.24's deviation that must be accepted

_FULL_SCALE = 32768.0
_TONES_HZ = ROW_HZ + COLUMN_HZ
# Each tone is probed at its frequency and TOLERANCE either side, and read as
# the strongest of the three: a 20 ms bin is ±25 Hz wide at -4 dB, and Q.24
# lets a column tone be off by 1.5% (25 Hz).
_PROBE_HZ = tuple(hz * (1 + off) for hz in _TONES_HZ for off in (-TOLERANCE, 0.0, TOLERANCE)) \
    + tuple(2 * hz for hz in _TONES_HZ)
_PROBED = 3 * len(_TONES_HZ)

Window = npt.NDArray[np.complex64]


def _power(dbfs: float) -> float:
    """The mean square of a signal whose RMS level is `dbfs`."""
    return (_FULL_SCALE * 10 ** (dbfs / 20)) ** 2


@dataclass(frozen=True, slots=True)
class _Probe:
    """The single-bin DFTs at one rate."""

    half: int  # samples in half a frame
    # (half, 2 * probes): each probe's cosine and negated sine side by side, so
    # a real product viewed as complex64 gives each probe's complex sum.
    basis: npt.NDArray[np.float32]
    turn: Window  # (probes,): the phase a second half's sums take after a first
    scale: float  # |sum|² → the mean square of the tone that made it


@functools.cache
def _probe(rate: int) -> _Probe:
    size = samples_per_frame(rate)
    half = size // 2
    hz = np.array(_PROBE_HZ)
    phase = 2 * np.pi * np.outer(np.arange(half), hz) / rate
    basis = np.empty((half, 2 * len(hz)), dtype=np.float32)
    basis[:, 0::2], basis[:, 1::2] = np.cos(phase), -np.sin(phase)
    turn = np.exp(-2j * np.pi * hz * half / rate).astype(np.complex64)
    basis.flags.writeable = False
    turn.flags.writeable = False
    return _Probe(half, basis, turn, 2.0 / size**2)


class DtmfDetector:
    """Keys pressed in one caller's audio, a 20 ms PCM16 frame at a time."""

    def __init__(self, rate: int) -> None:
        if rate not in SAMPLE_RATES:
            raise ValueError(f"DTMF is detected at {', '.join(map(str, SAMPLE_RATES))} Hz, "
                             f"not {rate}")
        self.rate = rate
        self._probe = _probe(rate)
        self._size = 2 * self._probe.half
        self._gate = _power(GATE_DBFS) * self._size  # as a sum of squares
        self._min_tone = _power(MIN_TONE_DBFS)
        # Half-frame sums: the previous frame's second half, then this frame's two.
        self._sums: Window = np.zeros((3, len(_PROBE_HZ)), dtype=np.complex64)
        self._last_energy = 0.0  # of the previous frame's second half
        self._quiet = True  # the last frame was under the gate
        self._held: str | None = None  # the key reported and not yet released
        self._seen: str | None = None  # the key the last windows held, not yet reported
        self._run = 0  # how many consecutive windows held `_seen`

    @property
    def in_tone(self) -> bool:
        """A key is sounding (reported or about to be): its frames are not
        speech, and the path keeps them from the VAD and the recognizer."""
        return self._held is not None or self._seen is not None

    def feed(self, frame: Samples, level_dbfs: float | None = None) -> str | None:
        """The key pressed, on the frame where it is recognised; else None.

        `level_dbfs`: the frame's RMS level if already measured
        (`frames.energy_dbfs`), so a quiet frame costs a comparison."""
        if len(frame) != self._size:
            raise ValueError(f"a {self.rate} Hz frame is {self._size} samples, not {len(frame)}")
        if level_dbfs is not None and level_dbfs < GATE_DBFS:
            self._silent()
            return None
        samples = frame.astype(np.float32)
        energy = float(samples @ samples)
        if energy < self._gate:
            self._silent()
            return None
        probe, sums = self._probe, self._sums
        halves = samples.reshape(2, probe.half)
        sums[0] = 0 if self._quiet else sums[2]
        sums[1:] = (halves @ probe.basis).view(np.complex64)
        # Each tone is read as the strongest of its three probes.
        windows = np.abs(sums[:2] + probe.turn * sums[1:])
        tones = windows[:, :_PROBED].reshape(2, len(_TONES_HZ), 3).max(axis=2).tolist()
        harmonics = windows[:, _PROBED:].tolist()
        first = float(halves[0] @ halves[0])
        last, self._last_energy = (0.0 if self._quiet else self._last_energy), energy - first
        self._quiet = False
        key = self._window(tones[0], harmonics[0], (last + first) / self._size)
        return self._window(tones[1], harmonics[1], energy / self._size) or key

    def _silent(self) -> None:
        """A frame under the gate: no window in it holds a key, none goes on."""
        if not self._quiet:
            self._quiet = True
            self._held, self._seen, self._run = None, None, 0

    def _window(self, amplitudes: list[float], harmonics: list[float],
                mean_square: float) -> str | None:
        """Advance the key state by one window; the key if this one confirms it.

        `amplitudes`: the eight tones' |sums|, `harmonics` their second
        harmonics'; `mean_square`: the window's energy a sample."""
        scale = self._probe.scale
        power = [a * a * scale for a in amplitudes]
        if self._held is not None:
            if _holds(self._held, power, mean_square):
                return None
            self._held = None
        key = self._key(power, harmonics, mean_square)
        if key is None:
            self._seen, self._run = None, 0
            return None
        self._run = self._run + 1 if key == self._seen else 1
        self._seen = key
        if self._run < CONFIRM_WINDOWS:
            return None
        self._held, self._seen, self._run = key, None, 0
        return key

    def _key(self, power: list[float], harmonics: list[float],
             mean_square: float) -> str | None:
        """The key this window holds, if it passes every test."""
        rows, columns = power[:4], power[4:]
        low, high = max(rows), max(columns)
        if low + high < TONE_SHARE * mean_square:  # first: it turns away nearly all speech
            return None
        if low < self._min_tone or high < self._min_tone:
            return None
        if low > high * _NORMAL_TWIST or high > low * _REVERSE_TWIST:
            return None
        row, column = rows.index(low), columns.index(high)
        peak_row, peak_column = low / _RELATIVE_PEAK, high / _RELATIVE_PEAK
        if any(p > peak_row for i, p in enumerate(rows) if i != row) or \
                any(p > peak_column for i, p in enumerate(columns) if i != column):
            return None
        scale = self._probe.scale
        low_amplitude, high_amplitude = math.sqrt(low / scale), math.sqrt(high / scale)
        if harmonics[row] > _HARMONIC_AMPLITUDE * low_amplitude + SIDELOBE * high_amplitude:
            return None
        if harmonics[4 + column] > _HARMONIC_AMPLITUDE * high_amplitude:
            return None
        return KEYPAD[row][column]


_NORMAL_TWIST = 10 ** (NORMAL_TWIST_DB / 10)
_REVERSE_TWIST = 10 ** (REVERSE_TWIST_DB / 10)
_RELATIVE_PEAK = 10 ** (RELATIVE_PEAK_DB / 10)
_HARMONIC_AMPLITUDE = 10 ** (-HARMONIC_DB / 20)
_PLACE = {key: (row, line.index(key)) for row, line in enumerate(KEYPAD) for key in line}


def _holds(key: str, power: list[float], mean_square: float) -> bool:
    """Whether a window still carries `key`'s two tones, strongest in their groups."""
    row, column = _PLACE[key]
    rows, columns = power[:4], power[4:]
    return (max(rows) == rows[row] and max(columns) == columns[column]
            and rows[row] + columns[column] >= HOLD_SHARE * mean_square)


# ------------------------------------------------------------------ generating


def tones(digits: str, rate: int, *, tone_ms: int = 100, gap_ms: int = 100,
          level_dbfs: float = -10.0) -> Samples:
    """`digits` as DTMF at `rate`: each key `tone_ms` of its two tones, each
    at `level_dbfs` RMS, then `gap_ms` of silence; "w" waits 500 ms, "W" 1 s."""
    if rate not in SAMPLE_RATES:
        raise ValueError(f"DTMF is made at {', '.join(map(str, SAMPLE_RATES))} Hz, not {rate}")
    unknown = sorted(set(digits) - set(DIGITS) - set(WAITS_MS))
    if unknown:
        raise ValueError(f"not DTMF digits: {''.join(unknown)!r} (0-9 * # A-D, w and W wait)")
    if tone_ms <= 0 or gap_ms < 0:
        raise ValueError(f"tone_ms must be positive and gap_ms not negative, "
                         f"not {tone_ms} and {gap_ms}")
    amplitude = _FULL_SCALE * 10 ** (level_dbfs / 20) * math.sqrt(2)
    if 2 * amplitude > 32767:
        raise ValueError(f"two tones at {level_dbfs} dBFS clip: at most "
                         f"{20 * math.log10(32767 / (2 * math.sqrt(2) * _FULL_SCALE)):.2f}")
    gap = np.zeros(_samples(gap_ms, rate), dtype=np.int16)
    parts: list[Samples] = []
    for digit in digits:
        if digit in WAITS_MS:
            parts.append(np.zeros(_samples(WAITS_MS[digit], rate), dtype=np.int16))
        else:
            parts.extend((_key_tone(digit, rate, _samples(tone_ms, rate), amplitude), gap))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def _samples(ms: int, rate: int) -> int:
    return ms * rate // 1000  # every supported rate has a whole number of samples a ms


def _key_tone(digit: str, rate: int, count: int, amplitude: float) -> Samples:
    row, column = _PLACE[digit]
    t = np.arange(count) / rate
    wave = amplitude * (np.sin(2 * np.pi * ROW_HZ[row] * t)
                        + np.sin(2 * np.pi * COLUMN_HZ[column] * t))
    return np.round(wave).astype(np.int16)
