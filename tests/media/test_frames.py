"""The frame model: sizes, wire encodings, batches of one frame per call, energy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from interpreter.media import codecs, frames
from interpreter.media.ports import AudioFormat

FORMATS = [AudioFormat("pcm16", 8000), AudioFormat("pcm16", 16000),
           AudioFormat("pcm16", 24000), AudioFormat("pcm16be", 16000),
           AudioFormat("mulaw", 8000), AudioFormat("alaw", 8000)]
IDS = [f"{fmt.encoding}@{fmt.sample_rate}" for fmt in FORMATS]


def _sine(rate: int, seconds: float, hz: float, level: float) -> frames.Samples:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(level * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _calls(fmt: AudioFormat, count: int, seed: int = 1) -> frames.Samples:
    rng = np.random.default_rng(seed)
    size = frames.samples_per_frame(fmt.sample_rate)
    return rng.integers(-20000, 20000, size=(count, size)).astype(np.int16)


@pytest.mark.parametrize(("rate", "samples"),
                         [(8000, 160), (16000, 320), (24000, 480), (22050, 441)])
def test_a_frame_is_20_ms_of_samples(rate: int, samples: int) -> None:
    assert frames.FRAME_MS == 20
    assert frames.samples_per_frame(rate) == samples


def test_a_rate_without_whole_samples_in_a_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="11025 Hz"):
        frames.samples_per_frame(11025)


@pytest.mark.parametrize(("fmt", "size"), [(AudioFormat("mulaw", 8000), 160),
                                           (AudioFormat("alaw", 8000), 160),
                                           (AudioFormat("pcm16", 8000), 320),
                                           (AudioFormat("pcm16", 16000), 640),
                                           (AudioFormat("pcm16", 24000), 960)])
def test_frame_bytes_on_the_wire(fmt: AudioFormat, size: int) -> None:
    assert frames.frame_bytes(fmt) == size


@pytest.mark.parametrize(("fmt", "reason"), [
    (AudioFormat("mulaw", 16000), "8000 Hz"),
    (AudioFormat("pcm16", 44100), "unsupported sample rate"),
    (AudioFormat("pcm16", 8000, channels=2), "mono"),
    (AudioFormat("opus", 8000), "unknown audio encoding"),  # type: ignore[arg-type]
])
def test_formats_the_media_path_cannot_carry_are_refused(fmt: AudioFormat, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        frames.check_format(fmt)


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_silence_on_the_wire_decodes_to_silence(fmt: AudioFormat) -> None:
    payload = frames.silence_payload(fmt)
    assert len(payload) == frames.frame_bytes(fmt)
    assert np.abs(frames.decode(payload, fmt).astype(np.int32)).max() <= 8
    if fmt.encoding == "mulaw":
        assert set(payload) == {codecs.MULAW_SILENCE}


def test_pcm16_on_the_wire_is_little_endian() -> None:
    fmt = AudioFormat("pcm16", 8000)
    assert frames.encode(np.array([1, -2], dtype=np.int16), fmt) == b"\x01\x00\xfe\xff"
    assert list(frames.decode(b"\x01\x00\xfe\xff", fmt)) == [1, -2]


def test_pcm16be_on_the_wire_is_network_byte_order_and_decodes_to_native() -> None:
    fmt = AudioFormat("pcm16be", 16000)
    assert frames.encode(np.array([1, -2], dtype=np.int16), fmt) == b"\x00\x01\xff\xfe"
    decoded = frames.decode(b"\x00\x01\xff\xfe", fmt)
    assert list(decoded) == [1, -2] and decoded.dtype == np.dtype(np.int16)
    assert frames.decode_batch([b"\x00\x01" * 320], fmt).dtype == np.dtype(np.int16)


def test_a_pcm16_payload_of_half_a_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="not whole samples"):
        frames.decode(b"\x00\x01\x02", AudioFormat("pcm16", 8000))


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_encode_then_decode_is_exact_for_pcm16_and_a_g711_level_for_g711(
        fmt: AudioFormat) -> None:
    frame = _calls(fmt, 1)[0]
    decoded = frames.decode(frames.encode(frame, fmt), fmt)
    if fmt.encoding in ("pcm16", "pcm16be"):
        assert (decoded == frame).all()
    else:  # already on a G.711 level: a second round trip changes nothing
        assert (frames.decode(frames.encode(decoded, fmt), fmt) == decoded).all()


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_decoding_a_batch_equals_decoding_each_call(fmt: AudioFormat) -> None:
    payloads = frames.encode_batch(_calls(fmt, 40), fmt)
    batch = frames.decode_batch(payloads, fmt)
    assert batch.shape == (40, frames.samples_per_frame(fmt.sample_rate))
    assert batch.dtype == np.int16
    for row, payload in zip(batch, payloads, strict=True):
        assert (row == frames.decode(payload, fmt)).all()


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_encoding_a_batch_equals_encoding_each_call(fmt: AudioFormat) -> None:
    batch = _calls(fmt, 25)
    assert frames.encode_batch(batch, fmt) == [frames.encode(row, fmt) for row in batch]


def test_a_batch_with_a_payload_of_the_wrong_size_names_it() -> None:
    fmt = AudioFormat("mulaw", 8000)
    payloads = [bytes(160), bytes(160), bytes(150), bytes(170)]
    with pytest.raises(ValueError, match="payload 2 is 150 bytes"):
        frames.decode_batch(payloads, fmt)


def test_an_empty_batch_is_an_empty_array() -> None:
    fmt = AudioFormat("pcm16", 16000)
    assert frames.decode_batch([], fmt).shape == (0, 320)
    assert frames.encode_batch(np.zeros((0, 320), dtype=np.int16), fmt) == []


@pytest.mark.parametrize(("level", "expected"), [(1.0, -3.01), (0.1, -23.01), (0.01, -43.01)])
def test_energy_of_a_sine_in_dbfs(level: float, expected: float) -> None:
    frame = _sine(8000, 0.02, 1000, level)
    assert frames.frame_dbfs(frame) == pytest.approx(expected, abs=0.05)


def test_energy_of_a_full_scale_square_wave_is_0_dbfs() -> None:
    square = np.tile(np.array([-32768, -32768, -32768, -32768], dtype=np.int16), 40)
    assert frames.frame_dbfs(square) == pytest.approx(0.0, abs=0.01)


def test_energy_of_digital_silence_is_the_floor_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        levels = frames.energy_dbfs(np.zeros((3, 160), dtype=np.int16))
    assert (levels == frames.MIN_DBFS).all()
    one = np.zeros(160, dtype=np.int16)
    one[0] = 1
    assert frames.MIN_DBFS < frames.frame_dbfs(one) < -110


def test_energy_of_a_batch_is_each_call_s_energy() -> None:
    fmt = AudioFormat("pcm16", 8000)
    batch = _calls(fmt, 1) // np.arange(1, 31, dtype=np.int16)[:, None]  # one call, quieter
    levels = frames.energy_dbfs(batch)
    assert levels.shape == (30,)
    for row, level in zip(batch, levels, strict=True):
        rms = np.sqrt(np.mean(row.astype(np.float64) ** 2))
        assert level == pytest.approx(20 * np.log10(rms / 32768), abs=0.01)
    assert (np.diff(levels) < 0).all()


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_scaling_a_payload_by_half_lowers_it_6_db(fmt: AudioFormat) -> None:
    frame = _sine(fmt.sample_rate, 0.02, 500, 0.5)
    payload = frames.encode(frame, fmt)
    quieter = frames.scale_payload(payload, fmt, 0.5)
    before = frames.frame_dbfs(frames.decode(payload, fmt))
    after = frames.frame_dbfs(frames.decode(quieter, fmt))
    assert after - before == pytest.approx(-6.02, abs=0.15)
    assert frames.scale_payload(payload, fmt, 0.0) == frames.silence_payload(fmt)
