"""The scripted LLM: deterministic rules instead of a model, for tests, demos
and benchmarks.

Rules are tried in order against what a real model would be sent (the
conversation, the system prompt's context and step lines, the offered
tools); the first whose conditions all hold answers:

```yaml
rules:
  - when: {start: true}                         # the agent speaks first
    reply: "Hi, this is Acme support. How can I help?"
  - when: {said: "order (?P<order_id>[A-Z]\\d+)", step: lookup}
    call: {function: check_order, arguments: {order_id: "{order_id}"}}
  - when: {after_tool_error: check_order}       # the tool failed: {tool_error}
    reply: "I couldn't look that up: {tool_error}"
  - when: {after_tool: check_order}             # the tool's reply is {tool}
    reply: "{tool}. Anything else?"
  - when: {said: "(bye|that's all)"}
    call: {function: next_step, arguments: {step: wrap_up}}
  - reply: "Sorry, could you say that again?"   # no `when`: always matches
```

`said` is a case-insensitive regular expression searched in the caller's
latest words. On its own it answers the caller: it holds only when their
words are the last message. Beside `after_tool`, `after_tool_error` or
`prompted` it reads the caller's latest words wherever they are, so a rule
can react to a tool's result and to what was said. `prompted` matches a last
system message the runtime added (the attention or hold prompts). Named
groups fill `{name}` placeholders in `reply` and in call arguments (plain
substitution, never eval); an argument that is exactly one placeholder takes
the type the function's parameter schema gives it (integer, number, boolean)
when the text reads as one. `asking: <key>` matches while gather_info asks
that question; its text fills `{question}`. A reply streams word by word,
`delay_ms` apart, so barge-in and sentence streaming behave as with a real
model. A rule may also `fail: rate_limit|timeout|provider|token_limit|protocol`
to exercise error recovery, at most `times` times; with a `reply` too, the
reply streams and then the stream fails (a stream cut off mid-reply).
docs/ai.md has the reference and the CK801 messages.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from interpreter.diagnostics import Diagnostic, JSONPath, Severity, sort_diagnostics
from interpreter.document.loader import load_document
from interpreter.document.schema import did_you_mean
from interpreter.errors import DocumentError
from interpreter.jsontypes import JSONValue
from interpreter.patterns import FlowPattern, Match, PatternError, PatternTimeout
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
_RULE_KEYS = ("when", "reply", "call", "fail", "times", "delay_ms")
_WHEN_KEYS = ("start", "said", "prompted", "step", "context", "after_tool", "after_tool_error",
              "summary", "asking")
_FLAGS = ("start", "summary")  # the conditions that are true or false; the rest are text
# How the runtime words a tool call that failed (a timeout, a webhook error,
# invalid arguments, a refused move): the result the model reads opens with it.
TOOL_ERROR_OPENING = "Error: "


@dataclass(frozen=True, slots=True)
class Rule:
    reply: str | None = None
    call: tuple[str, Mapping[str, JSONValue]] | None = None
    fail: LlmErrorKind | None = None
    times: int | None = None
    start: bool | None = None
    # Time-bounded (interpreter/patterns.py): rules come over REST too, and one
    # pattern that backtracks without end would stall every call on the loop.
    said: FlowPattern | None = None
    prompted: FlowPattern | None = None  # searched in a last system message
    asking: str | None = None  # the gather_info question key being asked
    step: str | None = None
    context: str | None = None
    after_tool: str | None = None  # any result of this function, a failure included
    after_tool_error: str | None = None  # only a failed call of this function
    summary: bool | None = None
    delay_ms: float | None = None  # None: the provider's default

    @property
    def follows_something(self) -> bool:
        """`said` reads the caller's latest words wherever they are (instead
        of only as the last message) when the rule reacts to something else."""
        return any(c is not None for c in (self.after_tool, self.after_tool_error,
                                           self.prompted))


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
        index, rule, values = self._match(request)
        self.fired[index] = self.fired.get(index, 0) + 1
        delay = (self.default_delay_ms if rule.delay_ms is None else rule.delay_ms) / 1000
        if rule.fail is not None and not rule.reply:
            await asyncio.sleep(delay)
            raise LlmError(rule.fail, f"scripted {rule.fail}",
                           retryable=rule.fail != "token_limit")
        words = 0
        if rule.reply:
            text = _fill(rule.reply, values)
            for word in re.findall(r"\S+\s*", text):
                await asyncio.sleep(delay)
                words += 1
                yield TextDelta(word)
        if rule.fail is not None:
            # After its words: a stream cut off mid-reply (`fail: protocol`
            # is how a broken stream is classified).
            raise LlmError(rule.fail, f"scripted {rule.fail} after {words} words",
                           retryable=rule.fail != "token_limit")
        if rule.call is not None:
            name, arguments = rule.call
            spec = next((tool for tool in request.tools if tool.name == name), None)
            schema: JSONValue = dict(spec.parameters) if spec is not None else None
            filled = _arguments(dict(arguments), schema, values)
            await asyncio.sleep(delay)
            yield ToolCallReady(ToolCall(f"call_{next(self._ids)}", name, json.dumps(filled)))
        yield Finished("tool_calls" if rule.call else "stop",
                       sum(len(m.content.split()) for m in request.messages), words)

    def _match(self, request: LlmRequest) -> tuple[int, Rule, dict[str, str]]:
        last = request.messages[-1] if request.messages else ChatMessage("system")
        caller = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        tool = _tool_name(request.messages) if last.role == "tool" else None
        failed = last.role == "tool" and last.content.startswith(TOOL_ERROR_OPENING)
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
            if rule.after_tool_error is not None and (rule.after_tool_error != tool
                                                      or not failed):
                continue
            if rule.asking is not None and rule.asking != position.get("asking"):
                continue
            groups: dict[str, str] = {}
            if rule.said is not None:
                words = caller if rule.follows_something else \
                    last.content if last.role == "user" else None
                found = _search(rule.said, words) if words is not None else None
                if found is None:
                    continue
                groups.update({k: v for k, v in found.groupdict().items() if v is not None})
            if rule.prompted is not None:
                found = _search(rule.prompted, last.content) if last.role == "system" \
                    else None
                if found is None:
                    continue
                groups.update({k: v for k, v in found.groupdict().items() if v is not None})
            groups.setdefault("said", caller)
            if "question" in position:
                groups["question"] = position["question"]
            if last.role == "tool":
                groups["tool"] = last.content
                groups["tool_error"] = last.content.removeprefix(TOOL_ERROR_OPENING) \
                    if failed else ""
            return index, rule, groups
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


def _fill(template: str, values: Mapping[str, str]) -> str:
    """`{name}` placeholders only, so JSON braces in a reply stay as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], ""), template)


