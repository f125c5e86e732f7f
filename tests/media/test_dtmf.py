"""In-band DTMF: keys found in 20 ms frames at every rate, through G.711 and
noise, once a press; none in speech, noise or music; and the tones made for
send_digits, to the sample."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from interpreter.media.dtmf import (
    COLUMN_HZ,
    DIGITS,
    GATE_DBFS,
    KEYPAD,
    ROW_HZ,
    DtmfDetector,
    tones,
)
from interpreter.media.frames import decode, encode, frame_dbfs
from interpreter.media.ports import AudioFormat
from interpreter.providers.tts.espeak import speak
from tests.media.vad_audio import (
    PHRASES,
    Samples,
    click,
    cough,
    frames,
    join,
    silence,
    speech,
    white_noise,
)

RATES = (8000, 16000, 24000)
SNR_DB = 10  # the two tones' power over the power of full-band white noise


def heard(samples: Samples, rate: int, *, lead_ms: float = 0,
          levels: bool = False) -> str:
    """Every key a fresh detector reports in `samples` after `lead_ms` of
    silence; `levels`: pass each frame's level in, as the media clock does."""
    detector = DtmfDetector(rate)
    audio = join(silence(lead_ms / 1000, rate), samples, silence(0.1, rate))
    keys = (detector.feed(frame, frame_dbfs(frame) if levels else None)
            for frame in frames(audio, rate))
    return "".join(key for key in keys if key is not None)


def pair(row_hz: float, column_hz: float, rate: int, *, row_dbfs: float = -12,
         column_dbfs: float = -12, ms: int = 100) -> Samples:
    """Two sines at their own RMS levels, `ms` long."""
    t = np.arange(ms * rate // 1000) / rate
    wave = sum(32768 * 10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * hz * t)
               for hz, dbfs in ((row_hz, row_dbfs), (column_hz, column_dbfs)))
    made: Samples = np.round(wave).astype(np.int16)
    return made


def mixed(signal: Samples, noise: Samples) -> Samples:
    both: Samples = np.clip(signal.astype(np.int32) + noise[:len(signal)],
                            -32768, 32767).astype(np.int16)
    return both


# ------------------------------------------------------------------ finding keys


@pytest.mark.parametrize("rate", RATES)
def test_every_key_round_trips_at_every_rate(rate: int) -> None:
    assert heard(tones(DIGITS, rate), rate) == DIGITS


@pytest.mark.parametrize("rate", RATES)
def test_keys_are_the_same_when_the_level_is_passed_in(rate: int) -> None:
    assert heard(tones("159#D", rate), rate, levels=True) == "159#D"


@pytest.mark.parametrize("fmt", [AudioFormat("mulaw", 8000), AudioFormat("alaw", 8000)])
def test_every_key_survives_g711_at_8_khz(fmt: AudioFormat) -> None:
    sent = tones(DIGITS * 2, 8000, tone_ms=50, gap_ms=50, level_dbfs=-20)
    assert heard(decode(encode(sent, fmt), fmt), 8000) == DIGITS * 2


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_key_is_heard_through_white_noise_at_10_db_snr(rate: int, seed: int) -> None:
    sent = tones(DIGITS, rate, level_dbfs=-20)  # the two tones together: -17 dBFS
    noise = white_noise(-17 - SNR_DB, len(sent) / rate + 0.1, rate, seed)
    assert heard(mixed(sent, noise), rate) == DIGITS


@pytest.mark.parametrize("rate", RATES)
def test_a_40_ms_key_is_heard_wherever_it_falls_across_frames(rate: int) -> None:
    for lead_ms in range(20):
        found = [heard(tones(key, rate, tone_ms=40), rate, lead_ms=lead_ms) for key in DIGITS]
        assert "".join(found) == DIGITS, f"{lead_ms} ms into a frame"


@pytest.mark.parametrize("rate", RATES)
def test_a_tone_of_23_ms_or_less_is_never_a_key(rate: int) -> None:
    for lead_ms in range(20):
        assert not any(heard(tones(key, rate, tone_ms=23), rate, lead_ms=lead_ms)
                       for key in DIGITS), f"{lead_ms} ms into a frame"


def test_a_key_held_for_two_seconds_is_one_press() -> None:
    assert heard(tones("7", 8000, tone_ms=2000), 8000) == "7"


@pytest.mark.parametrize("rate", RATES)
def test_the_same_key_again_after_a_40_ms_gap_is_another_press(rate: int) -> None:
    for lead_ms in range(0, 20, 3):
        sent = tones("5555", rate, tone_ms=40, gap_ms=40)
        assert heard(sent, rate, lead_ms=lead_ms) == "5555", f"{lead_ms} ms into a frame"


