"""What an ai session does next: keep conversing, or end in one of three ways.

One state and one guarded transition function, like the call's: a session
that is to hang up stays so whatever a later action asks; a transfer can
still become a hangup, an end can become either. The ai verb reads the final
state when the session is over: end (the script goes on after the verb),
transfer (to a section or a SWML document) or hang up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from interpreter import ir
from interpreter.jsontypes import JSONValue


class Move(enum.Enum):
    CONVERSE = "converse"
    END = "end"
    TRANSFER = "transfer"
    HANG_UP = "hang_up"


# Where each state may go: later moves may only escalate.
_MOVES: dict[Move, frozenset[Move]] = {
    Move.CONVERSE: frozenset({Move.END, Move.TRANSFER, Move.HANG_UP}),
    Move.END: frozenset({Move.TRANSFER, Move.HANG_UP}),
    Move.TRANSFER: frozenset({Move.HANG_UP}),
    Move.HANG_UP: frozenset(),
}


@dataclass
class NextMove:
    state: Move = Move.CONVERSE
    why: str | None = None  # "end", "stop", "inactivity", "transfer", "hangup", "error:..."
    section: ir.Section | None = None  # a transfer to a section of this document
    swml: list[tuple[JSONValue, bool]] = field(default_factory=list)  # (document, replace)

    @property
    def over(self) -> bool:
        return self.state is not Move.CONVERSE

    def to(self, target: Move, why: str) -> bool:
        """Move on, if the state allows; False (and nothing changes) if not."""
        if target not in _MOVES[self.state]:
            return False
        self.state, self.why = target, why
        return True
