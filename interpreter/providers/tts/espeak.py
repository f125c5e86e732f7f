"""eSpeak NG, embedded: speech with exact word marks, no network and no keys.

The library and its data come from the espeakng-loader wheel and are driven
with ctypes: loaded once per process, initialised for synchronous output, and
called from one worker thread under a lock (eSpeak keeps global state and is
not thread-safe), so the event loop never waits on it. Text is synthesized a
sentence at a time and each sentence is yielded as soon as it is made, while
the next one is already being made. The synth callback's word events become
the word marks: the sample where each word's audio starts, and the characters
of the original text it speaks. docs/speech.md has the voices, substitution
and the licence note (libespeak-ng is GPL-3.0-or-later, loaded at run time,
not redistributed).
"""

from __future__ import annotations

import asyncio
import bisect
import ctypes
import itertools
import re
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile
import soxr

from interpreter.media.ports import Voice
from interpreter.providers.tts.base import Samples, SpeechAudio, TtsError, TtsProvider, WordMark

SAMPLE_RATE = 22_050  # what eSpeak NG makes; the media path resamples
ENGINES = frozenset({"espeak", "espeak-ng", "espeakng", "callkernel"})  # engines spoken natively
DEFAULT_LANGUAGE = "en-us"
MAX_CHUNK = 240  # characters; a longer sentence is cut at a clause (then a space)

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it a failed initialisation exit()s the process
_BUFFER_MS = 50
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # the sentence's closing pause is part of its audio
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_RATE, _VOLUME, _PITCH = 1, 2, 3
_EE_OK = 0


class _EventId(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8))


class _Event(ctypes.Structure):
    _fields_ = (("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId))


class _VoiceInfo(ctypes.Structure):
    _fields_ = (("name", ctypes.c_char_p), ("languages", ctypes.c_void_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p))


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


@dataclass(frozen=True, slots=True)
class _Word:
    """A word event: 0-based character offset into the synthesized text, sample."""

    position: int
    sample: int


class _Engine:
    """The process's one eSpeak NG: its voices, and synthesis under a lock."""

    def __init__(self, library_path: str, data_path: str) -> None:
        self.paths = (library_path, data_path)
        if not (Path(data_path) / "phontab").is_file():
            raise TtsError(f"eSpeak NG data not found at {data_path}")
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as error:
            raise TtsError(f"could not load the eSpeak NG library {library_path}: {error}") \
                from None
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = (ctypes.c_void_p,)
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceInfo))
        lib.espeak_Synth.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p,
                                     ctypes.c_void_p)
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate != SAMPLE_RATE:
            raise TtsError(f"eSpeak NG did not initialise from {data_path} (returned {rate})")
        self._lib = lib
        self._callback = _SynthCallback(self._collect)  # kept alive as long as the library
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()
        self._current: tuple[str, int, int, int] | None = None  # voice and parameters set
        self._audio: list[bytes] = []
        self._words: list[_Word] = []
        self.languages, self.voices = self._list_voices()
        variants = Path(data_path) / "voices" / "!v"
        self.variants = frozenset(path.name.lower() for path in variants.iterdir()
                                  if path.is_file()) if variants.is_dir() else frozenset()
        default = self.languages.get(DEFAULT_LANGUAGE)
        if default is None or self._select(default, 175, 100, 50) != _EE_OK:
            raise TtsError(f"eSpeak NG has no {DEFAULT_LANGUAGE} voice in {data_path}")

    def _list_voices(self) -> tuple[dict[str, str], dict[str, str]]:
        """Language code → voice identifier (eSpeak's choice: lowest priority
        number first), and every name a voice answers to → its identifier."""
        languages: dict[str, tuple[int, str]] = {}
        names: dict[str, str] = {}
        listed = self._lib.espeak_ListVoices(None)
        index = 0
        while listed[index]:
            info = listed[index].contents
            identifier = (info.identifier or b"").decode()
            address = info.languages or 0
            codes: list[str] = []
            while address and (priority := ctypes.c_ubyte.from_address(address).value):
                code = ctypes.string_at(address + 1)
                address += len(code) + 2
                codes.append(code.decode().lower())
                best = languages.get(codes[-1])
                if best is None or priority < best[0]:
                    languages[codes[-1]] = (priority, identifier)
            for name in ((info.name or b"").decode(), identifier):
                names.setdefault(name.lower(), identifier)
            index += 1
        by_language = {code: identifier for code, (_, identifier) in languages.items()}
        names.update(by_language)
        return by_language, names

    def _select(self, identifier: str, rate: int, volume: int, pitch: int) -> int:
        if self._current == (identifier, rate, volume, pitch):
            return _EE_OK
        status: int = self._lib.espeak_SetVoiceByName(identifier.encode())
        for parameter, value in ((_RATE, rate), (_VOLUME, volume), (_PITCH, pitch)):
            status = status or self._lib.espeak_SetParameter(parameter, value, 0)
        self._current = (identifier, rate, volume, pitch) if status == _EE_OK else None
        return status

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short] | None, count: int,
                 events: ctypes._Pointer[_Event]) -> int:
        if wav and count > 0:
            self._audio.append(ctypes.string_at(wav, count * 2))
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_WORD:
                self._words.append(_Word(event.text_position - 1, event.sample))
            index += 1
        return 0

    def synth(self, text: str, identifier: str, rate: int, volume: int,
              pitch: int) -> tuple[Samples, list[_Word]]:
        """Speak `text` with a voice: its samples and word events."""
        data = text.replace("\0", " ").encode("utf-8", errors="replace")
        with self.lock:
            if self._select(identifier, rate, volume, pitch) != _EE_OK:
                raise TtsError(f"eSpeak NG could not select the voice {identifier}")
            self._audio, self._words = [], []
            status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0,
                                            _CHARS_UTF8 | _ENDPAUSE, None, None)
            audio, words = self._audio, self._words
            self._audio, self._words = [], []
        if status != _EE_OK:
            raise TtsError(f"eSpeak NG synthesis failed (status {status})")
        samples: Samples = np.frombuffer(b"".join(audio), dtype=np.int16)
        return samples, words


