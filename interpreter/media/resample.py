"""Streaming resampling between the media path's rates, in whole 20 ms frames.

One `Resampler` per direction per call, each holding a `soxr.ResampleStream`
(a real band-limited resampler: never linear interpolation), so frame edges
carry no artefacts. Any rate whose 20 ms is a whole number of samples works:
8, 16 and 24 kHz, and eSpeak's 22,050 Hz as a source.

soxr works in blocks: per 20 ms of input it returns nothing for several
frames, then a burst (at 8 → 16 kHz, about 100 ms at once). Output arrives
two ways:

- `push()` takes any amount of input and returns the whole frames ready so
  far, keeping the rest in a carry buffer; `flush()` ends the stream. Its
  output is aligned with the input (no added delay) — for audio made faster
  than real time, such as speech synthesis.
- `frame()` takes one frame and returns exactly one frame, every time: the
  carry starts primed with just enough silence (`delay` samples, measured
  once per rate pair and quality) that soxr's bursts never leave it short —
  for audio paced by the media clock, such as the caller's voice on its way
  to speech recognition. The priming is the latency this path adds: at "HQ"
  115 ms between 8 and 16 kHz, 73 ms between 8 and 24, 37 ms between 16
  and 24, 40-80 ms from 22,050 Hz. It is measured when the first resampler
  of a pair is made (a few milliseconds, once per process), not in a tick.

soxr runs in float32 here: its int16 output is dithered with random noise,
and the same audio must give the same frames every time (the virtual clock's
tests, recordings).
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from interpreter.media.frames import Samples, samples_per_frame

Quality = Literal["LQ", "MQ", "HQ", "VHQ"]

# 30 s of input. The largest shortfall shows within 6 s at every supported
# pair (22,050 → 24,000 Hz is the slowest), and stays the same over 10 minutes.
_PROBE_FRAMES = 1500


class Resampler:
    """PCM16 at `in_rate` → PCM16 at `out_rate`, in whole 20 ms frames."""

    def __init__(self, in_rate: int, out_rate: int, quality: Quality = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self.in_frame = samples_per_frame(in_rate)
        self.out_frame = samples_per_frame(out_rate)
        self.underruns = 0  # frames `frame()` had to complete with silence (should stay 0)
        self._same = in_rate == out_rate
        self._stream = None if self._same else _stream(in_rate, out_rate, quality)
        # Output samples by which `frame()` lags its input (`push()` adds none).
        self.delay = 0 if self._same else priming(in_rate, out_rate, quality)
        self._carry: Samples = np.zeros(0, dtype=np.int16)
        self._fresh = True  # nothing pushed since creation or the last flush

    @property
    def delay_ms(self) -> float:
        return 1000 * self.delay / self.out_rate

    def push(self, samples: Samples) -> Samples:
        """Any number of input samples → the (frames, out_frame) output ready so far."""
        self._fresh = False
        if self._stream is None:
            self._carry = np.concatenate((self._carry, samples)) if len(self._carry) \
                else samples
        else:
            self._extend(_pcm16(self._stream.resample_chunk(samples.astype(np.float32))))
        whole = len(self._carry) // self.out_frame * self.out_frame
        frames = self._carry[:whole].reshape(-1, self.out_frame)
        self._carry = self._carry[whole:]
        return frames

    def frame(self, frame: Samples) -> Samples:
        """One input frame → exactly one output frame, `delay` samples behind."""
        if len(frame) != self.in_frame:
            raise ValueError(f"a {self.in_rate} Hz frame is {self.in_frame} samples, "
                             f"not {len(frame)}")
        if self._stream is None:
            return frame
        if self._fresh:
            self._fresh = False
            self._carry = np.zeros(self.delay, dtype=np.int16)
        self._extend(_pcm16(self._stream.resample_chunk(frame.astype(np.float32))))
        if len(self._carry) < self.out_frame:
            self.underruns += 1
            self._extend(np.zeros(self.out_frame - len(self._carry), dtype=np.int16))
        out = self._carry[:self.out_frame]
        self._carry = self._carry[self.out_frame:]
        return out

    def flush(self) -> Samples:
        """End of the stream: the rest of the output, the last frame completed
        with silence. The resampler is then ready for a new stream."""
        if self._stream is not None:
            self._extend(_pcm16(self._stream.resample_chunk(np.zeros(0, np.float32), last=True)))
            self._stream.clear()
        rest = self._carry
        self._carry = np.zeros(0, dtype=np.int16)
        self._fresh = True
        if not len(rest):
            return rest.reshape(0, self.out_frame)
        padded = np.zeros(-(-len(rest) // self.out_frame) * self.out_frame, dtype=np.int16)
        padded[:len(rest)] = rest
        return padded.reshape(-1, self.out_frame)

    def _extend(self, out: Samples) -> None:
        if len(out):
            self._carry = np.concatenate((self._carry, out)) if len(self._carry) else out


def _stream(in_rate: int, out_rate: int, quality: Quality) -> soxr.ResampleStream:
    # float32 inside: soxr's int16 output is dithered with random noise, so the
    # same input would not give the same output twice.
    return soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=quality)


def _pcm16(out: npt.NDArray[np.float32]) -> Samples:
    if not len(out):
        return np.zeros(0, dtype=np.int16)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


@functools.cache
def priming(in_rate: int, out_rate: int, quality: Quality = "HQ") -> int:
    """Silence (output samples) that keeps `frame()` from ever running short.

    How much soxr returns for each input frame depends only on how much went
    in, never on the audio, so one probe with silence finds the largest
    shortfall."""
    stream = _stream(in_rate, out_rate, quality)
    in_frame, out_frame = samples_per_frame(in_rate), samples_per_frame(out_rate)
    silence = np.zeros(in_frame, dtype=np.float32)
    produced = shortfall = 0
    for n in range(1, _PROBE_FRAMES + 1):
        produced += len(stream.resample_chunk(silence))
        shortfall = max(shortfall, n * out_frame - produced)
    return shortfall
