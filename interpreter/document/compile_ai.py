"""Compile the `ai` method: prompts, params, SWAIG functions, data_map,
contexts and steps (with their references tied), and error recovery."""

from __future__ import annotations

import re
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from interpreter import ir
from interpreter.diagnostics import JSONPath
from interpreter.document.coerce import (
    compile_pattern,
    duration_seconds,
    filler_map,
    flag,
    freeze,
    hint,
    item_limit,
    number,
    parameter_schema,
    strings,
    swaig_action,
    template_text,
    webhook,
)
from interpreter.document.pom import render_pom
from interpreter.errors import ErrorType, RecoveryPolicy
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import ListenSettings

if TYPE_CHECKING:
    from interpreter.document.compile import _Compiler

_LLM_KNOBS = ("temperature", "top_p", "confidence", "presence_penalty", "frequency_penalty",
              "max_tokens")
_LLM_DEFAULTS = ir.LlmSettings()
DEFAULT_FUNCTION_TIMEOUT = 10.0


def compile_ai(compiler: _Compiler, args: dict[str, Any], path: JSONPath) -> ir.Ai:
    params = args.get("params") or {}
    pom_format = str(params.get("pom_format", "markdown"))
    swaig = args.get("SWAIG") or {}
    defaults = swaig.get("defaults") or {}
    default_hook = webhook(defaults["web_hook_url"], defaults.get("web_hook_auth_user"),
                            defaults.get("web_hook_auth_password")) \
        if isinstance(defaults.get("web_hook_url"), str) else None
    functions = _functions(compiler, swaig, default_hook, path)
    by_name = {function.name: function for function in functions}
    contexts, start = _contexts(compiler, args.get("prompt") or {}, by_name, pom_format, path)
    post_url = args.get("post_prompt_url")
    prompt = _prompt(compiler, args.get("prompt") or {}, pom_format)
    ai_model = params.get("ai_model")
    if prompt.settings.model is None and isinstance(ai_model, str) and ai_model:
        # The prompt's own `model` wins over params.ai_model (the SDK writes the former).
        prompt = replace(prompt, settings=replace(prompt.settings, model=ai_model))
    return ir.Ai(
        span=compiler.span(path),
        prompt=prompt,
        post_prompt=_prompt(compiler, args["post_prompt"], pom_format)
        if "post_prompt" in args else None,
        post_prompt_url=webhook(post_url) if isinstance(post_url, str) else None,
        params=_params(params, args),
        languages=tuple(_language(item) for item in args.get("languages") or []
                        if isinstance(item, dict)),
        hints=tuple(hint(item) for item in args.get("hints") or []),
        pronounce=tuple(_pronounce(item) for item in args.get("pronounce") or []
                        if isinstance(item, dict)),
        global_data=MappingProxyType({key: freeze(value) for key, value
                                      in (args.get("global_data") or {}).items()}),
        functions=functions,
        includes=tuple(_include(item) for item in swaig.get("includes") or []),
        internal_fillers=MappingProxyType({name: filler_map(value) for name, value
                                           in (swaig.get("internal_fillers") or {}).items()}),
        contexts=contexts,
        error_recovery=_recovery(args.get("error_recovery") or {}),
        webhook_defaults=default_hook,
        start_context=start,
    )


# What the model sees of SignalWire's native functions; the runtime's
# tools/natives.py runs them.
_NATIVE_SIGNATURES: dict[str, tuple[str, dict[str, JSONValue]]] = {
    "check_time": ("Get the current date and time where the business is.", {}),
    "wait_seconds": ("Wait silently for a number of seconds, when the caller asks you to "
                     "wait; their speaking ends the wait.",
                     {"seconds": {"type": "integer", "minimum": 1, "maximum": 60}}),
    "wait_for_user": ("Stay silent until the caller speaks again.", {}),
    "adjust_response_latency": ("Wait longer (or shorter) for the caller to finish speaking "
                                "before you answer, when they need more time.",
                                {"milliseconds": {"type": "integer", "minimum": 250,
                                                  "maximum": 10000}}),
}


def _pronounce(item: dict[str, JSONValue]) -> ir.Pronounce:
    replace, with_ = str(item.get("replace", "")), str(item.get("with", ""))
    ignore_case = flag(item.get("ignore_case"), True)
    pattern = re.compile(rf"\b{re.escape(replace)}\b", re.IGNORECASE if ignore_case else 0)
    return ir.Pronounce(replace, with_, ignore_case, pattern)


