"""What running a tool gives back: a SWAIG reply (a function result as
SignalWire documents it) or a fault.

Both webhook functions and data_map functions produce a `ToolReply`: the
text for the model, an optional tool prompt, the actions to apply to the
live call in order, and whether to hold the actions until the agent has
spoken (`post_process`). Failures are `ToolFault`s carrying the error type
(tool_timeout, tool_error, tool_invalid_call) and what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from interpreter.errors import CallFault, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.runtime.tools.replies import ReplyAction


@dataclass(frozen=True, slots=True)
class ToolReply:
    response: str | None = None
    tool_prompt: str | None = None
    actions: tuple[ReplyAction, ...] = ()  # parsed once, at the tool boundary
    post_process: bool = False
    raw: JSONValue = None  # the reply as received, for the trace and swaig_log
    # The requests a data_map made for it, each {method, url, status or error}
    # with the URL's credentials and query left out: what the trace shows.
    requests: tuple[Mapping[str, JSONValue], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolContext:
    """The call-side facts a tool request carries (SignalWire's SWAIG request fields)."""

    call_id: str
    ai_session_id: str
    app_name: str = "swml app"
    global_data: Mapping[str, JSONValue] = field(default_factory=dict)
    meta_data: Mapping[str, JSONValue] = field(default_factory=dict)
    caller_id_name: str | None = None
    caller_id_num: str | None = None
    conversation_type: str = "voice"
    # The conversation so far, sent as `call_log` (params.swaig_post_conversation).
    call_log: tuple[JSONValue, ...] | None = None
    project_id: str | None = None
    space_id: str | None = None


class ToolFault(CallFault):
    """A tool could not produce a usable reply."""

    def __init__(self, error_type: ErrorType, message: str, *, status: int | None = None,
                 attempts: int = 1,
                 requests: tuple[Mapping[str, JSONValue], ...] = ()) -> None:
        super().__init__(error_type, message)
        self.status = status
        self.attempts = attempts
        self.requests = requests
