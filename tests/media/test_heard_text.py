"""Heard text after a barge-in, checked against eSpeak's own word marks: an
ai verb (scripted model) speaks a multi-sentence reply through eSpeak NG on
the audio runtime (`run --audio`'s simulated caller), the caller's spoken
line interrupts at a random point, and voice activity decides (barge-in on
speech onset). The words the caller heard are worked out here, independently
of the playout's own bookkeeping: every chunk eSpeak made for the call is
kept with its word marks, found sample for sample in the outbound audio, and
a word counts as played when its sound — up to its last sample above -40
dBFS before the next word's mark — went out before the deciding tick (the
pause after a sentence's last word need not have). The words kept are the
assistant message the model is sent next. They must be the same: 0 lost, 0
added. bench/bench_heard.py runs the same check over many random points.
"""

from __future__ import annotations

import difflib
import itertools
import random
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from interpreter.clock import run_virtual
from interpreter.host import CallHost
from interpreter.media.clock import MediaClock
from interpreter.media.playout import Samples
from interpreter.media.ports import Voice
from interpreter.providers.llm.base import LlmRequest
from interpreter.providers.llm.scripted import load_rules
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import vocabulary_for
from interpreter.providers.tts.base import SpeechAudio
from interpreter.providers.tts.espeak import EspeakTts
from interpreter.transports.audio_caller import AudioCaller
from interpreter.transports.caller_script import call_details, load_caller_script
from interpreter.transports.simulated_network import SimulatedNetwork
from tests.media.vad_audio import onset

RATE = 16_000
FRAME = RATE // 50
QUIET = 328  # |sample| at or under this (-40 dBFS) is a pause, as eSpeak's marks treat it
# Three sentences, so three playouts: barge-ins land in the first, in a later
# one, and in the pauses between them.
REPLY = ("We have tables at six, seven and eight tonight. The terrace opens at nine "
         "if you would rather sit outside. Which of those would suit you best?")
CALLER_LINES = ("cancel my appointment", "no thanks", "transfer me to sales",
                "I want to speak to a person")
FLOW = b"""sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You book tables at a restaurant.
        params:
          enable_barge: partial
"""
RULES = f"""rules:
  - when: {{start: true}}
    reply: "{REPLY}"
  - reply: "Sure."
"""


@dataclass(frozen=True, slots=True)
class Barged:
    """One call whose reply the caller interrupted, as captured."""

    agent: Samples  # every outbound sample, from the call's first tick
    caller: Samples  # every inbound sample, aligned with `agent`
    deciding: tuple[int, ...]  # media ticks that committed a barge-in
    made: tuple[tuple[str, SpeechAudio], ...]  # what eSpeak made, in playout order
    kept: str | None  # the assistant words the next model request carried; None: no request
    next_reply: int | None  # the tick the answer to the caller was queued in

    @property
    def cut(self) -> int:
        """The first agent sample the deciding tick held back (tick 1 is sample 0)."""
        return (self.deciding[0] - 1) * FRAME


@dataclass(frozen=True, slots=True)
class SpokenWord:
    """One word of the reply where it is in the outbound audio."""

    text: str
    sentence: int  # which of the reply's sentences (playouts) it is in, from 0
    start: int  # its mark: where its audio starts
    end: int  # the next word's mark, or the end of its sentence's audio
    sound_end: int  # after its last audible sample (from here to `end` is a pause)


class NotFound(AssertionError):
    """The reply's audio was not found, sample for sample, in what went out."""


def caller_script(at: float, line: str | None, sound: str | None = None,
                  hang_up_after: float = 2.5) -> bytes:
    """The caller speaks `line` (or makes `sound`) `at` s after the agent
    starts its reply, then hangs up."""
    action = f'say: "{line}"' if line is not None else f"sound: {sound}"
    return (f"linger: 3\nsteps:\n  - {action}\n    barge_in: {at:.4f}\n"
            f"  - hangup: {{}}\n    after: {hang_up_after}\n").encode()


class RecordingTts:
    """eSpeak NG, keeping every chunk it made (samples and word marks) in the
    order the playout queued them: the ground truth, since eSpeak's output
    varies by a few samples from one synthesis to the next."""

    def __init__(self) -> None:
        self.tts = EspeakTts()
        self.made: list[tuple[str, SpeechAudio]] = []

    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        return self.tts.voice_for(voice)

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        async for chunk in self.tts.synthesize(text, voice):
            self.made.append((text, chunk))
            yield chunk