def _arguments(value: JSONValue, schema: JSONValue, values: Mapping[str, str]) -> JSONValue:
    """Call arguments with their placeholders filled; a string that is exactly
    one placeholder takes the type its parameter schema gives it, as a model
    reading the schema would send it."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        return _typed(values.get(whole[1], ""), schema) if whole else _fill(value, values)
    if isinstance(value, dict):
        properties = schema.get("properties") if isinstance(schema, dict) else None
        return {key: _arguments(item, properties.get(key) if isinstance(properties, dict)
                                else None, values) for key, item in value.items()}
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [_arguments(item, items, values) for item in value]
    return value


_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


def _typed(text: str, schema: JSONValue) -> JSONValue:
    """`text` as the schema's integer, number or boolean when it reads as one;
    otherwise the text (a string parameter, or words that are not a number)."""
    declared = schema.get("type") if isinstance(schema, dict) else None
    types = [declared] if isinstance(declared, str) else \
        declared if isinstance(declared, list) else []
    if not types or "string" in types:
        return text
    word = text.strip()
    if "integer" in types and _INTEGER.fullmatch(word):
        return int(word)
    if "number" in types and _NUMBER.fullmatch(word):
        number = float(word)
        return int(number) if number.is_integer() and _INTEGER.fullmatch(word) else number
    if "boolean" in types and word.lower() in _BOOLEANS:
        return _BOOLEANS[word.lower()]
    return text


def _tool_name(messages: tuple[ChatMessage, ...]) -> str | None:
    call_id = messages[-1].tool_call_id
    for message in reversed(messages):
        for call in message.tool_calls:
            if call.id == call_id:
                return call.name
    return None


class Report(Protocol):
    def __call__(self, message: str, path: JSONPath, *, key: bool = False,
                 hint: str | None = None) -> None: ...


def load_rules(source: str | bytes, file: str = "<rules>") -> ScriptedProvider:
    """Load a rules document; DocumentError with located diagnostics (CK801) if invalid."""
    doc = load_document(source, file)
    problems: list[Diagnostic] = []

    def problem(message: str, path: JSONPath, *, key: bool = False,
                hint: str | None = None) -> None:
        problems.append(doc.diagnostic("CK801", Severity.ERROR, message, path, key=key,
                                       hint=hint))

    data = doc.data
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(raw_rules, list):
        problem("a scripted model needs a `rules:` list",
                ("rules",) if isinstance(data, dict) and "rules" in data else ())
        raise DocumentError(problems)
    if isinstance(data, dict):
        for key in data:
            if key != "rules":
                problem(f'unknown key "{key}" (a scripted model has only `rules:`)', (key,),
                        key=True)
    rules = []
    for position, raw in enumerate(raw_rules):
        rule = _rule(raw, ("rules", position), problem)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise DocumentError(sort_diagnostics(problems))
    return ScriptedProvider(tuple(rules))


def _rule(raw: JSONValue, path: JSONPath, problem: Report) -> Rule | None:
    if not isinstance(raw, dict):
        problem("each rule is a map", path)
        return None
    for key in raw:
        if key not in _RULE_KEYS:
            problem(f'unknown key "{key}" in a rule (known: {", ".join(_RULE_KEYS)})',
                    (*path, key), key=True, hint=did_you_mean(key, _RULE_KEYS))
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        problem("`when` is a map of conditions", (*path, "when"))
        return None
    conditions: dict[str, JSONValue] = {}
    for key, value in when.items():
        if key not in _WHEN_KEYS:
            problem(f'unknown condition "{key}" (known: {", ".join(_WHEN_KEYS)})',
                    (*path, "when", key), key=True, hint=did_you_mean(key, _WHEN_KEYS))
        elif key in _FLAGS and not isinstance(value, bool):
            problem(f"`{key}` is true or false", (*path, "when", key))
        elif key not in _FLAGS and not isinstance(value, str):
            problem(f"`{key}` is a text, not {_kind(value)}", (*path, "when", key))
        else:
            conditions[key] = value
    said, prompted = (_pattern(conditions, key, (*path, "when", key), problem)
                      for key in ("said", "prompted"))
    call = raw.get("call")
    call_spec = None
    if isinstance(call, dict) and isinstance(call.get("function"), str) and \
            isinstance(call.get("arguments") or {}, dict) and \
            set(call) <= {"function", "arguments"}:
        arguments = call.get("arguments") or {}
        assert isinstance(arguments, dict)
        call_spec = (str(call["function"]), arguments)
    elif call is not None:
        problem("`call` is {function: NAME, arguments: {…}}", (*path, "call"))
    fail = raw.get("fail")
    if fail is not None and fail not in _FAILURES:
        problem(f"`fail` is one of {', '.join(_FAILURES)}", (*path, "fail"))
        fail = None
    reply = raw.get("reply")
    if reply is not None and not isinstance(reply, str | int | float):
        problem(f"`reply` is a text, not {_kind(reply)}", (*path, "reply"))
    times = raw.get("times")
    if times is not None and not (isinstance(times, int) and not isinstance(times, bool)
                                  and times >= 1):
        problem("`times` is a whole number of 1 or more", (*path, "times"))
    delay = raw.get("delay_ms")
    if delay is not None and not (isinstance(delay, int | float)
                                  and not isinstance(delay, bool) and delay >= 0):
        problem("`delay_ms` is a number of milliseconds, 0 or more", (*path, "delay_ms"))
    if reply is None and call is None and raw.get("fail") is None:
        problem("a rule answers with `reply`, `call` or `fail` (or several)", path)
    return Rule(
        reply=str(reply) if isinstance(reply, str | int | float) else None, call=call_spec,
        fail=fail, times=_int(times), start=_bool(conditions.get("start")),
        said=said, prompted=prompted, step=_text(conditions.get("step")),
        context=_text(conditions.get("context")),
        after_tool=_text(conditions.get("after_tool")),
        after_tool_error=_text(conditions.get("after_tool_error")),
        asking=_text(conditions.get("asking")),
        summary=_bool(conditions.get("summary")),
        delay_ms=float(delay) if isinstance(delay, int | float) and not isinstance(delay, bool)
        and delay >= 0 else None)


def _pattern(when: Mapping[str, JSONValue], key: str, path: JSONPath,
             problem: Report) -> FlowPattern | None:
    value = when.get(key)
    if not isinstance(value, str):
        return None
    try:
        return FlowPattern(value, ignore_case=True)
    except PatternError as error:
        problem(f"invalid regular expression: {error.msg}", path)
        return None


def _search(pattern: FlowPattern, text: str) -> Match | None:
    """A rule's pattern searched within its time bound: one that runs over is
    the model failing (an llm_error in the call's trace), not a stalled loop."""
    try:
        return pattern.search(text)
    except PatternTimeout:
        raise LlmError("provider", f"a scripted rule's pattern {pattern.source!r} took too "
                                   f"long on {len(text)} characters of text", retryable=False
                       ) from None


def _kind(value: JSONValue) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "a map", list: "a list", type(None): "empty"}.get(type(value), "a text")


def _int(value: JSONValue) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: JSONValue) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: JSONValue) -> str | None:
    return value if isinstance(value, str) else None
