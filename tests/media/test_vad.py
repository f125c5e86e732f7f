"""The energy gate in front of a VAD, the level and pitch measures, and how
`energy_level` and `vad_config` are read."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from interpreter.media.endpoint import SpeechDetector
from interpreter.media.ports import ListenSettings
from interpreter.media.vad import (
    MIN_DBFS,
    PITCH_THRESHOLD,
    EnergyGate,
    VadSettings,
    gate_dbfs,
    level_dbfs,
    periodicity,
    pitched,
)
from interpreter.providers.vad.base import VadProvider
from tests.media.vad_audio import cough, frames, hear, join, silence, speech, tone, white_noise


class CountingVad:
    """A VAD that calls every frame it is asked about voice, and counts them."""

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self.asked = 0
        self.resets = 0
        self.settings: ListenSettings | None = None

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        self.asked += 1
        return True

    def reset(self) -> None:
        self.resets += 1

    def listen(self, settings: ListenSettings) -> None:
        self.settings = settings


def test_the_gate_is_itself_a_vad_provider() -> None:
    provider: VadProvider = EnergyGate(CountingVad())
    assert provider.sample_rate == 16000


# ------------------------------------------------------------------ energy_level


@pytest.mark.parametrize(("energy_level", "dbfs"), [
    (52.0, -48.0), (0.0, -100.0), (100.0, 0.0), (70.0, -30.0), (-5.0, -100.0), (130.0, 0.0)])
def test_energy_level_is_db_above_the_floor_of_the_16_bit_range(energy_level: float,
                                                                 dbfs: float) -> None:
    assert gate_dbfs(energy_level) == dbfs


def test_the_default_gate_is_at_minus_48_dbfs() -> None:
    assert EnergyGate(CountingVad()).threshold_dbfs == -48.0
    assert EnergyGate.from_settings(CountingVad(), ListenSettings()).threshold_dbfs == -48.0


# ------------------------------------------------------------------ levels


def test_levels_are_rms_dbfs() -> None:
    assert level_dbfs(tone(1000, -3.0103, 0.02, 16000)) == pytest.approx(-3.01, abs=0.05)
    assert level_dbfs(white_noise(-30, 0.02, 16000)) == pytest.approx(-30, abs=1.5)
    assert level_dbfs(silence(0.02, 8000)) == MIN_DBFS


# ------------------------------------------------------------------ the gate


@pytest.mark.parametrize("rate", [8000, 16000])
def test_frames_under_the_gate_are_silence_without_asking_the_vad(rate: int) -> None:
    vad = CountingVad(rate)
    gate = EnergyGate(vad)
    quiet = [*frames(silence(1, rate), rate), *frames(white_noise(-60, 1, rate), rate),
             *frames(tone(440, -50, 1, rate), rate)]
    assert not any(gate.is_speech(frame) for frame in quiet)
    assert vad.asked == 0


@pytest.mark.parametrize("rate", [8000, 16000])
def test_frames_over_the_gate_go_to_the_vad(rate: int) -> None:
    vad = CountingVad(rate)
    gate = EnergyGate(vad)
    loud = frames(white_noise(-40, 1, rate), rate)
    assert all(gate.is_speech(frame) for frame in loud)
    assert vad.asked == len(loud)


def test_a_measured_level_is_used_instead_of_measuring_again() -> None:
    vad = CountingVad()
    gate = EnergyGate(vad)
    loud = white_noise(-20, 0.02, 16000)
    assert not gate.is_speech(loud, energy_db=-70.0)
    assert gate.is_speech(silence(0.02, 16000), energy_db=-20.0)
    assert vad.asked == 1


def test_the_gate_agrees_with_the_level_on_either_side_of_it() -> None:
    gate = EnergyGate(CountingVad(), threshold_dbfs=-40.0)
    for db in (-41.0, -39.0):
        frame = white_noise(db, 0.02, 16000)
        assert gate.is_speech(frame) == gate.is_speech(frame, level_dbfs(frame)) \
            == (level_dbfs(frame) >= -40.0)


def test_new_settings_move_the_gate_and_reach_the_provider() -> None:
    vad = CountingVad()
    gate = EnergyGate(vad)
    changed = dataclasses.replace(ListenSettings(), energy_level_db=80.0, vad="90")
    gate.listen(changed)
    assert gate.threshold_dbfs == -20.0
    assert vad.settings == changed
    assert not gate.is_speech(white_noise(-30, 0.02, 16000))


def test_the_vad_is_reset_when_the_audio_falls_under_the_gate() -> None:
    vad = CountingVad()
    gate = EnergyGate(vad)
    loud, quiet = white_noise(-20, 0.02, 16000), silence(0.02, 16000)
    for frame in (loud, loud, quiet, quiet, loud, quiet):
        gate.is_speech(frame)
    assert vad.resets == 2  # once per closing, not per silent frame


# ------------------------------------------------------------------ vad_config


@pytest.mark.parametrize(("spec", "threshold", "min_speech_ms"), [
    ("", None, 100), ("40", 40, 100), ("40:200", 40, 200), (" 75 : 60 ", 75, 60),
    ("40.4", 40, 100), (":160", None, 160), ("loud", None, 100), ("40:long", 40, 100),
    ("140:5", None, 100), ("-1:5000", None, 100)])
def test_vad_config_reads_a_threshold_and_a_minimum_speech_duration(
        spec: str, threshold: int | None, min_speech_ms: int) -> None:
    assert VadSettings.parse(spec) == VadSettings(threshold, min_speech_ms)


# ------------------------------------------------------------------ pitch


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_a_vowel_is_pitched_and_hiss_and_coughs_are_not(rate: int) -> None:
    vowel = tone(140, -20, 0.02, rate) + tone(280, -26, 0.02, rate) + tone(420, -30, 0.02, rate)
    assert pitched(vowel)
    assert not any(pitched(frame) for frame in frames(white_noise(-20, 1, rate), rate))
    assert max(periodicity(frame) for frame in frames(cough(rate), rate)) < PITCH_THRESHOLD


def test_most_voiced_speech_frames_are_pitched() -> None:
    spoken = speech("what_are_your_opening_hours.wav")
    loud = [frame for frame in frames(spoken, 16000) if level_dbfs(frame) > -30]
    assert sum(map(pitched, loud)) > 0.6 * len(loud)


def test_pitch_needs_a_whole_20_ms_frame() -> None:
    with pytest.raises(ValueError, match="20 ms frame"):
        periodicity(np.zeros(100, dtype=np.int16))


# ------------------------------------------------------------------ the detector


def test_the_listener_asks_the_vad_only_about_frames_over_the_gate() -> None:
    rate = 16000
    vad = CountingVad(rate)
    detector = SpeechDetector(vad)
    audio = join(silence(1, rate), speech("no_thanks.wav"), silence(1, rate))
    hear(detector, audio, rate)
    loud = sum(level_dbfs(frame) >= -48 for frame in frames(audio, rate))
    assert vad.asked == loud < len(frames(audio, rate)) / 2
