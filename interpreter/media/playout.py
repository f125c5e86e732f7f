"""Outbound audio, one 20 ms frame per tick, with the words that are in it.

Speech arrives as segments (a synthesized sentence, a file, a tone) that
carry word marks: where each word's audio starts. `frame()` hands out
exactly one frame per media tick — speech, or silence while nothing is
queued — with background audio mixed under it. `stop()` (a barge-in) empties
the queue in that same tick and says what the caller heard: the words whose
audio had *ended* (its sound, not the pause after it), cut after the last
one, in the current run of speech.
A playout's end is reported when its last segment has been played out.

A run of speech is what the text media calls a turn: playouts asked for
while one plays (the sentences of a streamed reply) join its run; a playout
that ends with nothing queued and nothing being made (`more_coming`) ends
it, so what is asked for after that (the prompt after a greeting) is heard
afresh.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from interpreter.media.ports import Heard

Samples = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Segment:
    """Audio to play at the path's rate, and the words in it: (sample offset
    where the word's audio starts, the word)."""

    samples: Samples
    playout_id: int
    item: int = 0
    words: tuple[tuple[int, str], ...] = ()
    last: bool = True  # the last segment of its playout: finishing it finishes the playout
    interruptible: bool = True
    # Where each word's sound ends (before the pause that follows it); none:
    # at the next word's mark.
    ends: tuple[int, ...] = ()


def _ignore(_: int) -> None:
    """For a released playout."""


def _nothing_coming() -> bool:
    return False


class Playout:
    def __init__(self, rate: int, on_finished: Callable[[int], None] = _ignore,
                 more_coming: Callable[[], bool] = _nothing_coming) -> None:
        """`more_coming`: whether audio is being made that will be queued (the
        speaker's TTS); a run of speech does not end while it is."""
        self.rate = rate
        self.more_coming = more_coming
        self.frame_samples = rate // 50  # 20 ms
        self._silence = np.zeros(self.frame_samples, dtype=np.int16)
        self._queue: deque[Segment] = deque()
        self._current: Segment | None = None
        self._position = 0  # samples of the current segment already played
        self._heard: list[str] = []  # words fully played in this run of speech
        self._played_samples = 0  # in this run of speech
        self._on_finished = on_finished
        self._background: Samples | None = None
        self._background_at = 0
        self._background_loops = 0  # 0: until stopped
        self._background_done: Callable[[], None] | None = None
        self.frames_out = 0  # frames of speech handed out (for the barge-in benchmark)
        self.paused = False  # overlapping speech: hold the agent's place, play nothing

    def release(self) -> None:
        self._on_finished = _ignore
        self._background_done = None

    # ------------------------------------------------------------ speech

    def enqueue(self, segment: Segment) -> None:
        self._queue.append(segment)

    @property
    def speaking(self) -> bool:
        return self._current is not None or bool(self._queue)

    @property
    def interruptible(self) -> bool:
        segment = self._current or (self._queue[0] if self._queue else None)
        return segment is None or segment.interruptible

    def playout_ids(self) -> list[int]:
        """The playouts with audio still to play, the one playing first."""
        segments = [self._current] if self._current is not None else []
        return list(dict.fromkeys(s.playout_id for s in [*segments, *self._queue]))

    def stop(self) -> Heard:
        """Stop now: nothing more of the queued speech plays. What was heard."""
        heard = self._heard_now()
        self._queue.clear()
        self._current = None
        self._position = 0
        self.paused = False
        self._end_run()
        return heard

    def heard(self) -> Heard:
        """What has been heard of the current run of speech so far: the words
        whose audio has ended (a media stream marks each boundary with it)."""
        return self._heard_now()

    def heard_words(self) -> int:
        """How many words of the current run have been heard so far: what
        `heard()` counts, without building its text (asked every frame)."""
        count = len(self._heard)
        segment = self._current
        if segment is not None:
            for index in range(len(segment.words)):
                if self._word_end(segment, index) > self._position:
                    break  # word ends only grow along a segment
                count += 1
        return count

    def _heard_now(self) -> Heard:
        words = list(self._heard)
        segment = self._current
        if segment is not None:
            words += [word for index, (start, word) in enumerate(segment.words)
                      if self._word_end(segment, index) <= self._position]
        return Heard(" ".join(words), len(words),
                     round(self._played_samples / self.rate, 6))

    @staticmethod
    def _word_end(segment: Segment, index: int) -> int:
        """Where the word's audio ends: its sound, or else the next word's mark."""
        if segment.ends:
            return segment.ends[index]
        following = segment.words[index + 1:index + 2]
        return following[0][0] if following else len(segment.samples)

    def _end_run(self) -> None:
        self._heard = []
        self._played_samples = 0

    # ------------------------------------------------------------ frames

    def frame(self) -> Samples:
        """The next 20 ms: queued speech (or silence), background mixed under."""
        speech = self._speech_frame()
        background = self._background_frame()
        if background is None:
            return speech
        mixed: Samples = np.clip(speech.astype(np.int32) + background,
                                 -32768, 32767).astype(np.int16)
        return mixed

    def pause(self) -> None:
        """Stop handing out speech, keeping the place: `resume` goes on from
        it (a false interruption), `stop` ends it (a real one)."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def _speech_frame(self) -> Samples:
        if self.paused:
            return self._silence
        need = self.frame_samples
        parts: list[Samples] = []
        while need:
            if self._current is None:
                if not self._queue:
                    break
                self._current, self._position = self._queue.popleft(), 0
            segment = self._current
            take = segment.samples[self._position:self._position + need]
            parts.append(take)
            self._position += len(take)
            self._played_samples += len(take)
            need -= len(take)
            if self._position >= len(segment.samples):
                self._heard += [word for _, word in segment.words]
                self._current = None
                if segment.last:
                    if not self._queue and not self.more_coming():
                        self._end_run()  # the run is over: what follows starts afresh
                    self._on_finished(segment.playout_id)
        if not parts:
            if self._played_samples and not self.more_coming():
                self._end_run()  # the run of speech is over: the next one starts afresh
            return self._silence
        self.frames_out += 1
        if need:
            parts.append(self._silence[:need])
        out: Samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out

    # ------------------------------------------------------------ background

    def play_background(self, samples: Samples, loops: int,
                        done: Callable[[], None] | None = None) -> None:
        """Mix `samples` under the speech, `loops` times (0: until stopped)."""
        self._background = samples if len(samples) else None
        self._background_at = 0
        self._background_loops = loops
        self._background_done = done

    def stop_background(self) -> None:
        self._background = None
        self._background_done = None

    def _background_frame(self) -> npt.NDArray[np.int32] | None:
        track = self._background
        if track is None:
            return None
        out = np.zeros(self.frame_samples, dtype=np.int32)
        filled = 0
        while filled < self.frame_samples and self._background is not None:
            take = track[self._background_at:self._background_at + self.frame_samples - filled]
            out[filled:filled + len(take)] = take
            filled += len(take)
            self._background_at += len(take)
            if self._background_at >= len(track):
                self._background_at = 0
                if self._background_loops == 1:
                    done = self._background_done
                    self.stop_background()
                    if done is not None:
                        done()
                elif self._background_loops > 1:
                    self._background_loops -= 1
        return out