def barge_call(at: float, line: str | None = CALLER_LINES[0],
               sound: str | None = None, hang_up_after: float = 2.5) -> Barged:
    """One call through the ai runtime on audio (what `run --audio` builds),
    the caller cutting in `at` s in with `line` (or `sound`)."""
    rules = load_rules(RULES)
    rules.default_delay_ms = 0.0  # the reply is all there at once: sentences queue back to back
    folder = Path(tempfile.mkdtemp(prefix="heard-"))
    wav = folder / "call.wav"
    tts = RecordingTts()

    async def main() -> Barged:
        script = load_caller_script(caller_script(at, line, sound, hang_up_after),
                                    "heard.caller.yaml")
        async with CallHost(llm={"scripted": rules}) as host:
            flow = host.compile(FLOW, "heard.yaml")
            stt = PocketsphinxProvider(vocabulary_for(flow).with_hints(CALLER_LINES),
                                       pool_size=1)
            caller = AudioCaller(script, MediaClock(), tts, stt, keep_audio=True)
            network = SimulatedNetwork.for_script(script)
            try:
                call = host.start_call(flow, caller, network, call_info=call_details(script))
                await host.wait(call)
            finally:
                await caller.close()
                await network.close()
        caller.record(wav)
        stereo, _ = soundfile.read(str(wav), dtype="int16")
        wav.unlink()
        folder.rmdir()
        # Trace times count from the call's start, as the media ticks do (tick 1
        # ends 20 ms in): the tick the answer was queued in.
        says = [float(r["t"]) for r in call.trace.of_kind("say")]
        barge = next(iter(call.trace.of_kind("barge_in")), None)
        answer = next((t for t in says if barge is not None and t > float(barge["t"])), None)
        return Barged(stereo[:, 1].copy(), stereo[:, 0].copy(),
                      tuple(caller.path.deciding_ticks), tuple(tts.made),
                      _kept(rules.requests), None if answer is None else int(answer / 0.02))

    return run_virtual(main)


def _kept(requests: Sequence[LlmRequest]) -> str | None:
    """The assistant words the request after the interrupted one carried."""
    if len(requests) < 2:
        return None
    later = requests[1].messages[len(requests[0].messages):]
    return " ".join(m.content for m in later if m.role == "assistant")


def spoken_words(agent: Samples, made: Sequence[tuple[str, SpeechAudio]],
                 until: int) -> list[SpokenWord]:
    """Where each word eSpeak made went out in `agent`, up to sample `until`:
    each chunk, resampled to the call's rate, is found sample for sample after
    the one before it. Raises NotFound when what went out is not what was made."""
    words: list[SpokenWord] = []
    cursor = 0
    texts: list[str] = []
    for text, chunk in made:
        if text not in texts:
            texts.append(text)
        samples = soxr.resample(chunk.samples, chunk.rate, RATE).astype(np.int16)
        audible = np.flatnonzero(samples)
        out = np.flatnonzero(agent[cursor:until])
        if not len(audible) or not len(out):
            break  # cut before this chunk made a sound
        at = cursor + int(out[0]) - int(audible[0])
        played = min(len(samples), until - at)
        if at < cursor or not np.array_equal(agent[at:at + played], samples[:played]):
            raise NotFound(f"{text!r} is not in the outbound audio at sample {at}")
        scale = RATE / chunk.rate
        marks = [int(mark.sample * scale) for mark in chunk.marks]
        for index, mark in enumerate(chunk.marks):
            end = marks[index + 1] if index + 1 < len(marks) else len(samples)
            loud = np.flatnonzero(np.abs(samples[marks[index]:end].astype(np.int32)) > QUIET)
            sound_end = marks[index] + int(loud[-1]) + 1 if len(loud) else end
            words.append(SpokenWord(text[mark.start:mark.end], texts.index(text),
                                    at + marks[index], at + end, at + sound_end))
        cursor = at + len(samples)
    return words


@dataclass(frozen=True, slots=True)
class Check:
    """Played against kept, and how the cut fell."""

    played: tuple[str, ...]  # words whose audio ended before the deciding tick
    kept: tuple[str, ...]
    lost: int  # played, not kept
    added: int  # kept, not played
    cut_in_sound: float | None  # the cut fell inside a word's sound: the share of it played
    cut_in_pause: bool  # after a word's sound, before the next word's mark (it was heard)
    cut_sentence: int  # the sentence the cut fell in (or after), from 0
    detection_ms: float  # the caller's first sound → the end of the deciding tick
    stop_frames: int  # agent frames with sound from the deciding tick to the answer
    overlap_ms: float  # agent audio with sound after the caller's first sound


