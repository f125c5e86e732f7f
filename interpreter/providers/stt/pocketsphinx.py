"""Embedded speech recognition: pocketsphinx with a task language model per flow.

`PocketsphinxProvider.for_flow(flow)` builds, once per flow (per vocabulary
key), a trigram ARPA model from the flow's phrases (`vocabulary.py`) and a
pronunciation dictionary filtered from the bundled CMU dictionary, written to
a process-wide temporary directory, and decodes with the bundled en-us
acoustic model (16 kHz only). Decoders cost ~10 ms and ~7 MB each with such a
model; each provider keeps a small pool of idle ones per model and reuses
them across sessions.

Audio is conditioned before decoding (docs/speech.md says why): a gain that
tracks the utterance's loudest 20 ms frame brings speech to the level the
cepstral-mean prior was measured at, and a fixed low noise floor keeps
digitally silent stretches (synthetic speech, silence-suppressed transports)
from producing the extreme features the acoustic model never saw. Both are
deterministic, so the same audio always gives the same transcript.

Telephony audio (a source rate of 8 kHz, told to `session()`) has nothing
above 4 kHz once resampled, where the model expects a fifth of its filter
bank to see speech. Its sessions add noise in that band and decode with a
stronger language model weight (their own decoder pool): on eSpeak speech
through G.711 μ-law that took exact phrases from 22 to 42 of 48.

Confidence: partial transcripts carry 1.0 (pocketsphinx computes posteriors
only once the utterance has ended); a final one carries the mean posterior
probability of its words, from the word lattice (`Decoder.seg()`); an empty
final carries 0.0.
"""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pocketsphinx
from pocketsphinx.lm import ArpaBoLM

from interpreter import ir
from interpreter.media.ports import ListenSettings
from interpreter.providers.stt.base import Recognized, SttError, SttProvider, SttSession
from interpreter.providers.stt.vocabulary import Vocabulary, vocabulary_for

SAMPLE_RATE = 16_000  # the en-us acoustic model's rate

# The cepstral mean each utterance starts from (`cmninit`). Live CMN then
# adapts within the utterance, slowly (the prior weighs as much as 5 s of
# audio), so a good prior matters most for short answers. Measured with this
# module's conditioning: the mean after decoding 16 utterances by four eSpeak
# voices (en-us, en-us+f3, en-us+m3, en), none of them test phrases. With
# the library's default (40,3,-1), 30 of 68 test phrases came out exact; with
# this, 59. Reset per session, so no call's audio colours another's.
CMN_PRIOR = (
    "61.53,-2.43,-2.57,14.98,-6.47,-1.52,1.11,-11.30,-5.34,-7.80,0.46,-1.42,-6.47"
)
# Gain: bring the loudest 20 ms frame so far to this RMS (eSpeak's median
# peak frame, the level CMN_PRIOR was measured at), between these bounds.
TARGET_PEAK_RMS = 7500.0
MIN_GAIN, MAX_GAIN = 0.25, 10.0
# The noise floor added after the gain: Gaussian, this RMS (about -50 dBFS).
NOISE_RMS = 100.0

# Narrowband (telephony) input: a source rate at or under this.
NARROWBAND_RATE = 8_000
# What fills its empty 4-8 kHz band, added after the gain: Gaussian noise of
# this RMS (about -38 dBFS). Measured 200-800 on the 8 kHz μ-law fixtures:
# the band left empty (the floor alone) or far louder both lose words.
HIGH_BAND_RMS = 400.0
# Its language model weight (the library's is 6.5). The acoustic evidence is
# weaker, so the flow's phrases are trusted more. Measured 6.5-20: 13 best.
NARROWBAND_LW = 13.0

_FILLERS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"})

# Extra pronunciations of backchannel words (vocabulary.BACKCHANNELS): as
# they are said casually, and as eSpeak says them ("uh huh" as OW HH OW,
# "yeah" as Y EH). With them, 36 of 41 backchannels came out as said, not 29.
_VARIANTS: Mapping[str, tuple[str, ...]] = {
    "uh": ("ER", "OW"), "huh": ("HH ER", "HH OW", "HH AH OW"),
    "mm": ("AH M",), "hmm": ("HH AH M", "M HH M"), "yeah": ("Y EH", "Y EH AH"),
}

# Letter names, for spelling short words the dictionary lacks ("swml" → S W M L).
_LETTERS: Mapping[str, str] = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F",
    "g": "JH IY", "h": "EY CH", "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L",
    "m": "EH M", "n": "EH N", "o": "OW", "p": "P IY", "q": "K Y UW", "r": "AA R",
    "s": "EH S", "t": "T IY", "u": "Y UW", "v": "V IY", "w": "D AH B AH L Y UW",
    "x": "EH K S", "y": "W AY", "z": "Z IY",
}
SPELL_MAX_LETTERS = 4  # longer unknown words are split into known ones, or skipped
_MIN_PART = 3  # the shortest known word a compound is split into