def _prompt_text(compiler: _Compiler, value: JSONValue, pom_format: str) -> ir.SwaigText:
    if isinstance(value, str):
        return compiler.swaig(value)
    if isinstance(value, dict):
        pom = value.get("pom")
        if isinstance(pom, list):  # pom wins when both are given
            return compiler.swaig(render_pom(pom, pom_format))
        return compiler.swaig(str(value.get("text", "")))
    return compiler.swaig("")


def _prompt(compiler: _Compiler, value: JSONValue, pom_format: str) -> ir.PromptText:
    if not isinstance(value, dict):
        return ir.PromptText(_prompt_text(compiler, value, pom_format))
    knobs = {name: number(value[name], getattr(_LLM_DEFAULTS, name))
             for name in _LLM_KNOBS if name in value}
    if "max_tokens" in knobs:
        knobs["max_tokens"] = int(knobs["max_tokens"])
    extra = {key: freeze(item) for key, item in value.items()
             if key not in (*_LLM_KNOBS, "text", "pom", "contexts", "model")}
    model = value.get("model")
    settings = ir.LlmSettings(**knobs, extra=MappingProxyType(extra),  # type: ignore[arg-type]
                              model=model if isinstance(model, str) and model else None)
    return ir.PromptText(_prompt_text(compiler, value, pom_format), settings)


def _barge(value: JSONValue) -> ir.Barge:
    if value is False or value == "false":
        return ir.Barge.OFF
    if isinstance(value, str):
        normalized = ",".join(part.strip() for part in value.split(","))
        for barge in ir.Barge:
            if barge.value == normalized:
                return barge
    return ir.Barge.COMPLETE_AND_PARTIAL


def _barge_policy(params: dict[str, JSONValue], prompt: JSONValue) -> ir.BargePolicy:
    base = ir.BargePolicy()
    pattern = params.get("barge_match_string")
    confidence = prompt.get("barge_confidence") if isinstance(prompt, dict) else None
    noise = params.get("interrupt_on_noise")
    # interrupt_on_noise: true is the platform's "sound over 1 s"; a number
    # is read as that many seconds of sound.
    noise_s = 1.0 if noise is True or noise == "true" else \
        float(noise) if isinstance(noise, int | float) and not isinstance(noise, bool) \
        and noise > 0 else None
    return ir.BargePolicy(
        mode=_barge(params.get("enable_barge", True)),
        min_words=int(number(params.get("barge_min_words"), base.min_words)),
        match=compile_pattern(pattern, ignore_case=True) if isinstance(pattern, str) else None,
        confidence=number(confidence, base.confidence),
        transparent=flag(params.get("transparent_barge"), base.transparent),
        transparent_max_s=number(params.get("transparent_barge_max_time"),
                                 base.transparent_max_s * 1000) / 1000,
        noise_s=noise_s,
        greeting=not flag(params.get("static_greeting_no_barge"), False),
        functions=flag(params.get("barge_functions"), base.functions),
    )


def _listen(params: dict[str, JSONValue], args: dict[str, Any]) -> ListenSettings:
    """The caller's side of the ai verb: endpointing and VAD from params, the
    recognizer's hints and language from the document's hints and first language."""
    base = ListenSettings()
    prompt = args.get("prompt")
    confidence = prompt.get("confidence") if isinstance(prompt, dict) else None
    languages = [item for item in args.get("languages") or [] if isinstance(item, dict)]
    code = languages[0].get("code") if languages else None
    vad = params.get("vad_config")
    return ListenSettings(
        end_of_speech_ms=int(number(params.get("end_of_speech_timeout"),
                                    base.end_of_speech_ms)),
        speech_event_ms=int(number(params.get("speech_event_timeout"), base.speech_event_ms)),
        speech_timeout_ms=int(number(params.get("speech_timeout"), base.speech_timeout_ms)),
        first_word_ms=int(number(params.get("first_word_timeout"), base.first_word_ms)),
        # The reference's default ASR confidence threshold for the ai verb.
        confidence=number(confidence, ir.LlmSettings().confidence),
        language=code if isinstance(code, str) and code else base.language,
        hints=tuple(h.hint for h in map(hint, args.get("hints") or []) if h.hint),
        energy_level_db=number(params.get("energy_level"), base.energy_level_db),
        vad=str(vad) if isinstance(vad, str | int | float) else "",
        turn_detection_ms=int(number(params.get("turn_detection_timeout"),
                                     base.turn_detection_ms or 0))
        if flag(params.get("enable_turn_detection"), True) else None,
    )


