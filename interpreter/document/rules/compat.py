"""Rules: what this runtime does not execute, and settings that contradict each other."""

from __future__ import annotations

from collections.abc import Iterator

from interpreter.diagnostics import Diagnostic
from interpreter.document.lint import LintContext, rule
from interpreter.document.schema import flow_schema
from interpreter.media.keys import DIGITS, WAITS_MS

# What send_digits can send: keys, and "w"/"W" pauses.
SENDABLE = DIGITS + "".join(WAITS_MS)


def unsupported_methods() -> frozenset[str]:
    """Methods the schema accepts but marks as not executed (UnsupportedMethod)."""
    verbs = flow_schema()["$defs"]["Verb"]["properties"]
    return frozenset(name for name, schema in verbs.items()
                     if schema.get("$ref") == "#/$defs/UnsupportedMethod")


@rule("CK601")
def not_executed(ctx: LintContext) -> Iterator[Diagnostic]:
    unsupported = unsupported_methods()
    for site in ctx.index.methods:
        if site.method in unsupported:
            yield ctx.report(f'"{site.method}" is accepted but callkernel does not execute it; '
                             "the call continues with the next method", site.path, key=False,
                             hint="remove it, or keep it for a platform that runs it")


@rule("CK602")
def languages_and_multilingual(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        if "languages" in ai.args and "multilingual" in ai.args:
            yield ctx.report("languages and multilingual are both set; multilingual wins",
                             (*ai.path, "languages"), key=True)


@rule("CK603")
def post_prompt_without_url(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        if "post_prompt" in ai.args and "post_prompt_url" not in ai.args:
            yield ctx.report("post_prompt is set but post_prompt_url is not: the summary is "
                             "generated and only kept in the trace",
                             (*ai.path, "post_prompt"), key=True)


@rule("CK604")
def contradictory_recovery(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        recovery = ai.args.get("error_recovery")
        for error_type, policy in (recovery.items() if isinstance(recovery, dict) else []):
            if isinstance(policy, dict) and policy.get("fatal") is True \
                    and policy.get("max_retries"):
                yield ctx.report(f"{error_type} is fatal, so max_retries is never used",
                                 (*ai.path, "error_recovery", error_type, "max_retries"),
                                 key=True)


@rule("CK607")
def digits_not_dtmf(ctx: LintContext) -> Iterator[Diagnostic]:
    for site in ctx.index.methods:
        if site.method != "send_digits" or not isinstance(site.args, dict):
            continue
        digits = site.args.get("digits")
        if not isinstance(digits, str) or "${" in digits or "%{" in digits:
            continue  # a variable's value is checked when the call sends it
        wrong = "".join(dict.fromkeys(c for c in digits if c not in SENDABLE))
        if wrong:
            yield ctx.report(f"send_digits cannot send {wrong!r}",
                             (*site.args_path, "digits"), key=False,
                             hint="keys are 0-9 * # A-D (capitals); w waits 0.5 s, W 1 s")
