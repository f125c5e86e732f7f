"""Streaming resampling: quality (SNR of a sine sweep), exact 20 ms framing, delay."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from interpreter.media.frames import Samples
from interpreter.media.resample import Resampler, priming

PAIRS = [(8000, 16000), (16000, 8000), (8000, 24000), (24000, 8000), (16000, 24000),
         (24000, 16000), (22050, 8000), (22050, 16000), (22050, 24000)]
IDS = [f"{a}-{b}" for a, b in PAIRS]

# Measured with soxr 1.1.0 "HQ", one way against the ideal sweep: 89-102 dB
# between 8/16/24 kHz, 80-86 dB from 22,050 Hz; 8 → 16 → 8 kHz: 121 dB.
# The bound leaves 12 dB under the worst.
MIN_SNR_DB = 68.0


def _sweep(rate: int, seconds: float, low: float, high: float,
           delay: float = 0.0) -> npt.NDArray[np.float64]:
    """A linear sine sweep at half scale, as the ideal samples at `rate`."""
    t = np.arange(int(rate * seconds)) / rate - delay
    rise = (high - low) / seconds
    return np.rint(0.5 * 32767 * np.sin(2 * np.pi * (low * t + rise * t * t / 2)))


def _snr(reference: npt.NDArray[np.float64], got: Samples, delay: int = 0) -> float:
    """Away from the sweep's edges: after `delay` samples of leading silence
    and 5% of the length, up to 5% before the end."""
    edge = len(reference) // 20
    want = reference[delay + edge:-edge]
    error = got[delay + edge:len(reference) - edge].astype(np.float64) - want
    return float(10 * np.log10(np.sum(want**2) / np.sum(error**2)))


def _paced(resampler: Resampler, samples: Samples) -> Samples:
    step = resampler.in_frame
    out = [resampler.frame(samples[i:i + step]) for i in range(0, len(samples), step)]
    return np.concatenate(out)


def _top(in_rate: int, out_rate: int) -> float:
    return 0.85 * min(in_rate, out_rate) / 2  # 3,400 Hz for telephony


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS, ids=IDS)
def test_a_paced_sweep_comes_out_as_the_ideal_sweep_at_the_new_rate(in_rate: int,
                                                                  out_rate: int) -> None:
    top = _top(in_rate, out_rate)
    resampler = Resampler(in_rate, out_rate)
    out = _paced(resampler, _sweep(in_rate, 3, 300, top).astype(np.int16))
    ideal = _sweep(out_rate, 3, 300, top, delay=resampler.delay / out_rate)
    assert _snr(ideal, out, resampler.delay) >= MIN_SNR_DB


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS, ids=IDS)
def test_pushed_audio_comes_out_aligned_with_no_delay(in_rate: int, out_rate: int) -> None:
    top = _top(in_rate, out_rate)
    resampler = Resampler(in_rate, out_rate)
    sweep = _sweep(in_rate, 3, 300, top).astype(np.int16)
    chunks = np.array_split(sweep, 37)  # chunks of any size, as speech synthesis gives
    out = np.concatenate([resampler.push(chunk) for chunk in chunks] + [resampler.flush()])
    assert out.shape == (150, resampler.out_frame)  # 3 s, every frame whole
    assert _snr(_sweep(out_rate, 3, 300, top), out.ravel()) >= MIN_SNR_DB


def test_telephony_sweep_survives_8_to_16_and_back() -> None:
    sweep = _sweep(8000, 4, 300, 3400).astype(np.int16)
    up, down = Resampler(8000, 16000), Resampler(16000, 8000)
    back = _paced(down, _paced(up, sweep))
    delay = up.delay // 2 + down.delay  # samples at 8 kHz
    assert up.delay % 2 == 0
    assert _snr(_sweep(8000, 4, 300, 3400, delay=delay / 8000), back, delay) >= MIN_SNR_DB


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS, ids=IDS)
def test_one_frame_in_is_exactly_one_frame_out_over_a_long_stream(in_rate: int,
                                                                  out_rate: int) -> None:
    resampler = Resampler(in_rate, out_rate)
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 3000, size=in_rate * 60).astype(np.int16)  # a minute
    for start in range(0, len(noise), resampler.in_frame):
        out = resampler.frame(noise[start:start + resampler.in_frame])
        assert out.shape == (resampler.out_frame,)
        assert out.dtype == np.int16
    assert resampler.underruns == 0


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (22050, 8000)])
def test_paced_output_is_the_pushed_output_delayed_by_the_priming(in_rate: int,
                                                                  out_rate: int) -> None:
    sweep = _sweep(in_rate, 2, 300, _top(in_rate, out_rate)).astype(np.int16)
    paced_resampler, pushed_resampler = Resampler(in_rate, out_rate), Resampler(in_rate, out_rate)
    paced = _paced(paced_resampler, sweep)
    step = pushed_resampler.in_frame
    pushed = np.concatenate([pushed_resampler.push(sweep[i:i + step]).ravel()
                             for i in range(0, len(sweep), step)])
    delay = paced_resampler.delay
    assert delay == priming(in_rate, out_rate) > 0
    assert (paced[:delay] == 0).all()
    assert (paced[delay:] == pushed[:len(paced) - delay]).all()


def test_the_delay_of_each_pair_is_reported() -> None:
    up = Resampler(8000, 16000)
    assert up.delay_ms == 1000 * up.delay / 16000
    assert 0 < up.delay_ms < 200  # soxr's block latency: about 115 ms at HQ


def test_the_same_rate_passes_frames_through_untouched() -> None:
    resampler = Resampler(16000, 16000)
    frame = np.arange(320, dtype=np.int16)
    assert resampler.delay == 0
    assert resampler.frame(frame) is frame
    pushed = resampler.push(np.arange(500, dtype=np.int16))
    assert pushed.shape == (1, 320)
    rest = resampler.flush()
    assert rest.shape == (1, 320)
    assert (rest[0, :180] == np.arange(320, 500)).all()
    assert (rest[0, 180:] == 0).all()


def test_a_frame_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="160 samples, not 200"):
        Resampler(8000, 16000).frame(np.zeros(200, dtype=np.int16))


def test_after_a_flush_the_next_stream_starts_fresh() -> None:
    resampler = Resampler(22050, 8000)
    rng = np.random.default_rng(5)
    first = rng.normal(0, 3000, size=22050).astype(np.int16)
    second = _sweep(22050, 1, 300, 3400).astype(np.int16)
    resampler.push(first)
    resampler.flush()
    again = np.concatenate([resampler.push(second), resampler.flush()])
    fresh = Resampler(22050, 8000)
    expected = np.concatenate([fresh.push(second), fresh.flush()])
    assert (again == expected).all()


def test_flushing_nothing_gives_no_frames() -> None:
    assert Resampler(8000, 24000).flush().shape == (0, 480)
