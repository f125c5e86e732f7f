"""The HTTP client port: the handler-driven double and the real client's limits."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.destinations import DestinationPolicy
from interpreter.errors import ErrorType
from interpreter.host import CallHost, FlowUnavailable
from interpreter.http import AiohttpClient, HandlerClient, HttpError, HttpRequest, HttpResponse
from interpreter.runtime.tools.base import ToolContext, ToolFault
from interpreter.runtime.tools.webhook import call_webhook
from interpreter.signing import RequestSigner, verify

FUNCTION = ir.Function("lookup", "Look up.", {}, webhook=ir.Webhook("https://app.example/swaig"))


def test_a_webhook_answered_by_a_handler() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        assert request.method == "POST" and request.url == "https://app.example/swaig"
        body = json.loads(request.body or b"")
        return HttpResponse(200, {}, json.dumps({"response": f"Found {body['function']}."})
                            .encode())

    client = HandlerClient(handler)
    reply = asyncio.run(call_webhook(FUNCTION, "{}", {}, ToolContext("c", "s"), client=client))
    assert reply.response == "Found lookup."
    assert client.requests[0].headers["X-Callkernel-Request-Id"]


@pytest.mark.parametrize(("failure", "error_type", "words"), [
    (HttpError("timeout", "no reply"), ErrorType.TOOL_TIMEOUT, "did not reply within"),
    (HttpError("connect", "connection failed"), ErrorType.TOOL_ERROR, "connection failed"),
])
def test_transport_failures_are_classified(failure: HttpError, error_type: ErrorType,
                                           words: str) -> None:
    def handler(_: HttpRequest) -> HttpResponse:
        raise failure

    with pytest.raises(ToolFault) as caught:
        asyncio.run(call_webhook(FUNCTION, "{}", {}, ToolContext("c", "s"),
                                 client=HandlerClient(handler)))
    assert caught.value.error_type is error_type and words in caught.value.detail


def test_a_reply_over_the_limit_is_refused_by_the_double_too() -> None:
    client = HandlerClient(lambda _: HttpResponse(200, {}, b"x" * 20))
    with pytest.raises(HttpError) as caught:
        asyncio.run(client.send(HttpRequest("GET", "https://x.example/", max_bytes=10)))
    assert caught.value.kind == "too_large"


async def test_the_real_client_truncates_or_refuses_long_bodies_and_times_out() -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"y" * 5000)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    async with TestServer(app, host="127.0.0.1") as server:
        client = AiohttpClient()
        try:
            url = str(server.make_url("/big"))
            cut = await client.send(HttpRequest("GET", url, max_bytes=100, truncate=True))
            assert cut.body == b"y" * 100
            with pytest.raises(HttpError) as refused:
                await client.send(HttpRequest("GET", url, max_bytes=100))
            assert refused.value.kind == "too_large"
            with pytest.raises(HttpError) as late:
                await client.send(HttpRequest("GET", str(server.make_url("/slow")),
                                              timeout=0.2))
            assert late.value.kind == "timeout"
        finally:
            await client.close()


# -- signed requests (interpreter/signing.py) --------------------------------

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOOPBACK = DestinationPolicy(allow_loopback=True)


def _receiver(seen: list[tuple[str, dict[str, str], bytes]]) -> web.Application:
    """Records each request (path, headers, raw body); /hop redirects to /hook."""

    async def hook(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers), await request.read()))
        return web.json_response({"response": "Order A123 shipped."})

    async def hop(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers), await request.read()))
        raise _redirect(int(request.query.get("status", "307")),
                        request.query.get("to", "/hook"))

    app = web.Application()
    app.router.add_route("*", "/hook", hook)
    app.router.add_route("*", "/hop", hop)
    return app


def _redirect(status: int, location: str) -> web.HTTPException:
    return {307: web.HTTPTemporaryRedirect, 303: web.HTTPSeeOther}[status](location)


async def test_a_webhook_sent_with_a_signer_arrives_with_a_valid_signature() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    async with TestServer(_receiver(seen), host="127.0.0.1") as server:
        client = AiohttpClient(policy=LOOPBACK,
                               signer=RequestSigner.from_secrets([SIGNING_SECRET]))
        function = ir.Function("lookup", "Look up.", {},
                               webhook=ir.Webhook(str(server.make_url("/hook"))))
        try:
            reply = await call_webhook(function, '{"order_id":"A123"}', {"order_id": "A123"},
                                       ToolContext("call-1", "s"), client=client)
        finally:
            await client.close()
    assert reply.response == "Order A123 shipped."
    ((_, headers, body),) = seen
    assert json.loads(body)["function"] == "lookup"  # the exact bytes sent were signed
    assert verify(SIGNING_SECRET, headers, body) == headers["webhook-id"]


async def test_without_a_signer_nothing_is_signed() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    async with TestServer(_receiver(seen), host="127.0.0.1") as server:
        client = AiohttpClient(policy=LOOPBACK)
        try:
            await client.send(HttpRequest.json("POST", str(server.make_url("/hook")), {}))
        finally:
            await client.close()
    assert not {"webhook-id", "webhook-signature"} & {k.lower() for k in seen[0][1]}


@pytest.mark.parametrize(("status", "method", "body"), [
    (307, "POST", b'{"a":1}'),  # the same body again, signed anew
    (303, "GET", b""),  # a GET without the body: its signature covers none
])
async def test_each_redirect_hop_to_the_same_origin_is_signed_for_what_it_sends(
        status: int, method: str, body: bytes) -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    async with TestServer(_receiver(seen), host="127.0.0.1") as server:
        client = AiohttpClient(policy=LOOPBACK,
                               signer=RequestSigner.from_secrets([SIGNING_SECRET]))
        try:
            response = await client.send(HttpRequest.json(
                "POST", str(server.make_url(f"/hop?status={status}")), {"a": 1},
                follow_redirects=True))
        finally:
            await client.close()
    assert response.ok
    (_, first, first_body), (_, second, second_body) = seen
    assert second_body == body
    assert verify(SIGNING_SECRET, first, first_body) == verify(SIGNING_SECRET, second, body)


async def test_a_hop_to_another_origin_goes_unsigned() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    async with TestServer(_receiver(seen), host="127.0.0.1") as other, \
            TestServer(_receiver(seen), host="127.0.0.1") as server:
        client = AiohttpClient(policy=LOOPBACK,
                               signer=RequestSigner.from_secrets([SIGNING_SECRET]))
        target = str(other.make_url("/hook"))
        try:
            await client.send(HttpRequest.json(
                "POST", str(server.make_url("/hop")).split("?")[0] + f"?to={target}",
                {"a": 1}, follow_redirects=True))
        finally:
            await client.close()
    (_, first, _), (_, second, _) = seen
    assert "webhook-signature" in {k.lower() for k in first}
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & \
        {k.lower() for k in second}


async def test_a_request_with_an_unusable_webhook_id_is_not_sent() -> None:
    client = AiohttpClient(policy=LOOPBACK, signer=RequestSigner.from_secrets([SIGNING_SECRET]))
    with pytest.raises(HttpError) as caught:
        await client.send(HttpRequest("GET", "http://127.0.0.1:9/",
                                      headers={"webhook-id": "a.b"}))
    assert caught.value.kind == "invalid" and "webhook-id" in str(caught.value)


async def test_a_host_with_a_signer_signs_what_its_client_sends() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    signer = RequestSigner.from_secrets([SIGNING_SECRET])
    async with TestServer(_receiver(seen), host="127.0.0.1") as server, \
            CallHost(destinations=LOOPBACK, signer=signer) as host:
        await host.fetch_document(str(server.make_url("/hook")), {"call_id": "c1"})
    ((_, headers, body),) = seen
    assert json.loads(body)["call"] == {"call_id": "c1"}
    assert verify(SIGNING_SECRET, headers, body)


async def test_a_host_under_a_strict_policy_refuses_loopback() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    async with TestServer(_receiver(seen), host="127.0.0.1") as server, \
            CallHost(destinations=DestinationPolicy()) as host:
        with pytest.raises(FlowUnavailable, match="refused"):
            await host.fetch_document(str(server.make_url("/hook")), {})
    assert seen == []
