"""What the model sees: the system prompt and the tools of the current step.

The system prompt is the document's prompt, then the current context's text,
then the current step's text and its criteria, each rendered with the SWAIG
template variables. The tools are the step's functions that are active, plus
the functions the runtime injects to move on: `next_step` (to the step's
valid_steps) and `change_context` (to its valid_contexts), the way the hosted
platform offers them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.ir import ToolSpec
from interpreter.jsontypes import JSONValue
from interpreter.runtime.ai import gather
from interpreter.runtime.ai.templates import render

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

NEXT_STEP = "next_step"
CHANGE_CONTEXT = "change_context"
# Offered when the flow lists more than one language: SignalWire's docs leave the
# mechanism open ("the agent may switch language by name"); a function the
# model calls is explicit, traced, and moves voice and fillers with it.
CHANGE_LANGUAGE = "change_language"


def system_prompt(session: AiSession) -> str:
    parts = [render(session.verb.prompt.text, session)]
    if session.tuning.prompt_override is not None:
        # A context_switch action: its prompt replaces (full_reset) or joins.
        text, full_reset = session.tuning.prompt_override
        parts = [text] if full_reset else [*parts, text]
    languages = session.verb.languages
    if len(languages) > 1 and session.tuning.language is not None:
        parts.append(f"You can speak {', '.join(lang.name for lang in languages)}. You are "
                     f"speaking {session.tuning.language.name} now; when the caller wants another "
                     f"of these languages, call {CHANGE_LANGUAGE} first.")
    context = session.context
    reset = context.reset if context is not None else None
    if reset is not None and reset.system_prompt is not None:
        # A context with its own system_prompt switches persona on entry:
        # full_reset replaces the document's prompt, otherwise it is added.
        own = render(reset.system_prompt, session)
        parts = [own] if reset.full_reset else [*parts, own]
    if context is not None and context.text is not None:
        parts.append(render(context.text, session))
    step = session.step
    if step is not None:
        parts.append(step_block(session, step))
    return "\n\n".join(part.strip() for part in parts if part.strip())


# What an end step tells the model; the runtime's rule (turn.py): the
# conversation ends after a reply in it that asks the caller nothing.
END_STEP = ("This is the last step. Ask what you still need to ask and wait for "
            "the answers; once the work of this step is done, say goodbye without asking "
            "anything else: the call ends after a reply that asks no question.")


def step_block(session: AiSession, step: ir.Step) -> str:
    """The current step: where the conversation is (context and step), what to
    do in it, and how it moves on — only by the means this step offers."""
    header = f"## Current step: {step.name}"
    if session.context is not None:
        header = f"## Current context: {session.context.name}\n\n{header}"
    gathering = session.gathering
    if gathering is not None:
        return f"{header}\n\n{gather.instructions(session, gathering)}"
    block = f"{header}\n\n{render(step.text, session)}"
    if step.criteria is not None:
        criteria = render(step.criteria, session)
        if step.valid_steps:
            block += f"\n\nWhen this is true, call {NEXT_STEP} to move on: {criteria}"
        elif step.valid_contexts:
            block += f"\n\nWhen this is true, call {CHANGE_CONTEXT} to move on: {criteria}"
        else:
            block += f"\n\nThis step is complete when: {criteria}"
    if step.end:
        block += f"\n\n{END_STEP}"
    return block


def offered_functions(session: AiSession) -> list[ir.Function]:
    step = session.step
    pool = step.functions if step is not None else session.verb.functions
    if session.gathering is not None:
        # While gathering, only the current question's own functions.
        wanted = session.gathering.question.functions
        return [f for f in session.verb.functions if f.name in wanted]
    offered = [f for f in pool if f.active and f.name not in session.inactive
               and f.name not in ir.RESERVED_FUNCTIONS] + [
        f for f in session.verb.functions
        if f.name in session.activated and f not in pool]
    # An included function is offered once its signature has been fetched.
    included = {name for include in session.verb.includes for name in include.functions}
    return [session.overrides.get(f.name, f) for f in offered
            if f.name not in included or f.name in session.overrides]


def tools(session: AiSession) -> tuple[ToolSpec, ...]:
    specs = [f.spec for f in offered_functions(session)]
    if session.gathering is not None:
        return (gather.submit_spec(session.gathering.question), *specs)
    step = session.step
    if step is not None and step.valid_steps:
        names: list[JSONValue] = [s.name for s in step.valid_steps]
        specs.append(ToolSpec(NEXT_STEP, "Move the conversation to the next step once the "
                              "current step's criteria are met.",
                              {"type": "object", "properties": {"step": {
                                  "type": "string", "enum": names,
                                  "description": "The step to move to."}},
                               "required": ["step"]}))
    if step is not None and step.valid_contexts:
        contexts: list[JSONValue] = [c.name for c in step.valid_contexts]
        specs.append(ToolSpec(CHANGE_CONTEXT, "Switch the conversation to another context.",
                              {"type": "object", "properties": {"context": {
                                  "type": "string", "enum": contexts,
                                  "description": "The context to switch to."}},
                               "required": ["context"]}))
    languages = session.verb.languages
    if len(languages) > 1:
        names = [lang.name for lang in languages]
        specs.append(ToolSpec(CHANGE_LANGUAGE, "Switch the language you speak and listen in.",
                              {"type": "object", "properties": {"language": {
                                  "type": "string", "enum": names,
                                  "description": "The language to speak."}},
                               "required": ["language"]}))
    return tuple(specs)
