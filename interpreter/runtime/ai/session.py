"""The state of one `ai` verb session, owned by the call's actor."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import ErrorType, RecoveryPolicy
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import FALLBACK_VOICE, ListenSettings, Voice
from interpreter.providers.llm.base import ChatMessage, LlmProvider
from interpreter.runtime.tools.replies import ReplyAction
from interpreter.runtime.tools.runner import SwaigRunner, ToolRunner

if TYPE_CHECKING:
    from interpreter.runtime.ai.gather import Gathering
    from interpreter.runtime.call import Call
    from interpreter.runtime.executor import Executor


@dataclass
class AiSession:
    call: Call
    executor: Executor
    verb: ir.Ai
    llm: LlmProvider
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    context: ir.Context | None = None
    step: ir.Step | None = None
    messages: list[ChatMessage] = field(default_factory=list)
    global_data: dict[str, JSONValue] = field(default_factory=dict)
    meta_data: dict[str, dict[str, JSONValue]] = field(default_factory=dict)
    inactive: set[str] = field(default_factory=set)
    activated: set[str] = field(default_factory=set)
    pending_input: list[str] = field(default_factory=list)
    ended: str | None = None  # why the session ended: "end", "stop", "hangup", "error:..."
    fresh_step: bool = False  # moved into a step it has not spoken in yet
    attention_sent: bool = False
    filler_count: int = 0
    # Filler words queued ahead of the next reply; not the model's words, so a
    # barge-in's heard text is trimmed of them before it enters the history.
    filler_prefix: str = ""
    gathered: set[str] = field(default_factory=set)  # steps whose gather_info is done
    gathering: Gathering | None = None  # the gather_info in progress
    # Functions whose signature arrived from an include at session start.
    overrides: dict[str, ir.Function] = field(default_factory=dict)
    hangup_after: bool = False
    transfer: ir.Section | None = None
    post_actions: list[tuple[ReplyAction, str, str]] = field(default_factory=list)
    turns: list[dict[str, JSONValue]] = field(default_factory=list)  # per-turn timings
    last_words_at: float | None = None  # when the caller's last final words arrived
    swml_actions: list[tuple[JSONValue, bool]] = field(default_factory=list)
    tool_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    swaig_log: list[dict[str, JSONValue]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    # What runs the SWAIG functions the model calls (a flow test's mocks, or
    # the webhooks and data_maps themselves).
    tools: ToolRunner = field(default_factory=SwaigRunner)
    language: ir.Language | None = None  # the language spoken now (languages[0] first)
    hints: list[ir.Hint] = field(default_factory=list)  # the document's + dynamic ones
    # Reply actions that tune the session from a tool (reference §3.2).
    llm_settings: dict[str, float] = field(default_factory=dict)  # the `settings` action
    # How the caller is listened to and when they interrupt, as the document
    # set them and as actions have tuned them since (end_of_speech_timeout,
    # settings, hints, a language change, hold).
    listening: ListenSettings = field(default_factory=ListenSettings)
    barge: ir.BargePolicy = field(default_factory=ir.BargePolicy)
    prompt_override: tuple[str, bool] | None = None  # context_switch: (prompt, full_reset)
    wait_for_user: bool = False  # the next reply waits for the caller's words
    wait_for_user_until: float | None = None  # ...or until this time
    hold_seconds: float | None = None  # put the caller on hold when the turn ends
    background: int | None = None  # playout id of background audio playing
    background_wait: bool = False  # the next reply waits for the background to end
    tool_round_limit: int | None = None  # back_to_back_functions for this turn
    chain_forever: bool = False  # back_to_back_functions: "forever"
    functions_on_speaker_timeout: bool = True
    # Tool results rewritten once the model has seen them: call id -> the
    # replacement text (replace_in_history), None to drop the pair, or
    # (extensive_data) a flag to shorten the result.
    history_edits: dict[str, str | None] = field(default_factory=dict)
    shorten_results: set[str] = field(default_factory=set)
    # Request ids of tool calls cancelled by a barge-in, by (name, arguments):
    # a repeated call reuses the id so the application can tell it is a retry.
    cancelled_requests: dict[tuple[str, str], str] = field(default_factory=dict)
    interrupted: bool = False  # the caller barged in while a tool ran

    @classmethod
    def start(cls, call: Call, executor: Executor, verb: ir.Ai,
              llm: LlmProvider) -> AiSession:
        session = cls(call, executor, verb, llm,
                      global_data={k: ir.thaw(v) for k, v in verb.global_data.items()})
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
                session.messages.append(ChatMessage(
                    "system", f"Earlier in this call (before a transfer): {carried['summary']}"))
        session.language = verb.languages[0] if verb.languages else None
        session.hints = list(verb.hints)
        session.barge = verb.params.barge
        session.listening = verb.params.listen
        if session.language is not None and session.language.voice and \
                executor.voice != FALLBACK_VOICE:
            executor.voice = voice_of(session.language)
        if verb.start_context is not None:
            session.context = verb.start_context
            session.step = verb.start_context.first_step
        convo = verb.params.raw.get("convo")
        for turn in convo if isinstance(convo, tuple) else ():
            if isinstance(turn, Mapping) and turn.get("role") in ("user", "assistant"):
                session.messages.append(ChatMessage(str(turn["role"]),  # type: ignore[arg-type]
                                                    str(turn.get("content", ""))))
        return session

    def policy(self, error_type: ErrorType) -> RecoveryPolicy:
        return self.verb.error_recovery[error_type]

    def tune_listening(self, **changes: object) -> None:
        """Change how the caller is listened to; the transport hears of it at once."""
        self.listening = replace(self.listening, **changes)  # type: ignore[arg-type]
        self.executor.channel.listen(self.listening)
        self.call.trace.record("listen", **{k: list(v) if isinstance(v, tuple) else v
                                            for k, v in changes.items()})

    @property
    def language_code(self) -> str:
        return self.language.code if self.language is not None else "en-US"


def voice_of(language: ir.Language) -> Voice:
    """The language's voice as transports get it."""
    return Voice(language.engine or "", language.voice, language.model or "", language.code)

