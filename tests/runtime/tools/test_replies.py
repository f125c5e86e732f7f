"""SWAIG reply actions are parsed once into typed values, flags coerced."""

from __future__ import annotations

import pytest

from interpreter.jsontypes import JSONValue
from interpreter.runtime.tools import replies as r


def _one(action: dict[str, JSONValue]) -> r.ReplyAction:
    (parsed,) = r.parse_actions((action,))
    return parsed


@pytest.mark.parametrize(("action", "expected"), [
    ({"stop": "true"}, r.Stop), ({"stop": "false"}, r.Ignored), ({"stop": 0}, r.Ignored),
    ({"hangup": True}, r.HangUp), ({"stop_playback_bg": "false"}, r.Ignored),
    ({"set_global_data": "x"}, r.Ignored), ({"no_such_action": 1}, r.Unknown),
])
def test_flags_are_coerced_once(action: dict[str, JSONValue], expected: type) -> None:
    assert type(_one(action)) is expected


def test_values_are_typed() -> None:
    assert _one({"hold": "45"}) == r.Hold(45.0, name="hold", value="45")
    assert _one({"hold": {"timeout": -1}}).seconds is None  # type: ignore[union-attr]
    assert _one({"wait_for_user": 5}) == r.WaitForUser(False, 5.0, name="wait_for_user",
                                                       value=5)
    assert _one({"wait_for_user": "answer_first"}).on  # type: ignore[union-attr]
    assert _one({"end_of_speech_timeout": "900"}) == r.Endpointing(
        900, None, name="end_of_speech_timeout", value="900")
    settings = _one({"settings": {"top-p": 0.5, "confidence": 0.4, "temperature": "hot"}})
    assert isinstance(settings, r.Settings)
    assert (dict(settings.llm), settings.confidence) == ({"top_p": 0.5}, 0.4)
    assert _one({"toggle_functions": [{"function": ["a", "b"], "active": "false"}]}) \
        .toggles == (("a", False), ("b", False))  # type: ignore[union-attr]
    switch = _one({"context_switch": {"system_prompt": "Be terse.", "full_reset": "true"}})
    assert isinstance(switch, r.ContextSwitch) and switch.full_reset and not switch.consolidate


def test_swml_takes_its_transfer_flag_and_no_transfer_action_of_its_own() -> None:
    parsed = r.parse_actions(({"SWML": {"sections": {}}, "transfer": "false"},))
    assert parsed == (r.Swml({"sections": {}}, False, name="SWML", value={"sections": {}}),)


def test_dynamic_hints_are_compiled_as_they_arrive_and_invalid_ones_left_out() -> None:
    action = _one({"add_dynamic_hints": ["Acme", {"pattern": "(unclosed", "replace": "x"},
                                         {"pattern": "cell ?phone", "replace": "mobile"}]})
    assert isinstance(action, r.AddHints)
    assert [h.hint or h.replace for h in action.hints] == ["Acme", "mobile"]
    assert len(action.rejected) == 1 and "(unclosed" in action.rejected[0]
