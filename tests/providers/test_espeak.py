"""The embedded eSpeak NG engine, with real synthesis: audio, word marks,
sentence streaming, voices and substitution, concurrency, failures."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from interpreter.clock import run_virtual
from interpreter.media.ports import FALLBACK_VOICE, Voice
from interpreter.providers.tts.base import SpeechAudio, TtsError
from interpreter.providers.tts.espeak import (
    MAX_CHUNK,
    SAMPLE_RATE,
    EspeakTts,
    sentences,
    speak,
    speak_to_wav,
)

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
GREETING = "Hello caller, your appointment is confirmed for Tuesday."


async def _chunks(text: str, voice: Voice | None = None,
                  tts: EspeakTts | None = None) -> list[SpeechAudio]:
    return [chunk async for chunk in (tts or EspeakTts()).synthesize(text, voice)]


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


async def test_speech_is_audible_and_as_long_as_its_words() -> None:
    [chunk] = await _chunks(GREETING)
    assert chunk.rate == SAMPLE_RATE == EspeakTts.sample_rate == 22_050
    assert chunk.samples.dtype == np.int16 and chunk.samples.ndim == 1
    seconds = len(chunk.samples) / chunk.rate
    assert 2.5 < seconds < 5.5  # eight words at 160 words a minute, and the closing pause
    assert _rms(chunk.samples) > 1000
    assert np.abs(chunk.samples.astype(np.int32)).max() < 32767  # not clipped
    assert chunk.voice == Voice("espeak", "en-us", "", "en-us")


@pytest.mark.parametrize(("text", "voice"), [
    (GREETING, None),
    ("Café à Paris, naïve façade. Où est-ce ?", Voice("espeak", "fr")),
    ("Grüße aus Köln, Straße zwölf!", Voice(language="de-DE")),
    ("My order number is A123, call me at 5:30 (after work). Dr. Smith's fee: $1,250.", None),
    ("  Is it “quoted”? Yes — it's fine.\n\nNext paragraph, O'Brien & co.", None),
])
async def test_every_word_gets_a_mark_that_slices_the_original_text(text: str,
                                                                     voice: Voice | None) -> None:
    chunks = await _chunks(text, voice)
    marks = [mark for chunk in chunks for mark in chunk.marks]
    assert [text[mark.start:mark.end] for mark in marks] == _words(text)
    for chunk in chunks:
        samples = [mark.sample for mark in chunk.marks]
        assert samples == sorted(set(samples)), "sample offsets strictly increase"
        assert samples[0] >= 0 and samples[-1] < len(chunk.samples)
        assert not chunk.estimated


def _words(text: str) -> list[str]:
    """Whitespace words; punctuation standing alone ("—", "?") joins the word
    before it (eSpeak does not speak it)."""
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", text):
        if spans and not set(match.group()) - set("—–-.?!,;:…()“”\"'"):
            spans[-1] = (spans[-1][0], match.end())
        else:
            spans.append(match.span())
    return [text[start:end] for start, end in spans]


async def test_each_mark_is_where_its_word_is_spoken() -> None:
    [chunk] = await _chunks(GREETING)
    starts = [mark.sample for mark in chunk.marks]
    ends = [*starts[1:], len(chunk.samples)]
    for start, end in zip(starts, ends, strict=True):
        assert _rms(chunk.samples[start:end]) > 1000  # every word's audio is speech
    hello, caller = starts[0], starts[1]
    assert 0.25 < (caller - hello) / SAMPLE_RATE < 0.5  # "Hello" lasts about a third of a second


async def test_punctuation_that_is_not_spoken_joins_the_word_before() -> None:
    text = "— Wait — now ... please"
    [chunk] = await _chunks(text)
    assert [text[m.start:m.end] for m in chunk.marks] == ["— Wait —", "now ...", "please"]


async def test_a_word_without_an_event_is_placed_between_its_neighbours() -> None:
    # eSpeak drops the word event after an expanded abbreviation ("e.g."):
    # the word still gets a mark, estimated, in order.
    text = "see e.g. this one"
    [chunk] = await _chunks(text)
    assert [text[m.start:m.end] for m in chunk.marks] == text.split()
    samples = [m.sample for m in chunk.marks]
    assert samples == sorted(set(samples)) and samples[-1] < len(chunk.samples)


async def test_a_script_without_spaces_is_cut_into_words_at_the_word_events() -> None:
    text = "我很好，谢谢你。"
    [chunk] = await _chunks(text, Voice(language="zh-CN"))
    spans = [text[m.start:m.end] for m in chunk.marks]
    assert len(spans) > 1 and "".join(spans) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
    ("Dr. Smith and Mr. J. Doe arrive, e.g. today. Then go.",
     ["Dr. Smith and Mr. J. Doe arrive, e.g. today.", "Then go."]),
    ("Wait... then go. “Done.” Next", ["Wait... then go.", "“Done.”", "Next"]),
    ("Line one\n\n  Line two  ", ["Line one", "Line two"]),
    ("你好。我很好。", ["你好。", "我很好。"]),
    ("Version 2.5 is out.", ["Version 2.5 is out."]),
    ("   ", []),
])
def test_text_is_cut_into_sentences(text: str, expected: list[str]) -> None:
    assert [text[start:end] for start, end in sentences(text)] == expected


def test_a_long_sentence_is_cut_at_a_clause() -> None:
    text = ", ".join(["this is one clause of a long list"] * 20) + "."
    spans = sentences(text)
    assert len(spans) > 1 and all(end - start <= MAX_CHUNK for start, end in spans)
    assert all(text[end - 1] == "," for _, end in spans[:-1])
    assert " ".join(text[start:end] for start, end in spans) == text


async def test_streaming_yields_the_first_sentence_before_the_last_is_made() -> None:
    tts = EspeakTts()
    text = " ".join(f"This is sentence number {n}, one of many in a long answer."
                    for n in range(1, 31))
    await _chunks("Warm up.", tts=tts)
    first, whole = [], []
    for _ in range(3):
        began = time.perf_counter()
        arrivals = []
        async for _chunk in tts.synthesize(text, None):
            arrivals.append(time.perf_counter() - began)
        assert len(arrivals) == 30
        first.append(arrivals[0])
        whole.append(arrivals[-1])
    assert min(first) < min(whole) / 3


def test_synthesis_works_under_the_virtual_clock() -> None:
    # The worker thread counts as real work: virtual time waits for it.
    async def main() -> tuple[float, list[SpeechAudio]]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        chunks = await _chunks("One sentence. And another one.")
        return loop.time() - began, chunks

    elapsed, chunks = run_virtual(main)
    assert len(chunks) == 2 and elapsed < 1.0


async def test_a_consumer_that_stops_early_leaves_nothing_running() -> None:
    tts = EspeakTts()
    stream = tts.synthesize("One. Two. Three. Four.", None)
    async for _chunk in stream:
        break
    await stream.aclose()
    [chunk] = await _chunks("Still speaking.", tts=tts)  # the engine is free again
    assert len(chunk.marks) == 2


async def test_concurrent_synthesis_from_two_tasks_does_not_interleave() -> None:
    # eSpeak's waveform carries a little state from one synthesis to the next
    # (a sentence may come out a few samples longer or shorter), so the
    # comparison allows for that and no more.
    tts = EspeakTts()
    texts = {"en-us": f"{GREETING} " * 3, "fr": "Bonjour, votre rendez-vous est confirmé. " * 3}
    alone = {language: await _chunks(text, Voice(language=language), tts)
             for language, text in texts.items()}
    together = await asyncio.gather(*(_chunks(text, Voice(language=language), tts)
                                      for language, text in texts.items()))
    for (language, expected), got in zip(alone.items(), together, strict=True):
        assert len(got) == len(expected) == 3
        for mine, theirs in zip(got, expected, strict=True):
            assert mine.voice == theirs.voice and mine.voice.language == language
            assert abs(len(mine.samples) - len(theirs.samples)) < 50
            assert [(m.start, m.end) for m in mine.marks] == \
                [(m.start, m.end) for m in theirs.marks]
            assert all(abs(m.sample - t.sample) < 50
                       for m, t in zip(mine.marks, theirs.marks, strict=True))


@pytest.mark.parametrize(("voice", "expected"), [
    (None, Voice("espeak", "en-us", "", "en-us")),
    (FALLBACK_VOICE, Voice("espeak", "en-us", "", "en-us")),
    (Voice("espeak", "en-gb"), Voice("espeak", "en-gb", "", "en-gb")),
    (Voice.parse("espeak-ng.en-us+f3"), Voice("espeak", "en-us+f3", "", "en-us")),
    (Voice(language="en-US"), Voice("espeak", "en-us", "", "en-US")),
    (Voice(language="es-ES"), Voice("espeak", "es", "", "es-ES")),
    (Voice(language="pt-BR"), Voice("espeak", "pt-br", "", "pt-BR")),
    (Voice("callkernel", "fallback", "", "fr-FR"), Voice("espeak", "fr-fr", "", "fr-FR")),
    (Voice("espeak", "English (America)"), Voice("espeak", "en-us", "", "en-us")),
])
def test_our_voices_are_not_substitutes(voice: Voice | None, expected: Voice) -> None:
    assert EspeakTts().voice_for(voice) == (expected, False)


@pytest.mark.parametrize(("voice", "expected"), [
    (Voice.parse("rime.spore", "es-ES"), Voice("espeak", "es", "", "es-ES")),
    (Voice.parse("Polly.Salli", "en-US"), Voice("espeak", "en-us", "", "en-US")),
    (Voice.parse("elevenlabs.x"), Voice("espeak", "en-us", "", "en-us")),
    (Voice.parse("espeak.nosuchvoice", "fr-FR"), Voice("espeak", "fr-fr", "", "fr-FR")),
    (Voice.parse("espeak.en-us+nosuchvariant"), Voice("espeak", "en-us", "", "en-us")),
    (Voice(language="xx-YY"), Voice("espeak", "en-us", "", "xx-YY")),
])
def test_a_voice_we_do_not_have_is_substituted_by_its_language(voice: Voice,
                                                               expected: Voice) -> None:
    assert EspeakTts().voice_for(voice) == (expected, True)


async def test_a_substituted_voice_speaks_and_says_which_voice_it_used() -> None:
    [chunk] = await _chunks("Hola, ¿en qué puedo ayudarle?", Voice.parse("rime.spore", "es-ES"))
    assert chunk.voice == Voice("espeak", "es", "", "es-ES")
    assert _rms(chunk.samples) > 1000 and len(chunk.marks) == 5
    [unknown] = await _chunks("Still speaking.", Voice(language="xx-YY"))
    assert _rms(unknown.samples) > 1000


async def test_a_variant_changes_the_voice() -> None:
    [plain] = await _chunks(GREETING, Voice("espeak", "en-us"))
    [variant] = await _chunks(GREETING, Voice("espeak", "en-us+f3"))
    assert not np.array_equal(plain.samples, variant.samples)
    assert len(variant.marks) == len(plain.marks)


async def test_empty_text_yields_no_audio() -> None:
    assert await _chunks("") == []
    assert await _chunks(" \n ") == []


@pytest.mark.parametrize(("argument", "message"), [
    ("library_path='/nonexistent/libespeak-ng.so'", "could not load the eSpeak NG library"),
    ("data_path='/nonexistent/espeak-ng-data'", "eSpeak NG data not found"),
])
def test_a_library_that_fails_to_load_is_a_tts_error(argument: str, message: str) -> None:
    # In a fresh process: the library is loaded once per process.
    script = ("import asyncio\n"
              "from interpreter.providers.tts.base import TtsError\n"
              "from interpreter.providers.tts.espeak import EspeakTts\n"
              f"tts = EspeakTts({argument})\n"
              "async def main():\n"
              "    async for _ in tts.synthesize('hello', None):\n"
              "        pass\n"
              "try:\n"
              "    asyncio.run(main())\n"
              "except TtsError as error:\n"
              "    print('TtsError:', error)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60, check=True)
    assert done.stdout.startswith("TtsError: " + message)


async def test_other_paths_once_the_library_is_loaded_are_a_tts_error() -> None:
    await _chunks("Loaded.")
    with pytest.raises(TtsError, match="already loaded"):
        EspeakTts(data_path="/elsewhere/espeak-ng-data").voice_for(None)


def test_speak_resamples_the_whole_text_with_its_marks(tmp_path: Path) -> None:
    text = "Yes please. No thanks."
    audio = speak(text, rate=16_000)
    assert audio.rate == 16_000
    assert [text[m.start:m.end] for m in audio.marks] == text.split()
    assert [m.sample for m in audio.marks] == sorted(m.sample for m in audio.marks)
    path = speak_to_wav(text, tmp_path / "reply.wav")
    info = soundfile.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    # Two syntheses of the same text: eSpeak's output differs between runs by
    # some hundreds of samples (its prosody has a random element).
    assert abs(info.frames - len(audio.samples)) < 1_600


def test_the_spoken_fixtures_are_there_as_the_manifest_says() -> None:
    manifest = json.loads((AUDIO / "manifest.json").read_text())
    assert "transfer_me_to_sales.wav" in manifest
    for name, entry in manifest.items():
        data, rate = soundfile.read(str(AUDIO / name), dtype="int16")
        assert rate == 16_000 and data.ndim == 1
        assert abs(len(data) / rate - entry["seconds"]) < 0.01
        assert _rms(data) > 500, entry["text"]
