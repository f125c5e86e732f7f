"""gather_info: the model asks one question at a time and submits typed answers."""

from __future__ import annotations

from interpreter.providers.llm.base import LlmRequest
from tests.runtime.ai.harness import run_ai_call, spoken


def _asking(request: LlmRequest) -> str | None:
    """The gather question key the request asks about: the submit tool names it."""
    submit = next((t for t in request.tools if t.name == "gather_submit"), None)
    return submit.description.split('"')[1] if submit is not None else None

GATHER = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt:
          text: You help patients.
          contexts:
            default:
              steps:
                - name: intake
                  text: Collect details.
                  gather_info:
                    prompt: You are registering a new patient.
                    output_key: intake
                    completion_action: next_step
                    questions:
                      - {key: name, question: "What is your full name?", confirm: true}
                      - key: age
                        question: "How old are you?"
                        type: integer
                        prompt: Ages are whole years.
                        functions: [lookup_patient]
                - name: help
                  text: "Help ${global_data.intake.name}, age ${global_data.intake.age}."
                  end: true
        params: {attention_timeout: 0}
        SWAIG:
          defaults: {web_hook_url: "https://clinic.example/swaig"}
          functions:
            - function: lookup_patient
              description: Find a patient record.
              parameters: {type: object, properties: {}}
            - function: book
              description: Book a visit.
              parameters: {type: object, properties: {}}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {asking: name, said: "^yes"}
    call: {function: gather_submit, arguments: {answer: "Robin Park", confirmed: true}}
  - when: {asking: name, said: "(?P<n>robin \\\\w+)"}
    reply: "I heard {n}, is that right?"
  - when: {asking: age, said: "(?P<years>\\\\d+)"}
    call: {function: gather_submit, arguments: {answer: "{years}"}}
  - when: {asking: age, said: "old"}
    call: {function: gather_submit, arguments: {answer: "quite old"}}
  - when: {asking: age}
    reply: "{question}"
  - when: {asking: name}
    reply: "{question}"
  - when: {step: help}
    reply: "Thanks, I have your details."
  - reply: "Go on."
"""


def test_the_model_asks_each_question_and_typed_answers_land_in_global_data() -> None:
    call, _, channel, model = run_ai_call(GATHER, """\
steps:
  - say: "Robin Park"
  - say: "yes that's right"
  - say: "42"
  - hangup: {after: 6}
""", RULES)
    lines = spoken(channel)
    assert lines[:3] == ["What is your full name?", "I heard Robin Park, is that right?",
                         "How old are you?"]
    (complete,) = call.trace.of_kind("gather_complete")
    assert complete["answers"] == {"name": "Robin Park", "age": 42}  # an integer
    (change,) = call.trace.of_kind("step_change")
    assert (change["new"], change["trigger"]) == ("help", "gather_complete")
    help_request = next(r for r in model.requests
                        if "## Current step: help" in r.messages[0].content)
    assert "Help Robin Park, age 42." in help_request.messages[0].content
    # Each submit is seen once, then leaves the history: the last request holds
    # only the final one, the name's exchange is gone.
    later = model.requests[-1].messages
    assert [m.content for m in later if m.role == "tool"] == [
        "All answers saved (name: Robin Park; age: 42). Carry on with the conversation."]
    assert "Thanks, I have your details." in lines


def test_each_question_is_injected_with_its_prompt_and_functions() -> None:
    _, _, _, model = run_ai_call(GATHER, """\
steps:
  - say: "Robin Park"
  - say: "yes"
  - hangup: {after: 6}
""", RULES)
    asking_name = next(r for r in model.requests if _asking(r) == "name")
    system = asking_name.messages[0].content
    assert "You are registering a new patient." in system
    assert "Ask the caller this question, and nothing else: What is your full name?" in system
    assert "once they confirm it" in system
    assert [t.name for t in asking_name.tools] == ["gather_submit"]
    assert asking_name.tools[0].parameters["required"] == ["answer", "confirmed"]
    asking_age = next(r for r in model.requests if _asking(r) == "age")
    assert "Ages are whole years." in asking_age.messages[0].content
    assert [t.name for t in asking_age.tools] == ["gather_submit", "lookup_patient"]
    assert asking_age.tools[0].parameters["properties"]["answer"]["type"] == "integer"


def test_an_answer_of_the_wrong_type_is_refused_and_asked_again() -> None:
    call, _, channel, model = run_ai_call(GATHER, """\
steps:
  - say: "Robin Park"
  - say: "yes"
  - say: "quite old"
  - say: "37"
  - hangup: {after: 6}
""", RULES)
    (invalid,) = call.trace.of_kind("gather_invalid")
    assert invalid["key"] == "age" and "integer" in str(invalid["message"])
    told = next(m.content for r in model.requests for m in r.messages
                if m.role == "tool" and m.content.startswith("Error:"))
    assert told.endswith("Ask the caller again.")
    assert spoken(channel).count("How old are you?") == 2
    (complete,) = call.trace.of_kind("gather_complete")
    assert complete["answers"] == {"name": "Robin Park", "age": 37}


def test_an_unconfirmed_answer_is_refused_when_the_question_wants_confirmation() -> None:
    rules = RULES.replace('arguments: {answer: "Robin Park", confirmed: true}',
                          'arguments: {answer: "Robin Park"}')
    call, _, _, _ = run_ai_call(GATHER, 'steps:\n  - say: "Robin Park"\n'
                                '  - say: "yes"\n  - hangup: {after: 6}\n', rules)
    (invalid,) = call.trace.of_kind("gather_invalid")
    assert "confirmed" in str(invalid["message"])
    assert not call.trace.of_kind("gather_answer")


def test_without_completion_action_the_step_goes_on_in_normal_mode() -> None:
    flow = GATHER.replace("                    completion_action: next_step\n", "")
    call, _, _, model = run_ai_call(flow, 'steps:\n  - say: "Robin Park"\n'
                                    '  - say: "yes"\n  - say: "50"\n  - say: "what now"\n'
                                    '  - hangup: {after: 6}\n', RULES)
    assert call.trace.of_kind("gather_complete") and not call.trace.of_kind("step_change")
    last = model.requests[-1]
    assert "## Current step: intake" in last.messages[0].content and _asking(last) is None
    assert "Collect details." in last.messages[0].content
    assert "book" in [t.name for t in last.tools]
