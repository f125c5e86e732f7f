"""Outbound audio by the frame: exact frames, finishes, and heard text at a stop."""

from __future__ import annotations

import numpy as np

from interpreter.media.playout import Playout, Segment

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


def test_heard_is_the_stopped_playouts_own_words_when_playouts_run_together() -> None:
    playout = Playout(16_000)
    word = np.full(1600, 100, dtype=np.int16)  # 0.1 s
    playout.enqueue(Segment(np.concatenate([word, word]), 1, words=((0, "Hello"), (1600, "there"))))
    playout.enqueue(Segment(np.concatenate([word, word, word]), 2,
                            words=((0, "For"), (1600, "sales,"), (3200, "press"))))
    for _ in range(20):  # 0.4 s: all of playout 1, two words of playout 2
        playout.frame()
    heard = playout.stop()
    assert heard.text == "For sales," and heard.words == 2 and heard.seconds == 0.2
