"""What the REST tests share: publishing a flow, starting a call, waiting
for its end, and checking a problem document, as a client does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

PROBLEM = "application/problem+json"
# Would hold its call for a minute: the tests that start it hang it up.
SLEEPER = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - sleep: 60000
    - hangup: {}
"""
SILENT_CALLER = "linger: 600\n"  # says nothing, and stays on the line

POLL_DEADLINE = 15.0  # seconds of wall time a short call is given to end


async def publish(client: Any, auth: dict[str, str], name: str, source: bytes) -> int:
    uploaded = await client.post(f"/v1/flows/{name}", data=source,
                                 headers={**auth, "Content-Type": "application/yaml"})
    assert uploaded.status == 201, await uploaded.text()
    version: int = (await uploaded.json())["version"]
    published = await client.post(f"/v1/flows/{name}/publish", json={"version": version},
                                  headers=auth)
    assert published.status == 200, await published.text()
    return version


async def start(client: Any, auth: dict[str, str], flow: str, caller: str,
                **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/calls", json={"flow": flow, "caller": caller, **fields},
                                 headers=auth)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"/v1/calls/{body['call_id']}"
    return body


async def ended(client: Any, auth: dict[str, str], call_id: str) -> dict[str, Any]:
    """The call once it has ended, polled as a client would."""
    deadline = asyncio.get_running_loop().time() + POLL_DEADLINE
    while True:
        response = await client.get(f"/v1/calls/{call_id}", headers=auth)
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        if body["state"] == "ended":
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still live: {body}"
        await asyncio.sleep(0.05)


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == PROBLEM
    body: dict[str, Any] = json.loads(text)
    assert body["code"] == code and body["status"] == status
    return body


async def start_id(client: Any, auth: dict[str, str], flow: str, caller: str,
                   **fields: Any) -> str:
    """`start`, for the call's id alone."""
    call_id: str = (await start(client, auth, flow, caller, **fields))["call_id"]
    return call_id
