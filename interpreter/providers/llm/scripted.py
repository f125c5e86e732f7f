"""The scripted LLM: deterministic rules instead of a model, for tests, demos
and benchmarks.

Rules are tried in order against the conversation's last message and the
current context and step; the first that matches answers:

```yaml
rules:
  - when: {start: true}                         # the agent speaks first
    reply: "Hi, this is Acme support. How can I help?"
  - when: {said: "order (?P<order_id>[A-Z]\\d+)", step: lookup}
    call: {function: check_order, arguments: {order_id: "{order_id}"}}
  - when: {after_tool: check_order}             # the tool's reply is {tool}
    reply: "{tool}. Anything else?"
  - when: {said: "(bye|that's all)"}
    call: {function: next_step, arguments: {step: wrap_up}}
  - reply: "Sorry, could you say that again?"   # no `when`: always matches
```

`said` is a case-insensitive regular expression searched in the caller's
last words (`prompted`: in a system message the runtime added last, such as
the attention or hold prompts); its named groups fill `{name}` placeholders
in `reply` and in call arguments (plain substitution, never eval). `asking:
<key>` matches while gather_info asks that question; its text fills
`{question}`. A reply streams word by
word, `delay_ms` apart, so barge-in and sentence streaming behave as with a
real model. A rule may also `fail: rate_limit|timeout|provider|token_limit`
to exercise error recovery, at most `times` times.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from interpreter.diagnostics import Diagnostic, Severity
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import SUMMARY_OPENING as SUMMARY_OPENING
from interpreter.providers.llm.base import (
    ChatMessage,
    Finished,
    LlmError,
    LlmErrorKind,
    LlmRequest,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolCallReady,
)

_FAILURES: tuple[LlmErrorKind, ...] = ("timeout", "rate_limit", "token_limit", "provider",
                                       "protocol")
_RULE_KEYS = {"when", "reply", "call", "fail", "times", "delay_ms"}
_WHEN_KEYS = {"start", "said", "prompted", "step", "context", "after_tool", "summary",
              "asking"}


@dataclass(frozen=True, slots=True)
class Rule:
    reply: str | None = None
    call: tuple[str, Mapping[str, JSONValue]] | None = None
    fail: LlmErrorKind | None = None
    times: int | None = None
    start: bool | None = None
    said: re.Pattern[str] | None = None
    prompted: re.Pattern[str] | None = None  # searched in a last system message
    asking: str | None = None  # the gather_info question key being asked
    step: str | None = None
    context: str | None = None
    after_tool: str | None = None
    summary: bool | None = None
    delay_ms: float | None = None  # None: the provider's default


@dataclass
class ScriptedProvider:
    """An LlmProvider that follows rules; it counts how often each rule fired."""

    rules: tuple[Rule, ...]
    default_delay_ms: float = 30.0
    fired: dict[int, int] = field(default_factory=dict)
    requests: list[LlmRequest] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        index, rule, groups = self._match(request)
        self.fired[index] = self.fired.get(index, 0) + 1
        delay = (self.default_delay_ms if rule.delay_ms is None else rule.delay_ms) / 1000
        if rule.fail is not None:
            await asyncio.sleep(delay)
            raise LlmError(rule.fail, f"scripted {rule.fail}",
                           retryable=rule.fail != "token_limit")
        values = groups
        words = 0
        if rule.reply:
            text = _fill(rule.reply, values)
            for word in re.findall(r"\S+\s*", text):
                await asyncio.sleep(delay)
                words += 1
                yield TextDelta(word)
        if rule.call is not None:
            name, arguments = rule.call
            filled = {key: _fill(value, values) if isinstance(value, str) else value
                      for key, value in arguments.items()}
            await asyncio.sleep(delay)
            yield ToolCallReady(ToolCall(f"call_{next(self._ids)}", name, json.dumps(filled)))
        yield Finished("tool_calls" if rule.call else "stop",
                       sum(len(m.content.split()) for m in request.messages), words)

    def _match(self, request: LlmRequest) -> tuple[int, Rule, dict[str, str]]:
        last = request.messages[-1] if request.messages else ChatMessage("system")
        said = last.content if last.role == "user" else ""
        tool = _tool_name(request.messages) if last.role == "tool" else None
        started = not any(m.role in ("user", "tool") for m in request.messages)
        position = _position(request)
        summarizing = is_summary(request)
        for index, rule in enumerate(self.rules):
            if bool(rule.summary) != summarizing:
                continue
            if rule.times is not None and self.fired.get(index, 0) >= rule.times:
                continue
            if rule.start is not None and rule.start != started:
                continue
            if rule.step is not None and rule.step != position.get("step"):
                continue
            if rule.context is not None and rule.context != position.get("context", "default"):
                continue
            if rule.after_tool is not None and rule.after_tool != tool:
                continue
            if rule.asking is not None and rule.asking != position.get("asking"):
                continue
            groups: dict[str, str] = {}
            for pattern, role in ((rule.said, "user"), (rule.prompted, "system")):
                if pattern is None:
                    continue
                match = pattern.search(last.content) if last.role == role else None
                if match is None:
                    break
                groups.update({k: v for k, v in match.groupdict().items() if v is not None})
            else:
                groups.setdefault("said", said)
                if "question" in position:
                    groups["question"] = position["question"]
                if last.role == "tool":
                    groups["tool"] = last.content
                return index, rule, groups
            continue
        if summarizing:
            turns = sum(1 for m in request.messages[1:] for line in m.content.splitlines()
                        if line.startswith(("user:", "assistant:")))
            return -1, Rule(reply=json.dumps({"summary": f"{turns} turns"})), {}
        return -1, Rule(reply="I'm sorry, I don't have an answer for that."), {}


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What the rules match on is read from what a real model sees: the runtime's
# system prompt names the context and step, a gather question is in the
# instructions and the submit tool names its key, and a summary request is
# the post_prompt with the conversation.
_CONTEXT = re.compile(r"^## Current context: (\S+)$", re.MULTILINE)
_STEP = re.compile(r"^## Current step: (\S+)$", re.MULTILINE)
_QUESTION = re.compile(r"Ask the caller this question, and nothing else: (.*)$", re.MULTILINE)
_SUBMIT_KEY = re.compile(r'answer to "([^"]+)"')


def is_summary(request: LlmRequest) -> bool:
    last = request.messages[-1] if request.messages else None
    return not request.tools and last is not None and last.role == "user" and \
        last.content.startswith(SUMMARY_OPENING)


def _position(request: LlmRequest) -> dict[str, str]:
    system = request.messages[0].content if request.messages and \
        request.messages[0].role == "system" else ""
    found: dict[str, str] = {}
    for key, pattern in (("context", _CONTEXT), ("step", _STEP), ("question", _QUESTION)):
        match = pattern.search(system)
        if match is not None:
            found[key] = match[1]
    submit = next((t for t in request.tools if t.name == "gather_submit"), None)
    asking = _SUBMIT_KEY.search(submit.description) if submit is not None else None
    if asking is not None:
        found["asking"] = asking[1]
    return found


def _fill(template: str, values: dict[str, str]) -> str:
    """`{name}` placeholders only, so JSON braces in a reply stay as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], ""), template)


