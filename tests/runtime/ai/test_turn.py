"""One agent turn: tools and barge-in, fillers, languages, chained tool calls."""

from __future__ import annotations

from interpreter.runtime.tools.runner import ToolMock
from tests.runtime.ai.harness import run_ai_call, spoken

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You book tables.
        params: {attention_timeout: 0, barge_functions: BARGE}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: book
              description: Book a table.
              parameters: {type: object, properties: {n: {type: string}}}
              fillers: {en-US: ["Booking that now."]}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "book"}
    call: {function: book, arguments: {n: "1"}}
  - when: {after_tool: book}
    reply: "{tool}"
  - when: {said: "(?P<words>.+)"}
    reply: "You said {words}."
"""
CALLER = """\
steps:
  - say: "book a table please"
  - say: "for four people"
    at: 4
  - hangup: {after: 8}
"""


def test_without_barge_functions_a_barge_in_cancels_the_tool_and_the_model_is_told() -> None:
    rules = RULES.replace('  - when: {said: "(?P<words>.+)"}',
                          '  - when: {said: "four"}\n    call: {function: book, arguments: '
                          '{n: "1"}}\n  - when: {said: "(?P<words>.+)"}')
    call, _, _, model = run_ai_call(FLOW.replace("BARGE", "false"), CALLER, rules,
                                    {"book": ToolMock("Booked.", delay=4.0)})
    (cancelled,) = call.trace.of_kind("tool_cancelled")
    told = next(m.content for r in model.requests for m in r.messages
                if m.role == "tool" and "cancelled" in m.content)
    assert 'interrupted before "book" replied' in told and "may or may not" in told
    # The caller's words are the next thing the model answers.
    after = next(r for r in model.requests if r.messages[-1].content == "for four people")
    assert after.messages[-2].content == told
    # The repeat goes out with the cancelled call's request id: the app can dedupe.
    started = [r for r in call.trace.of_kind("effect_started") if r["effect"] == "tool"]
    assert len(started) == 2 and started[0]["request_id"] == started[1]["request_id"]
    assert cancelled["request_id"] == started[0]["request_id"]


def test_with_barge_functions_the_tool_completes_and_the_reply_hears_the_caller() -> None:
    call, _, channel, model = run_ai_call(FLOW.replace("BARGE", "true"), CALLER, RULES,
                                          {"book": ToolMock("Booked.", delay=6.0)})
    assert not call.trace.of_kind("tool_cancelled")
    assert call.trace.of_kind("tool_returned")
    after_tool = next(r for r in model.requests if any(m.role == "tool" for m in r.messages))
    # The result, then what the caller said while the tool ran, in one request.
    assert [m.role for m in after_tool.messages[-2:]] == ["tool", "user"]
    assert after_tool.messages[-1].content == "for four people"
    # The function filler was stopped by the caller's speech, not played over it.
    filler = next(line for line in channel.heard if line.text == "Booking that now.")
    assert filler.cut_off


def test_a_slow_model_gets_a_thinking_filler_and_a_barge_in_keeps_it_out_of_history() -> None:
    flow = FLOW.replace("BARGE", "true").replace(
        "        SWAIG:", "        languages:\n          - {name: English, code: en-US, "
        "voice: rime.spore, speech_fillers: [Hmm let me see.]}\n        SWAIG:")
    rules = RULES.replace('    reply: "You said {words}."',
                          '    reply: "You said {words}. That is noted."\n    delay_ms: 900')
    call, _, channel, model = run_ai_call(flow, """\
steps:
  - say: "tell me something"
  - say: "never mind"
    barge_in: 1.0
    after_hearing: "Hmm let me see"
  - hangup: {after: 5}
""", rules)
    thinking = next(r for r in call.trace.of_kind("filler") if r["filler_type"] == "thinking")
    assert thinking["text"] == "Hmm let me see."
    filler_line = next(line for line in channel.heard if line.text == "Hmm let me see.")
    assert filler_line.start < next(line.start for line in channel.heard
                                    if line.text.startswith("You said"))
    (barge,) = call.trace.of_kind("barge_in")
    history = [m.content for m in model.requests[-1].messages if m.role == "assistant"]
    assert "Hmm" not in " ".join(history)
    assert barge["heard"] and str(barge["heard"]).startswith("You said")



def test_a_barge_in_after_a_pause_in_the_reply_keeps_the_sentences_heard_before_it() -> None:
    # The model is slow between sentences: "You said ..." plays to its end
    # (the run of speech ends), "That is noted." comes later, and the caller
    # cuts into it. What was heard is both runs, not only the last.
    rules = RULES.replace('    reply: "You said {words}."',
                          '    reply: "You said {words}. That is noted and will be kept."\n'
                          '    delay_ms: 700')
    call, _, _, model = run_ai_call(FLOW.replace("BARGE", "true"), """\
steps:
  - say: "tell me"
  - say: "stop"
    at: 10.6
  - hangup: {after: 5}
