"""Agents that walk the SDK's builder surface, one theme per agent.

Imported by `generate.py` (the provenance script); see its docstring. Each
function builds an agent with the public API of signalwire-agents 1.1.0 only.
The goal is coverage: every builder method and option that ends up in the
served document, including the value forms the SDK lets through unchecked
(`DataMap.foreach` passes its dict as given, so `append: True` or a string
`max` reach the document).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from signalwire_agents import AgentBase
from signalwire_agents.core.data_map import DataMap, create_expression_tool, create_simple_api_tool
from signalwire_agents.core.function_result import SwaigFunctionResult as Result

AUTH = ("sdkuser", "sdkpass")


def _agent(name: str, route: str, port: int, **kwargs: Any) -> AgentBase:
    return AgentBase(name=name, route=route, host="127.0.0.1", port=port, basic_auth=AUTH,
                     suppress_logs=True, **kwargs)


def _done(args: dict[str, Any], raw: dict[str, Any]) -> Result:
    return Result("Done.")


# --------------------------------------------------------------------------- POM


class _DeclaredAgent(AgentBase):
    """PROMPT_SECTIONS, the declarative prompt: str ⇒ body, list ⇒ bullets, dict ⇒ all."""

    PROMPT_SECTIONS = {  # noqa: RUF012 - the SDK reads this class attribute as is
        "Personality": "You are Juniper, the Lumen Hotel's virtual front desk.",
        "Goals": ["Answer questions about the hotel.", "Take reservation requests."],
        "Procedure": {
            "body": "Work through these stages in order.",
            "bullets": ["Greet.", "Identify the request.", "Resolve or hand off."],
            "numbered": True,
            "numberedBullets": True,
            "subsections": [
                {"title": "Hand-off", "body": "Offer a human when you cannot help.",
                 "bullets": ["Say why.", "Confirm the caller agrees."]},
                {"title": "Empty", "body": ""},  # dropped by the SDK: no content
            ],
        },
    }


def pom_prompts(port: int) -> AgentBase:
    """Every POM builder path: section fields, add_to_section, subsections, declarative."""
    agent = _DeclaredAgent(name="Prompt Lab", route="/pom", host="127.0.0.1", port=port,
                           basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Policies", body="Follow the house policies.",
                             bullets=["Check-in is at 3 pm.", "Check-out is at 11 am."],
                             numbered=True, numbered_bullets=True)
    agent.prompt_add_section(
        "Escalation", bullets=["Billing disputes go to the manager."],
        subsections=[{"title": "Billing", "body": "Never promise refunds.",
                      "bullets": ["Take the folio number.", "Take a callback number."]},
                     {"title": "Safety", "body": "Emergencies: tell the caller to dial 911."},
                     {"body": "No title: the SDK skips this subsection."}])
    agent.prompt_add_section("Tone", body="Warm, brief, never pushy.", numbered=False)
    agent.prompt_add_to_section("Tone", body="Use the caller's name once you know it.")
    agent.prompt_add_to_section("Tone", bullet="Avoid jargon.")
    agent.prompt_add_to_section("Tone", bullets=["No emojis.", "No slang."])
    agent.prompt_add_to_section("Amenities", bullets=["Pool 7 am to 10 pm.", "Gym 24 h."])
    agent.prompt_add_subsection("Escalation", "After hours", body="Take a message.",
                                bullets=["Name", "Room", "Issue"])
    agent.prompt_add_subsection("Glossary", "Terms", bullets=["Folio: the guest's bill."])
    agent.set_post_prompt("Summarize the call in one sentence.")
    agent.set_post_prompt_url("https://hooks.example.com/summaries")
    return agent


def pom_raw(port: int) -> AgentBase:
    """set_prompt_pom with a hand-written POM: untitled first section, deep nesting.

    The SDK types the argument as a list of dicts, but a plain list fails at render
    time in 1.1.0 (`'list' object has no attribute 'to_dict'`, HTTP 500), so the
    list goes through signalwire_pom's own loader first.
    """
    from signalwire_pom.pom import PromptObjectModel

    agent = _agent("Raw POM", "/rawpom", port, auto_answer=False)  # no `answer` method
    agent.set_prompt_pom(PromptObjectModel.from_json([
        {"body": "An untitled first section (the only place the POM allows one)."},
        {"title": "Menu", "numbered": True,
         "subsections": [
             {"title": "Starters", "numbered": True, "bullets": ["Soup", "Salad"],
              "subsections": [{"title": "Allergens", "bullets": ["Nuts in the salad."],
                               "numberedBullets": True}]},
             {"title": "Mains", "body": "Ask about the special."}]},
        {"title": "Hours", "body": "Open 5 pm to 11 pm.", "numbered": True},
    ]))
    agent.set_params({"pom_format": "markdown"})
    return agent


# --------------------------------------------------------------------------- DataMap


def datamap_catalogue(port: int) -> AgentBase:
    """DataMap: every parameter type, webhook option, foreach form, error and fallback key."""
    agent = _agent("Data Desk", "/datamap", port)
    agent.set_prompt_text("You look things up with data_map tools.")

    lookup = (
        DataMap("lookup_order")
        .purpose("Look up an order")
        .parameter("order_id", "string", "Order number", required=True)
        .parameter("quantity", "integer", "How many")
        .parameter("amount", "number", "Amount in dollars")
        .parameter("gift", "boolean", "Gift wrap")
        .parameter("tags", "array", "Tags")
        .parameter("address", "object", "Shipping address")
        .parameter("speed", "string", "Shipping speed", required=True,
                   enum=["standard", "express"])
        .error_keys(["error"])  # before any webhook: top-level error_keys
        .webhook("GET", "https://orders.example.com/v1/${enc:url:args.order_id}",
                 headers={"Authorization": "Bearer ${global_data.token}",
                          "X-Request": "${meta_data.request_id}"})
        .error_keys("failure")  # one key as a plain string
        .foreach({"input_key": "items", "output_key": "item_list", "max": 5,
                  "append": "${this.qty} x ${this.name}, "})
        .output(Result("Order ${args.order_id}: ${item_list}"))
        .webhook("put", "https://orders.example.com/v1/${args.order_id}/touch")
        .params({"touched": True, "by": "${caller_id_number}"})
        .output(Result("Touched."))
        .webhook("DELETE", "https://user:p%40ss@orders.example.com/v1/cache/${args.order_id}",
                 require_args=["order_id", "speed"])
        .fallback_output(Result("The order system is down.").set_post_process(True))
    )
    agent.register_swaig_function(lookup.to_swaig_function())

    # foreach values the SDK does not check (it only requires the three keys).
    odd = (
        DataMap("list_rooms")
        .description("List free rooms")
        .parameter("floor", "integer", "Floor")
        .webhook("GET", "https://rooms.example.com/free?floor=${args.floor}")
        .foreach({"input_key": "rooms", "output_key": "room_flags", "append": True})
        .output(Result("Flags: ${room_flags}"))
        .webhook("GET", "https://rooms.example.com/all")
        .foreach({"input_key": "rooms", "output_key": "room_numbers", "max": "3",
                  "append": 101})
        .output(Result("Rooms: ${room_numbers}"))
        .webhook("GET", "https://rooms.example.com/by-floor")
        .foreach({"input_key": "rooms", "output_key": "room_names", "max": "${args.floor}",
                  "append": "${this.name} "})
        .output(Result("Names: ${room_names}"))
        .webhook("GET", "https://rooms.example.com/legacy")
        .foreach({"input_key": "rooms", "output_key": "room_none", "append": None})
        .output(Result("Legacy: ${room_none}"))
        .global_error_keys(["error", "message"])
    )
    agent.register_swaig_function(odd.to_swaig_function())

    classify = (
        DataMap("classify_request")
        .description("Classify what the caller wants")
        .parameter("text", "string", "What the caller said", required=True)
        .expression("${lc:args.text}", re.compile(r"refund|money back"),
                    Result("refund"), nomatch_output=Result("not a refund"))
        .expression("${args.text}", r"(?i)^\s*(cancel|stop)\b", Result("cancel"))
        .expression("${args.text}", "/book(ing)?/i", Result("booking"))
        .expression("${args.text}", r".*", Result("other"))
    )
    agent.register_swaig_function(classify.to_swaig_function())

    hooks = (
        DataMap("post_feedback")
        .description("Send feedback")
        .parameter("score", "integer", "1 to 5", required=True)
        .parameter("comment", "string", "Free text")
        .webhook("POST", "https://feedback.example.com/api", input_args_as_params=True)
        .body({"score": "${args.score}", "comment": "${args.comment}",
               "call": {"id": "${call_id}", "tags": ["voice", "${args.score}"]}})
        .webhook_expressions([
            {"string": "${response.status}", "pattern": "^ok$",
             "output": {"response": "Thanks for the feedback.",
                        "action": [{"set_global_data": {"feedback": "${args.score}"}}]}},
            {"string": "${response.status}", "pattern": ".*",
             "output": {"response": "Feedback was not saved."}}])
        .webhook("POST", "https://feedback.example.com/form", form_param="payload")
        .params({"score": "${args.score}"})
        .output(Result("Saved through the form endpoint."))
    )
    agent.register_swaig_function(hooks.to_swaig_function())

    # The module's two helper constructors.
    agent.register_swaig_function(create_simple_api_tool(
        "get_joke_of_day", "https://jokes.example.com/today", "Joke: ${response.joke}",
        parameters={"topic": {"type": "string", "description": "Topic", "required": True}},
        method="POST", headers={"Accept": "application/json"}, body={"topic": "${args.topic}"},
        error_keys=["error"]).to_swaig_function())
    agent.register_swaig_function(create_expression_tool(
        "route_call", {"${args.department}": (r"^(sales|billing)$",
                                              Result("Routing to ${args.department}."))},
        parameters={"department": {"type": "string", "description": "Department"}},
    ).to_swaig_function())
    return agent


# --------------------------------------------------------------------------- actions


def _payment_prompts() -> list[dict[str, Any]]:
    return [Result.create_payment_prompt(
        "payment-card-number",
        [Result.create_payment_action("Say", "Please enter your card number."),
         Result.create_payment_action("Play", "https://cdn.example.com/card.mp3")],
        card_type="visa mastercard", error_type="invalid-card-number timeout")]


def _action_results() -> dict[str, Result]:
    """One result per theme; together they use every action helper of SwaigFunctionResult."""
    return {
        "transfer_actions": (
            Result("Transferring.", post_process=True)
            .connect("+15550100200", final=True, from_addr="+15550100100")
            .connect("sip:agent@pbx.example.com", final=False)
            .swml_transfer("https://swml.example.com/support", "Back with you.", final=False)
            .swml_transfer("https://swml.example.com/sales", "Goodbye.")
            .sip_refer("sip:desk@pbx.example.com")),
        "swml_actions": (
            Result("Running SWML.")
            .execute_swml({"version": "1.0.0",
                           "sections": {"main": [{"play": {"url": "say:One moment."}}]}})
            .execute_swml('{"version": "1.0.0", "sections": {"main": [{"hangup": {}}]}}',
                          transfer=True)
            .swml_user_event({"type": "cards_dealt", "hand": ["A", "K"], "score": 21})
            .join_room("standup")
            .join_conference("team-sync", muted=True, beep="onEnter", start_on_enter=False,
                             end_on_exit=True, wait_url="https://cdn.example.com/wait.mp3",
                             max_participants=10, record="record-from-start",
                             region="us-east", status_callback_event="start end join",
                             status_callback="https://hooks.example.com/conf",
                             recording_status_callback="https://hooks.example.com/rec")
            .join_conference("simple-room")),
        "media_actions": (
            Result("Media.")
            .play_background_file("https://cdn.example.com/hold.mp3")
            .play_background_file("https://cdn.example.com/jazz.mp3", wait=True)
            .stop_background_file()
            .record_call(control_id="rec1", stereo=True, format="mp3", direction="speak",
                         terminators="#", beep=True, initial_timeout=5.0,
                         end_silence_timeout=2.0, max_length=600.0,
                         status_url="https://hooks.example.com/rec")
            .record_call()
            .stop_record_call("rec1")
            .stop_record_call()
            .tap("wss://tap.example.com/stream", control_id="tap1", direction="hear",
                 codec="PCMA", rtp_ptime=30, status_url="https://hooks.example.com/tap")
            .tap("rtp://203.0.113.5:5004")
            .stop_tap("tap1")
            .stop_tap()),
        "conversation_actions": (
            Result("Adjusting the conversation.")
            .say("Let me adjust that.")
            .simulate_user_input("What are your hours?")
            .hold(1200)
            .hold()
            .wait_for_user()
            .wait_for_user(enabled=False)
            .wait_for_user(timeout=15)
            .wait_for_user(answer_first=True)
            .stop()
            .hangup()
            .add_dynamic_hints(["Lumen", {"pattern": "lou men", "replace": "Lumen",
                                          "ignore_case": True}])
            .clear_dynamic_hints()
            .set_end_of_speech_timeout(1200)
            .set_speech_event_timeout(3000)
            .enable_functions_on_timeout()
            .enable_functions_on_timeout(False)
            .enable_extensive_data()
            .replace_in_history()
            .replace_in_history("Looked up the hours.")
            .update_settings({"temperature": 0.4, "top-p": 0.8, "frequency-penalty": 0.1,
                              "presence-penalty": 0.2, "max-tokens": 200, "confidence": 0.7,
                              "barge-confidence": 0.5})),
        "state_actions": (
            Result("State updated.")
            .update_global_data({"tier": "gold", "visits": 3, "flags": {"vip": True}})
            .remove_global_data("tier")
            .remove_global_data(["visits", "flags"])
            .set_metadata({"ticket": "T-100"})
            .remove_metadata("ticket")
            .remove_metadata(["a", "b"])
            .toggle_functions([{"function": "transfer_actions", "active": False},
                               {"function": "state_actions", "active": True}])
            .swml_change_step("wrap_up")
            .swml_change_context("billing")
            .switch_context("You are now the billing assistant.")
            .switch_context(system_prompt="Billing.", user_prompt="I have a billing question.",
                            consolidate=True, full_reset=True)
            .add_action("custom_action", {"anything": ["goes", 1, True]})
            .add_actions([{"set_global_data": {"step": 2}}, {"say": "Two."}])),
        "messaging_actions": (
            Result("Messages and payments.")
            .send_sms("+15550100300", "+15550100100", body="Your code is 1234.")
            .send_sms("+15550100300", "+15550100100", media=["https://cdn.example.com/m.png"],
                      tags=["otp"], region="us")
            .pay("https://pay.example.com/connector", input_method="voice",
                 status_url="https://hooks.example.com/pay", payment_method="credit-card",
                 timeout=10, max_attempts=3, security_code=False, postal_code="94107",
                 min_postal_code_length=5, token_type="one-time", charge_amount="19.99",
                 currency="eur", language="en-GB", voice="man", description="Room deposit",
                 valid_card_types="visa amex",
                 parameters=[Result.create_payment_parameter("order", "A-1")],
                 prompts=_payment_prompts())
            .pay("https://pay.example.com/connector")),
        "rpc_actions": (
            Result("RPC.")
            .execute_rpc("ai_message", {"role": "system", "message_text": "Hi"},
                         call_id="call-1", node_id="node-1")
            .execute_rpc("ai_unhold")
            .rpc_dial("+15550100400", "+15550100100", "https://swml.example.com/screen")
            .rpc_ai_message("call-2", "The manager is on the line.")
            .rpc_ai_unhold("call-2")),
        "response_forms": (
            Result().set_response("Response set later.").set_post_process(True)),
    }


def result_actions(port: int) -> AgentBase:
    """Every SwaigFunctionResult action helper, placed where it reaches the document."""
    agent = _agent("Action Desk", "/actions", port)
    agent.prompt_add_section("Role", body="You demonstrate every action.")
    agent.set_params({"swaig_allow_swml": True, "swaig_allow_settings": True})
    for name, result in _action_results().items():
        tool = (DataMap(name).description(f"Run the {name.replace('_', ' ')}.")
                .parameter("confirm", "boolean", "Caller confirmed")
                .expression("${args.confirm}", "^true$", result,
                            nomatch_output=Result("Not confirmed.")))
        agent.register_swaig_function(tool.to_swaig_function())
    ctx = agent.define_contexts().add_context("default")
    ctx.add_step("wrap_up", task="Say goodbye.", criteria="The caller is done.",
                 functions="none", valid_steps=["main"])
    ctx.add_step("main", task="Help the caller.", bullets=["Use any tool."])
    ctx.move_step("main", 0)  # add_step's keyword form, then reordered
    ctx.add_step("scratch").set_text("Never reached.")
    ctx.remove_step("scratch")
    (ctx.get_step("wrap_up")  # type: ignore[union-attr]
        .clear_sections().set_text("Say goodbye and offer the billing desk.")
        .set_valid_contexts(["billing"]))
    billing = agent.define_contexts().add_context("billing")
    billing.add_step("start").set_text("Handle billing.")
    return agent


# --------------------------------------------------------------------------- gather_info


def gather_forms(port: int) -> AgentBase:
    """gather_info in every form: each set_gather_info argument, each question option."""
    agent = _agent("Survey Desk", "/gather", port)
    agent.prompt_add_section("Role", body="You collect details one question at a time.")

    def check_zip(args: dict[str, Any], raw: dict[str, Any]) -> Result:
        return Result("ZIP is valid.")

    agent.define_tool(name="check_zip", description="Validate a ZIP code.",
                      parameters={"zip": {"type": "string", "description": "ZIP"}},
                      handler=check_zip)
    builder = agent.define_contexts()
    ctx = builder.add_context("default")
    (ctx.add_step("bare")
        .set_text("Ask the basics.")
        .set_gather_info()  # no output_key, no completion_action, no prompt
        .add_gather_question("first_name", "What is your first name?"))
    (ctx.add_step("typed")
        .set_text("Ask the typed questions.")
        .set_gather_info(output_key="profile")
        .add_gather_question("age", "How old are you?", type="integer")
        .add_gather_question("height_m", "How tall are you in meters?", type="number")
        .add_gather_question("member", "Are you a member?", type="boolean", confirm=True)
        .add_gather_question("allergies", "Any allergies?", type="array")
        .add_gather_question("address", "What is your address?", type="object",
                             prompt="Ask for street, city and ZIP separately.",
                             functions=["check_zip"]))
    (ctx.add_step("chained")
        .set_text("Confirm the email.")
        .set_gather_info(output_key="contact", completion_action="finish",
                         prompt="You are confirming contact details.")
        .add_gather_question("email", "What is your email address?", confirm=True,
                             prompt="Spell it back letter by letter.")
        .set_valid_steps(["advance", "finish"]))
    (ctx.add_step("advance")
        .set_text("One last question.")
        .set_gather_info(completion_action="next_step")
        .add_gather_question("consent", "May we text you?", type="boolean"))
    (ctx.add_step("finish")
        .set_text("Thank the caller.")
        .set_end(True))
    other = builder.add_context("followup")
    (other.add_step("rating")
        .set_text("Ask for a rating.")
        .set_gather_info(output_key="rating", completion_action="thanks")
        .add_gather_question("score", "From 1 to 5, how did we do?", type="integer"))
    other.add_step("thanks").set_text("Thank them.").set_end(True)
    ctx.get_step("finish").set_valid_contexts(["followup"])  # type: ignore[union-attr]
    return agent


# --------------------------------------------------------------------------- settings


def agent_settings(port: int) -> AgentBase:
    """ai-level settings: params, languages, pronounce, hints, data, fillers, verbs, URLs."""
    agent = _agent("Settings Desk", "/settings", port, auto_answer=True, record_call=True,
                   record_format="mp3", record_stereo=True,
                   native_functions=["check_time", "wait_seconds", "wait_for_user",
                                     "adjust_response_latency"])
    agent.set_prompt_text("You are the settings showcase. Today is ${global_data.today}.")
    agent.set_prompt_llm_params(temperature=0.5, top_p=0.95, confidence=0.65,
                                presence_penalty=0.0, frequency_penalty=0.2, max_tokens=300,
                                barge_confidence=0.4, model="gpt-4o")
    agent.set_post_prompt("Return a JSON summary.")
    agent.set_post_prompt_llm_params(temperature=0.0, top_p=1.0, max_tokens=500,
                                     model="gpt-4o-mini")
    agent.set_post_prompt_url("https://hooks.example.com/post-prompt")
    agent.set_web_hook_url("https://hooks.example.com/swaig")
    agent.add_swaig_query_params({"tenant": "lumen", "region": "us"})
    # Every param of the SDK's schema.json AIParams, with a value of a listed type.
    agent.set_params({
        "acknowledge_interruptions": True, "ai_model": "gpt-4.1-mini", "ai_name": "Juniper",
        "ai_volume": 2, "app_name": "settings-desk", "asr_smart_format": True,
        "attention_timeout": 15000, "attention_timeout_prompt": "Are you still there?",
        "asr_diarize": True, "asr_speaker_affinity": True, "audible_debug": False,
        "audible_latency": False, "background_file": "https://cdn.example.com/office.mp3",
        "background_file_loops": 3, "background_file_volume": -10,
        "enable_barge": "complete,partial", "enable_inner_dialog": True, "enable_pause": True,
        "enable_turn_detection": True, "barge_match_string": "stop|wait",
        "barge_min_words": 2, "barge_functions": False, "cache_mode": True,
        "conscience": "Stay on topic.",
        "convo": [{"role": "user", "content": "Hi, I called yesterday."},
                  {"role": "assistant", "content": "Welcome back."}],
        "conversation_id": "conv-123", "conversation_sliding_window": 20, "debug": 1,
        "direction": "inbound", "digit_terminators": "#", "digit_timeout": 3000,
        "end_of_speech_timeout": 900, "enable_accounting": True, "enable_thinking": False,
        "enable_vision": False, "energy_level": 52.5, "first_word_timeout": 1500,
        "function_wait_for_talking": True, "functions_on_no_response": False,
        "hard_stop_prompt": "We are out of time.", "hard_stop_time": "10m",
        "hold_music": "https://cdn.example.com/hold.mp3", "hold_on_process": True,
        "inactivity_timeout": 300000, "inner_dialog_model": "gpt-4.1-nano",
        "inner_dialog_prompt": "Think first.", "inner_dialog_synced": True,
        "initial_sleep_ms": 200, "input_poll_freq": 2000, "interrupt_on_noise": True,
        "interrupt_prompt": "Sorry, go ahead.", "languages_enabled": True,
        "local_tz": "Europe/Berlin", "llm_diarize_aware": True, "max_emotion": 25,
        "max_response_tokens": 400, "openai_asr_engine": "deepgram:nova-2",
        "outbound_attention_timeout": 60000, "persist_global_data": True,
        "pom_format": "markdown", "save_conversation": True, "speech_event_timeout": 1400,
        "speech_gen_quick_stops": 3, "speech_timeout": 60000, "speak_when_spoken_to": False,
        "start_paused": False, "static_greeting": "Hello, this is the settings desk.",
        "static_greeting_no_barge": True, "summary_mode": "string",
        "swaig_allow_settings": True, "swaig_allow_swml": True,
        "swaig_post_conversation": True, "swaig_set_global_data": True,
        "swaig_post_swml_vars": ["caller_id_number", "ai_result"],
        "thinking_model": "gpt-4.1-mini", "transparent_barge": True,
        "transparent_barge_max_time": 3000, "transfer_summary": True,
        "turn_detection_timeout": 500, "tts_number_format": "national", "verbose_logs": True,
        "video_listening_file": "https://cdn.example.com/listen.mp4",
        "video_idle_file": "https://cdn.example.com/idle.mp4",
        "video_talking_file": "https://cdn.example.com/talk.mp4", "vision_model": "gpt-4o-mini",
        "vad_config": "50:20", "wait_for_user": False, "wake_prefix": "hey juniper",
        "eleven_labs_stability": 0.5, "eleven_labs_similarity": 0.75,
    })
    agent.set_param("debug", True)  # set_param overrides one key
    agent.set_languages([{"name": "German", "code": "de-DE", "voice": "azure.de-DE-KatjaNeural"}])
    agent.add_language("English", "en-US", "rime.spore:mistv2",
                       speech_fillers=["Okay."], function_fillers=["Checking."])
    agent.add_language("Spanish", "es-US", "elevenlabs.matilda", engine="elevenlabs",
                       model="eleven_turbo_v2_5")
    agent.add_language("Multilingual", "multi", "openai.alloy")
    agent.add_language("Dutch", "nl-NL", "nl-NL-Standard-A", engine="gcloud")
    agent.add_hints(["Lumen", "Juniper"])
    agent.add_hint("folio")
    agent.add_pattern_hint("suite", r"sweet\s+(\d+)", r"suite $1")
    agent.add_pattern_hint("Lumen", "loo men", "Lumen", ignore_case=False)
    agent.set_pronunciations([{"replace": "Lumen", "with": "Loo-men"}])
    agent.add_pronunciation("SQL", "sequel")
    agent.add_pronunciation("HVAC", "H vac", ignore_case=True)
    agent.add_pronunciation("Dr.", "Doctor", ignore_case=False)
    agent.set_global_data({"today": "Monday", "hotel": {"name": "Lumen", "floors": [1, 2, 3]}})
    agent.update_global_data({"open": True, "rating": 4.5, "nothing": None})
    agent.set_function_includes([{"url": "https://tools.example.com/swaig",
                                  "functions": ["reserve"]}])
    agent.add_function_include("https://user:pw@more.example.com/swaig", ["spa", "dining"])
    agent.set_internal_fillers({
        "next_step": {"en-US": ["Moving on."], "es-US": ["Seguimos."]},
        "change_context": {"en-US": ["Switching."]},
        "get_visual_input": {"en-US": ["Looking."]},
        "get_ideal_strategy": {"en-US": ["Thinking."]},
        "check_time": {"en-US": ["Checking the time."]},
        "wait_for_user": {"en-US": ["I'll wait."]},
        "wait_seconds": {"en-US": ["Waiting."]},
        "adjust_response_latency": {"en-US": ["Adjusting."]},
    })
    agent.add_internal_filler("hangup", "en-US", ["Goodbye."])
    agent.add_internal_filler("summarize_conversation", "en-US", ["Summarizing."])
    agent.enable_debug_events(level=2)
    agent.add_pre_answer_verb("play", {"url": "ring:2:us", "auto_answer": False})
    agent.add_pre_answer_verb("set", {"screened": "yes"})
    agent.add_pre_answer_verb("sleep", {"duration": 500})
    agent.add_answer_verb({"max_duration": 3600, "codecs": "PCMU,PCMA"})
    agent.add_post_answer_verb("play", {"urls": ["say:Welcome.", "silence:1"], "volume": 5})
    agent.add_post_answer_verb("sleep", {"duration": 250})
    agent.add_post_ai_verb("set", {"ai_done": "true"})
    agent.add_post_ai_verb("hangup", {"reason": "hangup"})
    agent.define_tool(name="noop", description="Does nothing.", parameters={},
                      handler=_done)
    return agent


# --------------------------------------------------------------------------- tools


class _ToolAgent(AgentBase):
    """Class-level @AgentBase.tool: registered when the agent is constructed."""

    @AgentBase.tool(name="class_tool", description="A tool declared on the class.",
                    parameters={"when": {"type": "string", "description": "ISO time"}},
                    fillers={"en-US": ["One moment."]}, secure=False)
    def class_tool(self, args: dict[str, Any], raw: dict[str, Any]) -> Result:
        return Result("Class tool ran.")


def typed_tools(port: int) -> AgentBase:
    """define_tool options, the decorator forms and typed-handler parameter inference."""
    agent = _ToolAgent(name="Tool Desk", route="/tools", host="127.0.0.1", port=port,
                       basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Role", body="You call tools.")

    @agent.tool(name="typed_booking", description="Book with typed arguments.")
    def typed_booking(guests: int, nightly_rate: float, breakfast: bool, name: str,
                      room_type: Literal["single", "double", "suite"],
                      nights: int = 1, notes: str | None = None,
                      requests: list[str] | None = None) -> Result:
        """Book a room.

        Args:
            guests: Number of guests
            nightly_rate: Agreed nightly rate
            breakfast: Include breakfast
            name: Guest name
            room_type: Kind of room
            nights: Number of nights
            notes: Free-form notes
            requests: Special requests
        """
        return Result("Booked.")

    # The old (args, raw_data) style is recognised only without annotations (with
    # `from __future__ import annotations` they are strings, read as typed params).
    @agent.tool(description="A decorated tool named after its function.", secure=False,
                wait_file="https://cdn.example.com/wait.mp3", wait_file_loops=3)
    def plain_decorated(args, raw_data):
        return Result("Plain.")

    @agent.tool()
    def hotel_status(raw_data: dict[str, Any]) -> Result:
        """Report whether the hotel is open (a typed tool with no parameters)."""
        return Result("Open.")

    agent.define_tool(
        name="full_schema", description="Parameters already given as a full JSON Schema.",
        parameters={"type": "object",
                    "properties": {"ids": {"type": "array", "items": {"type": "integer"}},
                                   "filter": {"type": "object", "properties": {
                                       "status": {"type": "string", "enum": ["open", "done"]}}},
                                   "limit": {"type": "integer", "minimum": 1, "maximum": 50,
                                             "default": 10}},
                    "required": ["ids"]},
        handler=_done, fillers={"en-US": ["Searching."], "es-US": ["Buscando."],
                                "default": ["Working."]})
    agent.define_tool(
        name="extras", description="Every extra SWAIG field passed through define_tool.",
        parameters={"x": {"type": "string", "description": "x"}}, handler=_done,
        required=["x"], secure=True, active=False, wait_for_fillers=True, skip_fillers=True,
        meta_data={"k": "v", "n": 1}, meta_data_token="scope-1",
        web_hook_auth_user="hookuser", web_hook_auth_password="hookpass")
    agent.define_tool(
        name="external", description="Runs on another server.", parameters={},
        handler=_done, webhook_url="https://user:secret@ext.example.com/hook?x=1")
    agent.define_tool(name="no_params", description="Takes nothing.", parameters={},
                      handler=_done, secure=False)
    agent.register_swaig_function({
        "function": "raw_dict", "description": "Registered as a raw dict.",
        "parameters": {"type": "object", "properties": {}},
        "web_hook_url": "https://raw.example.com/hook"})
    return agent


# --------------------------------------------------------------------------- skills


CLAUDE_SKILL = """---
name: greeter
description: Greets a guest in a given style.
---
Greet the guest in the style given by $ARGUMENTS.
"""


def skills_catalogue(port: int, *, skills_dir: str, mcp_url: str) -> AgentBase:
    """Every skill that ships with the SDK, added with demo credentials and no network.

    `skills_dir` holds a SKILL.md for claude_skills; `mcp_url` is a stand-in MCP
    gateway on 127.0.0.1 (the skill checks `/health` and lists tools at setup).
    """
    agent = _agent("Skill Desk", "/skills", port)
    agent.prompt_add_section("Role", body="You use every bundled skill.")
    agent.add_skill("datetime")
    agent.add_skill("math", {"skip_prompt": True})
    agent.add_skill("joke", {"api_key": "demo-key", "tool_name": "tell_joke",
                             "swaig_fields": {"fillers": {"en-US": ["Here's one."]}}})
    agent.add_skill("api_ninjas_trivia", {"api_key": "demo-key", "tool_name": "trivia",
                                          "categories": ["geography", "music"]})
    agent.add_skill("weather_api", {"api_key": "demo-key", "temperature_unit": "fahrenheit"})
    agent.add_skill("datasphere", {"space_name": "acme", "project_id": "proj-1",
                                   "token": "demo-token", "document_id": "doc-1",
                                   "tool_name": "search_manual", "count": 2, "distance": 4.0,
                                   "tags": ["faq"], "language": "en",
                                   "pos_to_expand": ["NOUN"], "max_synonyms": 3})
    agent.add_skill("datasphere_serverless", {
        "space_name": "acme", "project_id": "proj-1", "token": "demo-token",
        "document_id": "doc-2", "tool_name": "search_policies", "count": 3,
        "tags": ["policy"], "language": "en", "pos_to_expand": ["VERB"], "max_synonyms": 2,
        "no_results_message": "Nothing found for {query}."})
    agent.add_skill("google_maps", {"api_key": "demo-key", "lookup_tool_name": "find_place",
                                    "route_tool_name": "plan_route"})
    agent.add_skill("web_search", {"api_key": "demo-key", "search_engine_id": "cx-1",
                                   "tool_name": "search_web", "num_results": 2})
    agent.add_skill("wikipedia_search", {"num_results": 2})
    agent.add_skill("spider", {"tool_name": "site", "max_pages": 2, "max_depth": 1})
    agent.add_skill("play_background_file", {
        "tool_name": "ambience",
        "files": [{"key": "rain", "description": "Rain sounds",
                   "url": "https://cdn.example.com/rain.mp3"},
                  {"key": "lobby", "description": "Lobby music",
                   "url": "https://cdn.example.com/lobby.mp4", "wait": True}]})
    agent.add_skill("swml_transfer", {
        "tool_name": "route_caller", "description": "Route the caller",
        "parameter_name": "department", "parameter_description": "Where to go",
        "default_message": "I can transfer you to sales or support.",
        "default_post_process": True,
        "required_fields": {"reason": "Why the caller wants the transfer"},
        "transfers": {
            "/sales/i": {"url": "https://swml.example.com/sales", "message": "To sales.",
                         "return_message": "Back from sales.", "post_process": True,
                         "final": True},
            "/support/i": {"address": "sip:support@pbx.example.com", "message": "To support.",
                           "final": False, "from_addr": "+15550100100"}}})
    agent.add_skill("info_gatherer", {
        "prefix": "intake", "completion_message": "All done.",
        "questions": [{"key_name": "name", "question_text": "What is your name?"},
                      {"key_name": "email", "question_text": "Your email?", "confirm": True,
                       "prompt_add": "Spell it back."}]})
    agent.add_skill("native_vector_search", {
        "tool_name": "search_docs", "index_file": "docs.swsearch", "count": 3,
        "description": "Search the hotel handbook", "hints": ["handbook"],
        "tags": ["handbook"], "no_results_message": "No match for '{query}'."})
    agent.add_skill("claude_skills", {"skills_path": skills_dir, "tool_prefix": "skill_",
                                      "prompt_title": "Guest skills"})
    agent.add_skill("mcp_gateway", {"gateway_url": mcp_url, "auth_token": "demo-token",
                                    "services": [{"name": "crm", "tools": "*"}],
                                    "tool_prefix": "mcp_"})
    return agent


# --------------------------------------------------------------------------- prefabs


def prefab_info_gatherer(port: int) -> AgentBase:
    from signalwire_agents.prefabs import InfoGathererAgent

    return InfoGathererAgent(
        questions=[{"key_name": "name", "question_text": "What is your name?"},
                   {"key_name": "reason", "question_text": "Why are you calling?",
                    "confirm": True}],
        name="intake-prefab", route="/prefab-intake", host="127.0.0.1", port=port,
        basic_auth=AUTH, suppress_logs=True)


def prefab_faq_bot(port: int) -> AgentBase:
    from signalwire_agents.prefabs import FAQBotAgent

    return FAQBotAgent(
        faqs=[{"question": "When is check-in?", "answer": "From 3 pm.",
               "categories": ["stay"]},
              {"question": "Is there parking?", "answer": "Yes, 20 dollars a night."}],
        suggest_related=True, persona="You are a concise hotel FAQ assistant.",
        name="faq-prefab", route="/prefab-faq", host="127.0.0.1", port=port,
        basic_auth=AUTH, suppress_logs=True)


def prefab_concierge(port: int) -> AgentBase:
    from signalwire_agents.prefabs import ConciergeAgent

    return ConciergeAgent(
        venue_name="Lumen Hotel", services=["room service", "spa booking"],
        amenities={"pool": {"hours": "7 am to 10 pm", "location": "Floor 3"},
                   "gym": {"hours": "24 h", "location": "Basement"}},
        hours_of_operation={"weekday": "7 am to 11 pm", "weekend": "8 am to 11 pm"},
        special_instructions=["Mention the rooftop bar."],
        welcome_message="Welcome to the Lumen Hotel concierge.",
        name="concierge-prefab", route="/prefab-concierge", host="127.0.0.1", port=port,
        basic_auth=AUTH, suppress_logs=True)


def prefab_receptionist(port: int) -> AgentBase:
    from signalwire_agents.prefabs import ReceptionistAgent

    return ReceptionistAgent(
        departments=[{"name": "sales", "description": "New bookings",
                      "number": "+15550100200"},
                     {"name": "billing", "description": "Invoices",
                      "number": "+15550100300"}],
        greeting="Lumen Hotel, how may I direct your call?", voice="rime.spore",
        name="reception-prefab", route="/prefab-reception", host="127.0.0.1", port=port,
        basic_auth=AUTH, suppress_logs=True)


def prefab_survey(port: int) -> AgentBase:
    from signalwire_agents.prefabs import SurveyAgent

    return SurveyAgent(
        survey_name="Stay Survey",
        questions=[{"id": "overall", "text": "How was your stay?", "type": "rating",
                    "scale": 5, "required": True},
                   {"id": "return", "text": "Would you stay again?", "type": "yes_no"},
                   {"id": "room", "text": "Which room type?", "type": "multiple_choice",
                    "options": ["single", "double", "suite"]},
                   {"id": "comments", "text": "Anything else?", "type": "open_ended",
                    "required": False}],
        introduction="A short survey about your stay.", conclusion="Thank you!",
        brand_name="Lumen Hotel", max_retries=1,
        name="survey-prefab", route="/prefab-survey", host="127.0.0.1", port=port,
        basic_auth=AUTH, suppress_logs=True)


def bedrock(port: int) -> AgentBase:
    """BedrockAgent: the same builders, served as an `amazon_bedrock` method."""
    from signalwire_agents.agents.bedrock import BedrockAgent

    agent = BedrockAgent(name="Bedrock Desk", route="/bedrock", host="127.0.0.1", port=port,
                         basic_auth=AUTH, suppress_logs=True,
                         system_prompt="You are a voice concierge.", voice_id="tiffany",
                         temperature=0.6, top_p=0.8, max_tokens=512)
    agent.prompt_add_section("Role", body="You are a voice concierge on Bedrock.")
    agent.set_post_prompt("Summarize.")
    agent.define_tool(name="lookup", description="Look something up.",
                      parameters={"q": {"type": "string", "description": "Query"}},
                      handler=_done)
    return agent
