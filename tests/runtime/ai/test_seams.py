"""Behaviour the seams brought: the end-step rule, the document's model,
listen settings at the transport, events kept or traced, effects that raise."""

from __future__ import annotations

import json
import re

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.http import HandlerClient, HttpClient, HttpRequest, HttpResponse
from interpreter.providers.llm.scripted import Rule, ScriptedProvider, load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.ai.turn import ends_conversation
from interpreter.runtime.call import Call
from interpreter.runtime.tools.base import ToolReply
from interpreter.runtime.tools.replies import parse_actions
from interpreter.runtime.tools.runner import MockRunner, SwaigRunner, ToolMock, ToolRunner
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork
from tests.runtime.ai.harness import run_ai_call, spoken

BOOKING = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You book tables.
          model: house-model
        params: {attention_timeout: 0, end_of_speech_timeout: 900, PARAMS}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: book
              description: Book a table.
              parameters: {type: object, properties: {n: {type: string}}}
        prompt_contexts: here
    - hangup: {}
""".replace("        prompt_contexts: here\n", "")

CONFIRM_FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You book tables.
          contexts:
            default:
              steps:
                - name: confirm
                  text: Read the booking back and ask whether to book it.
                  step_criteria: The caller said yes and the table is booked.
                  functions: [book]
                  end: true
        params: {attention_timeout: 0}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: book
              description: Book a table.
              parameters: {type: object, properties: {n: {type: string}}}
    - hangup: {}
"""
CONFIRM_RULES = """\
rules:
  - when: {start: true}
    reply: "A table for four at eight. Shall I book it?"
  - when: {said: "yes"}
    call: {function: book, arguments: {n: "4"}}
  - when: {after_tool: book}
    reply: "Booked. Thank you, goodbye."
"""
CONFIRM_CALLER = """\
steps:
  - say: "yes please"
  - hangup: {after: 20}
"""


def test_an_end_step_hears_the_answer_and_runs_its_tool_before_the_call_ends() -> None:
    call, result, channel, model = run_ai_call(CONFIRM_FLOW, CONFIRM_CALLER, CONFIRM_RULES,
                                               {"book": ToolMock("Booked table for 4.")})
    assert spoken(channel) == ["A table for four at eight.", "Shall I book it?", "Booked.",
                               "Thank you, goodbye."]
    assert [r["function"] for r in call.trace.of_kind("tool_returned")] == ["book"]
    (ended,) = call.trace.of_kind("ai_ended")
    assert ended["reason"] == "end"
    # The caller did not have to hang up: the end step ended the conversation.
    assert result.disposition == "hangup:hangup"
    system = model.requests[0].messages[0].content
    assert "call next_step" not in system and "This is the last step." in system
    assert "This step is complete when: The caller said yes" in system


def test_the_end_rule_reads_the_last_sentence() -> None:
    assert not ends_conversation("Here it is. Shall I book it?")
    assert not ends_conversation('Is that "right"?')
    assert ends_conversation("Booked. Goodbye!")
    assert ends_conversation("Is it booked? Yes, it is booked.")
    assert not ends_conversation("")


def test_the_documents_model_is_asked_for() -> None:
    rules = 'rules:\n  - reply: "Hi."\n'
    caller = "steps:\n  - hangup: {after: 3}\n"
    _, _, _, model = run_ai_call(BOOKING.replace(", PARAMS", ""), caller, rules)
    assert {r.model for r in model.requests} == {"house-model"}
    flow = BOOKING.replace("          model: house-model\n", "").replace("PARAMS",
                                                                       "ai_model: gpt-4o-mini")
    _, _, _, model = run_ai_call(flow, caller, rules)
    assert {r.model for r in model.requests} == {"gpt-4o-mini"}