""", rules)
    # "You said tell me." played 4.7-6.3 s; "That is noted ..." from 9.6 s.
    (barge,) = call.trace.of_kind("barge_in")
    assert str(barge["heard"]).startswith("You said tell me. That is")
    assert barge["heard"] != barge["generated"]
    kept = [m for m in model.requests[-1].messages if m.role == "assistant"]
    assert kept[-1].content == barge["heard"] and kept[-1].interrupted
    assert not kept[0].interrupted  # "Hello." played to its end


CONTEXTS = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You route callers.
          contexts:
            default:
              exit_fillers: {default: ["Leaving the front desk."]}
              steps:
                - name: greet
                  text: Greet.
                  valid_contexts: [billing]
            billing:
              enter_fillers: {en-US: ["Welcome to billing."], default: ["Billing."]}
              steps:
                - name: help
                  text: Help with bills.
        languages:
          - {name: English, code: en-US, voice: rime.spore}
          - {name: Spanish, code: es-ES, voice: rime.luna}
        SWAIG:
          internal_fillers:
            change_language: {es-ES: ["Un momento."], default: ["One moment."]}
    - hangup: {}
"""
CONTEXT_RULES = """\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "bill"}
    call: {function: change_context, arguments: {context: billing}}
  - when: {after_tool: change_context}
    reply: "How can I help with your bill?"
  - when: {said: "spanish"}
    call: {function: change_language, arguments: {language: Spanish}}
  - when: {after_tool: change_language}
    reply: "Hola."
  - reply: "Okay."
"""


def test_context_moves_play_exit_then_enter_fillers() -> None:
    call, _, channel, _ = run_ai_call(CONTEXTS, 'steps:\n  - say: "my bill"\n'
                                      '  - hangup: {after: 6}\n', CONTEXT_RULES)
    lines = spoken(channel)
    at = lines.index("Leaving the front desk.")
    assert lines[at:at + 3] == ["Leaving the front desk.", "Welcome to billing.",
                                "How can I help with your bill?"]
    assert [r["filler_type"] for r in call.trace.of_kind("filler")] == ["exit", "enter"]


def test_change_language_switches_voice_and_fillers_and_the_prompt_knows() -> None:
    call, _, channel, model = run_ai_call(CONTEXTS, 'steps:\n  - say: "in spanish please"\n'
                                          '  - hangup: {after: 6}\n', CONTEXT_RULES)
    (change,) = call.trace.of_kind("language_change")
    assert (change["old"], change["new"], change["voice"]) == ("English", "Spanish",
                                                               "rime.luna")
    says = {r["text"]: r["voice"] for r in call.trace.of_kind("say")}
    assert (says["Hello."], says["Hola."]) == ("rime.spore", "rime.luna")
    # The internal filler was picked for the language in use when it was called.
    assert "One moment." in spoken(channel)
    first = model.requests[0]
    assert "You can speak English, Spanish. You are speaking English now" in \
        first.messages[0].content
    assert "change_language" in [tool.name for tool in first.tools]
    assert "You are speaking Spanish now" in model.requests[-1].messages[0].content


def test_wait_for_user_seconds_speaks_after_them_when_the_caller_stays_quiet() -> None:
    flow = FLOW.replace("BARGE", "true")
    mock = {"book": ToolMock("Booked.", ({"wait_for_user": 4},))}
    call, _, channel, _ = run_ai_call(flow, 'steps:\n  - say: "book it"\n  - wait: 8\n'
                                      "  - hangup: {}\n", RULES, mock)
    (deferred,) = call.trace.of_kind("reply_deferred")
    (elapsed,) = call.trace.of_kind("wait_for_user_elapsed")
    assert 3.99 <= float(elapsed["t"]) - float(deferred["t"]) < 4.1
    assert spoken(channel)[-1] == "Booked."


def test_back_to_back_functions_lets_one_turn_chain_more_tool_calls() -> None:
    chain = "".join(f'  - when: {{after_tool: book}}\n    call: {{function: book, arguments: '
                    f'{{n: "{n}"}}}}\n    times: 1\n' for n in range(2, 12))
    rules = RULES.replace('  - when: {after_tool: book}', chain + '  - when: {after_tool: book}')
    caller = 'steps:\n  - say: "book it"\n  - hangup: {after: 6}\n'
    flow = FLOW.replace("BARGE", "true")
    call, _, _, _ = run_ai_call(flow, caller, rules, {"book": ToolMock("Booked.")})
    (limit,) = call.trace.of_kind("error")
    assert limit["message"] == "more than 8 tool rounds in one turn"
    call, _, channel, _ = run_ai_call(flow, caller, rules, {"book": ToolMock(
        "Booked.", ({"back_to_back_functions": True},))})
    assert not call.trace.of_kind("error")
    assert len(call.trace.of_kind("tool_mocked")) == 11
    assert "Booked." in spoken(channel)


