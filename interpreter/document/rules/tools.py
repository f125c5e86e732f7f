"""Rules: SWAIG functions can run, talk to safe URLs and declare valid parameters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from interpreter.diagnostics import Diagnostic, JSONPath
from interpreter.document.coerce import compile_pattern, parameter_schema
from interpreter.document.coerce import hint as compile_hint
from interpreter.document.index import INJECTED_FUNCTIONS, AiSite
from interpreter.document.lint import LintContext, rule
from interpreter.document.pattern_risk import backtracking_risk
from interpreter.jsontypes import JSONValue
from interpreter.patterns import MATCH_TIMEOUT_S, PatternError

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _defaults_url(ai: AiSite) -> str | None:
    swaig = ai.args.get("SWAIG")
    defaults = swaig.get("defaults") if isinstance(swaig, dict) else None
    url = defaults.get("web_hook_url") if isinstance(defaults, dict) else None
    return url if isinstance(url, str) else None


def _urls(ctx: LintContext) -> Iterator[tuple[JSONPath, str]]:
    """Every webhook URL a function, include, default or data_map names."""
    for ai in ctx.index.ai:
        swaig = ai.args.get("SWAIG")
        if not isinstance(swaig, dict):
            continue
        if _defaults_url(ai):
            yield (*ai.path, "SWAIG", "defaults", "web_hook_url"), str(_defaults_url(ai))
        includes = swaig.get("includes")
        for position, include in enumerate(includes if isinstance(includes, list) else []):
            if isinstance(include, dict) and isinstance(include.get("url"), str):
                yield (*ai.path, "SWAIG", "includes", position, "url"), str(include["url"])
        for function in ai.functions:
            url = function.data.get("web_hook_url")
            if isinstance(url, str):
                yield (*function.path, "web_hook_url"), url
            data_map = function.data.get("data_map")
            hooks = data_map.get("webhooks") if isinstance(data_map, dict) else None
            for position, hook in enumerate(hooks if isinstance(hooks, list) else []):
                if isinstance(hook, dict) and isinstance(hook.get("url"), str):
                    yield (*function.path, "data_map", "webhooks", position, "url"), \
                        str(hook["url"])
        post_url = ai.args.get("post_prompt_url")
        if isinstance(post_url, str):
            yield (*ai.path, "post_prompt_url"), post_url
    # Status callbacks are webhooks too (runtime/status_callbacks.py).
    for site in ctx.index.methods_named("play", "prompt", "connect", "record", "record_call"):
        args = site.args if isinstance(site.args, dict) else {}
        for key in ("status_url", "call_state_url"):
            if isinstance(args.get(key), str):
                yield (*site.args_path, key), str(args[key])


def _scheme(url: str) -> str:
    # The scheme is what precedes "://" even when the rest is templated.
    head, separator, _ = url.partition("://")
    return head.lower() if separator else ""


@rule("CK401")
def function_without_implementation(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        fallback = _defaults_url(ai)
        for function in ai.functions:
            data = function.data
            if data.get("data_map") or data.get("web_hook_url") or fallback \
                    or function.name in ai.natives:
                continue
            yield ctx.report(f'function "{function.name}" has no web_hook_url, no data_map, '
                             "and SWAIG.defaults has no web_hook_url: nothing can run it",
                             (*function.path, "function"))


@rule("CK402")
def non_http_url(ctx: LintContext) -> Iterator[Diagnostic]:
    for path, url in _urls(ctx):
        if url.startswith(("${", "%{")):
            continue  # the whole URL comes from a variable
        if _scheme(url) not in ("http", "https"):
            yield ctx.report(f'URL "{url}" is not http(s)', path,
                             hint="webhooks must be http:// or https:// URLs")
            continue
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number in range
        except ValueError as error:
            yield ctx.report(f'URL "{url}" is malformed: {error}', path)
            continue
        if not parts.hostname and "{" not in parts.netloc:
            yield ctx.report(f'URL "{url}" has no host', path)


@rule("CK403")
def credentials_over_http(ctx: LintContext) -> Iterator[Diagnostic]:
    for path, url in _urls(ctx):
        if _scheme(url) != "http":
            continue
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            continue
        if (parts.username or parts.password) and host not in _LOOPBACK:
            yield ctx.report("credentials in a plain http URL travel unencrypted", path,
                             hint="use https://")
    for ai in ctx.index.ai:
        swaig = ai.args.get("SWAIG")
        defaults = swaig.get("defaults") if isinstance(swaig, dict) else None
        holders = [(data, path, str(data.get("web_hook_url") or _defaults_url(ai) or ""))
                   for data, path in [(f.data, f.path) for f in ai.functions]]
        if isinstance(defaults, dict):
            holders.append((defaults, (*ai.path, "SWAIG", "defaults"), _defaults_url(ai) or ""))
        for data, path, url in holders:
            if data.get("web_hook_auth_password") and _scheme(url) == "http" \
                    and (urlsplit(url).hostname or "") not in _LOOPBACK:
                yield ctx.report("web_hook_auth_password is sent over plain http",
                                 (*path, "web_hook_auth_password"), key=True,
                                 hint="use an https:// web_hook_url")


@lru_cache(maxsize=1)
def _metaschema() -> Draft202012Validator:
    return Draft202012Validator(Draft202012Validator.META_SCHEMA)


@lru_cache(maxsize=4096)
def _schema_problem_cached(canonical: str) -> tuple[str, tuple[str | int, ...]] | None:
    error = best_match(_metaschema().iter_errors(json.loads(canonical)))
    return None if error is None else (error.message, tuple(error.absolute_path))


def _schema_problem(parameters: JSONValue) -> tuple[str, tuple[str | int, ...]] | None:
    """Why `parameters` is not a valid JSON Schema, and where; cached because
    flows repeat the same parameter shapes across many functions."""
    return _schema_problem_cached(json.dumps(parameters, sort_keys=True))


@rule("CK404")
def invalid_parameters(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for function in ai.functions:
            parameters = function.data.get("parameters")
            if parameters is None:
                continue
            path = (*function.path, "parameters")
            if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
                yield ctx.report(f'parameters of "{function.name}" must be a JSON Schema with '
                                 'type "object"', path)
                continue
            # The SDK's per-property `required: true` is coerced first (CK605).
            problem = _schema_problem(parameter_schema(parameters))
            if problem is not None:
                message, where = problem
                yield ctx.report(f'parameters of "{function.name}" are not a valid JSON '
                                 f"Schema: {message}", (*path, *where))
                continue
            properties = parameters.get("properties")
            required = parameters.get("required")
            for position, name in enumerate(required if isinstance(required, list) else []):
                if isinstance(properties, dict) and name not in properties:
                    yield ctx.report(f'parameters of "{function.name}" require "{name}", which '
                                     "is not among its properties",
                                     (*path, "required", position))


@rule("CK405")
def function_without_description(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for function in ai.functions:
            if not str(function.data.get("description") or "").strip():
                yield ctx.report(f'function "{function.name}" has no description: the model '
                                 "decides when to call it from the description",
                                 (*function.path, "function"))


@rule("CK406")
def shadows_injected(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        if not ai.contexts:
            continue
        for function in ai.functions:
            if function.name in INJECTED_FUNCTIONS:
                yield ctx.report(f'function "{function.name}" clashes with the function the '
                                 "runtime injects to move between steps and contexts",
                                 (*function.path, "function"), hint="rename it")


def _patterns(ai: AiSite) -> Iterator[tuple[JSONPath, str]]:
    for function in ai.functions:
        yield from _expression_patterns(function.data.get("data_map"),
                                        (*function.path, "data_map"))
    params = ai.args.get("params")
    if isinstance(params, dict) and isinstance(params.get("barge_match_string"), str):
        yield (*ai.path, "params", "barge_match_string"), str(params["barge_match_string"])
    hints = ai.args.get("hints")
    for position, hint in enumerate(hints if isinstance(hints, list) else []):
        if isinstance(hint, dict) and isinstance(hint.get("pattern"), str):
            yield (*ai.path, "hints", position, "pattern"), str(hint["pattern"])


def _expression_patterns(node: JSONValue, path: JSONPath) -> Iterator[tuple[JSONPath, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expressions" and isinstance(value, list):
                for position, expression in enumerate(value):
                    if isinstance(expression, dict) and isinstance(expression.get("pattern"),
                                                                   str):
                        yield (*path, key, position, "pattern"), str(expression["pattern"])
            else:
                yield from _expression_patterns(value, (*path, key))
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from _expression_patterns(item, (*path, position))


@rule("CK407")
def invalid_regex(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for path, pattern in _patterns(ai):
            try:
                compile_pattern(pattern)
            except PatternError as error:
                yield ctx.report(f"invalid regular expression: {error.msg}", path)
        hints = ai.args.get("hints")
        for position, item in enumerate(hints if isinstance(hints, list) else []):
            try:
                compiled = compile_hint(item)
            except PatternError:
                continue  # reported above
            if compiled.pattern is not None and compiled.replace is not None:
                problem = compiled.pattern.template_error(compiled.replace)
                if problem is not None:
                    yield ctx.report(problem, (*ai.path, "hints", position, "replace"))


@rule("CK410")
def unbounded_regex(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for path, pattern in _patterns(ai):
            try:
                compile_pattern(pattern)
            except PatternError:
                continue  # CK407
            risk = backtracking_risk(pattern)
            if risk is not None:
                yield ctx.report(
                    f"pattern may backtrack without end: {risk}", path,
                    hint=f"on a long text it does not match, the match is stopped after "
                         f"{MATCH_TIMEOUT_S * 1000:g} ms and counts as failed; let each "
                         "repeated part match one way only (`(\\w+\\s)*` rather than "
                         "`(\\w+\\s?)*`) or make it atomic: `(?>...)`")


@rule("CK408")
def data_map_and_webhook(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for function in ai.functions:
            if function.data.get("data_map") and function.data.get("web_hook_url"):
                yield ctx.report(f'function "{function.name}" has a data_map, so its '
                                 "web_hook_url is never called", (*function.path, "web_hook_url"),
                                 key=True)


def _has_output(node: JSONValue) -> bool:
    if isinstance(node, dict):
        return "output" in node or any(_has_output(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_output(item) for item in node)
    return False


@rule("CK409")
def data_map_without_output(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for function in ai.functions:
            data_map = function.data.get("data_map")
            if isinstance(data_map, dict) and not _has_output(data_map):
                yield ctx.report(f'data_map of "{function.name}" has no output anywhere: the '
                                 "model would always get a generic error",
                                 (*function.path, "data_map"), key=True)
