"""gather_info: the platform asks a step's questions itself, one at a time.

The questions are spoken as written and the answers kept out of the model's
tool history; they land in global_data (under `output_key` when set), where
the prompt and tools read them. Then the step moves to its completion step
and the model is told what the caller answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ChatMessage
from interpreter.runtime import events as ev
from interpreter.runtime.ai import prompt

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession


async def ask(session: AiSession, step: ir.Step, gather: ir.GatherInfo) -> None:
    """Ask every question, store the answers, move on; the caller's turn
    with the model follows."""
    call = session.call
    session.gathered.add(step.name)
    answers: dict[str, JSONValue] = {}
    for question in gather.questions:
        await session.executor.say(prompt.render(question.question, session))
        event = await call.wait_for(_caller_words)
        assert isinstance(event, ev.TranscriptReceived)
        answers[question.key] = event.text
        call.trace.record("gather_answer", key=question.key, answer=event.text)
    if gather.output_key:
        session.global_data[gather.output_key] = answers
    else:
        session.global_data.update(answers)
    target = gather.completion_step
    if target is not None:
        call.trace.record("step_change", old=step.name, new=target.name,
                          trigger="gather_complete")
        session.step = target
        session.fresh_step = True
    session.messages.append(ChatMessage(
        "system", "The caller answered: " + "; ".join(f"{k}: {v}" for k, v in answers.items())))


def _caller_words(event: ev.Event) -> bool:
    return isinstance(event, ev.TranscriptReceived) and event.final and event.source == "caller"
