"""Heard text from acknowledged marks: only marks the provider confirmed
before our `clear` count; those acknowledged after it were dropped."""

from __future__ import annotations

from interpreter.media.ports import Heard
from interpreter.transports.media_stream.marks import NOTHING_HEARD, MarkLedger


def _heard(text: str) -> Heard:
    return Heard(text, len(text.split()), 0.1 * len(text.split()))


def test_a_mark_follows_each_frame_a_word_ended_in() -> None:
    ledger = MarkLedger()
    assert ledger.after_frame(NOTHING_HEARD) is None
    first = ledger.after_frame(_heard("hello"))
    assert first is not None
    assert ledger.after_frame(_heard("hello")) is None  # no new word in this frame
    assert ledger.after_frame(_heard("hello there")) not in (None, first)
    assert ledger.pending == 2


def test_heard_is_the_last_acknowledged_mark_and_acks_count_in_order() -> None:
    ledger = MarkLedger()
    names = [ledger.after_frame(_heard(text)) for text in ("we", "we have", "we have tables")]
    assert ledger.heard() == NOTHING_HEARD
    ledger.acked(str(names[1]))  # the first is acknowledged with it
    assert ledger.heard() == _heard("we have")
    assert ledger.pending == 1 and ledger.stats.acked == 2


def test_marks_acknowledged_after_a_clear_were_not_played() -> None:
    ledger = MarkLedger()
    names = [ledger.after_frame(_heard(text)) for text in ("we", "we have", "we have tables")]
    ledger.acked(str(names[0]))
    assert ledger.clear() == _heard("we")
    ledger.acked(str(names[1]))  # came back because of the clear
    ledger.acked(str(names[2]))
    assert ledger.stats.dropped == 2
    assert ledger.heard() == NOTHING_HEARD  # a new run: nothing of it heard yet


def test_a_new_run_of_speech_starts_its_heard_afresh() -> None:
    ledger = MarkLedger()
    old = ledger.after_frame(_heard("goodbye now"))
    ledger.acked(str(old))
    ledger.after_frame(NOTHING_HEARD)  # the run ended
    new = ledger.after_frame(_heard("hello"))
    assert ledger.heard() == NOTHING_HEARD
    ledger.acked(str(new))
    assert ledger.heard() == _heard("hello")


def test_unknown_acknowledgements_are_counted_not_trusted() -> None:
    ledger = MarkLedger()
    ledger.after_frame(_heard("hi"))
    ledger.acked("made-up")
    assert ledger.heard() == NOTHING_HEARD and ledger.stats.unknown == 1
