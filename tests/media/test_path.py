"""The audio path decides barge-in at the frame: zero agent frames after the
deciding tick, what was heard is exactly the words whose audio ended, and
speech that does not interrupt pauses the agent and resumes it with nothing
lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile

from interpreter.clock import run_virtual
from interpreter.ir import Barge, BargePolicy
from interpreter.media.clock import MediaClock
from interpreter.media.dtmf import DtmfDetector, tones
from interpreter.media.path import (
    HOLD_AFTER_STOP_TICKS,
    LONGEST_PAUSE_TICKS,
    STABLE_PARTIAL_TICKS,
    AudioPath,
    ListenerEvent,
    Noise,
    NotUnderstood,
    SpeechOffset,
    SpeechOnset,
    Words,
)
from interpreter.media.playout import Samples
from interpreter.media.ports import (
    Heard,
    ListenSettings,
    PlayoutFailure,
    Recording,
    Utterance,
    Voice,
)
from interpreter.providers.tts.base import SpeechAudio
from tests.media.doubles import TONE, TenthSecondWords

RATE = 16_000
REPLY = "I can book a table for four tonight at eight"  # ten words, 1.0 s


class Script:
    """A listener double: the events each tick brings."""

    def __init__(self, events: dict[int, list[ListenerEvent]]) -> None:
        self.events = events
        self.settings: list[ListenSettings] = []

    def listen(self, settings: ListenSettings) -> None:
        self.settings.append(settings)

    def feed(self, frame: Samples, tick: int,
             level_dbfs: float | None = None) -> Sequence[ListenerEvent]:
        return self.events.get(tick, [])


@dataclass
class Sink:
    said: list[str] = field(default_factory=list)
    onsets: int = 0
    finished: list[int] = field(default_factory=list)
    failures: list[PlayoutFailure] = field(default_factory=list)
    misheard: list[str] = field(default_factory=list)
    stopped: list[tuple[int, str, str]] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    pauses: list[tuple[bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def speech_started(self) -> None:
        self.onsets += 1

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        self.said.append(text)

    def digit(self, digit: str) -> None:
        self.digits.append(digit)
    def hung_up(self) -> None: ...
    def closed(self, reason: str) -> None: ...

    def playout_finished(self, playout_id: int) -> None:
        self.finished.append(playout_id)

    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        self.stopped.append((playout_id, heard.text, cause))

    def playout_paused(self, paused: bool, why: str) -> None:
        self.pauses.append((paused, why))

    def speech_noted(self, note: str) -> None:
        self.notes.append(note)

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self.failures.append(failure)

    def transcription_failed(self, reason: str) -> None:
        self.misheard.append(reason)


@dataclass
class Outcome:
    agent_ticks: list[int]  # ticks whose outbound frame held the agent's speech
    deciding: list[int]
    heard: Heard
    sink: Sink


def _call(events: dict[int, list[ListenerEvent]], policy: BargePolicy | None = None,
          ticks: int = 150, interruptible: bool = True) -> Outcome:
    agent_ticks: list[int] = []
    sink = Sink()

    async def main() -> Outcome:
        clock = MediaClock()
        path: AudioPath

        def outbound(frame: Samples) -> None:
            if np.any(frame == TONE):
                agent_ticks.append(clock.tick_number)

        path = AudioPath(clock, RATE, TenthSecondWords(), Script(events),
                         outbound=outbound, policy=policy)
        path.attach(sink)
        path.play(1, [Utterance("say", REPLY, interruptible=interruptible)])
        await asyncio.sleep(ticks * 0.02 + 0.001)
        heard = path.stop_playout()
        path.hangup("done")
        clock.stop()
        return Outcome(agent_ticks, path.deciding_ticks, heard, sink)

    return run_virtual(main)


def test_speech_onset_stops_the_agent_in_its_own_tick() -> None:
    outcome = _call({21: [SpeechOnset(21)]}, BargePolicy(mode=Barge.ALL))
    assert outcome.deciding == [21]
    assert outcome.agent_ticks and max(outcome.agent_ticks) < 21
    # 20 frames (0.4 s) went out before the deciding tick: four words ended.
    assert outcome.heard.text == "I can book a"
    assert outcome.sink.finished == []
    # The path reports the stop it decided, with what was heard: the runtime
    # is never left waiting for the end of a playout it did not stop.
    assert outcome.sink.stopped == [(1, "I can book a", "speech")]


def test_noise_interrupts_only_when_the_document_asks_and_long_enough() -> None:
    noisy = BargePolicy(mode=Barge.ALL, noise_s=0.5)
    outcome = _call({21: [Noise(0.3)], 40: [Noise(0.6)]}, noisy)
    assert outcome.deciding == [40]
    assert outcome.sink.stopped == [(1, "I can book a table for four", "noise")]
    quiet = _call({21: [Noise(2.0)]}, BargePolicy(mode=Barge.ALL))
    assert quiet.deciding == [] and quiet.sink.stopped == [] and quiet.sink.finished == [1]


def _after_a_commit(take_it_at: int | None) -> tuple[list[int], Sink, Heard | None]:
    """Playout 1 is interrupted at tick 21; playout 2 (the rest of the reply)
    is asked for at tick 25; the runtime takes the barge-in at `take_it_at`
    (None: never). The ticks that played playout 2, the sink, what
    `stop_playout` returned."""
    second: list[int] = []
    sink = Sink()
    taken: list[Heard] = []

    async def main() -> None:
        clock = MediaClock()

        def outbound(frame: Samples) -> None:
            if np.any(frame == TONE) and clock.tick_number > 21:
                second.append(clock.tick_number)

        path = AudioPath(clock, RATE, TenthSecondWords(), Script({21: [SpeechOnset(21)]}),
                         outbound=outbound, policy=BargePolicy(mode=Barge.ALL))
        path.attach(sink)
        path.play(1, [Utterance("say", REPLY)])
        await asyncio.sleep(25 * 0.02 + 0.001)
        path.play(2, [Utterance("say", "and then some")])
        if take_it_at is not None:
            await asyncio.sleep((take_it_at - 25) * 0.02)
            taken.append(path.stop_playout())
        await asyncio.sleep(2.0)
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    return second, sink, taken[0] if taken else None


def test_what_is_asked_for_before_the_runtime_takes_the_barge_in_is_held() -> None:
    second, sink, heard = _after_a_commit(take_it_at=27)
    assert second == []  # the rest of the interrupted reply never plays
    assert heard is not None and heard.text == "I can book a"  # the stop's words, kept
    assert sink.finished == []


def test_a_runtime_that_goes_on_without_taking_it_is_played_after_the_hold() -> None:
    second, sink, heard = _after_a_commit(take_it_at=None)
    assert heard is None
    assert second and min(second) == 25 + HOLD_AFTER_STOP_TICKS
    assert len(second) == 15 and sink.finished == [2]


def test_each_playout_dropped_is_reported_and_only_the_playing_one_was_heard() -> None:
    sink = Sink()

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), Script({12: [SpeechOnset(12)]}),
                         policy=BargePolicy(mode=Barge.ALL))
        path.attach(sink)
        path.play(1, [Utterance("say", "One two three.")])
        path.play(2, [Utterance("say", "Four five six.")])
        await asyncio.sleep(1.0)
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    assert sink.stopped == [(1, "One two", "speech"), (2, "", "speech")]


def test_words_decide_and_the_pause_is_not_heard() -> None:
    # Three words needed: the onset pauses the agent at tick 16, the partial
    # with two words does not interrupt, the final with three does.
    events: dict[int, list[ListenerEvent]] = {
        16: [SpeechOnset(16)],
        30: [Words("no wait", final=False)],
        40: [Words("no wait actually", final=True)],
    }
    outcome = _call(events, BargePolicy(min_words=3))
    assert outcome.deciding == [40]
    assert max(outcome.agent_ticks) < 16  # paused at the onset, never resumed
    assert outcome.heard.text == "I can book"
    # The partial changed (to the final) before it held: never passed on.
    assert outcome.sink.said == ["no wait actually"]


def test_a_partial_interrupts_only_once_it_has_held() -> None:
    # The recognizer's guesses change fast: "book a" for a few frames must not
    # interrupt; "cancel that please", unchanged for 200 ms, does.
    events: dict[int, list[ListenerEvent]] = {
        16: [SpeechOnset(16)],
        20: [Words("book a", final=False)],
        24: [Words("cancel that", final=False)],
        26: [Words("cancel that please", final=False)],
    }
    outcome = _call(events, BargePolicy(min_words=2))
    assert outcome.deciding == [26 + STABLE_PARTIAL_TICKS]
    assert outcome.sink.said == ["cancel that please"]


def test_speech_that_interrupted_and_then_was_not_understood_is_an_stt_error() -> None:
    # The agent stopped for it and waits for words: the caller is asked again.
    events: dict[int, list[ListenerEvent]] = {
        16: [SpeechOnset(16)], 40: [SpeechOffset(), NotUnderstood("no words")]}
    outcome = _call(events, BargePolicy(mode=Barge.ALL))
    assert outcome.deciding == [16]
    assert outcome.sink.misheard == ["no words"]


def test_a_backchannel_pauses_then_resumes_with_nothing_lost() -> None:
    events: dict[int, list[ListenerEvent]] = {
        11: [SpeechOnset(11)], 25: [Words("uh-huh", final=True)]}
    outcome = _call(events, BargePolicy(min_words=2))
    assert outcome.deciding == []
    assert [t for t in outcome.agent_ticks if 11 <= t < 25] == []  # held while deciding
    # The whole reply still played: 50 agent frames, and it finished.
    assert len(outcome.agent_ticks) == 50
    assert outcome.sink.finished == [1]
    assert outcome.sink.pauses == [(True, "the caller spoke over the agent"),
                                   (False, "the words did not interrupt: 'uh-huh'")]


def test_speech_nobody_understood_resumes_the_agent() -> None:
    events: dict[int, list[ListenerEvent]] = {
        11: [SpeechOnset(11)], 20: [NotUnderstood("no words")]}
    outcome = _call(events, BargePolicy(min_words=2))
    assert outcome.deciding == [] and outcome.sink.finished == [1]
    # Not an stt_error: speech over the agent that no words came of is let go.
    assert outcome.sink.misheard == []
    assert outcome.sink.pauses[-1] == (
        False, "not understood (no words), not answered")


def test_a_pause_nobody_decides_resumes_a_second_after_the_caller_stopped() -> None:
    events: dict[int, list[ListenerEvent]] = {11: [SpeechOnset(11)], 30: [SpeechOffset()]}
    outcome = _call(events, BargePolicy(min_words=2), ticks=200)
    gap = [t for t in range(min(outcome.agent_ticks), max(outcome.agent_ticks))
           if t not in outcome.agent_ticks]
    assert gap == list(range(11, 80))  # held while they spoke, and 50 ticks more
    assert outcome.sink.pauses[-1] == (False, "no decision 1 s after the caller stopped")
    assert outcome.sink.finished == [1]


def test_a_caller_who_goes_on_and_on_gets_the_agent_back_after_the_longest_pause() -> None:
    outcome = _call({11: [SpeechOnset(11)]}, BargePolicy(min_words=2), ticks=600)
    assert min(t for t in outcome.agent_ticks if t > 11) == 11 + LONGEST_PAUSE_TICKS
    assert outcome.sink.pauses[-1] == (False, "still undecided after 10 s")


def test_an_uninterruptible_utterance_plays_on() -> None:
    events: dict[int, list[ListenerEvent]] = {
        11: [SpeechOnset(11)], 20: [Words("stop talking please", final=True)]}
    outcome = _call(events, BargePolicy(mode=Barge.ALL), interruptible=False)
    assert outcome.deciding == [] and len(outcome.agent_ticks) == 50
    assert outcome.sink.said == ["stop talking please"]


def test_barge_off_neither_pauses_nor_stops() -> None:
    events: dict[int, list[ListenerEvent]] = {
        11: [SpeechOnset(11)], 20: [Words("stop talking please", final=True)]}
    outcome = _call(events, BargePolicy(mode=Barge.OFF))
    assert outcome.deciding == [] and len(outcome.agent_ticks) == 50


def test_a_recording_holds_what_each_side_said(tmp_path: Path) -> None:
    caller_voice = np.full(320, 700, dtype=np.int16)
    wanted = {"both": Recording(stereo=True), "speak": Recording(direction="speak"),
              "listen": Recording(direction="listen")}
    urls: dict[str, str] = {}

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), Script({}),
                         inbound=lambda: caller_voice, recordings=tmp_path)
        path.attach(Sink())
        for name, recording in wanted.items():
            urls[name] = path.start_recording(name, recording)
        path.play(1, [Utterance("say", REPLY)])
        await asyncio.sleep(0.5)
        path.stop_recording("speak")
        await asyncio.sleep(0.5)
        path.hangup("done")  # stops the others: what was recorded is kept
        clock.stop()

    run_virtual(main)
    files = {name: Path(url.removeprefix("file://")) for name, url in urls.items()}
    both, rate = soundfile.read(str(files["both"]), dtype="int16")
    assert rate == RATE and both.shape == (50 * 320, 2)
    assert (both[:, 0] == 700).all() and (np.abs(both[:, 1]) > 300).sum() > 45 * 320
    speak, _ = soundfile.read(str(files["speak"]), dtype="int16")
    assert len(speak) == 25 * 320 and (speak == 700).all()
    listen, _ = soundfile.read(str(files["listen"]), dtype="int16")
    assert len(listen) == 50 * 320 and not (listen == 700).any()


class Hearing(Script):
    """A listener double that keeps every frame it was fed."""

    def __init__(self) -> None:
        super().__init__({})
        self.frames: list[Samples] = []

    def feed(self, frame: Samples, tick: int,
             level_dbfs: float | None = None) -> Sequence[ListenerEvent]:
        self.frames.append(frame)
        return ()


def test_keys_in_the_callers_audio_are_digits_and_their_tones_are_not_heard_as_speech() -> None:
    # "1", then "#" 0.3 s later, sounded into the call as a keypad does.
    audio = np.concatenate([np.zeros(3200, np.int16), tones("1", RATE),
                            np.zeros(3200, np.int16), tones("#", RATE)])
    frames = iter(audio.reshape(-1, 320))
    sink, hearing = Sink(), Hearing()

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), hearing,
                         inbound=lambda: next(frames, None), in_band_dtmf=True)
        path.attach(sink)
        await asyncio.sleep(1.5)
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    assert sink.digits == ["1", "#"]
    # What the listener got of the tones: at most the frame before a key is
    # recognized as one, so the VAD never hears a key as speech.
    sounding = [frame for frame in hearing.frames if np.any(frame)]
    assert len(sounding) <= 2


def test_a_path_without_in_band_dtmf_leaves_the_audio_to_the_listener() -> None:
    frames = iter(tones("5", RATE).reshape(-1, 320))
    sink, hearing = Sink(), Hearing()

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), hearing,
                         inbound=lambda: next(frames, None))
        path.attach(sink)
        await asyncio.sleep(0.5)
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    assert sink.digits == [] and sum(1 for f in hearing.frames if np.any(f)) == 5


def test_send_digits_plays_the_keys_tones_to_the_caller() -> None:
    out: list[Samples] = []
    sink = Sink()

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), Script({}), outbound=out.append)
        path.attach(sink)
        path.send_digits("12w#")
        path.send_digits("no")  # not DTMF: nothing
        await asyncio.sleep(2.0)
        path.hangup("done")
        clock.stop()

    run_virtual(main)
    detector = DtmfDetector(RATE)
    assert [key for frame in out if (key := detector.feed(frame))] == ["1", "2", "#"]
    assert sink.finished == []  # the path's own playout: not reported to the call


class EstimatingTts(TenthSecondWords):
    """Like the double, but its marks are estimates."""

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        async for chunk in super().synthesize(text, voice):
            yield replace(chunk, estimated=True, voice=Voice("acme", "plain"))


def test_a_substituted_voice_and_estimated_marks_are_noted_once_each() -> None:
    sink = Sink()

    async def main() -> None:
        clock = MediaClock()
        path = AudioPath(clock, RATE, TenthSecondWords(), Script({}))
        path.attach(sink)
        for playout in (1, 2):
            path.play(playout, [Utterance("say", "Hello there.", Voice("rime", "spore"))])
        await asyncio.sleep(1.0)
        other = AudioPath(clock, RATE, EstimatingTts(), Script({}))
        other.attach(sink)
        other.play(3, [Utterance("say", "One. Two.")])
        await asyncio.sleep(1.0)
        path.hangup("done")
        other.hangup("done")
        clock.stop()

    run_virtual(main)
    assert sink.notes == [
        "the voice rime.spore is not available here: spoken with espeak.en-us",
        "acme.plain gave no timing for some words: where they start is estimated"]
