"""The destination policy and redirects: where outbound requests may go, and
what they carry when redirected."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter.destinations import DestinationPolicy
from interpreter.http import AiohttpClient, HttpError, HttpRequest

STRICT = DestinationPolicy()
DEV = DestinationPolicy(allow_loopback=True)


@pytest.mark.parametrize(("address", "refused"), [
    ("93.184.216.34", False), ("2606:4700::1111", False),
    ("127.0.0.1", True), ("::1", True), ("10.1.2.3", True), ("192.168.0.9", True),
    ("172.20.0.1", True), ("100.64.0.1", True), ("fd00::1", True),
    ("169.254.169.254", True), ("fe80::1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::ffff:127.0.0.1", True),
])
def test_only_public_unicast_addresses_by_default(address: str, refused: bool) -> None:
    assert (STRICT.why_refused(address) is not None) is refused


def test_the_switches_allow_loopback_and_private_but_never_link_local() -> None:
    both = DestinationPolicy(allow_loopback=True, allow_private=True)
    assert both.why_refused("127.0.0.1") is None and both.why_refused("10.0.0.1") is None
    assert "metadata" in str(both.why_refused("169.254.169.254"))
    assert DestinationPolicy.from_env({"CALLKERNEL_ALLOW_LOOPBACK": "1"}) == DEV


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost:9/x",
                                 "http://[::1]:9/x", "http://169.254.169.254/latest"])
async def test_a_refused_destination_is_a_classified_error_before_connecting(url: str) -> None:
    client = AiohttpClient(policy=STRICT)
    try:
        with pytest.raises(HttpError) as caught:
            await client.send(HttpRequest("GET", url, timeout=5))
    finally:
        await client.close()
    assert caught.value.kind == "refused" and "refused" in str(caught.value)


async def _servers() -> tuple[TestServer, TestServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    async def target(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"ok": True})

    other = web.Application()
    other.router.add_get("/data", target)
    other_server = TestServer(other, host="127.0.0.1")
    await other_server.start_server()

    async def moved(request: web.Request) -> web.Response:
        where = request.query.get("to", "same")
        if where == "same":
            raise web.HTTPFound("/data")
        if where == "metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data")
        # Another origin: the same loopback address under another name and port.
        raise web.HTTPFound(f"http://localhost:{other_server.port}/data")

    first = web.Application()
    first.router.add_get("/start", moved)
    first.router.add_get("/data", target)
    first_server = TestServer(first, host="127.0.0.1")
    await first_server.start_server()
    return first_server, other_server, seen


async def test_a_redirect_to_another_origin_carries_no_credentials_or_custom_headers() -> None:
    first, other, seen = await _servers()
    client = AiohttpClient(policy=DEV)
    headers = {"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "s3cret", "Accept": "*/*"}
    try:
        same = await client.send(HttpRequest("GET", str(first.make_url("/start")), headers,
                                             follow_redirects=True))
        moved = await client.send(HttpRequest("GET", str(first.make_url("/start?to=other")),
                                              headers, follow_redirects=True))
        with pytest.raises(HttpError) as refused:
            await client.send(HttpRequest("GET", str(first.make_url("/start?to=metadata")),
                                          headers, follow_redirects=True))
        kept = await client.send(HttpRequest("GET", str(first.make_url("/start")), headers))
    finally:
        await client.close()
        await first.close()
        await other.close()
    assert same.ok and moved.ok
    assert seen[0]["X-Api-Key"] == "s3cret" and seen[0]["Authorization"]
    assert "X-Api-Key" not in seen[1] and "Authorization" not in seen[1]
    assert seen[1]["Accept"] == "*/*"
    assert refused.value.kind == "refused"  # every hop is checked
    assert kept.status == 302  # not followed when the request does not ask
