"""The ai verb's agent loop on the text media runtime, with the scripted model."""

from __future__ import annotations

from interpreter.providers.llm.scripted import ScriptedProvider
from interpreter.runtime.call import Call, CallResult
from interpreter.transports.simulated import SimulatedCaller
from tests.runtime.ai.harness import run_ai_call

WEATHER = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You answer questions about the weather.
          contexts:
            default:
              steps:
                - name: chat
                  text: Answer weather questions.
                  valid_steps: [bye]
                - name: bye
                  text: Say goodbye.
                  end: true
    - hangup: {}
"""

RULES = """\
rules:
  - when: {start: true}
    reply: "Hello, ask me about the weather."
  - when: {said: "weather in (?P<city>\\\\w+)"}
    reply: >-
      The weather in {city} is sunny and warm today, with a light breeze
      from the west and no rain expected.
  - when: {said: "goodbye"}
    call: {function: next_step, arguments: {step: bye}}
  - when: {after_tool: next_step}
    reply: "Goodbye!"
  - when: {said: "jump"}
    call: {function: next_step, arguments: {step: nowhere}}
  - when: {said: "flaky"}
    fail: rate_limit
    times: 1
  - when: {said: "flaky"}
    reply: "Recovered fine."
"""


def _run(caller: str, rules: str = RULES, flow: str = WEATHER) -> tuple[
        Call, CallResult, SimulatedCaller, ScriptedProvider]:
    return run_ai_call(flow, caller, rules)


def test_barge_in_keeps_only_heard_words_and_answers_the_correction() -> None:
    call, _, channel, model = _run("""\
steps:
  - say: "What is the weather in Paris?"
  - say: "Sorry, I meant the weather in Rome"
    barge_in: 1.0
  - hangup: {}
""")
    (barge,) = call.trace.of_kind("barge_in")
    heard = str(barge["heard"])
    assert heard and "Paris" in str(barge["generated"])
    assert len(heard.split()) < len(str(barge["generated"]).split())
    # Nothing of the interrupted reply is played after the interruption.
    barge_at = float(str(barge["t"]))
    later = [line for line in channel.heard if line.start >= barge_at]
    assert later and all("Paris" not in line.text for line in later)
    assert any("Rome" in line.text for line in later)
    # The model's history holds the words that were heard, not the whole reply.
    last = model.requests[-1].messages
    assistant = [m.content for m in last if m.role == "assistant"]
    assert heard in assistant
    assert not any("no rain expected" in text for text in assistant)


def test_next_step_moves_and_an_end_step_finishes_the_ai_verb() -> None:
    call, result, channel, _ = _run("""\
steps:
  - say: "goodbye"
""")
    (change,) = call.trace.of_kind("step_change")
    assert (change["old"], change["new"], change["trigger"]) == ("chat", "bye", "ai_function")
    assert any("Goodbye" in line.text for line in channel.heard)
    assert result.disposition == "hangup:hangup"
    assert result.variables["ai_result"] == "success"


def test_illegal_step_is_a_state_error_the_model_is_told_about() -> None:
    call, _, _, model = _run("""\
steps:
  - say: "jump"
  - hangup: {after: 5}
""")
    errors = call.trace.of_kind("error")
    assert [e["type"] for e in errors] == ["state_error"]
    tool_messages = [m.content for m in model.requests[-1].messages if m.role == "tool"]
    assert any('no step named "nowhere" in context "default"' in text for text in tool_messages)


def test_llm_error_speaks_the_recovery_phrase_and_retries() -> None:
    call, _, channel, _ = _run("""\
steps:
  - say: "flaky"
  - hangup: {after: 10}
""")
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["fatal"]) == ("llm_error", False)
    spoken = [line.text for line in channel.heard]
    assert "I'm sorry, can you hold on for a second?" in spoken
    assert any("Recovered fine." in text for text in spoken)


def test_fatal_llm_error_says_goodbye_and_ends_the_call() -> None:
    rules = RULES.replace("fail: rate_limit", "fail: token_limit")
    call, result, channel, _ = _run("steps:\n  - say: \"flaky\"\n", rules)
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["fatal"]) == ("llm_error", True)
    assert any("Goodbye" in line.text for line in channel.heard)
    assert result.disposition == "hangup:ai"


TIMERS = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You are a patient assistant.
          contexts:
            default:
              steps:
                - name: ask
                  text: Ask a question.
                  valid_steps: [announce]
                - name: announce
                  text: Announce the result without waiting.
                  skip_user_turn: true
                  end: true
        params:
          attention_timeout: 10000
          attention_timeout_prompt: The caller is quiet; check they are there.
          hard_stop_time: 1m
          hard_stop_prompt: Time is up; say goodbye.
        pronounce:
          - {replace: ACME, with: Ack-mee}
    - hangup: {}
"""
TIMER_RULES = """\
rules:
  - when: {start: true}
    reply: "Welcome to ACME. Are you there?"
  - when: {said: "next"}
    call: {function: next_step, arguments: {step: announce}}
  - when: {step: announce}
    reply: "Here is the result, straight away."
  - reply: "Hello? Are you still there?"
"""