_engine: _Engine | None = None
_engine_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _load(library_path: str | None, data_path: str | None) -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                import espeakng_loader
            except ImportError as error:
                if library_path is None or data_path is None:
                    raise TtsError(f"eSpeak NG is not installed (espeakng-loader: {error})") \
                        from None
            else:
                library_path = library_path or espeakng_loader.get_library_path()
                data_path = data_path or espeakng_loader.get_data_path()
            assert library_path is not None and data_path is not None
            _engine = _Engine(library_path, data_path)
        elif any(asked not in (None, loaded)
                 for asked, loaded in zip((library_path, data_path), _engine.paths, strict=True)):
            raise TtsError("eSpeak NG is already loaded in this process from "
                           f"{_engine.paths[0]}; it cannot be loaded twice")
        return _engine


def _worker() -> ThreadPoolExecutor:
    global _executor
    with _engine_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(1, thread_name_prefix="espeak")
        return _executor


class EspeakTts:
    """The embedded TTS provider (`TtsProvider`): eSpeak NG at 22,050 Hz.

    `rate` is in words per minute, `volume` 0-200 (100 is eSpeak's normal),
    `pitch` 0-100. The defaults are a little slower and quieter than eSpeak's
    own (175, 100) so speech stays clear and unclipped through G.711."""

    sample_rate = SAMPLE_RATE

    def __init__(self, *, rate: int = 160, volume: int = 85, pitch: int = 50,
                 library_path: str | None = None, data_path: str | None = None) -> None:
        self.rate, self.volume, self.pitch = rate, volume, pitch
        self._paths = (library_path, data_path)

    def _engine(self) -> _Engine:
        return _load(*self._paths)

    def voice_for(self, voice: Voice | None) -> tuple[Voice, bool]:
        """The eSpeak voice for `voice`, and whether it stands in for another."""
        _, used, substituted = self._choose(voice)
        return used, substituted

    def _choose(self, voice: Voice | None) -> tuple[str, Voice, bool]:
        """(eSpeak voice to select, the voice reported as used, substituted)."""
        identifier, name, substituted = self._resolve(voice or Voice())
        language = (voice.language if voice else "") or name.partition("+")[0]
        return identifier, Voice("espeak", name, "", language), substituted

    def _resolve(self, voice: Voice) -> tuple[str, str, bool]:
        engine = self._engine()
        engine_name = voice.engine.lower()
        native = engine_name in ENGINES or not engine_name
        if native and voice.name and not (engine_name == "callkernel"
                                          and voice.name == "fallback"):
            base, plus, variant = voice.name.lower().partition("+")
            identifier = engine.voices.get(base)
            if identifier is not None and (not plus or variant in engine.variants):
                name = _language_of(engine, identifier, base)
                return identifier + plus + variant, name + plus + variant, False
            native = False  # one of ours by engine, but a voice we do not have
        code = _language_code(engine, voice.language)
        if code is None:
            return engine.languages[DEFAULT_LANGUAGE], DEFAULT_LANGUAGE, True
        return engine.languages[code], code, not native

    async def synthesize(self, text: str, voice: Voice | None) -> AsyncIterator[SpeechAudio]:
        """Stream `text` a sentence at a time; the next sentence is being made
        while the consumer has the current one."""
        identifier, used, _ = self._choose(voice)
        loop = asyncio.get_running_loop()
        spans = sentences(text)
        pending: list[asyncio.Future[SpeechAudio]] = []
        try:
            for index in range(len(spans)):
                for ahead in spans[index + len(pending):index + 2]:
                    pending.append(loop.run_in_executor(_worker(), self._chunk, text, ahead,
                                                        identifier, used))
                chunk = await pending.pop(0)
                yield chunk
        finally:
            for future in pending:
                if not future.cancel() and not future.cancelled():
                    future.exception()  # retrieved: a failure after the consumer left is moot

    def speak(self, text: str, voice: Voice | str | None = None) -> Iterator[SpeechAudio]:
        """The sentences of `text`, synthesized in the calling thread."""
        if isinstance(voice, str):
            voice = Voice.parse(voice)
        identifier, used, _ = self._choose(voice)
        for span in sentences(text):
            yield self._chunk(text, span, identifier, used)

    def _chunk(self, text: str, span: tuple[int, int], identifier: str,
               used: Voice) -> SpeechAudio:
        start, end = span
        samples, words = self._engine().synth(text[start:end], identifier, self.rate,
                                              self.volume, self.pitch)
        marks, estimated = word_marks(text, span, words, samples)
        return SpeechAudio(samples, SAMPLE_RATE, marks, estimated, used)


