"""data_map functions run in-process against a loopback server standing in
for the real APIs: expressions, webhooks in order, foreach, fallbacks."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.document.compile import compile_text
from interpreter.errors import ErrorType
from interpreter.expressions import parse_swml_template
from interpreter.http import AiohttpClient, HttpClient
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.data_map import run_data_map
from interpreter.runtime.tools.replies import PlayBackground, SetGlobalData, Swml

Server = Callable[[web.Application], Awaitable[TestServer]]
FIXTURE = Path(__file__).resolve().parents[2] / "data" / "sdk" / "data_map_tools.swml.json"
CONTEXT = ToolContext("call-9", "session-9", global_data={"tier": "gold"},
                      caller_id_num="+15550001111")
SWML_SALES = {"version": "1.0.0", "sections": {"main": [
    {"set": {"ai_response": "The transfer is complete. How else can I help you?"}},
    {"transfer": {"dest": "https://swml.example.com/sales"}}]}}


class FakeApis:
    """The weather, backup and news APIs; records what each request carried."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, Any]] = []  # method, path, query, json
        self.headers: list[dict[str, str]] = []
        self.raw_paths: list[str] = []
        self.replies: dict[str, Any] = {}  # path -> reply (a web.Response or JSON)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append((request.method, request.path, request.rel_url.raw_query_string,
                              json.loads(raw) if raw else None))
        self.headers.append(dict(request.headers))
        self.raw_paths.append(request.raw_path)
        reply = self.replies.get(request.path, {"missing": request.path})
        if reply == "hang":
            await asyncio.Event().wait()
        if isinstance(reply, web.StreamResponse):
            return reply
        return web.json_response(reply)

    @property
    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.requests]


@pytest.fixture
async def apis(aiohttp_server: Server) -> AsyncIterator[tuple[FakeApis, str]]:
    fake = FakeApis()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = await aiohttp_server(app)
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with aiohttp.ClientSession() as session:
        yield AiohttpClient(session)


def _fixture_functions(base: str) -> dict[str, ir.Function]:
    """The SDK fixture with every API host pointed at the loopback server."""
    text = FIXTURE.read_text()
    for host in ("https://api.example.com", "https://backup.example.com",
                 "https://news.example.com", "https://api.weatherapi.com"):
        text = text.replace(host, base)
    return _ai_functions(compile_text(text, "data_map_tools.swml.json"))


def _ai_functions(flow: ir.CompiledFlow) -> dict[str, ir.Function]:
    ai = next(verb for verb in flow.main.body if isinstance(verb, ir.Ai))
    return {function.name: function for function in ai.functions}


def _function(data_map_yaml: str, base: str = "http://127.0.0.1:9") -> ir.Function:
    """One function `f` (string arguments a, b) with the given data_map."""
    body = "\n".join("                " + line for line in data_map_yaml.strip().splitlines())
    source = f"""\
sections:
  main:
    - ai:
        prompt: {{text: hi}}
        SWAIG:
          functions:
            - function: f
              description: test
              timeout: 2
              parameters: {{type: object, properties: {{a: {{type: string}},
                                                        b: {{type: string}}}}}}
              data_map:
{body}
"""
    return _ai_functions(compile_text(source.replace("BASE", base), "f.yaml"))["f"]


async def _run(function: ir.Function, arguments: dict[str, Any],
               http: HttpClient, **options: Any) -> ToolReply:
    return await run_data_map(function, arguments, CONTEXT, client=http, **options)


async def _fails(function: ir.Function, arguments: dict[str, Any],
                 http: HttpClient) -> ToolFault:
    with pytest.raises(ToolFault) as caught:
        await _run(function, arguments, http)
    return caught.value


# ------------------------------------------------------------------ the SDK fixture

