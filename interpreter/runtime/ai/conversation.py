"""The conversation of an ai session: what the model reads, and what was said.

It holds the history (only what the caller heard of the agent), the caller's
words not yet answered, the filler words queued ahead of a reply, the edits
tool replies asked for, and the per-turn accounting the summary reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.jsontypes import JSONValue
from interpreter.patterns import PatternError, PatternTimeout
from interpreter.providers.llm.base import ChatMessage, ToolCall

if TYPE_CHECKING:
    from interpreter.runtime.trace import Trace

# How much of a tool result stays in the history after extensive_data.
SHORTENED_RESULT_CHARS = 200


@dataclass
class Conversation:
    messages: list[ChatMessage] = field(default_factory=list)
    pending_input: list[str] = field(default_factory=list)  # the caller's unanswered words
    # Filler words queued ahead of the next reply; not the model's words, so a
    # barge-in's heard text is trimmed of them before it enters the history.
    filler_prefix: str = ""
    # Tool results rewritten once the model has seen them: call id -> the
    # replacement text (replace_in_history), None to drop the pair; and those
    # to shorten (extensive_data).
    history_edits: dict[str, str | None] = field(default_factory=dict)
    shorten_results: set[str] = field(default_factory=set)
    turns: list[dict[str, JSONValue]] = field(default_factory=list)  # per-turn timings
    last_words_at: float | None = None  # when the caller's last final words arrived
    swaig_log: list[dict[str, JSONValue]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0

    def say(self, role: str, text: str, *, interrupted: bool = False) -> None:
        message = ChatMessage(role, text, interrupted=interrupted)  # type: ignore[arg-type]
        self.messages.append(message)

    def take_input(self, hints: list[ir.Hint], trace: Trace) -> None:
        """The caller's pending words become one user message, with the hints'
        rewrites (ASR corrections such as "cell phone number" → "mobile number").
        A rewrite that runs over the pattern time bound, or whose replacement
        names a missing group (a dynamic hint), is skipped and traced."""
        text = " ".join(self.pending_input)
        self.pending_input.clear()
        for hint in hints:
            if hint.pattern is not None and hint.replace is not None:
                try:
                    text = hint.pattern.sub(hint.replace, text)
                except (PatternTimeout, PatternError) as error:
                    trace.record("hint_skipped", pattern=hint.pattern.source, why=str(error))
        self.say("user", text)

    def record_result(self, call: ToolCall, result: str) -> None:
        """The result as the call's tool message, placed right after its call
        and the results already there: models refuse a history where anything
        else (a tool_prompt, a context switch's user_prompt) comes between. A
        note instead when the call left the history (a context switch reset it)."""
        asked = next((i for i, m in enumerate(self.messages)
                      if any(c.id == call.id for c in m.tool_calls)), None)
        if asked is None:
            self.messages.append(ChatMessage("system", f"{call.name}: {result}"))
            return
        at = asked + 1
        while at < len(self.messages) and self.messages[at].role == "tool":
            at += 1
        self.messages.insert(at, ChatMessage("tool", result, tool_call_id=call.id))

    def transcript(self, last: int | None = None) -> str:
        said = [f"{m.role}: {m.content}" for m in self.messages
                if m.role in ("user", "assistant") and m.content]
        return " | ".join(said[-last:] if last else said)

    def consolidate(self) -> None:
        """The conversation so far as one system note (what a transfer carries too)."""
        turns = self.transcript()
        self.messages.clear()
        if turns:
            self.messages.append(ChatMessage("system", f"The conversation so far: {turns}"))

    def apply_edits(self) -> None:
        """Tool results the model has now seen once: replace_in_history swaps the
        call and its result for a line of text (or drops them), extensive_data
        keeps only the start of the result."""
        if not self.history_edits and not self.shorten_results:
            return
        edits, self.history_edits = self.history_edits, {}
        shorten, self.shorten_results = self.shorten_results, set()
        kept: list[ChatMessage] = []
        for message in self.messages:
            if message.role == "tool" and message.tool_call_id in edits:
                replacement = edits[message.tool_call_id]
                if replacement:
                    kept.append(ChatMessage("assistant", replacement))
                continue
            if message.role == "tool" and message.tool_call_id in shorten and \
                    len(message.content) > SHORTENED_RESULT_CHARS:
                message = replace(message, content=message.content[:SHORTENED_RESULT_CHARS]
                                  + " … (the full result was given once)")
            if message.tool_calls and any(c.id in edits for c in message.tool_calls):
                calls = tuple(c for c in message.tool_calls if c.id not in edits)
                if not calls and not message.content:
                    continue
                message = replace(message, tool_calls=calls)
            kept.append(message)
        self.messages[:] = kept


def logged(message: ChatMessage) -> dict[str, JSONValue]:
    """A message as the call log shows it (summary payloads, tool requests
    with swaig_post_conversation): an interrupted one says so."""
    entry: dict[str, JSONValue] = {"role": message.role, "content": message.content}
    if message.interrupted:
        entry["interrupted"] = True
    return entry


def call_log(messages: list[ChatMessage]) -> list[JSONValue]:
    return [logged(m) for m in messages]