def _tool_name(messages: tuple[ChatMessage, ...]) -> str | None:
    call_id = messages[-1].tool_call_id
    for message in reversed(messages):
        for call in message.tool_calls:
            if call.id == call_id:
                return call.name
    return None


def load_rules(source: str | bytes, file: str = "<rules>") -> ScriptedProvider:
    """Load a rules document; DocumentError with located diagnostics if invalid."""
    doc = load_document(source, file)
    problems: list[Diagnostic] = []

    def problem(message: str, path: tuple[str | int, ...]) -> None:
        problems.append(doc.diagnostic("CK801", Severity.ERROR, message, path))

    data = doc.data
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(raw_rules, list):
        problem("a scripted model needs a `rules:` list", ())
        raise DocumentError(problems)
    rules = []
    for position, raw in enumerate(raw_rules):
        path: tuple[str | int, ...] = ("rules", position)
        if not isinstance(raw, dict):
            problem("each rule is a map", path)
            continue
        for key in set(raw) - _RULE_KEYS:
            problem(f'unknown key "{key}" in a rule (known: {", ".join(sorted(_RULE_KEYS))})',
                    (*path, key))
        when = raw.get("when") or {}
        if not isinstance(when, dict):
            problem("`when` is a map", (*path, "when"))
            continue
        for key in set(when) - _WHEN_KEYS:
            problem(f'unknown condition "{key}" (known: {", ".join(sorted(_WHEN_KEYS))})',
                    (*path, "when", key))
        said, prompted = (_pattern(when, key, (*path, "when", key), problem)
                          for key in ("said", "prompted"))
        call = raw.get("call")
        call_spec = None
        if isinstance(call, dict) and isinstance(call.get("function"), str):
            arguments = call.get("arguments") or {}
            call_spec = (str(call["function"]), arguments if isinstance(arguments, dict) else {})
        elif call is not None:
            problem("`call` needs a `function` name and optional `arguments`", (*path, "call"))
        fail = raw.get("fail")
        if fail is not None and fail not in _FAILURES:
            problem(f"`fail` is one of {', '.join(_FAILURES)}", (*path, "fail"))
            fail = None
        rules.append(Rule(
            reply=str(raw["reply"]) if "reply" in raw else None, call=call_spec,
            fail=fail, times=_int(raw.get("times")), start=_bool(when.get("start")),
            said=said, prompted=prompted, step=_text(when.get("step")),
            context=_text(when.get("context")),
            after_tool=_text(when.get("after_tool")), asking=_text(when.get("asking")),
            summary=_bool(when.get("summary")),
            delay_ms=_milliseconds(raw["delay_ms"]) if "delay_ms" in raw else None))
    if problems:
        raise DocumentError(problems)
    return ScriptedProvider(tuple(rules))


def _pattern(when: Mapping[str, JSONValue], key: str, path: tuple[str | int, ...],
             problem: Callable[[str, tuple[str | int, ...]], None]) -> re.Pattern[str] | None:
    value = when.get(key)
    if not isinstance(value, str):
        return None
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as error:
        problem(f"invalid regular expression: {error.msg}", path)
        return None


def _milliseconds(value: JSONValue) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return 0.0


def _int(value: JSONValue) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: JSONValue) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: JSONValue) -> str | None:
    return value if isinstance(value, str) else None