def check(call: Barged) -> Check:
    """Played against kept for a call that was barged into and whose next
    request was made (`deciding` and `kept` set)."""
    cut = call.cut
    words = spoken_words(call.agent, call.made, cut)
    played = tuple(w.text for w in words if w.sound_end <= cut)
    kept = tuple((call.kept or "").split())
    lost = added = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=played, b=kept,
                                                       autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            lost += i2 - i1
        if tag in ("insert", "replace"):
            added += j2 - j1
    cutting = next((w for w in words if w.start <= cut < w.end), None)
    in_sound = cutting is not None and cut < cutting.sound_end
    share = (cut - cutting.start) / max(cutting.sound_end - cutting.start, 1) \
        if cutting is not None and in_sound else None
    first_sound = onset(call.caller)
    stop_end = len(call.agent) if call.next_reply is None else (call.next_reply - 1) * FRAME
    after = call.agent[cut:stop_end].reshape(-1, FRAME) if stop_end > cut else \
        np.zeros((0, FRAME), np.int16)
    before = np.flatnonzero(call.agent[first_sound:cut])
    started = [w.sentence for w in words if w.start <= cut]
    return Check(played, kept, lost, added, share, cutting is not None and not in_sound,
                 started[-1] if started else 0,
                 1000 * (call.deciding[0] * FRAME - first_sound) / RATE,
                 int(np.count_nonzero(np.any(after != 0, axis=1))),
                 1000 * (int(before[-1]) + 1 if len(before) else 0) / RATE)


def reply_seconds() -> float:
    """About how long the reply's audio lasts."""
    return sum(len(chunk.samples) / chunk.rate for sentence in _sentences()
               for chunk in EspeakTts().speak(sentence))


def _sentences() -> list[str]:
    """REPLY as the turn hands it to speech: a sentence at a time."""
    return re.split(r"(?<=[.!?])\s+", REPLY)


def barge_points(count: int, seed: int) -> list[tuple[float, str]]:
    """`count` seeded random (seconds into the reply, caller line) pairs."""
    rng = random.Random(seed)
    span = reply_seconds() - 0.5  # the caller starts while the agent still speaks
    return [(round(rng.uniform(0.2, span), 4), rng.choice(CALLER_LINES)) for _ in range(count)]


# ------------------------------------------------------------ tests


def test_a_barge_in_in_the_first_sentence_keeps_exactly_the_words_played() -> None:
    call = barge_call(1.3)
    result = check(call)
    assert call.kept is not None and len(call.deciding) == 1
    assert call.made[0][0].startswith("We have tables")
    assert 2 <= len(result.played) <= 6
    assert (result.lost, result.added) == (0, 0)
    assert result.stop_frames == 0 and result.detection_ms <= 200


def test_a_barge_in_in_the_second_sentence_keeps_the_first_sentence() -> None:
    # The turn plays each sentence as its own playout. The first (about 3 s)
    # played to its end before the caller cut in; it was once dropped, when
    # what was heard counted from the start of the current playout only.
    call = barge_call(4.2)
    result = check(call)
    first = tuple(_sentences()[0].split())
    assert result.cut_sentence == 1 and result.played[:len(first)] == first
    assert result.kept[:len(first)] == first


def test_kept_words_are_the_played_words_at_ten_random_barge_points() -> None:
    results = [check(barge_call(at, line)) for at, line in barge_points(10, seed=7)]
    assert {r.cut_sentence for r in results} == {0, 1, 2}  # cuts in every sentence
    assert [(r.lost, r.added) for r in results] == [(0, 0)] * 10
    assert all(r.stop_frames == 0 for r in results)


def test_the_reply_is_found_sample_for_sample_in_what_went_out() -> None:
    # The ground truth's own check: an uninterrupted reply is all there, in order.
    call = barge_call(0.5, line=None, sound="click", hang_up_after=12)
    assert call.deciding == ()  # a click is not speech
    words = spoken_words(call.agent, call.made, len(call.agent))
    assert [w.text for w in words] == REPLY.split()
    assert all(a.end <= b.start for a, b in itertools.pairwise(words))
