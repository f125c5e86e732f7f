"""Fuzzing SWAIG reply parsing: any JSON a webhook or a data_map returns is a
ToolReply with typed actions, or a ToolFault saying what was wrong; never
another exception."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.runtime.tools import replies
from interpreter.runtime.tools.base import ToolFault, ToolReply
from interpreter.runtime.tools.webhook import parse_reply

EXAMPLES = int(os.environ.get("CALLKERNEL_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])

ACTION_NAMES = ["say", "stop", "hangup", "set_global_data", "unset_global_data",
                "set_meta_data", "unset_meta_data", "toggle_functions", "change_step",
                "change_context", "user_input", "transfer", "SWML", "context_switch", "hold",
                "playback_bg", "stop_playback_bg", "wait_for_user", "settings",
                "end_of_speech_timeout", "speech_event_timeout", "add_dynamic_hints",
                "clear_dynamic_hints", "functions_on_speaker_timeout",
                "back_to_back_functions", "replace_in_history", "extensive_data", "other"]
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) \
    | st.floats(allow_nan=False, allow_infinity=False) \
    | st.sampled_from(["true", "false", "forever", "answer_first", "(", "a+b", "12", ""]) \
    | st.text(max_size=8)
values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                      | st.dictionaries(st.sampled_from(
                          ["file", "wait", "timeout", "function", "active", "pattern",
                           "replace", "hint", "system_prompt", "full_reset", "dest",
                           "top-p", "confidence", "x"]), children, max_size=3),
                      max_leaves=12)
actions = st.dictionaries(st.sampled_from(ACTION_NAMES), values, max_size=3)
replies_json = st.fixed_dictionaries({}, optional={
    "response": values, "action": st.lists(actions, max_size=3) | actions | values,
    "post_process": values})


@FUZZ
@given(st.one_of(replies_json, values))
def test_any_reply_is_a_typed_reply_or_a_tool_fault(reply: object) -> None:
    try:
        parsed = parse_reply(reply)  # type: ignore[arg-type]
    except ToolFault as fault:
        assert fault.detail
        return
    assert isinstance(parsed, ToolReply)
    for action in parsed.actions:
        assert isinstance(action, replies.Action) and action.name


@FUZZ
@given(st.lists(actions, max_size=4))
def test_any_action_list_parses_to_known_types(raw: list[dict[str, object]]) -> None:
    parsed = replies.parse_actions(tuple(raw))  # type: ignore[arg-type]
    names = [name for action in raw for name in action
             if not (name == "transfer" and "SWML" in action)]
    assert [a.name for a in parsed] == names