def model_dir() -> Path:
    """The bundled en-us model (acoustic model, dictionary, general LM)."""
    return Path(pocketsphinx.get_model_path()) / "en-us"


@cache
def _noise(narrowband: bool = False) -> npt.NDArray[np.float32]:
    """One second of the noise floor (and of the 4-8 kHz fill, for narrowband
    input), the same in every session."""
    floor = np.random.default_rng(0).normal(0.0, NOISE_RMS, SAMPLE_RATE)
    if narrowband:  # band-limited in the frequency domain: one second loops seamlessly
        spectrum = np.fft.rfft(np.random.default_rng(1).normal(0.0, 1.0, SAMPLE_RATE))
        spectrum[np.fft.rfftfreq(SAMPLE_RATE, 1 / SAMPLE_RATE) < 4_000] = 0
        high = np.fft.irfft(spectrum, SAMPLE_RATE)
        floor += high * (HIGH_BAND_RMS / high.std())
    return floor.astype(np.float32)


# ------------------------------------------------------------------ task models


@dataclass(frozen=True, slots=True)
class TaskModel:
    """The files a decoder is configured with, and what went into them."""

    key: str
    lm: Path
    dictionary: Path
    words: int  # dictionary entries (pronunciations)
    # Words of the vocabulary with no pronunciation: not recognizable.
    skipped: tuple[str, ...] = ()


_MODELS: dict[str, TaskModel] = {}
_MODELS_LOCK = threading.Lock()
_WORKDIR: Path | None = None


def _workdir() -> Path:
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="callkernel-stt-"))
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def task_model(vocabulary: Vocabulary) -> TaskModel:
    """The LM and dictionary of `vocabulary`, built once per process and key."""
    with _MODELS_LOCK:
        model = _MODELS.get(vocabulary.key)
        if model is None:
            model = _MODELS[vocabulary.key] = _build(vocabulary, _workdir())
        return model


def _build(vocabulary: Vocabulary, into: Path) -> TaskModel:
    pronunciations = _pronunciations(vocabulary.words)
    skipped = tuple(w for w in vocabulary.words if w not in pronunciations)
    lines: list[str] = []
    for phrase in vocabulary.phrases:  # split phrases at words we cannot say
        run: list[str] = []
        for word in [*phrase.split(), ""]:
            if word in pronunciations:
                run.append(word)
            elif run:
                lines.append(" ".join(run))
                run = []
    if not lines:
        raise SttError("pocketsphinx: no word of the vocabulary has a pronunciation")
    arpa = ArpaBoLM(text="\n".join(lines), add_start=True)
    arpa.compute()
    text = io.StringIO()
    arpa.write(text)
    lm = into / f"{vocabulary.key}.lm"
    lm.write_text(text.getvalue())
    entries = [f"{name} {phones}\n" for word in sorted(pronunciations)
               for name, phones in pronunciations[word]]
    dictionary = into / f"{vocabulary.key}.dict"
    dictionary.write_text("".join(entries))
    return TaskModel(vocabulary.key, lm, dictionary, len(entries), skipped)


