"""The reference's native functions, run in the call's actor (no request).

`check_time` reads `params.local_tz`; `wait_seconds` waits in the inbox, so
the caller's words end it and are kept for the next turn; `wait_for_user`
defers the model's next reply until the caller speaks; and
`adjust_response_latency` sets the end-of-speech timeout the audio runtime's
endpointer uses.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.jsontypes import JSONValue
from interpreter.runtime import events as ev
from interpreter.runtime.tools.base import ToolReply

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession


async def run_native(session: AiSession, function: ir.Function,
                     arguments: dict[str, JSONValue]) -> ToolReply:
    match function.name:
        case "check_time":
            return ToolReply(_local_time(session.verb.params.local_tz))
        case "wait_seconds":
            return await _wait(session, arguments.get("seconds"))
        case "wait_for_user":
            session.tuning.wait_for_user = True
            return ToolReply("Waiting silently for the caller to speak.")
        case "adjust_response_latency":
            value = arguments.get("milliseconds")
            # The range the ai param end_of_speech_timeout has.
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and 250 <= value <= 10_000:
                session.tune_listening(end_of_speech_ms=int(value))
                return ToolReply(f"The caller now has {int(value)} ms of silence to finish.")
            return ToolReply("Error: give milliseconds between 250 and 10000.")
    return ToolReply(f"Error: {function.name} is not a native function this runtime has.")


def _local_time(zone_name: str) -> str:
    try:
        zone: datetime.tzinfo = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone, zone_name = datetime.UTC, "UTC"
    now = datetime.datetime.now(zone)
    return f"It is {now:%H:%M} ({zone_name}) on {now:%A, %B %d, %Y}."


async def _wait(session: AiSession, seconds: JSONValue) -> ToolReply:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 60:
        return ToolReply("Error: give seconds between 1 and 60.")
    call = session.call
    started = call.now()
    event = await call.wait_for(
        lambda e: isinstance(e, ev.TranscriptReceived) and e.source == "caller", seconds)
    if isinstance(event, ev.TranscriptReceived):
        session.conversation.pending_input.append(event.text)
        return ToolReply(f"The caller spoke after {call.now() - started:.0f} seconds.")
    return ToolReply(f"Waited {seconds} seconds.")