def _language_of(engine: _Engine, identifier: str, asked: str) -> str:
    """The name to report for a voice: the language code asked for when it
    names this voice, else the voice's first language code."""
    if engine.languages.get(asked) == identifier:
        return asked
    codes = [code for code, found in engine.languages.items() if found == identifier]
    return codes[0] if codes else identifier


def _language_code(engine: _Engine, language: str) -> str | None:
    """The eSpeak language code for a BCP-47 tag: the longest prefix eSpeak
    has ("en-US" → "en-us", "es-ES" → "es", "zh-Hant-TW" → "zh"); None when
    the language is unknown (the default voice speaks). No tag: the default."""
    parts = language.strip().lower().replace("_", "-").split("-")
    if not parts[0]:
        return DEFAULT_LANGUAGE
    for length in range(len(parts), 0, -1):
        code = "-".join(parts[:length])
        if code in engine.languages:
            return code
    return None


# A sentence ends at . ! ? … (or their CJK forms), after any closing quotes and
# brackets, where white space follows; or at a blank line. An abbreviation or
# an initial before the full stop ("Dr. Smith", "J. Doe") does not end one,
# nor does a stop followed by a lower-case word ("wait... then").
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+[」』”’)]*|\n\s*\n")
_NOT_AN_END = re.compile(r"(?:\b(?:mr|mrs|ms|dr|prof|st|jr|sr|vs|etc|e\.g|i\.e)|\b[A-Za-z])\.$",
                         re.IGNORECASE)
_LOWER_NEXT = re.compile(r"\s+[^\W\d_A-Z]", re.UNICODE)
_CLAUSE_END = re.compile(r"[,;:—–]+(?=\s)")


