"""Checking a flow test's expectations against what its call left behind:
the trace, what the caller heard, and what the outbox produced
(docs/flow-tests.md)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from interpreter.flowtest import FINAL_KINDS, Expectation, FlowTest, as_text
from interpreter.jsontypes import JSONValue


@dataclass(frozen=True, slots=True)
class Observed:
    """What a test call left behind: its trace, what the caller heard (each
    line with the time it started), the summaries the outbox produced and the
    bodies of its post-call deliveries."""

    records: Sequence[Mapping[str, JSONValue]]
    heard: Sequence[tuple[float, str]] = ()
    summaries: Sequence[str] = ()
    payloads: Sequence[Mapping[str, JSONValue]] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    expectation: Expectation
    passed: bool
    evidence: tuple[str, ...] = ()


Evidence = Mapping[str, JSONValue]
# What an empty evidence list means, by kind.
_NOTHING = {"step": "no ai verb ran", "context": "no ai verb ran",
            "tool": "no function was called", "said": "the caller heard nothing",
            "error": "no error happened", "ended": "the call did not end",
            "dialed": "no leg was dialed", "bridged": "no leg was dialed",
            "variables": "the call did not end", "global_data": "no ai verb ran",
            "summary": "no summary was produced"}


def check(test: FlowTest, observed: Observed) -> list[Outcome]:
    """Each expectation against what the call left behind. With `in_order`,
    each one that happens at a moment must be met no earlier than the one
    before it (the same instant counts as in order)."""
    outcomes = []
    cursor = -math.inf
    previous: Expectation | None = None
    for expectation in test.expect:
        moments, relevant = _hits(expectation, observed)
        evidence = [_line(r) for r in relevant[-6:]]
        passed = bool(moments)
        if test.in_order and expectation.kind not in FINAL_KINDS and passed:
            later = [t for t in moments if t >= cursor]
            if later:
                cursor, previous = min(later), expectation
            else:
                passed = False
                assert previous is not None
                evidence = [f"met at {max(moments):.3f} s, before line {previous.line} "
                            f"(expect {previous.describe()}, met at {cursor:.3f} s)"]
        if not passed and not evidence:
            evidence = [f"(nothing to show: {_NOTHING[expectation.kind]})"]
        outcomes.append(Outcome(expectation, passed, () if passed else tuple(evidence)))
    return outcomes


def _hits(expectation: Expectation, observed: Observed) -> tuple[list[float],
                                                                 list[Evidence]]:
    """The moments the expectation was met at, and the records that bear on it."""
    records = observed.records
    value = expectation.value
    relevant: list[Evidence]
    match expectation.kind:
        case "step":
            relevant = [r for r in records if r["kind"] in ("step_change", "ai_started",
                                                             "context_change")]
            return [_t(r) for r in relevant if (r["kind"] == "step_change" and r.get("new")
                                                == value) or r.get("step") == value], relevant
        case "context":
            relevant = [r for r in records if r["kind"] in ("ai_started", "context_change")]
            return [_t(r) for r in relevant if _context(r) == value], relevant
        case "tool":
            relevant = [r for r in records if (r["kind"] == "effect_started"
                        and r.get("effect") == "tool") or r["kind"] == "tool_mocked"]
            return [_t(r) for r in relevant if r.get("function") == value and
                    _arguments_match(expectation.patterns, r.get("arguments"))], relevant
        case "said":
            relevant = [{"t": start, "kind": "heard", "text": line}
                        for start, line in observed.heard]
            return [start for start, line in observed.heard
                    if value.lower() in line.lower()], relevant
        case "error":
            relevant = [r for r in records if r["kind"] == "error"]
            return [_t(r) for r in relevant if r.get("type") == value
                    and not r.get("fatal")], relevant
        case "dialed" | "bridged":
            return _legs(expectation.kind, value, records)
        case "variables":
            ended = [r for r in records if r["kind"] == "call_ended"]
            final = ended[-1].get("vars") if ended else None
            return _final(expectation, final, ended[-1:], "the call did not end")
        case "global_data":
            return _final(expectation, *_global_data(observed))
        case "summary":
            end = _t(records[-1]) if records else 0.0
            relevant = [{"t": end, "kind": "summary", "text": text}
                        for text in observed.summaries] or [
                {"t": end, "kind": "no_summary",
                 "why": "the flow's ai verbs have no post_prompt, or the model gave none"}]
            return [end for text in observed.summaries if re.search(value, text)], relevant
        case _:
            relevant = [r for r in records if r["kind"] == "call_ended"]
            return [_t(r) for r in relevant
                    if str(r.get("disposition", "")).startswith(value)], relevant


def _legs(kind: str, destination: str,
          records: Sequence[Mapping[str, JSONValue]]) -> tuple[list[float], list[Evidence]]:
    dialed = {str(r.get("leg")): str(r.get("destination")) for r in records
              if r["kind"] == "leg_dial"}
    if kind == "dialed":
        relevant = [r for r in records if r["kind"] == "leg_dial"]
        return [_t(r) for r in relevant if r.get("destination") == destination], relevant
    relevant = [r for r in records if r["kind"] in ("leg_dial", "leg_state")]
    return [_t(r) for r in relevant if r["kind"] == "leg_state" and r.get("new") == "bridged"
            and dialed.get(str(r.get("leg"))) == destination], relevant


def _global_data(observed: Observed) -> tuple[JSONValue, list[Evidence], str]:
    """The global_data of the last ai session, from its `ai_ended` record, else
    from the summary payload the session handed to the outbox."""
    ended = [r for r in observed.records if r["kind"] == "ai_ended"]
    if ended and "global_data" in ended[-1]:
        return ended[-1]["global_data"], ended[-1:], ""
    payloads = [p for p in observed.payloads if "global_data" in p]
    if payloads:
        end = _t(observed.records[-1]) if observed.records else 0.0
        return payloads[-1]["global_data"], [
            {"t": end, "kind": "summary_payload", "global_data": payloads[-1]["global_data"]}], ""
    return None, ended[-1:], ("global_data is not visible: no ai session ended" if not ended
                              else "global_data is not visible: the session's summary "
                              "payload carries it, and this flow sends none (no post_prompt)")


def _final(expectation: Expectation, values: JSONValue, relevant: list[Evidence],
           missing: str) -> tuple[list[float], list[Evidence]]:
    if not isinstance(values, dict):
        return [], [*relevant, {"t": _t(relevant[-1]) if relevant else 0.0,
                                "kind": "not_checked", "why": missing}]
    failing = [name for name, pattern in expectation.patterns.items()
               if not _value_matches(pattern, _lookup(values, name))]
    moment = _t(relevant[-1]) if relevant else 0.0
    if not failing:
        return [moment], relevant
    return [], [{"t": moment, "kind": expectation.kind,
                 **{name: _lookup(values, name) for name in failing}}]


def _lookup(values: Mapping[str, JSONValue], name: str) -> JSONValue:
    """`name`, or a dotted path into nested maps (`order.id`); None if absent."""
    if name in values:
        return values[name]
    node: JSONValue = dict(values)
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _value_matches(pattern: str, value: JSONValue) -> bool:
    return value is not None and re.fullmatch(pattern, as_text(value)) is not None


def _context(record: Mapping[str, JSONValue]) -> str | None:
    if record["kind"] == "context_change":
        return str(record.get("new"))
    context = record.get("context")
    return "default" if context is None else str(context)


def _t(record: Mapping[str, JSONValue]) -> float:
    t = record.get("t", 0.0)
    return float(t) if isinstance(t, int | float) else 0.0


def _arguments_match(expected: Mapping[str, str], raw: JSONValue) -> bool:
    try:
        actual = json.loads(str(raw or "{}"))
    except ValueError:
        return False
    if not isinstance(actual, dict):
        return False
    return all(re.fullmatch(pattern, as_text(actual.get(key, ""))) for key, pattern
               in expected.items())


def _line(record: Evidence | str) -> str:
    from interpreter.runtime.trace import format_record

    return record if isinstance(record, str) else format_record(dict(record))
