"""One call's listening, as the audio path's `Listener`: the speech detector
(energy gate, VAD, endpointing) decides when the caller speaks, and a
speech-to-text session per utterance turns it into words.

A recognition session opens when speech is confirmed, which is some frames
after its onset: the frames since the onset (and a short lead-in before it)
are kept, so the recognizer hears the first syllable too. Partial
transcripts are reported as they change; when endpointing ends the
utterance, the final transcript is asked for right there. A final with no
words, under the call's confidence floor, or a recognizer that failed is
`NotUnderstood`, which the runtime answers with its stt_error recovery.
Words are reported in written form (numbers as digits, providers/stt/written.py),
as hosted recognizers report them.

Recognition runs where its recognizer says (media/recognition.py): on the
tick (a provider given directly: results in the same tick, deterministic), or
in worker processes (`SttWorkers`: results a tick or so later, collected at
the start of each tick). An utterance that has ended keeps waiting for its
final transcript while the next one is already being recognized.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from interpreter.media.endpoint import (
    NoiseDetected,
    SpeechDetector,
    SpeechEnded,
    SpeechStarted,
    UtteranceTooLong,
)
from interpreter.media.frames import FRAME_MS, Samples
from interpreter.media.path import (
    ListenerEvent,
    Noise,
    NotUnderstood,
    SpeechOffset,
    SpeechOnset,
    Words,
)
from interpreter.media.ports import ListenSettings
from interpreter.media.recognition import (
    Failed,
    Final,
    Partial,
    Recognition,
    Recognizer,
    recognizer,
)
from interpreter.media.resample import Resampler
from interpreter.providers.stt.base import Recognized, SttError, SttProvider
from interpreter.providers.stt.written import written
from interpreter.providers.vad.base import VadProvider

# Frames before the onset handed to the recognizer too: the VAD decides a
# few milliseconds into a word, and recognizers want a little silence first.
LEAD_IN_TICKS = 10  # 200 ms


class SpeechListener:
    """Voice activity, endpointing and recognition at the path's rate."""

    def __init__(self, vad: VadProvider, stt: SttProvider | Recognizer, rate: int,
                 settings: ListenSettings | None = None, noise_ms: int | None = None) -> None:
        """`stt`: a provider (recognized on the tick) or a recognizer (such
        as `SttWorkers.recognizer(...)`)."""
        self.settings = settings or ListenSettings()
        self.detector = SpeechDetector(vad, self.settings, noise_ms)
        self._stt = recognizer(stt)
        self._rate = rate
        rate_in = self._stt.sample_rate
        self._to_stt = Resampler(rate, rate_in) if rate_in != rate else None
        # Frames back to the longest onset-to-confirmation delay plus the lead-in.
        self._recent: deque[tuple[int, Samples]] = deque()
        self._keep_ticks = self._frames_to_keep()
        self._session: Recognition | None = None  # the utterance being fed
        self._ending: list[Recognition] = []  # ended, their finals not yet back

    def listen(self, settings: ListenSettings) -> None:
        self.settings = settings
        self.detector.listen(settings)
        self._keep_ticks = self._frames_to_keep()
        # interrupt_on_noise: sound this long is reported even without words.
        noise = settings.barge.noise_s if settings.barge is not None else None
        self.detector.endpointer.interrupt_on_noise(None if noise is None else int(noise * 1000))

    def feed(self, frame: Samples, tick: int,
             level_dbfs: float | None = None) -> list[ListenerEvent]:
        self._keep(frame, tick)
        heard: list[ListenerEvent] = []
        self._collect(heard)  # what workers sent back since the last tick
        if self._session is not None:
            self._recognize(frame, heard)
        for event in self.detector.hear(tick, frame, level_dbfs):
            match event:
                case SpeechStarted(onset_tick=onset):
                    heard.append(SpeechOnset(onset))
                    self._open(onset, heard)
                case SpeechEnded() | UtteranceTooLong():
                    heard.append(SpeechOffset())
                    self._finish(heard)
                case NoiseDetected(at_tick=at, onset_tick=onset):
                    heard.append(Noise((at - onset + 1) * FRAME_MS / 1000))
        return heard

    def close(self) -> None:
        """Drop the utterance under way, if any (one that has ended still
        gets its final transcript)."""
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._to_stt is not None:
            self._to_stt.flush()  # its carry belongs to the dropped utterance

    def release(self) -> None:
        """The call is over: nothing more is wanted."""
        self.close()
        for ending in self._ending:
            ending.close()
        self._ending.clear()

    # ------------------------------------------------------------ recognition

    def _frames_to_keep(self) -> int:
        return self.detector.endpointer.timing.min_speech * 2 + LEAD_IN_TICKS + 2

    def _keep(self, frame: Samples, tick: int) -> None:
        recent = self._recent
        recent.append((tick, frame))
        if len(recent) > self._keep_ticks:
            recent.popleft()

    def _open(self, onset: int, heard: list[ListenerEvent]) -> None:
        self.close()
        try:
            self._session = self._stt.open(replace(self.settings, source_rate=self._rate))
        except SttError as error:
            heard.append(NotUnderstood(f"speech recognition unavailable: {error}"))
            return
        for tick, frame in self._recent:
            if tick >= onset - LEAD_IN_TICKS:
                self._recognize(frame, heard)

    def _recognize(self, frame: Samples, heard: list[ListenerEvent]) -> None:
        session = self._session
        if session is None:
            return
        audio = frame if self._to_stt is None else self._to_stt.push(frame).reshape(-1)
        if len(audio):
            session.feed(audio)
            self._collect(heard)

    def _finish(self, heard: list[ListenerEvent]) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if self._to_stt is not None:
            rest = self._to_stt.flush()
            if len(rest):
                session.feed(rest.reshape(-1))
        session.finish()
        self._ending.append(session)
        self._collect(heard)

    def _collect(self, heard: list[ListenerEvent]) -> None:
        """What the recognitions have to say: partials of the utterance being
        fed, the finals (or failures) of those that ended."""
        session = self._session
        if session is not None:
            for result in session.results():
                match result:
                    case Partial(recognized=partial) if partial.text:
                        heard.append(Words(written(partial.text, self.settings.language),
                                           final=False, confidence=partial.confidence))
                    case Failed(reason=reason):
                        self.close()
                        heard.append(NotUnderstood(f"speech recognition failed: {reason}"))
                        break
        for ending in list(self._ending):
            for result in ending.results():
                match result:
                    case Final(recognized=final):
                        heard.append(self._final(final))
                    case Failed(reason=reason):
                        heard.append(NotUnderstood(f"speech recognition failed: {reason}"))
                    case Partial():
                        continue  # the utterance is over: only its final counts
                self._ending.remove(ending)
                ending.close()
                self.detector.endpointer.transcribed()
                break

    def _final(self, final: Recognized) -> ListenerEvent:
        if not final.text.strip():
            return NotUnderstood("no words recognized")
        if final.confidence < self.settings.confidence:
            return NotUnderstood(f"recognized with confidence {final.confidence:.2f}, "
                                 f"under {self.settings.confidence}")
        return Words(written(final.text, self.settings.language), final=True,
                     confidence=final.confidence)
