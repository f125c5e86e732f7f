"""G.711 μ-law and A-law by lookup table: PCM16 in, one byte a sample out.

Both laws follow the ITU-T G.711 reference as the classic Sun `g711.c`
implements it (the one Python's `audioop` uses, and the tests hold these
tables bit-exact with it): μ-law encodes the top 14 bits of a sample, A-law
the top 13, and decoding gives back the 16-bit value at the middle of the
quantization step. The tables are built once at import — 256 entries to
decode, 65,536 (one per PCM16 value) to encode, and a 65,536-entry table
that decodes two codes at once — so coding a frame, or a batch of frames for
every call at once, is a single numpy lookup.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]  # PCM16, any shape
Codes = npt.NDArray[np.uint8]  # G.711 bytes, any shape

MULAW_SILENCE = 0xFF  # the code for 0
ALAW_SILENCE = 0xD5

_BIAS = 0x84  # μ-law: 132, added before finding the segment
_CLIP = 8159  # μ-law: the largest 14-bit magnitude before the bias
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_samples() -> npt.NDArray[np.int64]:
    """Every PCM16 value, indexed by its bit pattern as uint16 (0..65535)."""
    return np.arange(65_536, dtype=np.int64).astype(np.uint16).view(np.int16).astype(np.int64)


def _mulaw_encode_table() -> Codes:
    pcm = _all_samples() >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)  # first end >= magnitude
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0xF)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> Codes:
    pcm = _all_samples() >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0xF)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _mulaw_decode_table() -> Samples:
    code = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((code & 0x0F) << 3) + _BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _alaw_decode_table() -> Samples:
    code = np.arange(256, dtype=np.int64) ^ 0x55
    segment = (code & 0x70) >> 4
    t = (code & 0x0F) << 4
    t = np.where(segment == 0, t + 8, (t + 0x108) << np.maximum(segment - 1, 0))
    return np.where(code & 0x80, t, -t).astype(np.int16)


def _pairs(decode: Samples) -> npt.NDArray[np.uint32]:
    """Two codes read as one uint16 → their two samples read as one uint32:
    half as many lookups for an even number of codes (every frame)."""
    both = np.arange(65_536, dtype=np.uint16).view(np.uint8).reshape(-1, 2)
    return np.ascontiguousarray(decode[both]).view(np.uint32).ravel()


MULAW_ENCODE: Codes = _mulaw_encode_table()
ALAW_ENCODE: Codes = _alaw_encode_table()
MULAW_DECODE: Samples = _mulaw_decode_table()
ALAW_DECODE: Samples = _alaw_decode_table()
MULAW_DECODE_PAIRS = _pairs(MULAW_DECODE)
ALAW_DECODE_PAIRS = _pairs(ALAW_DECODE)
for _table in (MULAW_ENCODE, ALAW_ENCODE, MULAW_DECODE, ALAW_DECODE,
               MULAW_DECODE_PAIRS, ALAW_DECODE_PAIRS):
    _table.flags.writeable = False


def encode(samples: Samples, table: Codes) -> Codes:
    """PCM16 → codes with an encode table (MULAW_ENCODE, ALAW_ENCODE), same shape."""
    return np.take(table, samples.view(np.uint16))


def decode(codes: Codes, table: Samples, pairs: npt.NDArray[np.uint32]) -> Samples:
    """Codes → PCM16 with a decode table and its pair table, same shape."""
    if codes.shape and codes.shape[-1] % 2 == 0 and codes.flags.c_contiguous:
        decoded: Samples = np.take(pairs, codes.view(np.uint16)).view(np.int16)
        return decoded
    return np.take(table, codes)


def mulaw_encode(samples: Samples) -> Codes:
    """PCM16 → μ-law codes, same shape."""
    return encode(samples, MULAW_ENCODE)


def mulaw_decode(codes: Codes) -> Samples:
    """μ-law codes → PCM16, same shape."""
    return decode(codes, MULAW_DECODE, MULAW_DECODE_PAIRS)


def alaw_encode(samples: Samples) -> Codes:
    """PCM16 → A-law codes, same shape."""
    return encode(samples, ALAW_ENCODE)


def alaw_decode(codes: Codes) -> Samples:
    """A-law codes → PCM16, same shape."""
    return decode(codes, ALAW_DECODE, ALAW_DECODE_PAIRS)