async def test_weather_url_is_encoded_only_where_the_template_says(
        apis: tuple[FakeApis, str], http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/weather"] = {"temp": 21}
    function = _fixture_functions(base)["get_weather"]
    reply = await _run(function, {"city": "São Paulo & Co"}, http)
    assert reply.response == "It is 21 degrees in São Paulo & Co.", "${response.temp} alias"
    method, path, query, _ = fake.requests[0]
    assert (method, path) == ("GET", "/weather")
    assert query == "q=S%C3%A3o%20Paulo%20%26%20Co"


async def test_error_key_falls_through_to_the_next_webhook(
        apis: tuple[FakeApis, str], http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/weather"] = {"error": "quota exceeded", "temp": 0}
    fake.replies["/wx/new york"] = {"current": {"temp_c": 19}}
    reply = await _run(_fixture_functions(base)["get_weather"], {"city": "New York"}, http)
    assert reply.response == "Backup says 19 C."
    assert fake.paths == ["/weather", "/wx/new york"]
    assert fake.raw_paths[1] == "/wx/new%20york", "lc:enc:url"


async def test_data_map_error_keys_fail_every_webhook_then_the_fallback_output(
        apis: tuple[FakeApis, str], http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/weather"] = {"temp": 5, "fault": "stale"}
    fake.replies["/wx/oslo"] = {"current": {"temp_c": 1}, "fault": True}
    reply = await _run(_fixture_functions(base)["get_weather"], {"city": "Oslo"}, http)
    assert dataclasses.replace(reply, requests=()) == ToolReply(
        "The weather service is unavailable.",
        raw={"response": "The weather service is unavailable."})
    assert len(fake.requests) == 2
    # Both failed requests are there for the trace, without their query.
    assert [(r["status"], "error" in r) for r in reply.requests] == [(None, True), (None, True)]
    assert all("?" not in str(r["url"]) for r in reply.requests)


async def test_expressions_with_nomatch_output(http: HttpClient) -> None:
    function = _fixture_functions("http://127.0.0.1:9")["playback_control"]
    started = await _run(function, {"command": "start jazz"}, http)
    assert started.response == "Music started."
    assert started.raw["action"] == [{"playback_bg": "https://cdn.example.com/hold.mp3"},
                                     {"set_global_data": {"music": "on"}}]
    assert started.actions == (
        PlayBackground("https://cdn.example.com/hold.mp3", False, name="playback_bg",
                       value="https://cdn.example.com/hold.mp3"),
        SetGlobalData({"music": "on"}, name="set_global_data", value={"music": "on"}))
    # The first expression has a nomatch-output, so a non-matching command
    # ends there: "stop" never reaches the second expression.
    assert (await _run(function, {"command": "stop"}, http)).response == "Unknown command."
    assert (await _run(function, {"command": "pause"}, http)).response == "Unknown command."


@pytest.mark.parametrize(("said", "response", "transfer"), [
    ("Sales please", "Transferring you to sales.", "true"),
    ("SUPPORT", "Connecting support.", "false"),
    ("billing", "Please specify a valid transfer type.", None),
    ("", "Please specify a valid transfer type.", None),
])
async def test_sdk_regex_literals_ignore_case(said: str, response: str, transfer: str | None,
                                              http: HttpClient) -> None:
    function = _fixture_functions("http://127.0.0.1:9")["transfer_department"]
    reply = await _run(function, {"transfer_type": said}, http)
    assert reply.response == response
    if transfer is None:
        assert reply.actions == () and reply.post_process is False
    else:
        (action,) = reply.actions
        assert reply.post_process is True and isinstance(action, Swml)
        assert action.transfer is (transfer == "true")
    if said.startswith("Sales"):
        assert reply.raw == {"response": response,
                             "action": [{"SWML": SWML_SALES, "transfer": "true"}],
                             "post_process": True}


async def test_foreach_params_and_args_as_params(apis: tuple[FakeApis, str],
                                                 http: HttpClient) -> None:
    fake, base = apis
    titles = [{"title": t} for t in ("Launch", "Landing", "Orbit", "Dust")]
    fake.replies["/search"] = {"count": 4, "articles": titles}
    reply = await _run(_fixture_functions(base)["search_news"], {"topic": "space"}, http)
    assert reply.response == "Headlines: Launch. Landing. Orbit. ", "max 3"
    method, path, _, body = fake.requests[0]
    assert (method, path, body) == ("POST", "/search", {"topic": "space", "lang": "en"})


async def test_webhook_expressions_read_the_reply(apis: tuple[FakeApis, str],
                                                  http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/search"] = {"count": 0, "articles": []}
    reply = await _run(_fixture_functions(base)["search_news"], {"topic": "moss"}, http)
    assert reply.response == "No news about moss."


async def test_weather_skill_against_a_stand_in_api(apis: tuple[FakeApis, str],
                                                    http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/v1/current.json"] = {"current": {
        "condition": {"text": "Sunny"}, "temp_c": 22, "wind_dir": "NW", "wind_mph": 5.5,
        "cloud": 10, "feelslike_c": 21}}
    reply = await _run(_fixture_functions(base)["weather_skill"], {"location": "New York"}, http)
    assert reply.response is not None
    assert reply.response.endswith(
        "Current conditions: Sunny. Temperature: 22 degrees Celsius. Wind: NW at 5.5 miles "
        "per hour. Cloud coverage: 10 percent. Feels like: 21 degrees Celsius.")
    assert fake.requests[0][2] == "key=demo-key&q=new%20york&aqi=no"


async def test_weather_skill_falls_back_when_the_api_is_down(apis: tuple[FakeApis, str],
                                                             http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/v1/current.json"] = web.Response(status=503)
    reply = await _run(_fixture_functions(base)["weather_skill"], {"location": "x"}, http)
    assert reply.response is not None and reply.response.startswith("Sorry, I cannot get")


# ------------------------------------------------------------------ semantics

async def test_require_args_skips_a_webhook(apis: tuple[FakeApis, str],
                                            http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/second"] = {"v": "two"}
    function = _function("""
webhooks:
  - {url: "BASE/first?b=${args.b}", method: GET, require_args: [b], output: {response: one}}
  - {url: "BASE/second", method: GET, output: {response: "${v}"}}
""", base)
    assert (await _run(function, {"a": "x"}, http)).response == "two"
    assert fake.paths == ["/second"]
    fake.replies["/first"] = {}
    assert (await _run(function, {"a": "x", "b": "y"}, http)).response == "one"


async def test_failed_webhooks_try_the_next(apis: tuple[FakeApis, str],
                                            http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/500"] = web.Response(status=500)
    fake.replies["/html"] = web.Response(text="<html>", content_type="text/html")
    fake.replies["/ok"] = [{"name": "first"}, {"name": "second"}]
    function = _function("""
webhooks:
  - {url: "BASE/500", method: GET, output: {response: no}}
  - {url: "BASE/html", method: GET, output: {response: no}}
  - {url: "http://127.0.0.1:9/refused", method: GET, output: {response: no}}
  - {url: "BASE/ok", method: GET, output: {response: "${array[1].name} ${response[0].name}"}}
""", base)
    assert (await _run(function, {}, http)).response == "second first"
    assert fake.paths == ["/500", "/html", "/ok"]


@pytest.mark.parametrize(("reply", "expected_type", "status"), [
    (web.Response(status=502), ErrorType.TOOL_ERROR, 502),
    ("hang", ErrorType.TOOL_TIMEOUT, None),
    ({"error": "nope"}, ErrorType.TOOL_ERROR, None),
])
async def test_no_output_at_all_is_a_fault_of_the_last_failure(
        reply: Any, expected_type: ErrorType, status: int | None,
        apis: tuple[FakeApis, str], http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/x"] = reply
    function = _function("""
webhooks:
  - {url: "BASE/x", method: GET, error_keys: error, output: {response: no}}
""", base)
    function = dataclasses.replace(function, timeout=0.2)
    fault = await _fails(function, {}, http)
    assert fault.error_type is expected_type and fault.status == status
    assert "no fallback output" in fault.detail


async def test_nothing_matching_and_no_output_is_no_output(
        http: HttpClient) -> None:
    function = _function("""
expressions:
  - {string: "${args.a}", pattern: "^yes$", output: {response: ok}}
""")
    fault = await _fails(function, {"a": "no"}, http)
    assert (fault.error_type, fault.detail) == (ErrorType.TOOL_ERROR, "no output")


async def test_a_successful_webhook_without_output_uses_the_top_level_output(
        apis: tuple[FakeApis, str], http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/x"] = {"n": 3}
    function = _function("""
webhooks:
  - url: "BASE/x"
    method: GET
    expressions: [{string: "${n}", pattern: "^0$", output: {response: none}}]
  - {url: "BASE/never", method: GET, output: {response: no}}
output: {response: "fallback saw ${n}"}
""", base)
    assert (await _run(function, {}, http)).response == "fallback saw 3"
    assert fake.paths == ["/x"]


async def test_template_roots(apis: tuple[FakeApis, str], http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/r"] = {"args": "shadowed", "response": "own"}
    function = _function("""
webhooks:
  - url: "BASE/r?who=${caller_id_num}"
    method: GET
    output:
      response:
        tool_result: >-
          ${a}|${input.args.a}|${args}|${response}|${global_data.tier}|${meta_data.k}|${call_id}|${ai_session_id}|${function}|${app_name}
        tool_prompt: "Say it @{strftime_tz UTC %H:%M}"
""", base)
    function = dataclasses.replace(function, meta_data={"k": "v"})
    reply = await _run(function, {"a": "A"}, http, now=datetime(2025, 1, 2, 3, 4, tzinfo=UTC))
    assert reply.response == "A|A|shadowed|own|gold|v|call-9|session-9|f|swml app"
    assert reply.tool_prompt == "Say it 03:04"
    assert reply.raw == {"response": {"tool_result": reply.response,
                                      "tool_prompt": "Say it 03:04"}}
    assert fake.requests[0][2] == "who=+15550001111", "no automatic encoding"


async def test_params_body_auth_and_headers(apis: tuple[FakeApis, str],
                                            http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/p"] = {}
    function = _function("""
webhooks:
  - url: "http://u%40x:pw@BASE_HOST/p"
    method: PUT
    headers: {X-Key: "k-${args.a}"}
    params: {q: "${args.a}", n: 2, nested: ["${args.b}"]}
    input_args_as_params: true
    output: {response: done}
""".replace("BASE_HOST", base.removeprefix("http://")), base)
    reply = await _run(function, {"a": "1", "b": "2", "q": "model"}, http)
    assert reply.response == "done"
    method, _, _, body = fake.requests[0]
    assert method == "PUT"
    assert body == {"a": "1", "b": "2", "q": "1", "n": 2, "nested": ["2"]}, "params win"
    headers = fake.headers[0]
    assert headers["X-Key"] == "k-1" and headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"u@x:pw").decode()


async def test_get_without_params_sends_no_body(apis: tuple[FakeApis, str],
                                                http: HttpClient) -> None:
    fake, base = apis
    fake.replies["/g"] = {}
    function = _function("""
webhooks:
  - {url: "BASE/g", method: GET, output: {response: "ok"}}
  - {url: "BASE/g", method: GET, input_args_as_params: true, output: {response: "ok"}}
""", base)
    await _run(function, {"a": "1"}, http)
    assert function.data_map is not None
    function = dataclasses.replace(function, data_map=dataclasses.replace(
        function.data_map, webhooks=function.data_map.webhooks[1:]))
    await _run(function, {"a": "1"}, http)
    assert [body for _, _, _, body in fake.requests] == [None, {"a": "1"}]
    assert "Content-Type" not in fake.headers[0]


async def test_actions_render_swaig_and_keep_swml_text(http: HttpClient) -> None:
    function = _function("""
expressions:
  - string: "${args.a}"
    pattern: ".*"
    output:
      response: ok
      post_process: true
      action:
        - say: "Hello ${args.a}"
        - set_global_data: {seen: ["${args.a}", 1, true, null]}
""")
    data_map = function.data_map
    assert data_map is not None
    expression = data_map.expressions[0]
    swml = ir.SwmlText("%{call.from}", parse_swml_template("%{call.from}"))
    output = dataclasses.replace(expression.output, actions=(
        *expression.output.actions, {"SWML": {"sections": {"main": ({"play": swml},)}}}))
    function = dataclasses.replace(function, data_map=dataclasses.replace(
        data_map, expressions=(dataclasses.replace(expression, output=output),)))
    reply = await _run(function, {"a": "Ada"}, http)
    assert reply.post_process is True
    assert reply.raw is not None and reply.raw["action"] == [  # type: ignore[index]
        {"say": "Hello Ada"}, {"set_global_data": {"seen": ["Ada", 1, True, None]}},
        {"SWML": {"sections": {"main": [{"play": "%{call.from}"}]}}}]
    assert [type(a).__name__ for a in reply.actions] == ["Say", "SetGlobalData", "Swml"]


async def test_a_template_that_cannot_render_is_a_tool_error(
        http: HttpClient) -> None:
    function = _function("""
expressions:
  - {string: "@{strftime_tz Not/AZone %H}", pattern: ".*", output: {response: ok}}
""")
    fault = await _fails(function, {}, http)
    assert fault.error_type is ErrorType.TOOL_ERROR and "could not be rendered" in fault.detail


async def test_empty_string_matches_a_catch_all_only(http: HttpClient) -> None:
    function = _function("""
expressions:
  - {string: "${args.a}", pattern: "^start", output: {response: started}}
  - {string: "${args.a}", pattern: ".*", output: {response: "anything"}}
""")
    assert (await _run(function, {}, http)).response == "anything"
    assert (await _run(function, {"a": "start"}, http)).response == "started"


async def test_a_pattern_stopped_at_the_time_bound_is_a_tool_error(http: HttpClient) -> None:
    # Python's `re` took about 20 s on this search; neither output is chosen.
    function = _function("""
expressions:
  - string: "${args.a}"
    pattern: "^(\\\\d|\\\\d\\\\d)+$"
    output: {response: digits}
    nomatch-output: {response: not digits}
""")
    started = time.perf_counter()
    fault = await _fails(function, {"a": "1" * 40 + "!"}, http)
    assert time.perf_counter() - started < 1.0
    assert fault.error_type is ErrorType.TOOL_ERROR
    assert fault.detail.startswith('data_map expression: pattern "^(\\d|\\d\\d)+$" took over')
    assert (await _run(function, {"a": "1234"}, http)).response == "digits"