BARGE_FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You read the news.}
        params: {attention_timeout: 0, BARGE}
    - hangup: {}
"""
NEWS = """\
rules:
  - when: {start: true}
    reply: "Here is the news. Markets rose today. Rain is expected tomorrow. Sports are next."
  - when: {said: "(?P<words>.+)"}
    reply: "You said {words}."
"""


def _barged(params: str, words: str) -> str | None:
    """What interrupted the agent (an event name), or None."""
    call, _, _, model = run_ai_call(BARGE_FLOW.replace("BARGE", params),
                                    f'steps:\n  - say: "{words}"\n    barge_in: 1.0\n'
                                    "  - hangup: {after: 6}\n", NEWS)
    # Words that did not interrupt are still answered after the agent finished.
    assert model.requests[-1].messages[-1].content == words
    barges = call.trace.of_kind("barge_in")
    if not barges:
        # Why not is in the trace.
        (declined,) = call.trace.of_kind("barge_declined")
        assert declined["text"] == words and declined["why"]
    return str(barges[0]["by"]) if barges else None


def test_barge_min_words_lets_short_backchannels_through() -> None:
    assert _barged("barge_min_words: 3", "uh huh") is None
    assert _barged("barge_min_words: 3", "wait a moment please") == "TranscriptReceived"


def test_barge_match_string_barges_only_on_matching_words() -> None:
    assert _barged("barge_match_string: 'stop|wait'", "yes go on") is None
    assert _barged("barge_match_string: 'stop|wait'", "hold on wait") == "TranscriptReceived"


def test_enable_barge_false_never_interrupts_and_complete_waits_for_words() -> None:
    assert _barged("enable_barge: false", "stop talking") is None
    assert _barged("enable_barge: complete", "stop talking") == "TranscriptReceived"
    assert _barged("enable_barge: partial", "stop talking") == "SpeechStarted"


def test_a_steps_reset_applies_when_it_moves_to_another_context() -> None:
    indent = " " * 18
    flow = CONTEXTS.replace(f"{indent}valid_contexts: [billing]\n", (
        f"{indent}valid_contexts: [billing]\n{indent}reset:\n"
        f'{indent}  system_prompt: "You are the billing desk now."\n'
        f'{indent}  user_prompt: "The caller has a billing question."\n'
        f"{indent}  consolidate: true\n"))
    _, _, _, model = run_ai_call(flow, 'steps:\n  - say: "my bill"\n  - hangup: {after: 6}\n',
                                 CONTEXT_RULES)
    after = model.requests[-1].messages
    assert "You are the billing desk now." in after[0].content
    assert after[1].content.startswith("The conversation so far: assistant: Hello. | user: my")
    assert [m.content for m in after if m.role == "user"] == [
        "The caller has a billing question."]


def test_acknowledge_interruptions_tells_the_model_it_was_talked_over_up_to_its_count() -> None:
    flow = FLOW.replace("BARGE", "true").replace(
        "params: {attention_timeout: 0,", "params: {acknowledge_interruptions: 1, "
        "interrupt_prompt: 'You were talked over.', attention_timeout: 0,")
    rules = RULES.replace('    reply: "You said {words}."',
                          '    reply: "You said {words}. That is noted and will be kept."')
    call, _, _, model = run_ai_call(flow, """\
steps:
  - say: "tell me"
  - say: "stop"
    barge_in: 1.0
  - say: "and again"
  - say: "stop again"
    barge_in: 1.0
  - hangup: {after: 5}
""", rules)
    assert len(call.trace.of_kind("barge_in")) == 2
    told = [m for r in model.requests for m in r.messages
            if m.role == "system" and m.content == "You were talked over."]
    assert told  # after the first barge-in...
    last = model.requests[-1].messages
    assert sum(1 for m in last if m.content == "You were talked over.") == 1  # ...not twice
    at = next(i for i, m in enumerate(last) if m.content == "You were talked over.")
    assert last[at - 1].role == "assistant" and last[at - 1].interrupted


def test_a_background_file_plays_under_the_whole_session() -> None:
    flow = FLOW.replace("BARGE", "true").replace(
        "params: {attention_timeout: 0,", "params: {background_file: 'https://cdn.example/"
        "cafe.wav', attention_timeout: 0,")
    call, _, channel, _ = run_ai_call(flow, 'steps:\n  - say: "hello"\n  - hangup: {after: 3}\n',
                                      RULES)
    (started,) = call.trace.of_kind("background_started")
    assert started["url"] == "https://cdn.example/cafe.wav" and started["loops"] == 0
    ai_started = next(r for r in call.trace.records if r["kind"] == "ai_started")
    assert started["n"] == ai_started["n"] + 1  # from the session's start
    (stopped,) = call.trace.of_kind("background_stopped")
    assert stopped["playout"] == started["playout"]
    assert [line.text for line in channel.background] == ["https://cdn.example/cafe.wav"]
