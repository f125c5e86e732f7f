"""The post-call summary: generated with the post_prompt, delivered to
post_prompt_url with the reference §2.2 payload, retried with backoff."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import aiohttp

from interpreter.clock import real_io
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import ChatMessage, LlmError, LlmRequest, TextDelta
from interpreter.runtime.ai import templates
from interpreter.runtime.tools.webhook import basic_auth

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

DELIVERY_ATTEMPTS = 4
DELIVERY_TIMEOUT = 10.0


async def summarize(session: AiSession) -> str | None:
    verb = session.verb
    if verb.post_prompt is None:
        return None
    transcript = "\n".join(f"{m.role}: {m.content}" for m in session.messages
                           if m.role in ("user", "assistant") and m.content)
    instructions = templates.render(verb.post_prompt.text, session)
    request = LlmRequest((ChatMessage("system", instructions),
                          ChatMessage("user", f"The conversation:\n{transcript}")),
                         max_tokens=verb.post_prompt.settings.max_tokens,
                         model=verb.post_prompt.settings.model)
    text = ""
    try:
        async for item in session.llm.stream(request):
            if isinstance(item, TextDelta):
                text += item.text
    except LlmError as error:
        session.call.trace.record("summary_failed", error=str(error))
        return None
    session.call.trace.record("summary", text=text)
    return text


def payload(session: AiSession, summary: str | None) -> dict[str, JSONValue]:
    call = session.call
    now_us = int(time.time() * 1_000_000)
    parsed: list[JSONValue] = []
    if summary:
        try:
            parsed = [json.loads(summary)]
        except ValueError:
            parsed = []
    return {
        "content_type": "text/json", "content_disposition": "agent.summary",
        "conversation_type": "voice", "call_id": call.call_id,
        "app_name": session.verb.params.app_name, "ai_session_id": session.session_id,
        "action": "post_conversation",
        "call_log": [{"role": m.role, "content": m.content} for m in session.messages],
        "global_data": session.global_data,
        "swaig_log": list[JSONValue](session.swaig_log),
        "caller_id_number": str(call.call_info.get("from", "")),
        "call_end_date": now_us, "ai_end_date": now_us,
        "call_ended_by": session.ended or "",
        "times": list[JSONValue](session.turns),
        "total_input_tokens": session.input_tokens,
        "total_output_tokens": session.output_tokens,
        "post_prompt_data": {"raw": summary or "", "parsed": parsed},
        "SWMLVars": call.vars,
    }


async def deliver(session: AiSession) -> None:
    """Summarise and POST; retried with backoff until delivered or given up."""
    hook = session.verb.post_prompt_url
    summary = await summarize(session)
    if hook is None:
        return
    body = payload(session, summary)
    headers = {"Authorization": basic_auth(hook.user, hook.password)} if hook.user else {}
    timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            with real_io():
                async with session.call.http().post(hook.url, json=body, headers=headers,
                                                    timeout=timeout) as response:
                    status = response.status
            if status < 300:
                session.call.trace.record("summary_delivered", url=hook.url, status=status,
                                          attempt=attempt)
                return
            problem = f"HTTP {status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = f"{type(error).__name__}: {error}"
        session.call.trace.record("summary_delivery_failed", url=hook.url, attempt=attempt,
                                  error=problem)
        if attempt < DELIVERY_ATTEMPTS:
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
    session.call.trace.record("summary_given_up", url=hook.url, attempts=DELIVERY_ATTEMPTS)

