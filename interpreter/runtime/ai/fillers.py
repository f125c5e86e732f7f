"""Fillers: short phrases that keep the line from going silent.

Function fillers play while a slow tool runs, speech ("thinking") fillers
while the model is slow to start its reply, enter/exit fillers when the
conversation moves between contexts, internal fillers when the model calls
an injected function (next_step, change_context, change_language). Maps are
keyed by language code and looked up as SignalWire's SWML docs for `ai` say: the exact code,
then `auto`, then `default`. Choices rotate rather than repeat, and
deterministically, so flow tests stay exact.

A filler is not the model's words: it is queued ahead of the next reply and
trimmed from what the caller heard before a barge-in enters the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreter import ir

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

# How long the caller waits on a tool or on the model's first sentence before
# a filler is spoken; a fast answer needs none.
FILLER_AFTER = 0.6


def from_map(session: AiSession, fillers: ir.FillerMap) -> str | None:
    for key in (session.tuning.language_code, "auto", "default"):
        if fillers.get(key):
            return _rotate(session, fillers[key])
    return None


def for_function(session: AiSession, function: ir.Function) -> str | None:
    """The function's own map, else the language's function_fillers."""
    if function.skip_fillers:
        return None
    chosen = from_map(session, function.fillers)
    language = session.tuning.language
    if chosen is None and language is not None and language.function_fillers:
        chosen = _rotate(session, language.function_fillers)
    return chosen


def for_thinking(session: AiSession) -> str | None:
    language = session.tuning.language
    if language is None or not language.speech_fillers:
        return None
    return _rotate(session, language.speech_fillers)


def for_internal(session: AiSession, function: str) -> str | None:
    fillers = session.verb.internal_fillers.get(function)
    return from_map(session, fillers) if fillers else None


def play(session: AiSession, text: str, kind: str, **detail: str) -> int:
    """Queue a filler without waiting for it; the id of its playout."""
    playout = session.call.next_id()
    session.executor.channel.play(playout, [session.utterance(text)])
    session.call.trace.record("filler", text=text, filler_type=kind, **detail)
    session.conversation.filler_prefix += text + " "
    return playout


def _rotate(session: AiSession, choices: tuple[str, ...]) -> str:
    session.filler_count += 1
    return choices[(session.filler_count - 1) % len(choices)]
