"""G.711 tables: bit-exact with the reference, round trips within one step."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from interpreter.media import codecs

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)

Encode = Callable[[codecs.Samples], codecs.Codes]
Decode = Callable[[codecs.Codes], codecs.Samples]
LAWS: list[tuple[str, Encode, Decode]] = [
    ("ulaw", codecs.mulaw_encode, codecs.mulaw_decode),
    ("alaw", codecs.alaw_encode, codecs.alaw_decode),
]


def _audioop() -> ModuleType:
    """The stdlib reference (Python ≤ 3.12, or audioop-lts); it warns on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


@pytest.mark.parametrize(("law", "encode", "decode"), LAWS)
def test_encoding_every_sample_matches_audioop(law: str, encode: Encode,
                                               decode: Decode) -> None:
    audioop = _audioop()
    reference = getattr(audioop, f"lin2{law}")(ALL_SAMPLES.tobytes(), 2)
    assert encode(ALL_SAMPLES).tobytes() == reference


@pytest.mark.parametrize(("law", "encode", "decode"), LAWS)
def test_decoding_every_code_matches_audioop(law: str, encode: Encode,
                                             decode: Decode) -> None:
    audioop = _audioop()
    reference = getattr(audioop, f"{law}2lin")(ALL_CODES.tobytes(), 2)
    assert decode(ALL_CODES).tobytes() == reference


@pytest.mark.parametrize(("law", "encode", "decode"), LAWS)
def test_round_trip_lands_on_a_level_next_to_the_sample(law: str, encode: Encode,
                                                        decode: Decode) -> None:
    levels = np.unique(decode(ALL_CODES).astype(np.int64))
    decoded = decode(encode(ALL_SAMPLES)).astype(np.int64)
    samples = ALL_SAMPLES.astype(np.int64)
    above = np.clip(np.searchsorted(levels, samples), 0, len(levels) - 1)
    below = np.clip(np.searchsorted(levels, samples, side="right") - 1, 0, len(levels) - 1)
    assert np.isin(decoded, levels).all()
    assert ((decoded == levels[above]) | (decoded == levels[below])).all()


@pytest.mark.parametrize(("law", "encode", "decode", "truncated"),
                         [(*law, bits) for law, bits in zip(LAWS, (2, 3), strict=True)])
def test_round_trip_error_is_within_half_a_quantization_step(
        law: str, encode: Encode, decode: Decode, truncated: int) -> None:
    # Reconstruction sits mid-interval, so the error is at most half a step
    # (the larger of the steps around the sample, where a segment changes),
    # plus the low bits G.711 drops (μ-law codes 14 bits of the 16, A-law 13).
    levels = np.unique(decode(ALL_CODES).astype(np.int64))
    every = ALL_SAMPLES
    inside = every[(every > levels[1]) & (every < levels[-2])]
    samples = inside.astype(np.int64)
    above = np.searchsorted(levels, samples)
    gaps = np.diff(levels)
    step = np.maximum.reduce([gaps[above - 2], gaps[above - 1],
                              gaps[np.minimum(above, len(gaps) - 1)]])
    error = np.abs(decode(encode(inside)).astype(np.int64) - samples)
    assert (error <= step / 2 + 2**truncated).all()
    assert step.max() == 1024  # the top segment's step, in 16-bit units


@pytest.mark.parametrize(("law", "encode", "decode"), LAWS)
def test_a_speech_level_sine_keeps_the_g711_signal_to_noise_ratio(law: str, encode: Encode,
                                                                  decode: Decode) -> None:
    t = np.arange(8000) / 8000
    sine = np.rint(0.3 * 32767 * np.sin(2 * np.pi * 1004 * t)).astype(np.int16)
    error = decode(encode(sine)).astype(np.float64) - sine
    snr = 10 * np.log10(np.sum(sine.astype(np.float64) ** 2) / np.sum(error**2))
    assert snr > 35  # G.711 gives about 38 dB over most of its range


@pytest.mark.parametrize(("law", "encode", "decode"), LAWS)
def test_decoded_levels_encode_to_themselves(law: str, encode: Encode,
                                             decode: Decode) -> None:
    decoded = decode(ALL_CODES)
    assert (decode(encode(decoded)) == decoded).all()


def test_silence_codes_decode_to_zero() -> None:
    assert codecs.mulaw_decode(np.array([codecs.MULAW_SILENCE], dtype=np.uint8))[0] == 0
    assert abs(int(codecs.alaw_decode(np.array([codecs.ALAW_SILENCE], dtype=np.uint8))[0])) <= 8
    assert codecs.mulaw_encode(np.zeros(1, dtype=np.int16))[0] == codecs.MULAW_SILENCE
    assert codecs.alaw_encode(np.zeros(1, dtype=np.int16))[0] == codecs.ALAW_SILENCE


@pytest.mark.parametrize("decode", [codecs.mulaw_decode, codecs.alaw_decode])
def test_pair_lookup_agrees_with_the_single_table(decode: Decode) -> None:
    rng = np.random.default_rng(7)
    batch = rng.integers(0, 256, size=(50, 160), dtype=np.uint8)
    odd = batch[:, :159]  # an odd length and a strided view take the plain table
    single = decode(batch.ravel()[:-1])
    assert (decode(batch) == np.concatenate([decode(row) for row in batch])
            .reshape(50, 160)).all()
    assert (decode(odd) == np.stack([decode(row[:159]) for row in batch])).all()
    assert (single == decode(batch.ravel())[:-1]).all()


def test_tables_cannot_be_changed() -> None:
    with pytest.raises(ValueError, match="read-only"):
        codecs.MULAW_DECODE[0] = 1
