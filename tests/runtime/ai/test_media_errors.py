"""tts_error, stt_error and media_error inside an ai session: classified,
spoken, recovered, or fatal with a goodbye; the caller never hears silence."""

from __future__ import annotations

from interpreter.runtime.tools.runner import ToolMock
from tests.runtime.ai.harness import run_ai_call, spoken

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You report the weather.}
        params: {attention_timeout: 0}
        languages:
          - {name: English, code: en-US, voice: rime.spore}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: music
              description: Play music.
              parameters: {type: object, properties: {}}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "music"}
    call: {function: music}
  - when: {after_tool: music}
    reply: "Enjoy the music."
  - when: {said: "weather"}
    reply: "It is sunny today. Tomorrow brings rain."
  - reply: "Okay."
"""


def test_a_failing_voice_is_replaced_and_the_unheard_reply_spoken_again() -> None:
    call, _, channel, _ = run_ai_call(FLOW, """\
faults:
  tts: [{saying: "sunny"}]
steps:
  - say: "what's the weather"
  - hangup: {after: 8}
""", RULES)
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["fatal"]) == ("tts_error", False)
    assert error["voice"] == "rime.spore"
    lines = spoken(channel)
    at = lines.index("There was an error with the current voice, sorry for the trouble.")
    assert lines[at + 1:at + 3] == ["It is sunny today.", "Tomorrow brings rain."]
    voices = [r["voice"] for r in call.trace.of_kind("say")]
    assert voices[0] == "rime.spore" and voices[-1] == "callkernel.fallback"


def test_a_voice_that_keeps_failing_ends_the_call_after_the_retries() -> None:
    call, result, _, _ = run_ai_call(FLOW, """\
faults:
  tts: [{saying: "sunny", times: 0, all_voices: true}]
steps:
  - say: "what's the weather"
  - say: "weather again"
  - say: "and the weather now"
  - hangup: {after: 8}
""", RULES)
    errors = [e for e in call.trace.of_kind("error") if e["type"] == "tts_error"]
    assert [e["fatal"] for e in errors] == [False, False, True]
    assert errors[-1]["next"] == "goodbye and hang up"
    assert result.disposition == "hangup:ai"
    assert result.variables["ai_result"] == "failed"


def test_speech_the_recognizer_cannot_read_is_an_stt_error_and_the_caller_is_asked_again() -> None:
    call, _, channel, model = run_ai_call(FLOW, """\
steps:
  - say: "mumble mumble"
    garbled: true
  - say: "what's the weather"
  - hangup: {after: 8}
""", RULES)
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["fatal"], error["next"]) == (
        "stt_error", False, "asked the caller to repeat")
    lines = spoken(channel)
    assert lines[1] == "Sorry, I didn't catch that. Could you say it again?"
    assert "It is sunny today." in lines
    # Nothing of the garbled speech reached the model.
    assert not any("mumble" in m.content for r in model.requests for m in r.messages)


def test_repeated_stt_errors_end_the_call_with_a_goodbye() -> None:
    garbled = '  - say: "mumble"\n    garbled: true\n'
    call, result, channel, _ = run_ai_call(FLOW, "steps:\n" + garbled * 3
                                           + "  - hangup: {after: 8}\n", RULES)
    assert [e["fatal"] for e in call.trace.of_kind("error")] == [False, False, True]
    assert spoken(channel)[-1].endswith("I'm sorry, I have to end the call now. Goodbye.")
    assert result.disposition == "hangup:ai"


def test_background_audio_that_cannot_be_fetched_is_a_media_error_the_call_survives() -> None:
    mock = ToolMock("playing", ({"playback_bg": {"file": "https://x.example/gone.mp3",
                                                 "wait": True}},))
    call, result, channel, _ = run_ai_call(FLOW, """\
faults:
  files: ["https://x.example/gone.mp3"]
steps:
  - say: "some music please"
  - say: "thanks"
  - hangup: {after: 5}
""", RULES, {"music": mock})
    (error,) = call.trace.of_kind("error")
    assert (error["type"], error["fatal"]) == ("media_error", False)
    assert "could not fetch https://x.example/gone.mp3" in str(error["message"])
    assert "Enjoy the music." in spoken(channel)
    assert result.disposition == "caller_hangup"


def test_words_said_over_the_recovery_phrase_are_answered_after_it() -> None:
    # The caller does not wait for the apology to finish: their words come
    # while it plays (the agent is waiting it out) and are answered after it.
    call, _, channel, model = run_ai_call(FLOW, """\
steps:
  - say: "mumble mumble"
    garbled: true
  - say: "weather"
    at: 2.5
  - hangup: {after: 8}
""", RULES)
    # The apology plays 1.9-5.9 s; "weather" is said from 2.5 s.
    lines = spoken(channel)
    assert lines[1] == "Sorry, I didn't catch that. Could you say it again?"
    assert lines[2] == "It is sunny today."
    kept = next(r for r in call.trace.of_kind("event_kept") if r["event"] == "TranscriptReceived")
    assert kept["why"] == "the agent answers them when it next listens"
    assert model.requests[-1].messages[-1].content == "weather"