def _params(params: dict[str, JSONValue], args: dict[str, Any]) -> ir.AiParams:
    base = ir.AiParams()
    wait = params.get("wait_for_user")
    return ir.AiParams(
        barge=_barge_policy(params, args.get("prompt")),
        listen=_listen(params, args),
        volume_db=number(params.get("ai_volume"), 0.0),
        attention_timeout_ms=int(number(params.get("attention_timeout"),
                                         base.attention_timeout_ms)),
        attention_timeout_prompt=str(params.get("attention_timeout_prompt",
                                                base.attention_timeout_prompt)),
        inactivity_timeout_ms=int(number(params.get("inactivity_timeout"),
                                          base.inactivity_timeout_ms)),
        hard_stop_time_s=duration_seconds(params.get("hard_stop_time")),
        hard_stop_prompt=str(params["hard_stop_prompt"]) if "hard_stop_prompt" in params
        else None,
        wait_for_user=bool(wait) and wait not in ("false", 0),
        acknowledge_interruptions=_acknowledged(params.get("acknowledge_interruptions")),
        interrupt_prompt=str(params.get("interrupt_prompt", base.interrupt_prompt)),

        static_greeting=str(params["static_greeting"]) if "static_greeting" in params else None,
        local_tz=str(params.get("local_tz", base.local_tz)),
        app_name=str(params.get("app_name", base.app_name)),
        swaig_allow_swml=flag(params.get("swaig_allow_swml"), True),
        swaig_allow_settings=flag(params.get("swaig_allow_settings"), True),
        swaig_set_global_data=flag(params.get("swaig_set_global_data"), True),
        swaig_post_conversation=flag(params.get("swaig_post_conversation"), False),
        secret_fields=strings(params.get("callkernel_secret_fields")),
        raw=MappingProxyType({key: freeze(value) for key, value in params.items()}),
    )


ACKNOWLEDGE_ALWAYS = 1_000_000  # acknowledge_interruptions: true


def _acknowledged(value: JSONValue) -> int:
    """acknowledge_interruptions: true (every barge-in), a count, or off."""
    if value is True or value == "true":
        return ACKNOWLEDGE_ALWAYS
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return 0


def _language(item: dict[str, JSONValue]) -> ir.Language:
    voice = str(item.get("voice", ""))
    engine = item.get("engine")
    model = item.get("model")
    # "engine.voice:model" is the documented form; separate keys are the SDK's.
    if engine is None and "." in voice:
        engine, voice = voice.split(".", 1)
    if model is None and ":" in voice:
        voice, model = voice.split(":", 1)
    code = item.get("code", item.get("listen_language", "en-US"))
    function_fillers = item.get("function_fillers", item.get("fillers"))
    return ir.Language(str(item.get("name", "")),
                       ",".join(strings(code)) if isinstance(code, list) else str(code),
                       voice, str(engine) if engine else None, str(model) if model else None,
                       strings(item.get("speech_fillers")), strings(function_fillers))


def _recovery(overrides: dict[str, Any]) -> MappingProxyType[ErrorType, RecoveryPolicy]:
    policies = {}
    for error_type in ErrorType:
        base = error_type.default_policy
        override = overrides.get(error_type.value) or {}
        policies[error_type] = RecoveryPolicy(
            str(override.get("phrase", base.phrase)),
            flag(override.get("fatal"), base.fatal),
            int(override.get("max_retries", base.max_retries)))
    return MappingProxyType(policies)


def _include(item: dict[str, Any]) -> ir.Include:
    hook = webhook(str(item.get("url", "")), item.get("auth_user", item.get("user")),
                    item.get("auth_password", item.get("pass")))
    return ir.Include(hook.url, strings(item.get("functions")), hook.user, hook.password,
                      MappingProxyType({k: freeze(v) for k, v in
                                        (item.get("meta_data") or {}).items()}))


# ----------------------------------------------------------------- functions