def test_listen_settings_reach_the_transport_and_follow_the_actions() -> None:
    rules = """\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "slow"}
    call: {function: book, arguments: {n: "1"}}
  - when: {after_tool: book}
    reply: "Take your time."
"""
    caller = 'steps:\n  - say: "I speak slow"\n  - hangup: {after: 6}\n'
    mock = ToolMock("ok", actions=({"end_of_speech_timeout": 2500},
                                   {"add_dynamic_hints": ["tabletop"]}))
    call, _, channel, _ = run_ai_call(BOOKING.replace(", PARAMS", ""), caller, rules,
                                      {"book": mock})
    assert channel.listening.end_of_speech_ms == 2500
    assert channel.listening.hints == ("tabletop",)
    first = call.trace.of_kind("listen")[0]
    assert first["language"] == "en-US"


def test_speech_that_failed_during_a_reply_is_kept_and_recovered_afterwards() -> None:
    rules = """\
rules:
  - when: {start: true}
    reply: "Welcome to the booking line, I can book a table for you today."
  - reply: "Sure."
"""
    caller = """\
steps:
  - say: "mumble mumble"
    garbled: true
    at: 0.5
  - hangup: {after: 12}
"""
    call, _, channel, _ = run_ai_call(BOOKING.replace(", PARAMS", ", enable_barge: false"),
                                      caller, rules)
    (kept,) = call.trace.of_kind("event_kept")
    assert kept["event"] == "TranscriptionFailed"
    (error,) = call.trace.of_kind("error")
    assert error["type"] == "stt_error"
    assert "Could you say it again?" in " ".join(spoken(channel))


def _run_with(rules: ScriptedProvider | str, tools: ToolRunner | None = None,
              http: HttpClient | None = None, *, flow: str | None = None,
              caller: str = 'steps:\n  - say: "book it"\n  - hangup: {after: 10}\n',
              ) -> tuple[Call, SimulatedCaller, ScriptedProvider]:
    """A flow (the booking flow by default) with these rules, tool runner and
    HTTP client against `caller`, in virtual time."""
    compiled = compile_text(flow or BOOKING.replace(", PARAMS", ""), "seams.yaml")
    model = load_rules(rules) if isinstance(rules, str) else rules
    script = load_caller_script(caller)

    async def main() -> tuple[Call, SimulatedCaller]:
        channel = SimulatedCaller(script)
        call = Call(compiled, channel, SimulatedNetwork.for_script(script), http=http,
                    ai_runner=runner(model, tools=tools))
        await call.run()
        await channel.close()
        return call, channel

    call, channel = run_virtual(main)
    return call, channel, model


BOOK_RULES = (Rule(reply="Hello.", start=True),
              Rule(call=("book", {"n": "\ud800"}), said=re.compile("book")),
              Rule(reply="That did not work.", after_tool="book"))


def test_a_tool_whose_effect_raises_is_a_classified_tool_error_and_the_call_goes_on() -> None:
    # An exception nobody foresaw, inside the effect: the turn still gets a
    # classified failure, and the caller hears the recovery.
    class Broken(SwaigRunner):
        async def run(self, *_: object, **__: object) -> ToolReply:  # type: ignore[override]
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    call, channel, _ = _run_with(ScriptedProvider(BOOK_RULES), tools=Broken())
    (error,) = call.trace.of_kind("error")
    assert error["type"] == "tool_error" and "UnicodeEncodeError" in error["message"]
    assert "Sorry, I couldn't complete that just now." in spoken(channel)
    assert "That did not work." in spoken(channel)


def test_arguments_a_webhook_could_not_encode_reach_it_cleaned() -> None:
    bodies: list[bytes] = []

    def answer(request: HttpRequest) -> HttpResponse:
        bodies.append(request.body or b"")
        return HttpResponse(200, {}, b'{"response": "Booked."}')

    call, _, _ = _run_with(ScriptedProvider(BOOK_RULES), http=HandlerClient(answer))
    assert not call.trace.of_kind("error")
    (body,) = bodies
    assert "\ufffd" in body.decode()  # a lone surrogate becomes U+FFFD


def test_an_ai_verb_answers_a_call_not_yet_answered() -> None:
    flow = "sections:\n  main:\n    - ai:\n        prompt: {text: Hi.}\n" \
           "        params: {attention_timeout: 0}\n"
    call, _, channel, _ = run_ai_call(flow, "steps:\n  - hangup: {after: 3}\n",
                                      'rules:\n  - reply: "Hello."\n')
    assert channel.answered_at == 0.0
    assert not call.trace.of_kind("error") and spoken(channel) == ["Hello."]


