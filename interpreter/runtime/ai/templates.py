"""SWAIG templates rendered for the model: the prompt's `${...}` variables."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.expressions import ExpressionRuntimeError, SwaigScope, render_swaig
from interpreter.jsontypes import JSONValue

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession


def prompt_scope(session: AiSession, extra: Mapping[str, JSONValue] | None = None) -> SwaigScope:
    now = datetime.datetime.now(datetime.UTC)
    call = session.call
    roots: dict[str, JSONValue] = {
        "global_data": session.global_data,
        "call_id": call.call_id,
        "ai_session_id": session.session_id,
        "app_name": session.verb.params.app_name,
        "call_direction": str(call.call_info.get("direction", "inbound")),
        "caller_id_number": str(call.call_info.get("from", "")),
        "caller_id_name": str(call.call_info.get("from_name", "")),
        "local_date": now.strftime("%Y-%m-%d"),
        "spoken_date": now.strftime("%A, %B %d, %Y"),
        "local_time": now.strftime("%H:%M"),
        "time_of_day": "morning" if now.hour < 12 else "afternoon" if now.hour < 18
        else "evening",
        "supported_languages": ", ".join(lang.name for lang in session.verb.languages),
        "default_language": session.verb.languages[0].name if session.verb.languages
        else "English",
        **(extra or {}),
    }
    return SwaigScope(roots, now)


def render(text: ir.SwaigText | None, session: AiSession,
           extra: Mapping[str, JSONValue] | None = None) -> str:
    if text is None:
        return ""
    try:
        return render_swaig(text.template, prompt_scope(session, extra))
    except ExpressionRuntimeError:
        return text.source  # a broken template is shown as written, never fatal