def _functions(compiler: _Compiler, swaig: dict[str, Any], default_hook: ir.Webhook | None,
               path: JSONPath) -> tuple[ir.Function, ...]:
    functions = []
    for position, data in enumerate(swaig.get("functions") or []):
        function_path = (*path, "SWAIG", "functions", position)
        data_map = data.get("data_map")
        hook = None
        if not isinstance(data_map, dict):
            hook = webhook(data["web_hook_url"], data.get("web_hook_auth_user"),
                            data.get("web_hook_auth_password")) \
                if isinstance(data.get("web_hook_url"), str) else default_hook
        functions.append(ir.Function(
            name=str(data["function"]),
            description=str(data.get("description", data.get("purpose", ""))),
            parameters=_parameters(data.get("parameters", data.get("argument"))),
            webhook=hook,
            data_map=_data_map(compiler, data_map, (*function_path, "data_map"))
            if isinstance(data_map, dict) else None,
            active=flag(data.get("active"), True),
            fillers=filler_map(data.get("fillers")),
            skip_fillers=flag(data.get("skip_fillers"), False),
            wait_for_fillers=flag(data.get("wait_for_fillers"), False),
            meta_data=MappingProxyType({k: freeze(v) for k, v in
                                        (data.get("meta_data") or {}).items()}),
            meta_data_token=str(data["meta_data_token"]) if "meta_data_token" in data else None,
            wait_file=str(data["wait_file"]) if "wait_file" in data else None,
            timeout=number(data.get("timeout"), DEFAULT_FUNCTION_TIMEOUT),
        ))
    for name in swaig.get("native_functions") or []:
        description, properties = _NATIVE_SIGNATURES.get(
            str(name), (f"Native function {name}.", {}))
        functions.append(ir.Function(str(name), description, MappingProxyType({
            "type": "object", "properties": MappingProxyType(
                {key: freeze(value) for key, value in properties.items()})}), native=True))
    for include in swaig.get("includes") or []:
        hook = webhook(str(include.get("url", "")), include.get("auth_user", include.get("user")),
                        include.get("auth_password", include.get("pass")))
        for name in strings(include.get("functions")):
            # The signature arrives from the include URL when the session starts.
            functions.append(ir.Function(name, "", MappingProxyType({}), webhook=hook))
    return tuple(functions)


def _parameters(value: JSONValue) -> MappingProxyType[str, ir.FrozenJSON]:
    if isinstance(value, dict):
        frozen = freeze(parameter_schema(value))
        assert isinstance(frozen, MappingProxyType)
        return frozen
    return MappingProxyType({"type": "object", "properties": MappingProxyType({})})


def _output(compiler: _Compiler, value: JSONValue) -> ir.Output | None:
    if not isinstance(value, dict):
        return None
    response = value.get("response")
    tool_prompt = None
    if isinstance(response, dict):
        tool_prompt = compiler.maybe_swaig(response.get("tool_prompt"))
        response = response.get("tool_result")
    actions = value.get("action")
    action_list = actions if isinstance(actions, list) else [actions] if actions else []
    return ir.Output(compiler.maybe_swaig(response), tool_prompt,
                     # SWML documents in actions included: the platform expands their
                     # ${...} (args, global_data) when the tool replies.
                     tuple(compiler.templated(swaig_action(action), swaig=True)
                           for action in action_list),
                     flag(value.get("post_process"), False))


def _expressions(compiler: _Compiler, value: Any) -> tuple[ir.DataMapExpression, ...]:
    out = []
    for item in value if isinstance(value, list) else []:
        output = _output(compiler, item.get("output"))
        if output is None:
            continue
        out.append(ir.DataMapExpression(compiler.swaig(str(item.get("string", ""))),
                                        compile_pattern(str(item.get("pattern", ".*"))), output,
                                        _output(compiler, item.get("nomatch-output"))))
    return tuple(out)


def _data_map(compiler: _Compiler, value: dict[str, Any], path: JSONPath) -> ir.DataMap:
    webhooks = []
    for hook in value.get("webhooks") or []:
        credentials = webhook(str(hook.get("url", "")))
        foreach = hook.get("foreach")
        headers = hook.get("headers") or {}
        webhooks.append(ir.DataMapWebhook(
            url=compiler.swaig(credentials.url),
            method=str(hook.get("method", "GET")).upper(),
            user=credentials.user, password=credentials.password,
            headers=tuple((str(k), compiler.swaig(str(v))) for k, v in headers.items()),
            params=compiler.templated(hook.get("params", hook.get("body")), swaig=True),
            input_args_as_params=flag(hook.get("input_args_as_params"), False),
            require_args=strings(hook.get("require_args")),
            error_keys=strings(hook.get("error_keys")),
            foreach=ir.Foreach(str(foreach.get("input_key", "")),
                               str(foreach.get("output_key", "")),
                               compiler.swaig(template_text(foreach.get("append"))),
                               item_limit(foreach.get("max")))
            if isinstance(foreach, dict) else None,
            expressions=_expressions(compiler, hook.get("expressions")),
            output=_output(compiler, hook.get("output")),
        ))
    return ir.DataMap(_expressions(compiler, value.get("expressions")), tuple(webhooks),
                      _output(compiler, value.get("output")), strings(value.get("error_keys")))


# ------------------------------------------------------------ contexts & steps


def _reset(compiler: _Compiler, value: dict[str, Any]) -> ir.ContextReset:
    return ir.ContextReset(compiler.maybe_swaig(value.get("system_prompt")),
                           compiler.maybe_swaig(value.get("user_prompt")),
                           flag(value.get("consolidate"), False),
                           flag(value.get("full_reset"), False))


