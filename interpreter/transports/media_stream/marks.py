"""Which words the caller heard, from the marks the provider acknowledged.

After every outbound frame in which a word's audio ended, the channel sends
a mark; the ledger keeps, for each mark, what had been heard at it (the run
of speech's words so far). The provider acknowledges a mark once it has
played everything sent before it — or when a `clear` dropped it, which the
acknowledgement does not say. We know when we cleared: a mark still pending
at our `clear` was not played, whenever its acknowledgement comes. So what
the caller heard of an interrupted run is what had been heard at the last
mark acknowledged before the `clear`: never a word the provider had not
confirmed playing.

A run of speech is the playout's (media/playout.py): the words heard reset
when one ends, and a `clear` ends one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from interpreter.media.ports import Heard

NOTHING_HEARD = Heard("", 0, 0.0)
# Marks waiting for their acknowledgement, at most: a provider that never
# answers marks must not grow this without end (a minute of words).
MAX_PENDING = 512


@dataclass(slots=True)
class MarkStats:
    placed: int = 0
    acked: int = 0  # acknowledged as played
    dropped: int = 0  # acknowledged after our clear: not played
    unknown: int = 0  # acknowledgements of marks we never placed (or forgot)


class MarkLedger:
    def __init__(self, prefix: str = "w") -> None:
        self.stats = MarkStats()
        self._prefix = prefix
        self._pending: OrderedDict[str, tuple[int, Heard]] = OrderedDict()  # name → run, heard
        self._cleared: set[str] = set()
        self._run = 0
        self._words = 0  # words heard in the run, as of the last frame
        self._acked: tuple[int, Heard] | None = None  # the last acknowledged, its run

    @property
    def pending(self) -> int:
        return len(self._pending)

    def after_frame(self, heard: Heard) -> str | None:
        """The playout's heard-so-far after a frame went out: the name of the
        mark to send after that frame when a word ended in it."""
        if heard.words < self._words:
            self._run += 1  # the run ended and another began
            self._words = 0
        if heard.words == self._words:
            return None
        self._words = heard.words
        self.stats.placed += 1
        name = f"{self._prefix}{self._run}-{heard.words}-{self.stats.placed}"
        self._pending[name] = (self._run, heard)
        if len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return name

    def acked(self, name: str) -> None:
        """The provider acknowledged `name` (in order: every mark before it is
        acknowledged with it)."""
        if name in self._cleared:
            self._cleared.discard(name)
            self.stats.dropped += 1
            return
        if name not in self._pending:
            self.stats.unknown += 1
            return
        while self._pending:
            placed, at = self._pending.popitem(last=False)
            self.stats.acked += 1
            if placed == name:
                self._acked = at
                return

    def heard(self) -> Heard:
        """What the caller has heard of the current run, as acknowledged."""
        if self._acked is None or self._acked[0] != self._run:
            return NOTHING_HEARD
        return self._acked[1]

    def clear(self) -> Heard:
        """We sent `clear`: what was heard of the run, and from now on every
        mark still pending counts as not played. A new run begins."""
        heard = self.heard()
        self._cleared.update(self._pending)
        if len(self._cleared) > MAX_PENDING:
            self._cleared = set(list(self._cleared)[-MAX_PENDING:])
        self._pending.clear()
        self._run += 1
        self._words = 0
        return heard
