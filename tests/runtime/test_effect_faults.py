"""Any exception in any kind of effect — the model's stream, a tool, an
include fetch, the request verb — reaches the waiting turn as a classified
fault: the call speaks a recovery or ends cleanly, and its trace is complete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter import ir
from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.errors import ErrorType
from interpreter.http import HandlerClient, HttpRequest, HttpResponse
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import LlmRequest, StreamItem
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call
from interpreter.runtime.tools.base import ToolContext, ToolReply
from interpreter.runtime.tools.runner import SwaigRunner
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

FLOW = compile_text("""\
sections:
  main:
    - answer: {}
    - request: {url: "https://app.example/warmup", method: POST, body: {hello: 1}}
    - ai:
        prompt: {text: You help with orders.}
        params: {attention_timeout: 0}
        SWAIG:
          includes:
            - url: "https://app.example/signatures"
              functions: [loyalty]
          functions:
            - function: lookup
              description: Look up an order.
              parameters: {type: object, properties: {id: {type: string}}}
              web_hook_url: "https://app.example/swaig"
    - hangup: {}
""", "faults.yaml")
RULES = load_rules("""\
rules:
  - when: {start: true}
    reply: "Hello there. How can I help?"
  - when: {said: "order"}
    call: {function: lookup, arguments: {id: "A1"}}
  - when: {after_tool: lookup}
    reply: "Here is what I found."
  - reply: "Could you say that again?"
""").rules
CALLER = load_caller_script("""\
steps:
  - say: "my order please"
  - say: "and my other order"
  - hangup: {after: 30}
""")

EXCEPTIONS = st.sampled_from([ValueError("bad value"), KeyError("missing"),
                              RuntimeError("boom"), TypeError("wrong type"),
                              ZeroDivisionError("divided"), OSError("socket gone"),
                              UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad byte"),
                              AttributeError("no attribute")])
EFFECTS = ("llm", "tool", "include", "request")


@dataclass
class Faults:
    effect: str
    error: Exception
    at: int  # which request / which stream item it strikes


class FaultyModel:
    """The scripted model, but its `at`-th stream raises after a few items."""

    def __init__(self, faults: Faults) -> None:
        self.inner = ScriptedProvider(RULES, default_delay_ms=5)
        self.faults = faults
        self.calls = 0

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        self.calls += 1
        strike = self.faults.effect == "llm" and self.calls == self.faults.at
        count = 0
        async for item in self.inner.stream(request):
            if strike and count == self.faults.at % 3:
                raise self.faults.error
            count += 1
            yield item
        if strike:
            raise self.faults.error


class FaultyTools(SwaigRunner):
    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    async def run(self, function: ir.Function, raw_arguments: str,
                  arguments: Mapping[str, JSONValue], context: ToolContext, *,
                  client: object, request_id: str) -> ToolReply:
        if self.faults.effect == "tool":
            raise self.faults.error
        return ToolReply(f"Order {arguments.get('id')} shipped.")


def _http(faults: Faults) -> HandlerClient:
    def answer(request: HttpRequest) -> HttpResponse:
        kind = "include" if request.url.endswith("/signatures") else "request"
        if faults.effect == kind:
            raise faults.error
        if kind == "include":
            return HttpResponse(200, {}, json.dumps([]).encode())
        return HttpResponse(200, {}, b"ok")

    return HandlerClient(answer)


def _run(faults: Faults) -> Call:
    async def main() -> Call:
        caller = SimulatedCaller(CALLER)
        network = SimulatedNetwork.for_script(CALLER)
        call = Call(FLOW, caller, network, http=_http(faults),
                    ai_runner=runner(FaultyModel(faults), tools=FaultyTools(faults)))
        await call.run()
        await caller.close()
        await network.close()
        return call

    return run_virtual(main)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EFFECTS), EXCEPTIONS, st.integers(1, 3))
def test_an_exception_in_any_effect_is_classified_and_the_call_goes_on_or_ends_cleanly(
        effect: str, error: Exception, at: int) -> None:
    call = _run(Faults(effect, error, at))
    records = call.trace.records
    assert records[-1]["kind"] == "call_ended"
    assert call.running_effects == 0
    types = {e.value for e in ErrorType}
    for record in call.trace.of_kind("error"):
        assert record["type"] in types and record["message"]
    # The exception was seen and classified, never swallowed: a failure record
    # names it, or (a stream that failed after it had finished) the event that
    # carried it is traced as ignored, with why.
    assert type(error).__name__ in json.dumps(records, default=str)
    carried = [r for r in records if r["kind"] == "event" and r["event"] == "EffectFailed"]
    for event in carried:
        after = records[int(str(event["n"])) + 1:]
        assert any(r["kind"] in ("error", "include_failed", "request_failed", "tool_failed")
                   or (r["kind"] == "event_ignored" and r["seq"] == event["seq"])
                   for r in after), event
    for record in call.trace.of_kind("error"):
        if record["fatal"]:
            continue
        # A recovered failure is followed by speech, or the call ended.
        later = [r for r in records[int(str(record["n"])):]
                 if r["kind"] in ("say", "play", "filler")]
        assert later or record["type"] in ("state_error",), record
    # Nothing happens after the end but the end's own bookkeeping.
    ended = next(int(str(r["n"])) for r in records
                 if r["kind"] == "state" and r["new"] == "ended")
    assert not [r for r in records[ended:] if r["kind"] in ("say", "verb", "effect_started")]
