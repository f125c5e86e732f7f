"""A call's audio media path: the `CallerChannel` of the audio runtime.

Each media tick the path takes one inbound frame, lets its listener (voice
activity, endpointing, speech recognition) say what happened, applies the
barge-in policy right there, and hands out exactly one outbound frame. So a
barge-in stops the agent in the tick that decides it: zero agent frames
after it. The call's actor is not on this per-frame path; the path reports
to the call's sink only when something happens.

Pause, then decide: speech over the agent pauses it first (the place is
kept). When the policy lets speech onset interrupt, the pause is committed at
once; when it wants words, the transcript decides — enough matching words
commit it, anything else (a cough, "uh-huh", too few words) resumes the agent
where it paused, after at most `resume_after` of silence. An utterance the
document marks uninterruptible plays on. What was heard — the words whose
audio ended before the pause — is what `stop_playout` returns.

The path is authoritative about what it stopped: a commit is reported to the
call as `playout_stopped` for every playout it dropped, so a wait for a
playout's end never hangs on a stop the runtime did not decide itself (a
barge-in on noise, which only the path hears). Playouts the runtime asks for
between a commit and its `stop_playout` belong to the interrupted turn: they
are held, and dropped by that `stop_playout` — or played after
`HOLD_AFTER_STOP_TICKS` if the runtime goes on without one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from interpreter.ir import Barge, BargePolicy
from interpreter.media import barge
from interpreter.media.clock import MediaClock
from interpreter.media.dtmf import DtmfDetector, tones
from interpreter.media.frames import MIN_DBFS, silence
from interpreter.media.playout import Playout, Samples, Segment
from interpreter.media.ports import (
    CallSink,
    FailureKind,
    Heard,
    ListenSettings,
    PlayoutFailure,
    Recording,
    RecordingFailed,
    Utterance,
)
from interpreter.media.recording import Recorder, beep, recordings_folder
from interpreter.media.speaking import (
    BUILTIN_HOLD,
    BUILTIN_RINGBACK,
    Speaker,
    hold_tone,
    read_file,
    ringback,
)
from interpreter.providers.tts.base import TtsProvider

# How long the agent stays paused over speech that did not turn into an
# interruption before it goes on (LiveKit's false_interruption_timeout is 2 s;
# a caller's backchannel ends well before that).
RESUME_AFTER_TICKS = 50  # 1 s after the caller stopped, if nothing decided by then
# However long the caller goes on, the agent goes on after this long paused.
LONGEST_PAUSE_TICKS = 500  # 10 s
# A partial transcript is passed on (and may interrupt) once it has held this
# long: the recognizer's first guesses ("bye", "a", "book a") change within a
# few frames, and an interruption must not be decided on one of them.
STABLE_PARTIAL_TICKS = 10  # 200 ms
# How long playouts asked for after a commit wait for the runtime to take the
# barge-in (it does so in microseconds; this bounds a runtime that does not).
HOLD_AFTER_STOP_TICKS = 25  # 0.5 s
NOTHING_HEARD = Heard("", 0, 0.0)
# The path's own playouts, never reported: the recording beep, DTMF sent.
BEEP_PLAYOUT, DIGITS_PLAYOUT = -1, -2
# Until the runtime says otherwise (a plain `play`), speech does not interrupt.
NO_BARGE = BargePolicy(mode=Barge.OFF)


@dataclass(frozen=True, slots=True)
class SpeechOnset:
    """Voice activity started (after the minimum duration); `onset` is the
    tick of its first voiced frame."""

    onset: int


@dataclass(frozen=True, slots=True)
class SpeechOffset:
    """The caller stopped speaking (endpointing decided)."""


@dataclass(frozen=True, slots=True)
class Words:
    text: str
    final: bool
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """Speech that recognition returned no words for."""

    reason: str


@dataclass(frozen=True, slots=True)
class Noise:
    """Sound without voice lasting `seconds` (interrupt_on_noise)."""

    seconds: float


ListenerEvent = SpeechOnset | SpeechOffset | Words | NotUnderstood | Noise


class Listener(Protocol):
    def listen(self, settings: ListenSettings) -> None: ...

    def feed(self, frame: Samples, tick: int,
             level_dbfs: float | None = None) -> Sequence[ListenerEvent]:
        """One inbound 20 ms frame (and its level, when measured); what
        happened in it."""
        ...


def _silence_source() -> Samples | None:
    return None


def _discard(_: Samples) -> None:
    pass


class AudioPath:
    """The audio `CallerChannel`: one per call, serviced by the media clock."""

    def __init__(self, clock: MediaClock, rate: int, tts: TtsProvider, listener: Listener,
                 *, inbound: Callable[[], Samples | None] = _silence_source,
                 outbound: Callable[[Samples], None] = _discard,
                 policy: BargePolicy | None = None,
                 resume_after_ticks: int = RESUME_AFTER_TICKS,
                 recordings: Path | None = None, in_band_dtmf: bool = False) -> None:
        """`recordings`: the folder the record verbs write to (default:
        media/recording.py's `recordings_folder`). `in_band_dtmf`: find key
        presses in the caller's audio (a transport that sends no DTMF events
        of its own); their tones are kept from the listener."""
        self.rate = rate
        self.policy = policy or NO_BARGE
        self.listener = listener
        self.playout = Playout(rate, self._finished)
        self.speaker = Speaker(self.playout, tts, self._failed, self._substituted,
                               self._estimated)
        self._noted: set[str] = set()
        self.playout.more_coming = self.speaker.making
        self.deciding_ticks: list[int] = []  # ticks where a barge-in was committed
        self._clock = clock
        self._inbound, self._outbound = inbound, outbound
        self._sink: CallSink | None = None
        self._unregister: Callable[[], None] | None = None
        self._heard: Heard | None = None  # what a barge-in at the frame kept
        self._held_until: int | None = None  # new playouts wait for stop_playout till then
        self._paused_at: int | None = None  # tick the agent paused at
        self._over_agent = False  # the caller's utterance began while the agent spoke
        self._committed = False  # this utterance interrupted the agent
        self._speaking_since: int | None = None  # the caller's voice, onset to offset
        self._silent_since = 0  # tick the caller's last utterance ended
        self._partial: tuple[Words, int] | None = None  # not yet stable, since tick
        self._tick = 0
        self._resume_after = resume_after_ticks
        self._recordings = recordings
        self._recorders: dict[str, Recorder] = {}
        self._dtmf = DtmfDetector(rate) if in_band_dtmf else None
        # Read, never written: one frame serves every tick without caller audio.
        self._silence = silence(rate)
        self._silence.flags.writeable = False

    # ------------------------------------------------------------ CallerChannel

    def attach(self, sink: CallSink) -> None:
        self._sink = sink
        self._unregister = self._clock.register(self)

    def answer(self) -> None:
        """The transport answers; the path itself has nothing to do."""

    def listen(self, settings: ListenSettings) -> None:
        self.policy = settings.barge or NO_BARGE
        self.listener.listen(settings)

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        if self._heard is not None and self._held_until is None:
            # Asked for before the runtime took the barge-in: most likely the
            # rest of the interrupted reply. Held, not played.
            self._held_until = self._tick + HOLD_AFTER_STOP_TICKS
            self.playout.pause()
        self.speaker.play(playout_id, items)

    def stop_playout(self) -> Heard:
        committed, self._heard, self._held_until = self._heard, None, None
        self.speaker.cancel()
        self._paused_at = None
        heard = self.playout.stop()
        return committed if committed is not None else heard

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        try:
            samples = ringback(self.rate) if url == BUILTIN_RINGBACK else \
                hold_tone(self.rate) if url == BUILTIN_HOLD else read_file(url, self.rate)
        except Exception as error:  # any unreadable file is a media failure
            self._failed(playout_id, PlayoutFailure(FailureKind.MEDIA, 0,
                                                    f"could not play {url}: {error}"))
            return
        self.playout.play_background(samples, loops, lambda: self._finished(playout_id))

    def stop_background(self) -> None:
        self.playout.stop_background()

    def send_digits(self, digits: str) -> None:
        """DTMF to the caller, in band: the keys' tones after what is queued
        ("w" waits half a second, "W" one)."""
        try:
            keys = tones(digits, self.rate)
        except ValueError:
            return  # the send_digits verb refuses what is not DTMF before it gets here
        self.playout.enqueue(Segment(keys, DIGITS_PLAYOUT, interruptible=False))

    def start_recording(self, control_id: str, recording: Recording) -> str:
        """Record from the next tick on (after the beep, with one), to a file
        whose URL is returned; it is written when the recording stops."""
        start = self._tick + 1
        if recording.beep:
            tone = beep(self.rate)
            self.playout.enqueue(Segment(tone, BEEP_PLAYOUT, interruptible=False))
            start += -(-len(tone) // self.playout.frame_samples)
        folder = recordings_folder(self._recordings)
        try:
            recorder = Recorder.to_folder(folder, control_id, recording, start,
                                          recording.max_length_s)
        except OSError as error:
            raise RecordingFailed(f"cannot record in {folder}: "
                                  f"{error.strerror or error}") from None
        self._recorders[control_id] = recorder
        return recorder.url

    def stop_recording(self, control_id: str) -> None:
        recorder = self._recorders.pop(control_id, None)
        if recorder is not None:
            recorder.write(self.rate)

    def hangup(self, reason: str) -> None:
        for control_id in list(self._recorders):
            self.stop_recording(control_id)  # what was recorded is kept
        self.speaker.cancel()
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        self.playout.release()
        self._sink = None

    # ------------------------------------------------------------ the tick

    def take(self) -> Samples:
        frame = self._inbound()
        return self._silence if frame is None else frame

    def tick(self, n: int, frame: Samples, level_dbfs: float) -> None:
        self._tick = n
        heard_frame, heard_level = frame, level_dbfs
        if self._dtmf is not None:
            key = self._dtmf.feed(frame, level_dbfs)
            if self._dtmf.in_tone:
                heard_frame, heard_level = self._silence, MIN_DBFS  # a key's tone is not speech
            if key is not None and self._sink is not None:
                self._sink.digit(key)
        for heard in self.listener.feed(heard_frame, n, heard_level):
            self._on(heard, n)
        if self._partial is not None and n - self._partial[1] >= STABLE_PARTIAL_TICKS:
            words, self._partial = self._partial[0], None
            self._words(words, n)
        if self._paused_at is not None:
            self._maybe_resume(n)
        if self._held_until is not None and n >= self._held_until:
            # The runtime went on without taking the barge-in: what it asked
            # for since is its next move, and plays.
            self._heard, self._held_until = None, None
            self.playout.resume()
        out = self.playout.frame()
        for recorder in self._recorders.values():
            recorder.add(n, frame, out)
        self._outbound(out)

    def _on(self, heard: ListenerEvent, n: int) -> None:
        sink = self._sink
        if sink is None:
            return
        speaking = self.playout.speaking  # paused included: its place is kept
        interruptible = self.playout.interruptible
        match heard:
            case SpeechOnset():
                sink.speech_started()
                for recorder in self._recorders.values():
                    recorder.speech(True, n)
                self._over_agent, self._committed = speaking, False
                self._speaking_since = n
                if speaking and interruptible and self._paused_at is None:
                    if barge.on_speech(self.policy):
                        self._commit(n, "speech")
                    elif self.policy.mode is not Barge.OFF:
                        self._pause(n)  # words may interrupt: hold until they decide
            case Words(final=False):
                self._partial = (heard, n)  # passed on once it holds
            case Words():
                self._partial = None  # the final says it all
                self._words(heard, n)
            case NotUnderstood(reason=reason):
                self._partial = None
                # Speech over the agent with no words in it is a backchannel
                # or noise, not a caller to ask to say it again — unless it
                # already interrupted the agent, which now waits for words.
                why = f"not understood ({reason}), not answered"
                if self._committed or not self._over_agent:
                    sink.transcription_failed(reason)
                elif self._paused_at is not None:
                    self._resume(why)
                else:
                    sink.playout_paused(False, why)  # resumed already: said why late
            case Noise(seconds=seconds):
                if speaking and barge.on_noise(self.policy, seconds, interruptible):
                    self._commit(n, "noise")
            case SpeechOffset():
                self._speaking_since, self._silent_since = None, n
                for recorder in self._recorders.values():
                    recorder.speech(False, n)

    def _words(self, words: Words, n: int) -> None:
        """Words heard (a final, or a partial that held): they interrupt, or a
        paused agent goes on (a backchannel, too few words)."""
        sink = self._sink
        if sink is None:
            return
        if self.playout.speaking and barge.on_words(self.policy, words.text, words.final,
                                                    words.confidence,
                                                    self.playout.interruptible):
            self._commit(n, "words")
        elif words.final and self._paused_at is not None:
            self._resume(f"the words did not interrupt: {words.text!r}")
        sink.transcript(words.text, words.final, words.confidence)

    def _maybe_resume(self, n: int) -> None:
        """A pause nothing decided ends: a while after the caller stopped, or
        after the longest pause however long they go on."""
        assert self._paused_at is not None
        if n - self._paused_at >= LONGEST_PAUSE_TICKS:
            self._resume(f"still undecided after {LONGEST_PAUSE_TICKS * 20 / 1000:g} s")
        elif self._speaking_since is None and \
                n - max(self._paused_at, self._silent_since) >= self._resume_after:
            self._resume(f"no decision {self._resume_after * 20 / 1000:g} s after the "
                         "caller stopped")

    def _pause(self, n: int) -> None:
        self.playout.pause()
        self._paused_at = n
        if self._sink is not None:
            self._sink.playout_paused(True, "the caller spoke over the agent")

    def _resume(self, why: str) -> None:
        self._paused_at = None
        self.playout.resume()
        if self._sink is not None:
            self._sink.playout_paused(False, why)

    def _commit(self, n: int, cause: str) -> None:
        """Stop in this tick: nothing more of the agent's speech goes out. Each
        playout dropped is reported stopped; the one playing carries what was
        heard of it."""
        dropped = dict.fromkeys([*self.playout.playout_ids(), *self.speaker.cancel()])
        self._paused_at = None
        self._committed = True
        heard = self._heard = self.playout.stop()
        self.deciding_ticks.append(n)
        if self._sink is not None:
            for playout_id in dropped:
                self._sink.playout_stopped(playout_id, heard, cause)
                heard = NOTHING_HEARD

    # ------------------------------------------------------------ reports

    def _finished(self, playout_id: int) -> None:
        if self._sink is not None and playout_id >= 0:  # not the path's own
            self._sink.playout_finished(playout_id)

    def _substituted(self, wanted: str, used: str) -> None:
        self._note(f"the voice {wanted} is not available here: spoken with {used}")

    def _estimated(self, voice: str) -> None:
        self._note(f"{voice} gave no timing for some words: where they start is estimated")

    def _note(self, note: str) -> None:
        if self._sink is not None and note not in self._noted:
            self._noted.add(note)
            self._sink.speech_noted(note)

    def _failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        if self._sink is not None:
            self._sink.playout_failed(playout_id, failure)