def _pronunciations(words: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Each word's dictionary entries: from the CMU dictionary, else spelled
    (short words) or joined from known words ("callkernel" = call + kernel)."""
    wanted = set(words)
    unknown_parts = {w: _splits(w) for w in wanted}
    lookup = wanted | {part for splits in unknown_parts.values()
                       for split in splits for part in split}
    known: dict[str, list[tuple[str, str]]] = {}
    with open(model_dir() / "cmudict-en-us.dict", encoding="utf-8") as lines:
        for line in lines:
            name, _, phones = line.rstrip("\n").partition(" ")
            word = name.split("(", 1)[0]
            if word in lookup:
                known.setdefault(word, []).append((name, phones))
    found = {w: known[w] for w in wanted if w in known}
    for word in found.keys() & _VARIANTS.keys():
        have = {phones for _, phones in found[word]}
        extra = [phones for phones in _VARIANTS[word] if phones not in have]
        found[word] = [*found[word], *((f"{word}({len(found[word]) + i})", phones)
                                       for i, phones in enumerate(extra, 1))]
    for word in sorted(wanted - found.keys()):
        if word.isalpha() and len(word) <= SPELL_MAX_LETTERS:
            found[word] = [(word, " ".join(_LETTERS[c] for c in word))]
            continue
        for split in unknown_parts[word]:
            if all(part in known for part in split):
                found[word] = [(word, " ".join(known[part][0][1] for part in split))]
                break
    return found


def _splits(word: str) -> list[tuple[str, ...]]:
    """Ways to cut `word` into two or three parts of at least _MIN_PART letters,
    fewest parts first, then longest first part."""
    if not word.isalpha():
        return []
    n = len(word)
    twos = [(word[:i], word[i:]) for i in range(n - _MIN_PART, _MIN_PART - 1, -1)]
    threes = [(word[:i], word[i:j], word[j:])
              for i in range(n - 2 * _MIN_PART, _MIN_PART - 1, -1)
              for j in range(n - _MIN_PART, i + _MIN_PART - 1, -1)]
    return [*twos, *threes]


# -------------------------------------------------------------------- decoding


def _decoder(model: TaskModel | None, narrowband: bool = False) -> Any:
    """A decoder for the model (None: the bundled general LM and dictionary),
    for wideband or narrowband input."""
    base = model_dir()
    lm = str(model.lm) if model else str(base / "en-us.lm.bin")
    dictionary = str(model.dictionary) if model else str(base / "cmudict-en-us.dict")
    try:
        # No second (flat-lexicon) pass: it made finish() cost 35 ms instead
        # of 1.5 ms, with the same accuracy on a small task model.
        # The front end stays the model's (feat.params): a filter bank cut
        # at 4 kHz for narrowband input gave features the model does not
        # know (0 of 48 phrases).
        options: dict[str, Any] = {"lw": NARROWBAND_LW} if narrowband else {}
        return pocketsphinx.Decoder(hmm=str(base / "en-us"), lm=lm, dict=dictionary,
                                    fwdflat=model is None, loglevel="FATAL", **options)
    except (RuntimeError, ValueError, OSError) as error:
        raise SttError(f"pocketsphinx: cannot load the model: {error}") from error


class _Pool:
    """Idle decoders of one model and band, reused across sessions."""

    def __init__(self, model: TaskModel | None, size: int, narrowband: bool = False) -> None:
        self.model = model
        self.size = size
        self.narrowband = narrowband
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _decoder(self.model, self.narrowband)

    def give(self, decoder: Any) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(decoder)

    def warm(self, count: int) -> None:
        for _ in range(count):
            self.give(_decoder(self.model, self.narrowband))

    @property
    def idle(self) -> int:
        return len(self._idle)


class PocketsphinxProvider:
    """Streaming recognition with the embedded en-us model.

    Dynamic hints (`ListenSettings.hints`) the flow's vocabulary lacks need a
    new language model: the first session with a new set of them builds it
    (tens of milliseconds) and later ones reuse it; the last few such models
    are kept, each with its own decoder pool.

    Narrowband input (`session(..., source_rate=8000)`) is decoded by
    decoders of its own, in pools of their own, made on first use.
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, vocabulary: Vocabulary | None, *, pool_size: int = 4,
                 variants: int = 4) -> None:
        self.vocabulary = vocabulary
        self.pool_size = pool_size
        self._variants = variants
        self._pool = _Pool(task_model(vocabulary) if vocabulary else None, pool_size)
        self._narrow: _Pool | None = None
        self._hinted: OrderedDict[tuple[str, bool], _Pool] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_flow(cls, flow: ir.CompiledFlow, *, pool_size: int = 4) -> PocketsphinxProvider:
        """A recognizer that expects what this flow's callers say."""
        return cls(vocabulary_for(flow), pool_size=pool_size)

    @classmethod
    def general(cls, *, pool_size: int = 1) -> PocketsphinxProvider:
        """The bundled general English model: open speech, but weak on short
        phrases; ~95 MB and 0.3-1.4 s per decoder; dynamic hints are ignored."""
        return cls(None, pool_size=pool_size)

    @property
    def model(self) -> TaskModel | None:
        """The flow's task model (None for the general model)."""
        return self._pool.model

    @property
    def idle(self) -> int:
        """Idle decoders in the flow's pool."""
        return self._pool.idle

    def warm(self, count: int = 1) -> None:
        """Create decoders ahead of the first sessions."""
        self._pool.warm(min(count, self.pool_size))

    def session(self, settings: ListenSettings, *,
                source_rate: int | None = None) -> PocketsphinxSession:
        """A recognizer for one utterance; SttError for a language other than English.

        `source_rate` (else `settings.source_rate`): the rate the audio had
        before it was resampled to `sample_rate` (8000 for telephony):
        narrowband audio is decoded differently. The audio fed is 16 kHz
        either way.
        """
        if not settings.language.lower().startswith("en"):
            raise SttError(f"pocketsphinx: no model for language {settings.language!r}"
                           " (the embedded model is English only)")
        narrowband = (source_rate or settings.source_rate or SAMPLE_RATE) <= NARROWBAND_RATE
        return PocketsphinxSession(self._pool_for(settings.hints, narrowband))

    def _pool_for(self, hints: tuple[str, ...], narrowband: bool) -> _Pool:
        base = self._band_pool(narrowband)
        if self.vocabulary is None or not hints:
            return base
        missing = self.vocabulary.missing(hints)
        if not missing:
            return base
        key = ("\n".join(missing), narrowband)
        with self._lock:
            pool = self._hinted.get(key)
            if pool is not None:
                self._hinted.move_to_end(key)
                return pool
        pool = _Pool(task_model(self.vocabulary.with_hints(missing)), self.pool_size, narrowband)
        with self._lock:
            pool = self._hinted.setdefault(key, pool)
            while len(self._hinted) > self._variants:
                self._hinted.popitem(last=False)
        return pool

    def _band_pool(self, narrowband: bool) -> _Pool:
        if not narrowband:
            return self._pool
        with self._lock:
            if self._narrow is None:
                self._narrow = _Pool(self._pool.model, self.pool_size, narrowband=True)
            return self._narrow


