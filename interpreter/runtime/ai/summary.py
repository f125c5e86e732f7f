"""The post-call summary: when the session ends, the post_prompt request and
the `post_prompt_url` payload SignalWire documents are handed over as a
`Delivery`; the host's outbox generates and delivers it after the call
(runtime/outbox.py), never the call's actor."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import SUMMARY_OPENING, ChatMessage, LlmRequest
from interpreter.runtime.ai import templates
from interpreter.runtime.ai.conversation import call_log
from interpreter.runtime.outbox import Delivery
from interpreter.runtime.tools.webhook import basic_auth

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession


def request(session: AiSession) -> LlmRequest | None:
    """The post_prompt with the conversation as it was heard."""
    verb = session.verb
    if verb.post_prompt is None:
        return None
    transcript = "\n".join(f"{m.role}: {m.content}" for m in session.conversation.messages
                           if m.role in ("user", "assistant") and m.content)
    instructions = templates.render(verb.post_prompt.text, session)
    return LlmRequest((ChatMessage("system", instructions),
                       ChatMessage("user", f"{SUMMARY_OPENING}{transcript}")),
                      max_tokens=verb.post_prompt.settings.max_tokens,
                      # The post_prompt's own model, else the conversation's.
                      model=verb.post_prompt.settings.model or verb.prompt.settings.model)


def payload(session: AiSession) -> dict[str, JSONValue]:
    """The `post_prompt_url` body; the outbox adds post_prompt_data once the summary exists."""
    call = session.call
    now_us = int(time.time() * 1_000_000)
    return {
        "content_type": "text/json", "content_disposition": "agent.summary",
        "conversation_type": "voice", "call_id": call.call_id,
        "app_name": session.verb.params.app_name, "ai_session_id": session.session_id,
        "action": "post_conversation",
        "call_log": call_log(session.conversation.messages),
        "global_data": dict(session.global_data),
        "swaig_log": list[JSONValue](session.conversation.swaig_log),
        "caller_id_number": str(call.call_info.get("from", "")),
        "call_end_date": now_us, "ai_end_date": now_us,
        "call_ended_by": session.next.why or "",
        "times": list[JSONValue](session.conversation.turns),
        "total_input_tokens": session.conversation.input_tokens,
        "total_output_tokens": session.conversation.output_tokens,
        "SWMLVars": dict(call.vars),
    }


def hand_over(session: AiSession) -> None:
    """Queue the summary on the call; it leaves when the call ends."""
    summary = request(session)
    hook = session.verb.post_prompt_url
    if summary is None and hook is None:
        return
    headers = {"Authorization": basic_auth(hook.user, hook.password)} \
        if hook is not None and hook.user else {}
    delivery = Delivery(session.call.call_id, "post_prompt", str(uuid.uuid4()),
                        hook.url if hook is not None else None, payload(session), headers,
                        summary, session.llm)
    session.call.post_call(delivery)