def sentences(text: str) -> list[tuple[int, int]]:
    """The [start, end) spans of `text`'s sentences, without surrounding white
    space; a sentence longer than MAX_CHUNK is cut at a clause, else a space."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group().startswith((".", "…")) and (
                _NOT_AN_END.search(text, start, match.end())
                or _LOWER_NEXT.match(text, match.end())):
            continue
        spans.extend(_cut(text, start, match.end()))
        start = match.end()
    spans.extend(_cut(text, start, len(text)))
    return spans


def _cut(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > MAX_CHUNK:
        window = text[start:start + MAX_CHUNK]
        cuts = [m.end() for m in _CLAUSE_END.finditer(window)] or \
            [m.start() for m in re.finditer(r"\s", window)]
        cut = start + (cuts[-1] if cuts and cuts[-1] > 0 else MAX_CHUNK)
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


_TOKEN = re.compile(r"\S+")
# Scripts written without spaces between words: a run of them is cut into
# words where eSpeak's word events fall.
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff"
                       "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_QUIET = 328  # |sample| at or under this (-40 dBFS) is the closing pause, not speech


def word_marks(text: str, span: tuple[int, int], words: list[_Word],
               samples: Samples) -> tuple[tuple[WordMark, ...], bool]:
    """One mark per word of text[span], and whether any is estimated.

    A word is a run of non-space characters (cut at word events in scripts
    without spaces); its audio starts at the first word event inside it. A
    run of punctuation eSpeak does not speak ("—", "...") belongs to the word
    before it (the first word, at the start). A word eSpeak gave no event
    (it drops one after an expanded abbreviation like "e.g.") is placed by
    its characters between the spoken words around it: an estimate."""
    offset, end = span
    positions = sorted(offset + word.position for word in words)
    tokens = [piece for match in _TOKEN.finditer(text, offset, end)
              for piece in _pieces(text, match.start(), match.end(), positions)]
    if not tokens:
        return (), False
    starts = [start for start, _ in tokens]
    heard: list[int | None] = [None] * len(tokens)
    for word in words:
        # The word the event falls in; one between two words (eSpeak saying a
        # symbol in several words) belongs to the one before.
        index = max(bisect.bisect_right(starts, offset + word.position) - 1, 0)
        sample = min(max(word.sample, 0), len(samples))
        current = heard[index]
        heard[index] = sample if current is None else min(current, sample)
    marks: list[tuple[int | None, int, int]] = []
    for (start, stop), at in zip(tokens, heard, strict=True):
        if marks and at is None and not _is_word(text, start, stop):
            marks[-1] = (marks[-1][0], marks[-1][1], stop)
        elif len(marks) == 1 and marks[0][0] is None and not _is_word(text, *marks[0][1:]):
            marks[0] = (at, marks[0][1], stop)  # leading punctuation joins the first word
        else:
            marks.append((at, start, stop))
    voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > _QUIET)
    last = (int(voiced[-1]) + 1) if len(voiced) else len(samples)
    known = [(0, offset)] + [(at, start) for at, start, _ in marks if at is not None] \
        + [(max(last, 0), marks[-1][2])]
    result: list[WordMark] = []
    estimated = False
    earliest = 0
    for at, start, stop in marks:
        if at is None:  # between the spoken words around it, by characters
            estimated = True
            index = bisect.bisect_right([char for _, char in known], start)
            (before, char0), (after, char1) = known[index - 1], known[min(index, len(known) - 1)]
            at = before + (after - before) * (start - char0) // max(char1 - char0, 1)
        earliest = max(earliest, min(at, len(samples)))
        result.append(WordMark(earliest, start, stop))
    return tuple(result), estimated


def _pieces(text: str, start: int, stop: int, positions: list[int]) -> list[tuple[int, int]]:
    """A run of non-space characters, cut at the word events inside it that
    fall on a character of a script written without spaces."""
    cuts = [p for p in positions[bisect.bisect_right(positions, start):
                                 bisect.bisect_left(positions, stop)]
            if _UNSPACED.match(text, p)]
    bounds = [start, *sorted(set(cuts)), stop]
    return list(itertools.pairwise(bounds))


def _is_word(text: str, start: int, stop: int) -> bool:
    return any(char.isalnum() for char in text[start:stop])


def speak(text: str, voice: Voice | str | None = None, rate: int = SAMPLE_RATE) -> SpeechAudio:
    """All of `text` as one SpeechAudio at `rate` (resampled with soxr), marks
    scaled to it: for tests and the simulated caller."""
    chunks = list(EspeakTts().speak(text, voice))
    marks: list[WordMark] = []
    parts: list[Samples] = []
    at = 0
    scale = rate / SAMPLE_RATE
    for chunk in chunks:
        marks.extend(WordMark(round((at + mark.sample) * scale), mark.start, mark.end)
                     for mark in chunk.marks)
        parts.append(chunk.samples)
        at += len(chunk.samples)
    samples: Samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    if rate != SAMPLE_RATE and len(samples):
        samples = soxr.resample(samples, SAMPLE_RATE, rate).astype(np.int16)
    return SpeechAudio(samples, rate, tuple(marks),
                       voice=chunks[0].voice if chunks else None)


def speak_to_wav(text: str, path: str | Path, voice: Voice | str | None = None,
                 rate: int = 16_000) -> Path:
    """Write `text` spoken by eSpeak NG as a mono 16-bit WAV at `rate`."""
    audio = speak(text, voice, rate)
    soundfile.write(str(path), audio.samples, rate, subtype="PCM_16")
    return Path(path)


if TYPE_CHECKING:
    _provider: TtsProvider = EspeakTts()  # mypy checks that it keeps the protocol
