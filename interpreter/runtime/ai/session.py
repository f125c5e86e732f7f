"""The state of one `ai` verb session, owned by the call's actor."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import ErrorType, RecoveryPolicy
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import FALLBACK_VOICE, Utterance, Voice
from interpreter.providers.llm.base import LlmProvider
from interpreter.runtime.ai.conversation import Conversation
from interpreter.runtime.ai.next_move import Move, NextMove
from interpreter.runtime.ai.tuning import TurnPolicy
from interpreter.runtime.tools.replies import ReplyAction
from interpreter.runtime.tools.runner import SwaigRunner, ToolRunner

if TYPE_CHECKING:
    from interpreter.runtime.ai.gather import Gathering
    from interpreter.runtime.call import Call
    from interpreter.runtime.executor import Executor


@dataclass
class AiSession:
    """One ai verb's session: where it is (context, step, gathering), its data
    (global_data, meta_data), which functions are offered, and three parts
    with one job each: the conversation, the turn policy and the next move."""

    call: Call
    executor: Executor
    verb: ir.Ai
    llm: LlmProvider
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    conversation: Conversation = field(default_factory=Conversation)
    tuning: TurnPolicy = field(default_factory=TurnPolicy)
    next: NextMove = field(default_factory=NextMove)
    # What runs the SWAIG functions the model calls (a flow test's mocks, or
    # the webhooks and data_maps themselves).
    tools: ToolRunner = field(default_factory=SwaigRunner)
    context: ir.Context | None = None
    step: ir.Step | None = None
    fresh_step: bool = False  # moved into a step it has not spoken in yet
    gathered: set[str] = field(default_factory=set)  # steps whose gather_info is done
    gathering: Gathering | None = None  # the gather_info in progress
    global_data: dict[str, JSONValue] = field(default_factory=dict)
    meta_data: dict[str, dict[str, JSONValue]] = field(default_factory=dict)
    # Functions toggled off and on by tool replies.
    inactive: set[str] = field(default_factory=set)
    activated: set[str] = field(default_factory=set)
    # Functions whose signature arrived from an include at session start.
    overrides: dict[str, ir.Function] = field(default_factory=dict)
    # Actions of a post_process reply, held until the agent has spoken.
    post_actions: list[tuple[ReplyAction, str, str]] = field(default_factory=list)
    attention_sent: bool = False
    acknowledged: int = 0  # barge-ins the model was told of (acknowledge_interruptions)
    filler_count: int = 0
    tool_calls: dict[tuple[str, str], int] = field(default_factory=dict)  # loop guard
    # Request ids of tool calls cancelled by a barge-in, by (name, arguments):
    # a repeated call reuses the id so the application can tell it is a retry.
    cancelled_requests: dict[tuple[str, str], str] = field(default_factory=dict)
    interrupted: bool = False  # the caller barged in while a tool ran
    last_system_prompt: str = ""  # the last one traced (llm_request)

    @classmethod
    def start(cls, call: Call, executor: Executor, verb: ir.Ai,
              llm: LlmProvider) -> AiSession:
        session = cls(call, executor, verb, llm,
                      global_data={k: ir.thaw(v) for k, v in verb.global_data.items()})
        call.trace.add_secret_keys(verb.params.secret_fields)
        carried = call.carried
        if carried is not None:
            # Context from the agent before a transfer: its global_data (over the
            # document's), its meta_data and what happened, for the model.
            carried_data = carried.get("global_data")
            if isinstance(carried_data, dict):
                session.global_data.update(carried_data)
            meta = carried.get("meta_data")
            if isinstance(meta, dict):
                session.meta_data.update({k: dict(v) for k, v in meta.items()
                                          if isinstance(v, dict)})
            if carried.get("summary"):
                session.conversation.say(
                    "system", f"Earlier in this call (before a transfer): {carried['summary']}")
        session.tuning = TurnPolicy.of(verb)
        language = session.tuning.language
        if language is not None and language.voice and executor.voice != FALLBACK_VOICE:
            executor.voice = voice_of(language)
        if verb.start_context is not None:
            session.context = verb.start_context
            session.step = verb.start_context.first_step
        convo = verb.params.raw.get("convo")
        for turn in convo if isinstance(convo, tuple) else ():
            if isinstance(turn, Mapping) and turn.get("role") in ("user", "assistant"):
                session.conversation.say(str(turn["role"]), str(turn.get("content", "")))
        return session

    def utterance(self, text: str, interruptible: bool = True) -> Utterance:
        """Agent speech as the transport gets it: the flow's `pronounce` rules
        applied (not to the history), in the call's voice, at `ai_volume`."""
        for rule in self.verb.pronounce:
            if rule.pattern is not None:
                text = rule.pattern.sub(rule.with_, text)
        return Utterance("say", text, self.executor.voice, interruptible,
                         self.verb.params.volume_db)

    def recovery_policy(self, error_type: ErrorType) -> RecoveryPolicy:
        return self.verb.error_recovery[error_type]

    def move(self, target: Move, why: str) -> None:
        """The one way the session's next move changes (traced when refused)."""
        if not self.next.to(target, why):
            self.call.trace.record("move_refused", state=self.next.state.value,
                                   wanted=target.value, why=why)

    def tune_listening(self, **changes: object) -> None:
        """Change how the caller is listened to; the transport hears of it at once."""
        tuning = self.tuning
        tuning.listening = replace(tuning.listening, **changes)  # type: ignore[arg-type]
        self.executor.listen(tuning.listening)
        changes.pop("barge", None)  # traced as barge_policy, by what changed it
        if changes:
            self.call.trace.record("listen", **{k: list(v) if isinstance(v, tuple) else v
                                                for k, v in changes.items()})


def voice_of(language: ir.Language) -> Voice:
    """The language's voice as transports get it."""
    return Voice(language.engine or "", language.voice, language.model or "", language.code)