def _step_text(compiler: _Compiler, data: dict[str, Any], pom_format: str) -> ir.SwaigText:
    if isinstance(data.get("pom"), list):
        return compiler.swaig(render_pom(data["pom"], pom_format))
    return compiler.swaig(str(data.get("text", "")))


def _contexts(compiler: _Compiler, prompt: dict[str, Any], functions: dict[str, ir.Function],
              pom_format: str, path: JSONPath) -> tuple[tuple[ir.Context, ...],
                                                        ir.Context | None]:
    raw = prompt.get("contexts")
    if not isinstance(raw, dict) or not raw:
        return (), None
    every_function = tuple(functions.values())
    contexts: dict[str, ir.Context] = {}
    for name, data in raw.items():
        steps = []
        for position, step in enumerate(data.get("steps") or []):
            listed = step.get("functions")
            offered = every_function if listed is None else () if listed == "none" else \
                tuple(functions[n] for n in listed if n in functions)
            gather = step.get("gather_info")
            steps.append(ir.Step(
                name=str(step["name"]), text=_step_text(compiler, step, pom_format),
                criteria=compiler.maybe_swaig(step.get("step_criteria")), functions=offered,
                skip_user_turn=flag(step.get("skip_user_turn"), False),
                end=flag(step.get("end"), False),
                skip_to_next_step=flag(step.get("skip_to_next_step"), False),
                reset=_reset(compiler, step["reset"]) if isinstance(step.get("reset"), dict)
                else None,
                gather_info=_gather(compiler, gather) if isinstance(gather, dict) else None,
                span=compiler.span((*path, "prompt", "contexts", name, "steps", position)),
            ))
        text = data.get("prompt", data.get("text"))
        if isinstance(data.get("pom"), list):
            text = render_pom(data["pom"], pom_format)
        context_reset = _reset(compiler, data) if "system_prompt" in data else None
        contexts[name] = ir.Context(
            name=name, steps=tuple(steps), isolated=flag(data.get("isolated"), False),
            text=compiler.maybe_swaig(text), enter_fillers=filler_map(data.get("enter_fillers")),
            exit_fillers=filler_map(data.get("exit_fillers")), reset=context_reset)
    _tie(raw, contexts)
    start = contexts.get("default") or next(iter(contexts.values()))
    return tuple(contexts.values()), start


def _gather(compiler: _Compiler, value: dict[str, Any]) -> ir.GatherInfo:
    questions = tuple(ir.GatherQuestion(
        str(q.get("key", "")), compiler.swaig(str(q.get("question", ""))),
        str(q.get("type", "string")), flag(q.get("confirm"), False),
        compiler.maybe_swaig(q.get("prompt")), strings(q.get("functions")))
        for q in value.get("questions") or [] if isinstance(q, dict))
    return ir.GatherInfo(questions, compiler.maybe_swaig(value.get("prompt")),
                         str(value["output_key"]) if "output_key" in value else None)


def _tie(raw: dict[str, Any], contexts: dict[str, ir.Context]) -> None:
    """Resolve step and context names to objects once every object exists.

    The only place frozen IR objects are written after construction: references
    may form cycles, so they cannot all be passed to constructors.
    """
    for name, data in raw.items():
        context = contexts[name]
        context_targets = tuple(contexts[n] for n in data.get("valid_contexts") or []
                                if n in contexts)
        object.__setattr__(context, "valid_contexts", context_targets)
        steps = {step.name: step for step in context.steps}
        for position, (step, step_data) in enumerate(zip(context.steps, data.get("steps") or [],
                                                         strict=False)):
            following = context.steps[position + 1] if position + 1 < len(context.steps) \
                else None
            listed = step_data.get("valid_steps")
            if isinstance(listed, list):
                targets = tuple(following if n == "next" else steps[n] for n in listed
                                if (n == "next" and following) or n in steps)
            else:
                targets = (following,) if following is not None and not step.end else ()
            object.__setattr__(step, "valid_steps", tuple(t for t in targets if t is not None))
            own_contexts = step_data.get("valid_contexts")
            object.__setattr__(step, "valid_contexts",
                               tuple(contexts[n] for n in own_contexts if n in contexts)
                               if isinstance(own_contexts, list) else context_targets)
            gather = step.gather_info
            if gather is not None:
                action = (step_data.get("gather_info") or {}).get("completion_action")
                target = following if action == "next_step" else steps.get(str(action))
                object.__setattr__(gather, "completion_step", target)
