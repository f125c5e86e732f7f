"""Outbound audio by the frame: exact frames, finishes, and heard text at a stop."""

from __future__ import annotations

import numpy as np

from interpreter.media.playout import Playout, Segment
from interpreter.media.speaking import sound_ends

RATE = 16_000
FRAME = RATE // 50


def _speech(words: list[str], samples_per_word: int, playout_id: int = 1,
            last: bool = True) -> Segment:
    audio = np.full(samples_per_word * len(words), 1000, dtype=np.int16)
    marks = tuple((i * samples_per_word, word) for i, word in enumerate(words))
    return Segment(audio, playout_id, words=marks, last=last)


def test_every_frame_is_exactly_20_ms_and_silence_follows_speech() -> None:
    finished: list[int] = []
    playout = Playout(RATE, finished.append)
    playout.enqueue(_speech(["one", "two", "three"], 500))  # 1,500 samples: 4.7 frames
    frames = [playout.frame() for _ in range(7)]
    assert all(len(frame) == FRAME for frame in frames)
    assert [int(np.abs(frame).max()) > 0 for frame in frames] == [
        True, True, True, True, True, False, False]
    assert finished == [1] and not playout.speaking


def test_a_stop_keeps_the_words_whose_audio_ended_and_nothing_plays_after() -> None:
    playout = Playout(RATE)
    playout.enqueue(_speech(["Your", "table", "is", "ready"], 480, last=False))
    playout.enqueue(_speech(["Enjoy", "dinner"], 480, playout_id=1))
    for _ in range(3):  # 960 samples played: "Your" and "table" ended exactly
        playout.frame()
    heard = playout.stop()
    assert (heard.text, heard.words, heard.seconds) == ("Your table", 2, 0.06)
    assert not np.any(playout.frame())  # the very next frame is silence
    # A word cut mid-way is not heard; words of earlier segments are.
    playout.enqueue(_speech(["Your", "table", "is", "ready"], 480, last=False))
    playout.enqueue(_speech(["Enjoy", "dinner"], 480, playout_id=1))
    for _ in range(7):  # 2,240 samples: 4 words (1,920) + 320 of "Enjoy"
        playout.frame()
    assert playout.stop().text == "Your table is ready"


def test_a_new_run_of_speech_starts_its_heard_text_afresh() -> None:
    playout = Playout(RATE)
    playout.enqueue(_speech(["Hello"], 320))
    playout.frame()
    playout.frame()  # silence: the run is over
    playout.enqueue(_speech(["Again", "now"], 320, playout_id=2))
    playout.frame()
    assert playout.stop().text == "Again"


def test_background_is_mixed_under_speech_and_ends_after_its_loops() -> None:
    done: list[bool] = []
    playout = Playout(RATE)
    playout.play_background(np.full(FRAME, 100, dtype=np.int16), loops=2,
                            done=lambda: done.append(True))
    playout.enqueue(_speech(["Hi"], FRAME))
    assert int(playout.frame()[0]) == 1100
    assert int(playout.frame()[0]) == 100 and done == [True]
    assert int(playout.frame()[0]) == 0


def test_a_pause_holds_the_place_and_resume_goes_on_from_it() -> None:
    playout = Playout(RATE)
    playout.enqueue(_speech(["one", "two", "three"], 320))
    playout.frame()  # "one"
    playout.pause()
    assert not np.any(playout.frame()) and not np.any(playout.frame())
    playout.resume()
    playout.frame()  # "two": nothing was lost or repeated
    playout.frame()  # "three"
    assert playout.frames_out == 3 and not playout.speaking


WORD = np.full(1600, 100, dtype=np.int16)  # 0.1 s
LOUD_WORD = np.full(1600, 3000, dtype=np.int16)  # 0.1 s over the quiet level


def test_playouts_queued_together_are_one_run_and_heard_together() -> None:
    # The sentences of a streamed reply: the second was asked for while the
    # first played, so what was heard runs across both.
    playout = Playout(16_000)
    playout.enqueue(Segment(np.concatenate([WORD, WORD]), 1,
                            words=((0, "Hello"), (1600, "there."))))
    playout.enqueue(Segment(np.concatenate([WORD, WORD, WORD]), 2,
                            words=((0, "For"), (1600, "sales,"), (3200, "press"))))
    for _ in range(20):  # 0.4 s: all of playout 1, two words of playout 2
        playout.frame()
    heard = playout.stop()
    assert heard.text == "Hello there. For sales," and heard.words == 4
    assert heard.seconds == 0.4


def test_a_playout_asked_for_after_the_last_one_ended_is_heard_afresh() -> None:
    # A greeting played to its end, then the prompt (asked for once the
    # runtime heard the greeting had finished, with no silent frame between).
    finished: list[int] = []
    playout = Playout(16_000, finished.append)
    playout.enqueue(Segment(np.concatenate([WORD, WORD]), 1,
                            words=((0, "Hello"), (1600, "there."))))
    for _ in range(10):
        playout.frame()
    assert finished == [1]
    playout.enqueue(Segment(np.concatenate([WORD, WORD, WORD]), 2,
                            words=((0, "For"), (1600, "sales,"), (3200, "press"))))
    for _ in range(10):
        playout.frame()
    assert playout.stop().text == "For sales,"


def test_a_run_goes_on_while_more_of_it_is_being_made() -> None:
    making = [True]
    playout = Playout(16_000, more_coming=lambda: making[0])
    playout.enqueue(Segment(WORD, 1, words=((0, "One."),)))
    for _ in range(6):  # 0.12 s: "One." played; its TTS neighbour still making
        playout.frame()
    making[0] = False
    playout.enqueue(Segment(np.concatenate([WORD, WORD]), 2, words=((0, "Two"), (1600, "three"))))
    for _ in range(5):
        playout.frame()
    assert playout.stop().text == "One. Two"


def test_a_word_whose_sound_ended_is_heard_though_the_pause_after_it_was_cut() -> None:
    # "Hello." sounds for 0.1 s, then 0.1 s of pause before "there".
    quiet = np.zeros(1600, dtype=np.int16)
    samples = np.concatenate([LOUD_WORD, quiet, LOUD_WORD])
    playout = Playout(16_000)
    playout.enqueue(Segment(samples, 1, words=((0, "Hello."), (3200, "there")),
                            ends=sound_ends(samples, [0, 3200])))
    for _ in range(6):  # 0.12 s: the sound of "Hello." and some of its pause
        playout.frame()
    assert playout.stop().text == "Hello."


def test_sound_ends_are_where_each_word_falls_quiet() -> None:
    quiet = np.zeros(800, dtype=np.int16)
    samples = np.concatenate([LOUD_WORD, quiet, LOUD_WORD[:400], np.zeros(1200, np.int16)])
    assert sound_ends(samples, [0, 2400]) == (1600, 2800)
    # A word with no sound at all ends at the next one's start.
    assert sound_ends(np.zeros(3200, np.int16), [0, 1600]) == (1600, 3200)
