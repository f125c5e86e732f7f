"""The listener turns a caller's audio into the path's events: onset, partial
and final words, the end of the utterance, noise; what recognition got
includes the first syllable; failures and empty or doubtful results are
`NotUnderstood`."""

from __future__ import annotations

import numpy as np

from interpreter.media.listening import SpeechListener
from interpreter.media.path import (
    ListenerEvent,
    NotUnderstood,
    SpeechOffset,
    SpeechOnset,
    Words,
)
from interpreter.media.ports import ListenSettings
from interpreter.providers.stt.base import Recognized, SttError
from interpreter.providers.vad.webrtc import WebRtcVad
from tests.media.vad_audio import frames, join, onset, silence, speech

RATE = 16_000


class Session:
    def __init__(self, owner: RecordingStt) -> None:
        self.owner = owner
        self.audio: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> Recognized | None:
        if self.owner.fail_feed:
            raise SttError("the recognizer died")
        self.audio.append(samples)
        if sum(len(a) for a in self.audio) == 8000:  # half a second in
            return Recognized("transfer", final=False)
        return None

    def finish(self) -> Recognized:
        return Recognized(self.owner.text, True, self.owner.confidence)

    def close(self) -> None:
        self.owner.closed += 1


class RecordingStt:
    """A recognizer double that keeps the audio it was given."""

    def __init__(self, text: str = "transfer me to sales", confidence: float = 0.9,
                 sample_rate: int = RATE) -> None:
        self.text, self.confidence, self.sample_rate = text, confidence, sample_rate
        self.sessions: list[Session] = []
        self.settings: list[ListenSettings] = []
        self.fail_feed = False
        self.closed = 0

    def session(self, settings: ListenSettings) -> Session:
        self.settings.append(settings)
        self.sessions.append(Session(self))
        return self.sessions[-1]


def _listen(stt: RecordingStt, settings: ListenSettings | None = None,
            rate: int = RATE) -> list[tuple[int, ListenerEvent]]:
    phrase = speech("transfer_me_to_sales.wav", rate)
    audio = join(silence(0.5, rate), phrase, silence(1.5, rate))
    listener = SpeechListener(WebRtcVad(rate), stt, rate, settings)
    return [(tick, event) for tick, frame in enumerate(frames(audio, rate), start=1)
            for event in listener.feed(frame, tick)]


def test_an_utterance_becomes_onset_partial_end_and_final_words() -> None:
    stt = RecordingStt()
    events = _listen(stt)
    kinds = [type(event) for _, event in events]
    assert kinds == [SpeechOnset, Words, SpeechOffset, Words]
    assert events[1][1] == Words("transfer", final=False, confidence=1.0)
    assert events[3][1] == Words("transfer me to sales", final=True, confidence=0.9)
    # The onset is within 200 ms of where the phrase starts (0.5 s in: tick 26).
    started = events[0][1]
    assert isinstance(started, SpeechOnset) and 26 <= started.onset <= 36
    assert stt.closed == 1


def test_recognition_hears_the_first_syllable() -> None:
    stt = RecordingStt()
    events = _listen(stt)
    started = events[0][1]
    assert isinstance(started, SpeechOnset)
    heard = np.concatenate(stt.sessions[0].audio)
    audio = join(silence(0.5, RATE), speech("transfer_me_to_sales.wav", RATE),
                 silence(1.5, RATE))
    # Recognition got the call's audio from the lead-in before the onset on,
    # frame for frame, and so from before the phrase's first sound.
    first = (started.onset - 1 - 10) * 320
    assert np.array_equal(heard, audio[first:first + len(heard)])
    assert first <= onset(audio)


def test_an_empty_or_doubtful_final_is_not_understood() -> None:
    nothing = [e for _, e in _listen(RecordingStt(text="  "))]
    assert nothing[-1] == NotUnderstood("no words recognized")
    doubtful = [e for _, e in _listen(RecordingStt(confidence=0.3),
                                      ListenSettings(confidence=0.5))]
    assert isinstance(doubtful[-1], NotUnderstood) and "0.30" in doubtful[-1].reason


def test_a_recognizer_that_dies_mid_utterance_is_not_understood_once() -> None:
    stt = RecordingStt()
    stt.fail_feed = True
    events = [e for _, e in _listen(stt)]
    failures = [e for e in events if isinstance(e, NotUnderstood)]
    assert len(failures) == 1 and "the recognizer died" in failures[0].reason
    assert not any(isinstance(e, Words) for e in events)


def test_recognition_at_its_own_rate() -> None:
    stt = RecordingStt(sample_rate=16_000)
    events = [e for _, e in _listen(stt, rate=8_000)]
    assert isinstance(events[-1], Words)
    heard = np.concatenate(stt.sessions[0].audio)
    # 8 kHz in, 16 kHz to the recognizer: twice the samples of what was kept.
    assert len(heard) % 320 == 0 and len(heard) > 2 * 8000


def test_the_recognizer_is_told_the_rate_the_callers_audio_came_at() -> None:
    # Telephony audio (8 kHz) is resampled for the recognizer, which decodes
    # such narrowband audio differently (providers/stt/pocketsphinx.py).
    narrow, wide = RecordingStt(), RecordingStt()
    _listen(narrow, rate=8_000)
    _listen(wide)
    assert [s.source_rate for s in narrow.settings] == [8_000]
    assert [s.source_rate for s in wide.settings] == [16_000]
