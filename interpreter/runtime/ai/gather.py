"""gather_info: the model asks a step's questions one at a time.

As on the hosted platform, the current question is injected into the step's
instructions and the model submits each answer through a function the
runtime offers (`gather_submit`, its `answer` typed by the question's `type`);
those calls and results leave the history once the model has seen them, so
the conversation holds no tool exchanges for the gathering. A question with
`confirm` is accepted only with `confirmed: true`, after the model has read
the answer back. The answers land in global_data (under `output_key` when
set); then the step moves to its `completion_action`, or stays, in normal
mode, when there is none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.ir import ToolSpec
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ToolCall
from interpreter.runtime.ai.templates import render
from interpreter.runtime.tools.arguments import parse_arguments
from interpreter.runtime.tools.base import ToolFault
from interpreter.runtime.tools.limits import outside_json

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

SUBMIT = "gather_submit"


@dataclass
class Gathering:
    """The gather in progress: which step, which question, the answers so far."""

    step: ir.Step
    info: ir.GatherInfo
    index: int = 0
    answers: dict[str, JSONValue] = field(default_factory=dict)

    @property
    def question(self) -> ir.GatherQuestion:
        return self.info.questions[self.index]


def pending(session: AiSession) -> bool:
    """The current step gathers and has not started (or finished) doing so."""
    step = session.step
    return step is not None and step.gather_info is not None and bool(
        step.gather_info.questions) and session.gathering is None and \
        step.name not in session.gathered


def begin(session: AiSession) -> None:
    step = session.step
    assert step is not None and step.gather_info is not None
    session.gathering = Gathering(step, step.gather_info)
    session.call.trace.record("gather_start", step=step.name,
                              questions=[q.key for q in step.gather_info.questions])
    _asking(session)


def instructions(session: AiSession, gathering: Gathering) -> str:
    """What replaces the step's own text while gathering: the preamble, then
    the one question to ask now."""
    question = gathering.question
    parts = [render(gathering.info.prompt, session)] if gathering.info.prompt else []
    parts.append(f"Ask the caller this question, and nothing else: "
                 f"{render(question.question, session)}")
    if question.prompt is not None:
        parts.append(render(question.prompt, session))
    if question.confirm:
        parts.append("Read the answer back to the caller; once they confirm it, call "
                     f"{SUBMIT} with it and confirmed: true.")
    else:
        parts.append(f"When the caller answers, call {SUBMIT} with the answer.")
    return "\n\n".join(part for part in parts if part)


def submit_spec(question: ir.GatherQuestion) -> ToolSpec:
    return ToolSpec(SUBMIT, f'Submit the caller\'s answer to "{question.key}".',
                    _submit_schema(question))


def submit(session: AiSession, call: ToolCall) -> str:
    """Check and store one answer; the text the model gets back (once)."""
    gathering = session.gathering
    # The exchange leaves the history after the model's next request.
    session.conversation.history_edits[call.id] = None
    if gathering is None:
        return "Error: there is no question to answer now."
    question = gathering.question
    schema = ir.freeze(_submit_schema(question))
    assert isinstance(schema, Mapping)
    checker = ir.Function(SUBMIT, "", schema)
    try:
        arguments = parse_arguments(checker, _typed(call.arguments, question.type))
    except ToolFault as fault:
        session.call.trace.record("gather_invalid", key=question.key, message=fault.detail)
        return f"Error: {fault.detail} Ask the caller again."
    answer = arguments["answer"]
    gathering.answers[question.key] = answer
    session.call.trace.record("gather_answer", key=question.key, answer=answer)
    gathering.index += 1
    if gathering.index < len(gathering.info.questions):
        _asking(session)
        return "Answer saved. Now ask the next question."
    return _complete(session, gathering)


def _asking(session: AiSession) -> None:
    gathering = session.gathering
    assert gathering is not None
    session.call.trace.record("gather_question", key=gathering.question.key,
                              index=gathering.index)


def _complete(session: AiSession, gathering: Gathering) -> str:
    session.gathering = None
    session.gathered.add(gathering.step.name)
    answers = dict(gathering.answers)
    if gathering.info.output_key:
        session.global_data[gathering.info.output_key] = answers
    else:
        session.global_data.update(answers)
    session.call.trace.record("gather_complete", step=gathering.step.name, answers=answers)
    target = gathering.info.completion_step
    if target is not None:
        session.call.trace.record("step_change", old=gathering.step.name, new=target.name,
                                  trigger="gather_complete")
        session.step = target
        session.fresh_step = False  # the model speaks in it now, answering this result
    summary = "; ".join(f"{key}: {value}" for key, value in answers.items())
    return f"All answers saved ({summary}). Carry on with the conversation."


def _typed(raw: str, answer_type: str) -> str:
    """Models often send a number or a yes/no as a string: read it as the
    question's type when that is unambiguous; anything else is left to the
    schema check, which tells the model what was wrong."""
    try:
        arguments = outside_json(raw or "{}")
    except ValueError:
        return raw
    answer = arguments.get("answer") if isinstance(arguments, dict) else None
    if not isinstance(answer, str) or not isinstance(arguments, dict):
        return raw
    text = answer.strip().lower()
    if answer_type == "integer" and re.fullmatch(r"[-+]?\d+", text):
        arguments["answer"] = int(text)
    elif answer_type == "number" and re.fullmatch(r"[-+]?\d+(\.\d+)?", text):
        arguments["answer"] = float(text)
    elif answer_type == "boolean" and text in _BOOLEANS:
        arguments["answer"] = _BOOLEANS[text]
    return json.dumps(arguments)


_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


def _submit_schema(question: ir.GatherQuestion) -> dict[str, JSONValue]:
    properties: dict[str, JSONValue] = {"answer": {"type": question.type,
                                                   "description": question.key}}
    required: list[JSONValue] = ["answer"]
    if question.confirm:
        properties["confirmed"] = {"type": "boolean", "const": True,
                                   "description": "The caller confirmed the answer."}
        required.append("confirmed")
    return {"type": "object", "properties": properties, "required": required}