def test_a_10_ms_drop_out_inside_a_key_is_not_another_press() -> None:
    for start in range(800, 960, 24):  # 100-120 ms into a 300 ms tone, at 8 kHz
        sent = tones("9", 8000, tone_ms=300)
        sent[start:start + 80] = 0
        assert heard(sent, 8000) == "9"


def test_keys_without_a_gap_are_each_reported_once() -> None:
    assert heard(tones("1245", 8000, gap_ms=0), 8000) == "1245"
    assert heard(tones("11", 8000, gap_ms=0), 8000) == "1"  # one long tone


def test_a_key_right_after_speech_is_heard() -> None:
    spoken = speech(PHRASES[0], 8000)
    assert heard(join(spoken, tones("3", 8000)), 8000) == "3"


# ------------------------------------------------------------------ what a key must be


@pytest.mark.parametrize("rate", RATES)
def test_twist_up_to_8_db_normal_and_4_db_reverse_is_accepted(rate: int) -> None:
    for row, line in enumerate(KEYPAD):
        for column, key in enumerate(line):
            row_hz, column_hz = ROW_HZ[row], COLUMN_HZ[column]
            normal = pair(row_hz, column_hz, rate, column_dbfs=-12 - 7.5)
            reverse = pair(row_hz, column_hz, rate, row_dbfs=-12 - 3.5)
            assert heard(normal, rate) == key
            assert heard(reverse, rate) == key


@pytest.mark.parametrize("rate", RATES)
def test_twist_past_the_limits_is_rejected(rate: int) -> None:
    for row_hz in ROW_HZ:
        for column_hz in COLUMN_HZ:
            assert heard(pair(row_hz, column_hz, rate, column_dbfs=-12 - 10), rate) == ""
            assert heard(pair(row_hz, column_hz, rate, row_dbfs=-12 - 6), rate) == ""


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("deviation", "accepted"),
                         [(0.015, True), (-0.015, True), (0.035, False), (-0.035, False)])
def test_q24_frequency_tolerance(rate: int, deviation: float, accepted: bool) -> None:
    for row, line in enumerate(KEYPAD):
        for column, key in enumerate(line):
            sent = pair(ROW_HZ[row] * (1 + deviation), COLUMN_HZ[column] * (1 + deviation), rate)
            assert heard(sent, rate) == (key if accepted else "")


def test_quiet_keys_are_heard_down_to_34_dbfs_a_tone() -> None:
    assert heard(tones(DIGITS, 8000, level_dbfs=-34), 8000) == DIGITS
    assert heard(tones(DIGITS, 8000, level_dbfs=-40), 8000) == ""


def test_a_frame_the_level_puts_under_the_gate_is_not_analysed() -> None:
    detector = DtmfDetector(8000)
    loud = list(frames(tones("8", 8000, tone_ms=200), 8000))
    assert [detector.feed(frame, GATE_DBFS - 1) for frame in loud] == [None] * len(loud)
    assert [detector.feed(frame) for frame in loud[:3]].count("8") == 1


def test_a_frame_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="320 samples, not 160"):
        DtmfDetector(16000).feed(np.zeros(160, dtype=np.int16))


def test_an_unsupported_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="44100"):
        DtmfDetector(44100)


# ------------------------------------------------------------------ not keys


TEXT = ("Please enter your account number, followed by the pound key. Press one for "
        "sales, two for support, or stay on the line. Oh, hmm, well: seven hundred and "
        "ninety seven! Sing la la la laaa, ooooh, eeeeee.")


@functools.cache
def spoken(voice: str, rate: int) -> Samples:
    samples = speak(TEXT, voice, rate).samples
    assert len(samples) > 10 * rate  # the whole text was spoken
    return samples


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("voice", ["en-us", "en+f3", "en+m7", "de"])
def test_no_false_key_in_espeak_speech(voice: str, rate: int) -> None:
    assert heard(spoken(voice, rate), rate) == ""


@pytest.mark.parametrize("rate", [8000, 16000])
def test_no_false_key_in_the_spoken_fixtures(rate: int) -> None:
    assert [name for name in PHRASES if heard(speech(name, rate, gain_db=6), rate)] == []


