"""The frame model: 20 ms of mono PCM16, and its wire encodings.

Inside the media path audio is always PCM16 (numpy int16), 20 ms a frame:
160 samples at 8 kHz, 320 at 16 kHz, 480 at 24 kHz (441 at eSpeak's
22,050 Hz). On the wire a frame is what the transport's `AudioFormat` says:
"pcm16" (little-endian, two bytes a sample), "pcm16be" (the same in
network byte order, as RTP's L16 is), "mulaw" or "alaw" (G.711, one byte a
sample; codecs.py).

The media clock services every call in one pass, so the helpers that are the
same for every call also come in batch form, on a 2-D array of one frame per
call (calls, samples): `decode_batch`, `encode_batch`, `energy_dbfs`.
Arrays that come back may share memory with the bytes they were decoded
from and so be read-only; copy one before changing it in place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from interpreter.media import codecs
from interpreter.media.ports import AudioFormat

FRAME_MS = 20
FRAMES_PER_SECOND = 1000 // FRAME_MS
SAMPLE_RATES = (8000, 16000, 24000)  # what a transport's AudioFormat may carry
ENCODINGS = ("pcm16", "pcm16be", "mulaw", "alaw")
G711_RATE = 8000
MIN_DBFS = -120.0  # digital silence (one ±1 sample in an 8 kHz frame reads about -112)

Samples = npt.NDArray[np.int16]  # one frame (1-D) or one frame per call (2-D)
Levels = npt.NDArray[np.float32]

_FULL_SCALE = 32768.0
_MIN_MEAN_SQUARE = (_FULL_SCALE * 10 ** (MIN_DBFS / 20)) ** 2
_PCM16 = np.dtype("<i2")
_LINEAR = {"pcm16": _PCM16, "pcm16be": np.dtype(">i2")}  # the wire's dtype per encoding


def samples_per_frame(rate: int) -> int:
    """Samples in one 20 ms frame at `rate` (which must give a whole number)."""
    samples, remainder = divmod(rate * FRAME_MS, 1000)
    if remainder or samples <= 0:
        raise ValueError(f"{rate} Hz has no whole number of samples in {FRAME_MS} ms")
    return samples


def check_format(fmt: AudioFormat) -> AudioFormat:
    """`fmt` itself if the media path can carry it; ValueError saying why not."""
    if fmt.encoding not in ENCODINGS:
        raise ValueError(f"unknown audio encoding {fmt.encoding!r}")
    if fmt.sample_rate not in SAMPLE_RATES:
        raise ValueError(f"unsupported sample rate {fmt.sample_rate} Hz "
                         f"(one of {', '.join(map(str, SAMPLE_RATES))})")
    if fmt.encoding not in _LINEAR and fmt.sample_rate != G711_RATE:
        raise ValueError(f"G.711 {fmt.encoding} is 8000 Hz, not {fmt.sample_rate} Hz")
    if fmt.channels != 1:
        raise ValueError(f"{fmt.channels} channels: the media path is mono")
    return fmt


def frame_bytes(fmt: AudioFormat) -> int:
    """Bytes in one 20 ms frame on the wire."""
    return samples_per_frame(fmt.sample_rate) * _width(fmt)


def silence(rate: int) -> Samples:
    """A new frame of silence at `rate`."""
    return np.zeros(samples_per_frame(rate), dtype=np.int16)


@functools.cache
def silence_payload(fmt: AudioFormat) -> bytes:
    """One frame of silence on the wire."""
    return encode(silence(fmt.sample_rate), fmt)


# ------------------------------------------------------------------ one frame


def decode(payload: bytes, fmt: AudioFormat) -> Samples:
    """Wire bytes (any whole number of samples) → PCM16."""
    linear = _LINEAR.get(fmt.encoding)
    if linear is not None:
        if len(payload) % 2:
            raise ValueError(f"{fmt.encoding} payload of {len(payload)} bytes: "
                             "not whole samples")
        return _native(np.frombuffer(payload, dtype=linear))
    return _decoder(fmt)(np.frombuffer(payload, dtype=np.uint8))


def encode(samples: Samples, fmt: AudioFormat) -> bytes:
    """PCM16 → wire bytes."""
    linear = _LINEAR.get(fmt.encoding)
    if linear is not None:
        return samples.astype(linear, copy=False).tobytes()
    return _encoder(fmt)(samples).tobytes()


def frame_dbfs(frame: Samples) -> float:
    """RMS level of one frame in dBFS (a full-scale sine reads -3)."""
    return float(energy_dbfs(frame.reshape(1, -1))[0])


def scale_payload(payload: bytes, fmt: AudioFormat, gain: float) -> bytes:
    """Wire bytes with every sample multiplied by `gain` (0..1 attenuates)."""
    if fmt.encoding in _LINEAR:
        samples = decode(payload, fmt).astype(np.float32) * gain
        return encode(np.clip(np.rint(samples), -32768, 32767).astype(np.int16), fmt)
    return _scaled_codes(fmt.encoding, gain)[np.frombuffer(payload, dtype=np.uint8)].tobytes()


# ------------------------------------------------------------------ all calls at once


def decode_batch(payloads: Sequence[bytes], fmt: AudioFormat) -> Samples:
    """One frame per call on the wire → a (calls, samples) PCM16 array.

    Every payload must be exactly one frame (`frame_bytes(fmt)`)."""
    size = frame_bytes(fmt)
    if not payloads:
        return np.zeros((0, samples_per_frame(fmt.sample_rate)), dtype=np.int16)
    if set(map(len, payloads)) != {size}:
        wrong = next(i for i, payload in enumerate(payloads) if len(payload) != size)
        raise ValueError(f"payload {wrong} is {len(payloads[wrong])} bytes, "
                         f"not one {FRAME_MS} ms frame ({size})")
    joined = b"".join(payloads)
    linear = _LINEAR.get(fmt.encoding)
    if linear is not None:
        return _native(np.frombuffer(joined, dtype=linear)).reshape(len(payloads), -1)
    codes = np.frombuffer(joined, dtype=np.uint8).reshape(len(payloads), -1)
    return _decoder(fmt)(codes)


def encode_batch(frames: Samples, fmt: AudioFormat) -> list[bytes]:
    """A (calls, samples) PCM16 array → one wire payload per call."""
    if not frames.size:
        return [b""] * len(frames)
    data = encode(frames, fmt)
    step = len(data) // len(frames)
    return [data[i:i + step] for i in range(0, len(data), step)]


def energy_dbfs(frames: Samples) -> Levels:
    """RMS level in dBFS of each frame of a (calls, samples) array; digital
    silence reads MIN_DBFS."""
    if not frames.shape[1]:
        return np.full(len(frames), MIN_DBFS, dtype=np.float32)
    as_float = frames.astype(np.float32)
    mean_square = np.einsum("ij,ij->i", as_float, as_float) / np.float32(frames.shape[1])
    np.maximum(mean_square, np.float32(_MIN_MEAN_SQUARE), out=mean_square)
    levels: Levels = np.log10(mean_square) * np.float32(10) - np.float32(
        20 * np.log10(_FULL_SCALE))
    return levels


# ------------------------------------------------------------------ tables


def _width(fmt: AudioFormat) -> int:
    return 2 if fmt.encoding in _LINEAR else 1


def _native(samples: npt.NDArray[np.int16]) -> Samples:
    """Samples in the machine's byte order (a copy only where they were not)."""
    return samples if samples.dtype == np.int16 else samples.astype(np.int16)


def _decoder(fmt: AudioFormat) -> Callable[[codecs.Codes], Samples]:
    if fmt.encoding == "mulaw":
        return codecs.mulaw_decode
    if fmt.encoding == "alaw":
        return codecs.alaw_decode
    raise ValueError(f"not a G.711 encoding: {fmt.encoding!r}")


def _encoder(fmt: AudioFormat) -> Callable[[Samples], codecs.Codes]:
    if fmt.encoding == "mulaw":
        return codecs.mulaw_encode
    if fmt.encoding == "alaw":
        return codecs.alaw_encode
    raise ValueError(f"not a G.711 encoding: {fmt.encoding!r}")


@functools.lru_cache(maxsize=64)
def _scaled_codes(encoding: str, gain: float) -> codecs.Codes:
    """code → the code of its value times `gain` (256 entries)."""
    fmt = AudioFormat("mulaw" if encoding == "mulaw" else "alaw", G711_RATE)
    values = _decoder(fmt)(np.arange(256, dtype=np.uint8)).astype(np.float32) * gain
    table = _encoder(fmt)(np.clip(np.rint(values), -32768, 32767).astype(np.int16))
    table.flags.writeable = False
    return table