def test_digits_pressed_during_an_ai_session_are_kept_and_traced() -> None:
    rules = 'rules:\n  - when: {start: true}\n    reply: "Hello, how can I help?"\n' \
            '  - reply: "Sure."\n'
    caller = 'steps:\n  - press: "12"\n    at: 3\n  - hangup: {after: 5}\n'
    call, _, _, _ = run_ai_call(BOOKING.replace(", PARAMS", ""), caller, rules)
    kept = call.trace.of_kind("event_kept")
    assert [k["event"] for k in kept] == ["DigitPressed", "DigitPressed"]
    assert all("next prompt" in str(k["why"]) for k in kept)
    assert call.pending_digits == ["1", "2"]


def test_swaig_post_conversation_sends_the_call_log_with_each_tool_call() -> None:
    bodies: list[dict[str, object]] = []

    def webhook(request: HttpRequest) -> HttpResponse:
        bodies.append(json.loads(request.body or b"{}"))
        return HttpResponse(200, {}, b'{"response": "Booked."}')

    _run_with('rules:\n  - when: {start: true}\n    reply: "Hello."\n'
              '  - when: {said: "book"}\n    call: {function: book, arguments: {}}\n'
              '  - reply: "Done."\n', http=HandlerClient(webhook),
              flow=BOOKING.replace("PARAMS", "swaig_post_conversation: true"))
    (body,) = bodies
    assert body["call_log"] == [{"role": "assistant", "content": "Hello."},
                                {"role": "user", "content": "book it"},
                                {"role": "assistant", "content": ""}]


def test_a_failed_data_map_request_is_traced_even_when_a_fallback_answers() -> None:
    flow = """\
sections:
  main:
    - ai:
        prompt: {text: Weather.}
        params: {attention_timeout: 0}
        SWAIG:
          functions:
            - function: weather
              description: The weather.
              parameters: {type: object, properties: {city: {type: string}}}
              data_map:
                webhooks:
                  - url: "https://user:pw@api.example/v1/now?key=s3cret&q=${args.city}"
                    method: GET
                    output: {response: "It is ${response.temp} degrees."}
                output: {response: "The weather service is down."}
"""
    rules = ('rules:\n  - when: {start: true}\n    reply: "Hi."\n'
             '  - when: {said: "weather"}\n'
             '    call: {function: weather, arguments: {city: Oslo}}\n'
             '  - reply: "{tool}"\n')
    call, _, _ = _run_with(rules, http=HandlerClient(lambda _: HttpResponse(503, {}, b"busy")),
                           flow=flow, caller='steps:\n  - say: "weather please"\n'
                           '  - hangup: {after: 6}\n')
    (request,) = call.trace.of_kind("data_map_request")
    assert (request["url"], request["status"]) == ("https://api.example/v1/now", 503)
    assert "s3cret" not in str(call.trace.records)
    assert call.trace.of_kind("tool_returned")[0]["response"] == "The weather service is down."


def test_a_tool_prompt_never_comes_between_a_tool_call_and_its_result() -> None:
    class Prompting(MockRunner):
        async def run(self, *args: object, **kwargs: object) -> ToolReply:  # type: ignore[override]
            return ToolReply("ok", "Be brief now.",
                             parse_actions(({"context_switch": {"user_prompt": "hi"}},)))

    _, _, model = _run_with("""\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "book"}
    call: {function: book, arguments: {n: "1"}}
  - when: {after_tool: book}
    reply: "Booked."
""", tools=Prompting({}))
    after = next(r for r in model.requests if any(m.role == "tool" for m in r.messages))
    roles = [m.role for m in after.messages]
    asked = next(i for i, m in enumerate(after.messages) if m.tool_calls)
    assert roles[asked + 1] == "tool"
    assert "system" in roles[asked + 2:] and "user" in roles[asked + 2:]