@pytest.mark.parametrize("rate", RATES)
def test_no_false_key_in_coughs_clicks_or_noise(rate: int) -> None:
    sounds = [cough(rate), cough(rate, 500, -6), click(20, rate), click(60, rate, -3)] + \
        [white_noise(dbfs, 1, rate) for dbfs in (-40, -20, -10)]
    assert [heard(sound, rate) for sound in sounds] == [""] * len(sounds)


@pytest.mark.parametrize("rate", RATES)
def test_no_false_key_in_a_sine_sweep(rate: int) -> None:
    t = np.arange(4 * rate) / rate
    hz = 300 * (3400 / 300) ** (t / 4)  # exponential, 300-3400 Hz in 4 s
    sweep = np.round(12000 * np.sin(2 * np.pi * np.cumsum(hz) / rate)).astype(np.int16)
    assert heard(sweep, rate) == ""


def note(midi: int, seconds: float, rate: int) -> np.ndarray:
    """An equal-tempered note with five harmonics, each 0.6 of the one before,
    decaying like a plucked string."""
    hz = 440 * 2 ** ((midi - 69) / 12)
    t = np.arange(round(seconds * rate)) / rate
    wave = sum(0.6**h * np.sin(2 * np.pi * hz * (h + 1) * t)
               for h in range(5) if hz * (h + 1) < rate / 2)
    return np.asarray(wave) * np.exp(-t / 0.6)


def music(notes: list[list[int]], rate: int) -> Samples:
    played = np.concatenate([sum(note(m, 0.25, rate) for m in chord) for chord in notes])
    made: Samples = np.round(played / np.abs(played).max() * 20000).astype(np.int16)
    return made


@pytest.mark.parametrize("rate", RATES)
def test_no_false_key_in_chords(rate: int) -> None:
    rng = np.random.default_rng(1)
    chords = [list(rng.choice(np.arange(60, 96), size=rng.integers(1, 4), replace=False))
              for _ in range(60)]
    assert heard(music(chords, rate), rate) == ""


def test_notes_on_a_key_s_two_tones_are_no_key_when_they_have_harmonics() -> None:
    # F5 (698.5 Hz) and F#6 (1480 Hz) are within 0.2% of the tones of "3":
    # as bare sines they are that key, as notes they are not.
    assert heard(pair(698.46, 1479.98, 8000, ms=250), 8000) == "3"
    assert heard(music([[77, 90]] * 4, 8000), 8000) == ""


# ------------------------------------------------------------------ making tones


@pytest.mark.parametrize("rate", RATES)
def test_each_key_is_its_tone_then_its_gap_to_the_sample(rate: int) -> None:
    made = tones("12#", rate, tone_ms=70, gap_ms=30)
    tone, gap = 70 * rate // 1000, 30 * rate // 1000
    assert len(made) == 3 * (tone + gap)
    for start in range(0, len(made), tone + gap):
        assert np.count_nonzero(made[start + tone:start + tone + gap]) == 0
        assert np.count_nonzero(made[start + 1:start + tone]) > tone * 0.9


@pytest.mark.parametrize("rate", RATES)
def test_w_waits_half_a_second_and_capital_w_a_second(rate: int) -> None:
    key = len(tones("1", rate))
    assert len(tones("1w2", rate)) == 2 * key + rate // 2
    assert len(tones("1W2", rate)) == 2 * key + rate
    assert not np.any(tones("1w2", rate)[key:key + rate // 2])
    assert len(tones("wW", rate)) == rate * 3 // 2


def test_the_tones_are_the_key_s_row_and_column_at_the_level_asked() -> None:
    made = tones("6", 8000, tone_ms=1000, gap_ms=0, level_dbfs=-16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(made)) / len(made) * 2  # peak amplitude per 1 Hz bin
    assert sorted(np.argsort(spectrum)[-2:].tolist()) == [770, 1477]
    for hz in (770, 1477):
        assert 20 * np.log10(spectrum[hz] / np.sqrt(2) / 32768) == pytest.approx(-16, abs=0.05)


def test_nothing_to_send_is_no_audio() -> None:
    assert len(tones("", 8000)) == 0


@pytest.mark.parametrize("digits", ["12x", "1,2", "a"])
def test_what_is_not_a_dtmf_digit_is_refused(digits: str) -> None:
    with pytest.raises(ValueError, match="not DTMF digits"):
        tones(digits, 8000)


def test_a_level_that_would_clip_is_refused() -> None:
    with pytest.raises(ValueError, match="clip"):
        tones("1", 8000, level_dbfs=-6)
    assert int(np.abs(tones(DIGITS, 8000, level_dbfs=-9.1).astype(np.int32)).max()) <= 32767