class PocketsphinxSession:
    """One utterance: conditioned audio into a pooled decoder, partials out."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._decoder: Any = pool.take()
        self._noise = _noise(pool.narrowband)
        self._peak = TARGET_PEAK_RMS / MAX_GAIN
        self._offset = 0  # into the noise floor
        self._partial = ""
        self._final: Recognized | None = None
        try:
            # A fresh front end (its buffers and noise statistics otherwise
            # carry over from the decoder's last utterance and changed 2 of 68
            # transcripts), then the prior: 0.07 ms.
            self._decoder.reinit_feat()
            self._decoder.set_cmn(CMN_PRIOR)
            self._decoder.start_utt()
        except RuntimeError as error:
            raise SttError(f"pocketsphinx: cannot start an utterance: {error}") from error

    def feed(self, samples: npt.NDArray[np.int16]) -> Recognized | None:
        """Decode the next audio (16 kHz PCM16); the partial transcript when it changed."""
        if self._final is not None or self._decoder is None:
            raise RuntimeError("feed() after finish() or close()")
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise TypeError(f"expected 1-D int16 samples, got {samples.dtype} {samples.shape}")
        if not samples.size:
            return None
        try:
            self._decoder.process_raw(self._condition(samples).tobytes(), False, False)
            hypothesis = self._decoder.hyp()
        except RuntimeError as error:
            raise SttError(f"pocketsphinx: decoding failed: {error}") from error
        text = hypothesis.hypstr if hypothesis is not None else ""
        if text == self._partial:
            return None
        self._partial = text
        return Recognized(text, final=False)

    def finish(self) -> Recognized:
        """End the utterance; its final transcript and the mean word posterior."""
        if self._final is not None:
            return self._final
        if self._decoder is None:
            raise RuntimeError("finish() after close()")
        decoder, self._decoder = self._decoder, None
        try:
            decoder.end_utt()
            hypothesis = decoder.hyp()
            text = hypothesis.hypstr if hypothesis is not None else ""
            segments = decoder.seg() or ()
            posteriors = [s.prob for s in segments if s.word.split("(")[0] not in _FILLERS]
        except RuntimeError as error:
            raise SttError(f"pocketsphinx: decoding failed: {error}") from error
        self._pool.give(decoder)
        text = " ".join(text.split())
        confidence = float(np.mean(posteriors)) if text and posteriors else 0.0
        self._final = Recognized(text, final=True, confidence=round(confidence, 3))
        return self._final

    def close(self) -> None:
        """Give the decoder back (ending an unfinished utterance first)."""
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        try:
            decoder.end_utt()
        except RuntimeError:
            return  # a decoder in an unknown state is not reused
        self._pool.give(decoder)

    def _condition(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Gain to the prior's level (per 20 ms frame's RMS), plus the noise
        floor (and the 4-8 kHz fill, for narrowband audio)."""
        audio = samples.astype(np.float32)
        for start in range(0, audio.size, SAMPLE_RATE // 50):
            frame = audio[start:start + SAMPLE_RATE // 50]
            self._peak = max(self._peak, float(np.sqrt(np.mean(frame * frame))))
        gain = min(MAX_GAIN, max(MIN_GAIN, TARGET_PEAK_RMS / self._peak))
        audio *= gain
        noise = self._noise
        index = (self._offset + np.arange(audio.size)) % noise.size
        self._offset = (self._offset + audio.size) % noise.size
        audio += noise[index]
        return np.clip(audio, -32768, 32767).astype(np.int16)


if TYPE_CHECKING:
    _provider: SttProvider = PocketsphinxProvider(None)  # mypy checks the protocol
    _session: SttSession = PocketsphinxSession(_Pool(None, 1))