def test_attention_timeout_prompts_the_model_and_pronounce_rewrites_speech() -> None:
    call, _, channel, model = _run("steps:\n  - wait: 25\n  - hangup: {}\n", TIMER_RULES,
                                   TIMERS)
    (attention,) = call.trace.of_kind("attention_timeout")
    assert 10.0 <= float(str(attention["seconds"])) < 11.0
    systems = [m.content for m in model.requests[-1].messages if m.role == "system"]
    assert "The caller is quiet; check they are there." in systems
    spoken = [line.text for line in channel.heard]
    assert "Welcome to Ack-mee." in spoken  # pronounce applies to speech only
    assert spoken.count("Are you there?") == 2  # the model spoke again after the prompt
    assert not any("Ack-mee" in m.content for m in model.requests[-1].messages)


def test_skip_user_turn_speaks_on_entering_the_step() -> None:
    call, _, channel, _ = _run('steps:\n  - say: "next please"\n  - hangup: {after: 8}\n',
                               TIMER_RULES, TIMERS)
    assert [r["new"] for r in call.trace.of_kind("step_change")] == ["announce"]
    assert any("straight away" in line.text for line in channel.heard)


def test_hard_stop_time_ends_the_session_with_the_hard_stop_prompt() -> None:
    call, result, _, model = _run(
        "patience: 200\nsteps:\n  - say: \"hmm\"\n    at: 30\n  - say: \"hmm\"\n    at: 50\n"
        "  - hangup: {}\n    at: 90\n", TIMER_RULES, TIMERS)
    (stop,) = call.trace.of_kind("hard_stop")
    # Checked between turns: at the limit, or as soon as the turn in progress ends.
    assert 60.0 <= float(str(stop["t"])) < 65.0
    assert any(m.content == "Time is up; say goodbye." for m in model.requests[-1].messages)
    assert result.disposition == "hangup:hangup"


HANDOFF = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You are the intake agent.}
        SWAIG:
          functions:
            - function: identify
              description: Record the caller and hand over to billing.
              parameters: {type: object, properties: {name: {type: string}}}
              data_map:
                output:
                  response: Handing over.
                  action:
                    - set_global_data: {customer: "${args.name}", verified: true}
                    - transfer: {dest: billing}
  billing:
    - ai:
        prompt: {text: "You are billing. The customer is ${global_data.customer}."}
        global_data: {department: billing}
    - hangup: {}
"""
HANDOFF_RULES = """\
rules:
  - when: {said: "i am (?P<name>\\\\w+)"}
    call: {function: identify, arguments: {name: "{name}"}}
  - when: {after_tool: identify}
    reply: "One moment, I'm transferring you to billing."
  - when: {start: true}
    reply: "Billing here, how can I help?"
  - reply: "Go on."
"""


def test_a_transfer_carries_global_data_and_the_conversation_to_the_next_agent() -> None:
    call, _, channel, model = _run(
        "steps:\n  - say: \"Hi, I am Dana\"\n  - hangup: {after: 10}\n",
        HANDOFF_RULES, HANDOFF.replace("    - ai:\n        prompt: {text: You are the intake",
                                       "    - ai:\n        params: {wait_for_user: true}\n"
                                       "        prompt: {text: You are the intake"))
    billing = model.requests[-1].messages
    system = billing[0].content
    assert "The customer is Dana." in system
    carried = [m.content for m in billing if m.role == "system"][1:]
    assert any("user: Hi, I am Dana" in text for text in carried)
    assert any("Billing here" in line.text for line in channel.heard)
    assert len(call.trace.of_kind("ai_started")) == 2


def test_every_turn_records_its_latencies() -> None:
    call, _, _, _ = _run('steps:\n  - say: "What is the weather in Oslo?"\n'
                         '  - hangup: {after: 9}\n')
    turns = call.trace.of_kind("turn")
    answered = [t for t in turns if "Oslo" in str(t["response"])]
    (turn,) = answered
    # Scripted words arrive 30 ms apart: the first token after one delay, the
    # first sentence once its last word is in.
    assert turn["token_time_s"] == 0.03
    assert float(str(turn["utterance_latency_s"])) > float(str(turn["token_time_s"]))
    assert float(str(turn["audio_latency_s"])) >= float(str(turn["utterance_latency_s"]))
    assert turn["response_word_count"] == len(str(turn["response"]).split())


HOOKS = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "Tier: ${global_data.tier}."}
        SWAIG:
          functions:
            - function: startup_hook
              description: Look the caller up when the session starts.
              data_map:
                output:
                  response: ok
                  action: [{set_global_data: {tier: gold}}]
            - function: hangup_hook
              description: Tell the CRM the call ended.
              data_map:
                output: {response: ok}
    - hangup: {}
"""


