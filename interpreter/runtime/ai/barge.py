"""When the caller's speech interrupts the agent: `enable_barge`,
`barge_min_words` and `barge_match_string` (reference §2.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.runtime import events as ev

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

_ON_SPEECH = (ir.Barge.PARTIAL, ir.Barge.ALL, ir.Barge.COMPLETE_AND_PARTIAL)
_ON_WORDS = (ir.Barge.COMPLETE, ir.Barge.ALL, ir.Barge.COMPLETE_AND_PARTIAL)


def barges(session: AiSession, event: ev.Event) -> bool:
    """Whether the caller's speech interrupts the agent (`enable_barge`,
    `barge_min_words`, `barge_match_string`). Speech onset barges in only when
    no words are required; otherwise the transcript decides. Words that do not
    barge in wait for the agent's next turn."""
    params = session.verb.params
    if params.barge is ir.Barge.OFF:
        return False
    if isinstance(event, ev.SpeechStarted):
        return params.barge in _ON_SPEECH and params.barge_min_words <= 1 \
            and params.barge_match_string is None
    if not isinstance(event, ev.TranscriptReceived):
        return False
    if params.barge not in (_ON_WORDS if event.final else _ON_SPEECH):
        return False
    if len(event.text.split()) < params.barge_min_words:
        return False
    pattern = params.barge_match_string
    return pattern is None or pattern.search(event.text) is not None
