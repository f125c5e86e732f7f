"""Regenerate the SDK-produced SWML fixtures in this directory.

Provenance record, not part of the test suite: tests only read the JSON files
this script wrote. It needs the real SignalWire Agents SDK, installed outside
the repository:

    python3 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install signalwire-agents==1.1.0
    /tmp/sdkvenv/bin/python tests/data/sdk/generate.py

Each agent below is built with the SDK's public API only, served by the SDK's
own FastAPI app under uvicorn on 127.0.0.1 (a fixed port per agent), and the
document is whatever the agent answers to a POST on its route, exactly as the
platform would fetch it. Basic-auth credentials are fixed (sdkuser/sdkpass);
the `__token` query values embed an HMAC with a per-process random key and an
expiry time, so they differ on every run.

For `function_results` the script also calls each tool through the agent's
`/swaig/` route and stores the replies (SwaigFunctionResult.to_dict() as served)
in `../swaig/sdk_function_results.replies.json`.

The agents after the first six live in `catalogue_agents.py`: they walk the
builder surface (POM, DataMap, every result action, gather_info, ai settings,
tool definitions, every bundled skill, the prefabs, BedrockAgent). Two skills
need local stand-ins, created here and removed afterwards: `claude_skills`
reads a SKILL.md from a temporary directory, and `mcp_gateway` checks and lists
a gateway at setup, answered by a stub on 127.0.0.1 (SWML_ALLOW_PRIVATE_URLS=1
lets the skill's SSRF guard accept a loopback URL). No request leaves the host.

    python tests/data/sdk/generate.py              # every agent
    python tests/data/sdk/generate.py pom_prompts  # only the named ones
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import catalogue_agents as catalogue
import uvicorn
from signalwire_agents import AgentBase
from signalwire_agents.core.data_map import DataMap
from signalwire_agents.core.function_result import SwaigFunctionResult

HERE = Path(__file__).resolve().parent
AUTH = ("sdkuser", "sdkpass")
CALL_ID = "11111111-2222-3333-4444-555555555555"
BASE_PORT = 38700
MCP_PORT = 38790


# --------------------------------------------------------------------------- agents


def contexts_steps(port: int) -> AgentBase:
    """One `default` context; every Step builder method; POM base prompt."""
    agent = AgentBase(name="Booking Agent", route="/booking", host="127.0.0.1", port=port,
                      basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Role", body="You book appointments for Bright Smile Dental.")
    agent.prompt_add_section("Rules", bullets=["Be brief.", "Never invent availability."])
    agent.set_post_prompt("Summarize the booking as JSON with keys date, time, name.")
    agent.add_language("English", "en-US", "rime.spore:mistv2",
                       speech_fillers=["Okay...", "Right..."],
                       function_fillers=["One moment while I check.", "Let me look."])

    def check_availability(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return SwaigFunctionResult(f"{args.get('date')}: 9:00, 11:30 and 15:00 are free.")

    def book_appointment(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return SwaigFunctionResult("Booked.").update_global_data({"booked": True})

    agent.define_tool(
        name="check_availability", description="List free slots on a date.",
        parameters={"date": {"type": "string", "description": "ISO date, e.g. 2025-04-02"}},
        required=["date"], handler=check_availability,
        fillers={"en-US": ["Checking the calendar."]})
    agent.define_tool(
        name="book_appointment", description="Book a slot for the caller.",
        parameters={"date": {"type": "string", "description": "ISO date"},
                    "time": {"type": "string", "description": "HH:MM, 24 h"},
                    "name": {"type": "string", "description": "Caller's full name"}},
        required=["date", "time", "name"], handler=book_appointment)

    ctx = agent.define_contexts().add_context("default")
    (ctx.add_step("greeting")
        .set_text("Greet the caller and ask what day they would like to come in.")
        .set_step_criteria("The caller has named a day.")
        .set_functions("none")
        .set_valid_steps(["next"]))
    (ctx.add_step("find_slot")
        .add_section("Task", "Find a free slot on the requested day.")
        .add_bullets("Process", ["Call check_availability with the date.",
                                 "Offer at most three slots."])
        .set_step_criteria("The caller picked one of the offered slots.")
        .set_functions(["check_availability"])
        .set_valid_steps(["confirm", "greeting"]))
    (ctx.add_step("confirm")
        .set_text("Read the slot back, ask for the caller's name, then book it.")
        .set_step_criteria("book_appointment succeeded.")
        .set_functions(["book_appointment"])
        .set_valid_steps(["wrap_up"]))
    (ctx.add_step("wrap_up")
        .set_text("Thank the caller and say goodbye.")
        .set_functions("none")
        .set_skip_user_turn(True)
        .set_end(True))
    agent.add_internal_filler("next_step", "en-US", ["Great, let's continue."])
    return agent


def multi_context(port: int) -> AgentBase:
    """Three contexts and no `default`; every Context builder method."""
    agent = AgentBase(name="Front Desk", route="/frontdesk", host="127.0.0.1", port=port,
                      basic_auth=AUTH, suppress_logs=True)
    agent.set_prompt_text("You are the Acme front desk. Route callers to sales or support.")
    agent.add_language("English", "en-US", "elevenlabs.rachel:eleven_turbo_v2_5")

    def lookup_account(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return SwaigFunctionResult("Account found: gold tier.")

    agent.define_tool(
        name="lookup_account", description="Look up a customer account by phone number.",
        parameters={"phone": {"type": "string", "description": "E.164 number"}},
        required=["phone"], handler=lookup_account)

    builder = agent.define_contexts()
    triage = builder.add_context("triage")
    (triage.set_prompt("Find out whether the caller wants to buy or needs help.")
        .set_valid_contexts(["sales", "support"]))
    (triage.add_step("ask")
        .set_text("Ask how you can help today.")
        .set_step_criteria("You know whether this is sales or support.")
        .set_functions("none")
        .set_valid_contexts(["sales", "support"]))

    sales = builder.add_context("sales")
    (sales.add_section("Persona", "You are Max, an upbeat sales rep.")
        .add_bullets("Offers", ["10% off annual plans", "Free onboarding"])
        .set_system_prompt("You are Max from Acme sales. Focus on plans and pricing.")
        .set_consolidate(True)
        .set_user_prompt("The caller wants to talk about buying.")
        .set_isolated(True)
        .set_post_prompt("Summarize the sales conversation.")
        .set_enter_fillers({"en-US": ["Let me get you to sales."], "default": ["Sales."]})
        .set_exit_fillers({"en-US": ["Leaving sales now."]})
        .set_valid_contexts(["support", "triage"])
        .set_valid_steps(["pitch", "close"]))
    (sales.add_step("pitch")
        .set_text("Learn the caller's needs and recommend a plan.")
        .set_step_criteria("The caller chose a plan or declined.")
        .set_valid_steps(["close"]))
    (sales.add_step("close")
        .set_text("Confirm the plan and explain next steps.")
        .set_skip_to_next_step(False)
        .set_end(True))

    support = builder.add_context("support")
    (support.add_system_section("Persona", "You are Sam, a patient support engineer.")
        .add_system_bullets("Rules", ["Verify the account first.", "One fix at a time."])
        .set_full_reset(True)
        .add_enter_filler("en-US", ["Connecting you with support."])
        .add_exit_filler("en-US", ["Thanks for your patience."]))
    (support.add_step("verify")
        .set_text("Ask for the phone number on the account and look it up.")
        .set_functions(["lookup_account"])
        .set_skip_to_next_step(True))
    (support.add_step("diagnose")
        .set_text("Diagnose the problem.")
        .set_step_criteria("The issue is resolved or needs escalation.")
        .set_valid_contexts(["sales"])
        .set_reset_system_prompt("You are Max from Acme sales; the caller came from support.")
        .set_reset_user_prompt("I'd like to hear about upgrades.")
        .set_reset_consolidate(True)
        .set_reset_full_reset(True))
    return agent


def gather_info(port: int) -> AgentBase:
    """Steps with gather_info questions; text prompt; prompt/post_prompt LLM params."""
    agent = AgentBase(name="Intake", route="/intake", host="127.0.0.1", port=port,
                      basic_auth=AUTH, suppress_logs=True)
    agent.set_prompt_text("You collect patient intake details politely and quickly.")
    agent.set_prompt_llm_params(model="gpt-4.1-mini", temperature=0.3, top_p=0.9,
                                barge_confidence=0.6, presence_penalty=0.1,
                                frequency_penalty=0.1)
    agent.set_post_prompt("Return the intake answers as JSON.")
    agent.set_post_prompt_llm_params(temperature=0.1)

    def verify_insurance(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return SwaigFunctionResult("Insurance is active.")

    agent.define_tool(
        name="verify_insurance", description="Check that an insurance member id is active.",
        parameters={"member_id": {"type": "string", "description": "Member id"}},
        required=["member_id"], handler=verify_insurance)

    ctx = agent.define_contexts().add_context("default")
    (ctx.add_step("intake")
        .set_text("Collect the caller's details.")
        .set_gather_info(output_key="intake", completion_action="next_step",
                         prompt="You are a friendly intake nurse.")
        .add_gather_question("full_name", "What is your full name?", confirm=True)
        .add_gather_question("age", "How old are you?", type="integer")
        .add_gather_question("member_id", "What is your insurance member id?",
                             prompt="Spell it back digit by digit.",
                             functions=["verify_insurance"]))
    (ctx.add_step("symptoms")
        .set_text("Ask about symptoms.")
        .set_gather_info(completion_action="summary")
        .add_gather_question("symptoms", "What symptoms are you having?")
        .add_gather_question("urgent", "Is this an emergency?", type="boolean"))
    (ctx.add_step("summary")
        .set_text("Summarize what you collected and say goodbye.")
        .set_functions("none")
        .set_end(True))
    return agent


def data_map_tools(port: int) -> AgentBase:
    """DataMap tools: webhook/output/error_keys, expressions, foreach, fallback, skill."""
    agent = AgentBase(name="Weather", route="/weather", host="127.0.0.1", port=port,
                      basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Role", body="You answer weather and news questions.")

    weather = (
        DataMap("get_weather")
        .description("Current weather for a city")
        .parameter("city", "string", "City name", required=True)
        .parameter("units", "string", "Units", enum=["metric", "imperial"])
        .webhook("GET", "https://api.example.com/weather?q=${enc:url:args.city}",
                 headers={"Accept": "application/json"})
        .output(SwaigFunctionResult("It is ${response.temp} degrees in ${args.city}."))
        .error_keys(["error"])
        .webhook("GET", "https://backup.example.com/wx/${lc:enc:url:args.city}",
                 require_args=["city"])
        .output(SwaigFunctionResult("Backup says ${current.temp_c} C."))
        .fallback_output(SwaigFunctionResult("The weather service is unavailable."))
        .global_error_keys(["error", "fault"])
    )
    agent.register_swaig_function(weather.to_swaig_function())

    control = (
        DataMap("playback_control")
        .description("Start or stop background music")
        .parameter("command", "string", "start or stop", required=True)
        .expression("${args.command}", r"^start",
                    SwaigFunctionResult("Music started.")
                    .play_background_file("https://cdn.example.com/hold.mp3")
                    .update_global_data({"music": "on"}),
                    nomatch_output=SwaigFunctionResult("Unknown command."))
        .expression("${args.command}", r"^stop",
                    SwaigFunctionResult("Music stopped.").stop_background_file())
    )
    agent.register_swaig_function(control.to_swaig_function())

    news = (
        DataMap("search_news")
        .description("Headlines about a topic")
        .parameter("topic", "string", "Topic", required=True)
        .webhook("POST", "https://news.example.com/search", input_args_as_params=True,
                 form_param="payload")
        .body({"q": "${args.topic}", "limit": 3})
        .params({"lang": "en"})
        .foreach({"input_key": "articles", "output_key": "headlines", "max": 3,
                  "append": "${this.title}. "})
        .webhook_expressions([{"string": "${response.count}", "pattern": "^0$",
                               "output": {"response": "No news about ${args.topic}."}}])
        .output(SwaigFunctionResult("Headlines: ${headlines}"))
    )
    agent.register_swaig_function(news.to_swaig_function())

    agent.add_skill("weather_api", {"api_key": "demo-key", "tool_name": "weather_skill",
                                    "temperature_unit": "celsius"})
    agent.add_skill("swml_transfer", {
        "tool_name": "transfer_department",
        "transfers": {
            "/sales/i": {"url": "https://swml.example.com/sales",
                         "message": "Transferring you to sales."},
            "/support/i": {"address": "+15550100200", "message": "Connecting support.",
                           "final": False, "return_message": "Back with you."},
        },
    })
    return agent


def platform_features(port: int) -> AgentBase:
    """Native functions, includes, hints, pronounce, global_data, params, fillers, verbs."""
    agent = AgentBase(name="Concierge", route="/concierge", host="127.0.0.1", port=port,
                      basic_auth=AUTH, suppress_logs=True, record_call=True,
                      record_format="wav", record_stereo=False,
                      native_functions=["check_time", "wait_seconds"])
    agent.prompt_add_section("Role", body="You are the hotel concierge.",
                             bullets=["Use check_time for the local time."])
    agent.prompt_add_subsection("Role", "Tone", body="Warm and concise.")
    agent.set_post_prompt("Summarize the guest's requests.")
    agent.add_language("English", "en-US", "rime.spore:mistv2",
                       speech_fillers=["Hmm...", "Let me see..."])
    agent.add_language("Spanish", "es-ES", "rachel", engine="elevenlabs",
                       model="eleven_multilingual_v2",
                       function_fillers=["Un momento, por favor."])
    agent.add_language("French", "fr-FR", "fr-FR-Neural2-A")
    agent.add_hints(["SignalWire", "SWAIG", "concierge"])
    agent.add_hint("Ritz")
    agent.add_pattern_hint("room", r"room\s+(\d+)", r"room $1", ignore_case=True)
    agent.add_pronunciation("API", "A P I")
    agent.add_pronunciation("SQL", "sequel", ignore_case=True)
    agent.set_global_data({"hotel": "Grand Plaza", "floors": 12})
    agent.update_global_data({"vip": False})
    agent.set_params({"end_of_speech_timeout": 800, "attention_timeout": 20000,
                      "inactivity_timeout": 600000, "local_tz": "America/New_York",
                      "ai_model": "gpt-4o-mini", "enable_barge": "complete,partial",
                      "hard_stop_time": "30m", "swaig_post_conversation": True})
    agent.set_param("wait_for_user", False)
    agent.set_native_functions(["check_time", "wait_seconds", "wait_for_user"])
    agent.add_function_include("https://tools.example.com/swaig", ["reserve_table", "spa_menu"],
                               meta_data={"tenant": "grand-plaza"})
    agent.set_internal_fillers({"check_time": {"en-US": ["Checking the clock."]},
                                "wait_seconds": {"default": ["Take your time."]}})
    agent.add_pre_answer_verb("play", {"url": "ring:1:us", "auto_answer": False})
    agent.add_post_answer_verb("play", {"url": "say:Welcome to the Grand Plaza."})
    agent.add_post_ai_verb("hangup", {})
    agent.enable_debug_events(level=1)

    def room_service(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return SwaigFunctionResult("Order placed.")

    agent.define_tool(
        name="room_service", description="Order room service.",
        parameters={"item": {"type": "string", "description": "Menu item"},
                    "room": {"type": "integer", "description": "Room number"}},
        required=["item", "room"], handler=room_service,
        wait_file="/static/hold.wav", wait_file_loops=2,
        meta_data={"kitchen": "main"}, meta_data_token="kitchen-token", skip_fillers=False)
    return agent


def function_results(port: int) -> AgentBase:
    """Tools answered by SwaigFunctionResult helpers (served and called back)."""
    agent = AgentBase(name="Helpdesk", route="/helpdesk", host="127.0.0.1", port=port,
                      basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Role", body="You are the helpdesk. Transfer when asked.")
    agent.add_language("English", "en-US", "rime.spore:mistv2")

    def transfer_to_human(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return (SwaigFunctionResult("Transferring you now.", post_process=True)
                .update_global_data({"brief": args.get("summary", "")})
                .connect("+15550100200", final=True, from_addr="+15550100100"))

    def escalate(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return (SwaigFunctionResult("Escalating.")
                .swml_transfer("https://swml.example.com/escalations",
                               "Back from escalations. Anything else?", final=False))

    def settings_tool(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return (SwaigFunctionResult("Adjusted.")
                .update_settings({"temperature": 0.2, "max-tokens": 120})
                .set_end_of_speech_timeout(900)
                .add_dynamic_hints(["gigabit", {"hint": "router", "pattern": "ruder",
                                                "replace": "router"}])
                .toggle_functions([{"function": "escalate", "active": False}])
                .switch_context(system_prompt="Be terse.", consolidate=True)
                .replace_in_history("Adjusted settings.")
                .say("Done.")
                .wait_for_user(timeout=10))

    def end_call(args: dict[str, Any], raw: dict[str, Any]) -> SwaigFunctionResult:
        return (SwaigFunctionResult("Goodbye.")
                .remove_global_data(["brief"])
                .swml_change_step("wrap_up")
                .hold(60)
                .stop()
                .hangup())

    agent.define_tool(
        name="transfer_to_human", description="Warm-transfer the caller to a human agent.",
        parameters={"summary": {"type": "string", "description": "One-line issue summary"}},
        required=["summary"], handler=transfer_to_human,
        fillers={"en-US": ["Let me get someone for you."]})
    agent.define_tool(name="escalate", description="Escalate to tier two.",
                      parameters={}, handler=escalate, secure=False)
    agent.define_tool(name="tune", description="Tune the conversation settings.",
                      parameters={}, handler=settings_tool)
    agent.define_tool(name="end_call", description="End the call.", parameters={},
                      handler=end_call)
    agent.define_tool(
        name="open_ticket", description="Open a ticket in the external ticketing system.",
        parameters={"title": {"type": "string", "description": "Ticket title"}},
        handler=end_call, webhook_url="https://hooks.example.com/tickets")
    return agent


# --------------------------------------------------------------------------- stand-ins

MCP_TOOLS = {"tools": [{
    "name": "lookup_contact", "description": "Find a CRM contact by email",
    "inputSchema": {"type": "object", "required": ["email"], "properties": {
        "email": {"type": "string", "description": "Email address"},
        "limit": {"type": "integer", "description": "Maximum matches", "default": 5},
        "status": {"type": "string", "description": "Contact status",
                   "enum": ["lead", "customer"]}}}}]}


class _McpStub(BaseHTTPRequestHandler):
    """The three GETs mcp_gateway makes at setup: /health, /services, its tools."""

    def do_GET(self) -> None:
        answers = {"/health": {"status": "ok"}, "/services": {"crm": {"tools": 1}},
                   "/services/crm/tools": MCP_TOOLS}
        body = json.dumps(answers.get(self.path, {})).encode()
        self.send_response(200 if self.path in answers else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _skill_stand_ins() -> Iterator[tuple[str, str]]:
    """A SKILL.md directory for claude_skills and a loopback MCP gateway stub."""
    server = ThreadingHTTPServer(("127.0.0.1", MCP_PORT), _McpStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    previous = os.environ.get("SWML_ALLOW_PRIVATE_URLS")
    os.environ["SWML_ALLOW_PRIVATE_URLS"] = "1"
    try:
        with tempfile.TemporaryDirectory() as skills:
            (Path(skills) / "greeter").mkdir()
            (Path(skills) / "greeter" / "SKILL.md").write_text(catalogue.CLAUDE_SKILL)
            yield skills, f"http://127.0.0.1:{MCP_PORT}"
    finally:
        if previous is None:
            os.environ.pop("SWML_ALLOW_PRIVATE_URLS", None)
        else:
            os.environ["SWML_ALLOW_PRIVATE_URLS"] = previous
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


STAND_INS = contextlib.ExitStack()


def skills_catalogue(port: int) -> AgentBase:
    skills_dir, mcp_url = STAND_INS.enter_context(_skill_stand_ins())
    return catalogue.skills_catalogue(port, skills_dir=skills_dir, mcp_url=mcp_url)


# Ports are BASE_PORT + position, so the order is part of the provenance record.
AGENTS: dict[str, Callable[[int], AgentBase]] = {
    "contexts_steps": contexts_steps,
    "multi_context": multi_context,
    "gather_info": gather_info,
    "data_map_tools": data_map_tools,
    "platform_features": platform_features,
    "function_results": function_results,
    "pom_prompts": catalogue.pom_prompts,
    "pom_raw": catalogue.pom_raw,
    "datamap_catalogue": catalogue.datamap_catalogue,
    "result_actions": catalogue.result_actions,
    "gather_forms": catalogue.gather_forms,
    "agent_settings": catalogue.agent_settings,
    "typed_tools": catalogue.typed_tools,
    "skills_catalogue": skills_catalogue,
    "prefab_info_gatherer": catalogue.prefab_info_gatherer,
    "prefab_faq_bot": catalogue.prefab_faq_bot,
    "prefab_concierge": catalogue.prefab_concierge,
    "prefab_receptionist": catalogue.prefab_receptionist,
    "prefab_survey": catalogue.prefab_survey,
    "bedrock": catalogue.bedrock,
}
SWAIG_CALLS = {
    "function_results": [("transfer_to_human", {"summary": "router keeps rebooting"}),
                         ("escalate", {}), ("tune", {}), ("end_call", {})],
}


# --------------------------------------------------------------------------- serving


def _post(url: str, body: dict[str, Any]) -> Any:
    auth = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _swaig_body(function: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"app_name": "swml app", "function": function,
            "argument": {"parsed": [args], "raw": json.dumps(args)},
            "call_id": CALL_ID, "ai_session_id": "00000000-0000-0000-0000-000000000001",
            "meta_data_token": "fixture", "meta_data": {},
            "content_type": "text/swaig", "content_disposition": "SWAIG Function",
            "version": "2.0"}


def serve_and_fetch(name: str, port: int) -> None:
    agent = AGENTS[name](port)
    server = uvicorn.Server(uvicorn.Config(agent.get_app(), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: server did not start")
        time.sleep(0.05)
    try:
        route = agent.route.rstrip("/")
        doc = _post(f"http://127.0.0.1:{port}{route}/", {"call": {"call_id": CALL_ID}})
        (HERE / f"{name}.swml.json").write_text(json.dumps(doc, indent=2) + "\n")
        calls = SWAIG_CALLS.get(name)
        if calls:
            ai = next(v["ai"] for v in doc["sections"]["main"] if "ai" in v)
            functions = {f["function"]: f for f in ai["SWAIG"]["functions"]}
            replies = []
            for function, args in calls:
                # Call the agent's own /swaig/ route, with the function's token when it
                # has one (external webhook_url tools are still handled by this agent).
                own = f"http://{AUTH[0]}:{AUTH[1]}@localhost:{port}{route}/swaig/"
                url = functions[function].get("web_hook_url", own)
                if not url.startswith(own):
                    url = own
                local = url.replace(f"{AUTH[0]}:{AUTH[1]}@localhost", "127.0.0.1")
                reply = _post(local, _swaig_body(function, args))
                replies.append({"function": function, "arguments": args, "reply": reply})
            (HERE.parent / "swaig" / f"sdk_{name}.replies.json").write_text(
                json.dumps(replies, indent=2) + "\n")
        print(f"wrote {name}.swml.json", file=sys.stderr)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _poms(node: Any, pointer: str = "") -> Iterator[tuple[str, list[Any]]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            if key == "pom" and isinstance(value, list):
                yield here, value
            yield from _poms(value, here)
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from _poms(item, f"{pointer}/{position}")


def record_pom_renderings() -> None:
    """The reference renderer's text for every POM in the fixtures (pom_rendered.json):
    signalwire_pom, which the SDK depends on, markdown and XML, keyed by
    `<file>#<JSON pointer of the pom list>`."""
    from signalwire_pom.pom import PromptObjectModel

    rendered = {}
    for path in sorted(HERE.glob("*.swml.json")):
        for pointer, pom in _poms(json.loads(path.read_text())):
            model = PromptObjectModel.from_json(pom)
            rendered[f"{path.name}#{pointer}"] = {"markdown": model.render_markdown(),
                                                  "xml": model.render_xml()}
    (HERE / "pom_rendered.json").write_text(json.dumps(rendered, indent=2) + "\n")


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(AGENTS))
    if unknown:
        raise SystemExit(f"unknown agents: {', '.join(unknown)}")
    with STAND_INS:
        for offset, name in enumerate(AGENTS):
            if not names or name in names:
                serve_and_fetch(name, BASE_PORT + offset)
    record_pom_renderings()


if __name__ == "__main__":
    main(sys.argv[1:])
