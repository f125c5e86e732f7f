"""Rules: expressions parse, stay inside the supported subset and read known variables."""

from __future__ import annotations

import re
from collections.abc import Iterator

from interpreter.diagnostics import Diagnostic, Severity
from interpreter.document.catalogue import CODES
from interpreter.document.expression_sites import (
    ExpressionSite,
    expression_sites,
    parse_cached,
    position_in,
)
from interpreter.document.lint import LintContext, rule
from interpreter.document.schema import did_you_mean
from interpreter.expressions import ExpressionSyntaxError, references

# Variables the Calling SWML methods set (SignalWire's SWML method docs), readable unprefixed.
METHOD_OUTPUTS = frozenset({
    "prompt_result", "prompt_value", "prompt_digit_terminator", "prompt_speech_confidence",
    "connect_result", "connect_failed_reason", "return_value", "request_url",
    "request_result", "request_response_code", "request_response_headers",
    "request_response_body", "request_response", "record_url", "record_result",
    "record_call_url", "record_call_result", "record_control_id", "send_sms_result",
    "ai_result", "ai_response", "script_error", "denoise_result", "detect_result",
    "detect_machine_beep", "detect_ms", "queue_result", "join_conference_result",
    "join_room_result", "send_digits_result", "pay_result",
})
SWML_SCOPES = frozenset({"call", "params", "vars", "envs"})
# What a prompt may read (SWAIG templates in SignalWire's SWML docs): prompt
# variables and global_data.
PROMPT_VARIABLES = frozenset({
    "global_data", "call_direction", "caller_id_number", "caller_id_name", "local_date",
    "spoken_date", "local_time", "time_of_day", "supported_languages", "default_language",
    "call_id", "ai_session_id", "app_name", "project_id", "space_id",
})
_PROMPT_KEYS = frozenset({"text", "body", "bullets", "title", "step_criteria", "prompt",
                          "system_prompt", "user_prompt"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*$")


def _parse_errors(ctx: LintContext, kind: str) -> Iterator[Diagnostic]:
    for site in _sites(ctx):
        parsed = parse_cached(site.language, site.text)
        if isinstance(parsed, ExpressionSyntaxError) and parsed.kind == kind:
            where = position_in(ctx.doc, site.path, parsed.line, parsed.col, site.text)
            yield ctx.doc.diagnostic(ctx.code, CODES[ctx.code].severity, parsed.message,
                                     site.path, span=where)


def _sites(ctx: LintContext) -> list[ExpressionSite]:
    cached = ctx._cache.get("expression_sites")
    if cached is None:
        cached = list(expression_sites(ctx.index))
        ctx._cache["expression_sites"] = cached
    assert isinstance(cached, list)
    return cached


@rule("CK501")
def expression_syntax(ctx: LintContext) -> Iterator[Diagnostic]:
    yield from _parse_errors(ctx, "syntax")


@rule("CK502")
def expression_unsupported(ctx: LintContext) -> Iterator[Diagnostic]:
    yield from _parse_errors(ctx, "unsupported")


def _set_names(ctx: LintContext) -> set[str]:
    names: set[str] = set()
    for site in ctx.index.methods_named("set"):
        if isinstance(site.args, dict):
            names.update(site.args)
    return names


def _is_prompt_text(path: tuple[str | int, ...]) -> bool:
    keys = [part for part in path if isinstance(part, str)]
    if "SWAIG" in keys or "params" in keys or "global_data" in keys:
        return False
    return "prompt" in keys and keys[-1] in _PROMPT_KEYS


# Names given a did-you-mean hint per document: finding a close match costs
# about as much as the rest of a diagnostic, and past this many distinct
# unknown names the hints would only add time, not help.
_MAX_HINTED_NAMES = 200


@rule("CK503")
def unknown_variable(ctx: LintContext) -> Iterator[Diagnostic]:
    known = SWML_SCOPES | METHOD_OUTPUTS | _set_names(ctx)
    hints: dict[tuple[str, bool], str | None] = {}

    def hint_for(name: str, allowed: frozenset[str] | set[str], prompt: bool) -> str | None:
        if (name, prompt) not in hints:
            if len(hints) >= _MAX_HINTED_NAMES:
                return None
            hints[name, prompt] = did_you_mean(name, sorted(allowed))
        return hints[name, prompt]

    for site in _sites(ctx):
        parsed = parse_cached(site.language, site.text)
        if isinstance(parsed, ExpressionSyntaxError):
            continue
        if site.language == "swaig":
            if not _is_prompt_text(site.path):
                continue  # data_map and tool scopes depend on webhook replies
            allowed = PROMPT_VARIABLES
            what = "prompt variable"
        else:
            allowed = known
            what = "variable"
        for ref in references(parsed):
            if ref.root in allowed:
                continue
            where = position_in(ctx.doc, site.path, ref.line, ref.col, site.text)
            yield ctx.doc.diagnostic(
                ctx.code, CODES[ctx.code].severity,
                f'unknown {what} "{ref.root}"' + (
                    ": nothing in this document sets it" if site.language != "swaig" else ""),
                site.path, span=where,
                hint=hint_for(ref.root, allowed, site.language == "swaig"))


@rule("CK504")
def switch_variable_name(ctx: LintContext) -> Iterator[Diagnostic]:
    for site in ctx.index.methods_named("switch"):
        variable = site.args.get("variable") if isinstance(site.args, dict) else None
        if isinstance(variable, str) and not _NAME.match(variable):
            unwrapped = variable.strip()[2:-1] if variable.strip()[:2] in ("${", "%{") else None
            yield ctx.doc.diagnostic(
                ctx.code, Severity.ERROR,
                f'switch variable "{variable}" must be a variable name, not an expression',
                (*site.args_path, "variable"),
                hint=f'write "{unwrapped}"' if unwrapped and _NAME.match(unwrapped) else None)