def test_startup_and_hangup_hooks_run_and_are_never_offered_to_the_model() -> None:
    call, _, _, model = _run("steps:\n  - say: \"hello\"\n  - hangup: {after: 5}\n",
                             flow=HOOKS)
    assert [r["function"] for r in call.trace.of_kind("hook")] == ["startup_hook",
                                                                   "hangup_hook"]
    first = model.requests[0]
    assert first.messages[0].content == "Tier: gold."
    assert not any(tool.name.endswith("_hook") for r in model.requests for tool in r.tools)


GREETING = WEATHER.replace("    - hangup: {}\n", "", 1).replace(
    "                  end: true\n",
    "                  end: true\n        params:\n          static_greeting: "
    "Welcome to the weather line, where every forecast is fresh and local.\n"
    "    - hangup: {}\n")


def test_the_static_greeting_can_be_interrupted_and_history_keeps_what_was_heard() -> None:
    call, _, channel, model = _run('steps:\n  - say: "weather in Oslo"\n'
                                   "    barge_in: 1.2\n  - hangup: {after: 8}\n",
                                   flow=GREETING)
    (barge,) = call.trace.of_kind("barge_in")
    assert barge["generated"].startswith("Welcome") and barge["heard"] == "Welcome to the"
    first = model.requests[0].messages
    assert [(m.role, m.content) for m in first[1:]] == [
        ("assistant", "Welcome to the"), ("user", "weather in Oslo")]
    assert any("The weather in Oslo" in line.text for line in channel.heard)


def test_static_greeting_no_barge_plays_the_greeting_out() -> None:
    flow = GREETING.replace("        params:\n", "        params:\n"
                            "          static_greeting_no_barge: true\n")
    call, _, _, model = _run('steps:\n  - say: "weather in Oslo"\n'
                             "    barge_in: 1.2\n  - hangup: {after: 8}\n", flow=flow)
    assert not call.trace.of_kind("barge_in")
    assert model.requests[0].messages[1].content.endswith("fresh and local.")
    # The words said over it are not lost: they are answered once it is over.
    assert model.requests[0].messages[-1].content == "weather in Oslo"
    (declined,) = call.trace.of_kind("barge_declined")
    assert declined["why"] == "the utterance cannot be interrupted"
    assert not [r for r in call.trace.of_kind("event_ignored")
                if r["event"] == "TranscriptReceived"]


def test_a_caller_still_speaking_is_not_silent_for_the_attention_timeout() -> None:
    long = " ".join(["and then"] * 18) + " next"  # 37 words: about 13 s of speech
    call, _, _, _ = _run(f'steps:\n  - say: "{long}"\n  - hangup: {{after: 3}}\n',
                         TIMER_RULES, TIMERS)
    assert not call.trace.of_kind("attention_timeout")
    assert [r["new"] for r in call.trace.of_kind("step_change")] == ["announce"]


def test_a_turn_the_caller_did_not_prompt_is_not_timed_from_their_old_words() -> None:
    call, _, _, _ = _run('steps:\n  - say: "hello"\n  - wait: 25\n  - hangup: {}\n',
                         TIMER_RULES, TIMERS)
    turns = call.trace.of_kind("turn")
    answered = next(t for t in turns if t["eos_to_request_s"] is not None)
    attention = float(str(call.trace.of_kind("attention_timeout")[0]["t"]))
    # The reply to "hello" is timed from those words; the attention prompt's
    # turn, which followed ten silent seconds, is not.
    after = [t for t in turns if float(str(t["t"])) > attention]
    assert float(str(answered["eos_to_request_s"])) < 1.0
    assert after and all(t["eos_to_request_s"] is None for t in after)
