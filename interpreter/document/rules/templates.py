"""Rules: the names SWAIG templates read are ones the document provides.

A data_map template reads the function's arguments (`${args.x}`, or `${x}`
bare), `global_data`, `meta_data`, a few call facts and, once a webhook has
answered, the keys of its reply. `args.x` is checked against the declared
parameters; other names only when they are a typing slip away from a name
the template surely has (`${arg.x}`): before any reply (an expression's
`string` and `output`, a webhook's `url`, `headers` and `params`) from the
arguments and the call facts, after one only from `args`, `global_data` and
`meta_data`. Prompts read `global_data`, whose keys the document
declares. The templates come from the expression index
(`expression_sites.py`); this module only reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from interpreter.diagnostics import Diagnostic
from interpreter.document.expression_sites import (
    ExpressionSite,
    expression_sites,
    parse_cached,
    position_in,
)
from interpreter.document.index import AiSite, FunctionSite
from interpreter.document.lint import LintContext, rule
from interpreter.document.schema import did_you_mean, edit_distance
from interpreter.expressions import ExpressionSyntaxError, VariableRef, references

# What a data_map template can read besides the arguments (runtime/tools/data_map.py).
DATA_MAP_ROOTS = frozenset({
    "args", "input", "global_data", "meta_data", "call_id", "ai_session_id", "function",
    "app_name", "conversation_type", "caller_id_name", "caller_id_num", "project_id",
    "space_id",
})
# The roots a typo after a webhook reply is checked against: a reply key may be
# any name, so only a near miss of these is reported there.
_FIXED_ROOTS = ("args", "global_data", "meta_data")
# Parts of a data_map rendered before any webhook has replied.
_BEFORE_REPLY = {"url", "headers", "params", "method"}
# Schema keywords under which arguments are not simply the listed properties.
_OPEN_SCHEMA = ("anyOf", "oneOf", "allOf", "$ref", "patternProperties", "if",
                "dependentSchemas")


@dataclass(frozen=True, slots=True)
class _DataMapSite:
    function: FunctionSite
    site: ExpressionSite
    closed: bool  # rendered before any webhook reply: every root is known


def _sites(ctx: LintContext) -> list[tuple[AiSite, ExpressionSite]]:
    """Every SWAIG template with the ai verb it belongs to, found once per lint."""
    cached = ctx._cache.get("swaig_templates")
    if isinstance(cached, list):
        return cached
    # The expression index is shared with the expression rules.
    sites = ctx._cache.get("expression_sites")
    if not isinstance(sites, list):
        sites = list(expression_sites(ctx.index))
        ctx._cache["expression_sites"] = sites
    by_path = {ai.path: ai for ai in ctx.index.ai}
    found: list[tuple[AiSite, ExpressionSite]] = []
    for site in sites:
        if not isinstance(site, ExpressionSite) or site.language != "swaig":
            continue
        for position, part in enumerate(site.path):
            ai = by_path.get(site.path[:position + 1]) if part == "ai" else None
            if ai is not None:
                found.append((ai, site))
                break
    ctx._cache["swaig_templates"] = found
    return found


def _references(site: ExpressionSite) -> list[VariableRef]:
    parsed = parse_cached(site.language, site.text)
    return [] if isinstance(parsed, ExpressionSyntaxError) else list(references(parsed))


def _data_map_sites(ctx: LintContext) -> list[_DataMapSite]:
    cached = ctx._cache.get("data_map_templates")
    if isinstance(cached, list):
        return cached
    functions = {(*function.path, "data_map"): function
                 for ai in ctx.index.ai for function in ai.functions}
    found: list[_DataMapSite] = []
    for ai, site in _sites(ctx):
        base = site.path[:len(ai.path) + 4]
        function = functions.get(base)
        if function is None:
            continue
        data_map = function.data.get("data_map")
        webhooks = data_map.get("webhooks") if isinstance(data_map, dict) else None
        rest = site.path[len(base):]
        if "SWML" in rest:
            continue  # a SWML document in an action: Calling SWML, read when it runs
        if rest[:1] == ("expressions",):
            closed = True
        elif rest[:1] == ("webhooks",):
            closed = len(rest) > 2 and rest[2] in _BEFORE_REPLY
        else:
            closed = rest[:1] == ("output",) and not webhooks
        found.append(_DataMapSite(function, site, closed))
    ctx._cache["data_map_templates"] = found
    return found


def declared_arguments(function: FunctionSite) -> set[str] | None:
    """The argument names a function's parameters list; None when they cannot
    be known from the document (combinators, `$ref`, the deprecated `argument`)."""
    if "argument" in function.data and "parameters" not in function.data:
        return None
    parameters = function.data.get("parameters")
    if parameters is None:
        return set()
    if not isinstance(parameters, dict) or any(key in parameters for key in _OPEN_SCHEMA):
        return None
    properties = parameters.get("properties")
    return set(properties) if isinstance(properties, dict) else set()


def _argument(ref: VariableRef) -> tuple[str, int] | None:
    """The argument `${args.x}` or `${input.args.x}` reads, with its segment index."""
    if ref.root == "args" and ref.path and isinstance(ref.path[0], str):
        return ref.path[0], 0
    if ref.root == "input" and len(ref.path) > 1 and ref.path[0] == "args" \
            and isinstance(ref.path[1], str):
        return ref.path[1], 1
    return None


@rule("CK505")
def undeclared_argument(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in _data_map_sites(ctx):
        declared = declared_arguments(found.function)
        if declared is None:
            continue
        for ref in _references(found.site):
            argument = _argument(ref)
            if argument is None or argument[0] in declared:
                continue
            name = argument[0]
            where = position_in(ctx.doc, found.site.path, ref.line, ref.col, found.site.text)
            what = (f'has no parameter "{name}"' if declared
                    else f'declares no parameters, so "{name}" is never set')
            hint = did_you_mean(name, sorted(declared)) or (
                f'add "{name}" to the properties of its parameters' if declared else None)
            yield ctx.report(f'"{found.function.name}" {what}: the template reads an empty '
                             "value", found.site.path, span=where, hint=hint)


@rule("CK506")
def unknown_data_map_root(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in _data_map_sites(ctx):
        arguments = declared_arguments(found.function) or set()
        # The platform hands data_map more call facts than callkernel models,
        # and after a reply any key may be a root: only a near miss of a name
        # the template surely has is reported.
        candidates = sorted(DATA_MAP_ROOTS | arguments) if found.closed else _FIXED_ROOTS
        for ref in _references(found.site):
            root = ref.root
            if root in DATA_MAP_ROOTS or root in arguments:
                continue
            close = [name for name in candidates if _slip(root, name)]
            if not close:
                continue
            where = position_in(ctx.doc, found.site.path, ref.line, ref.col, found.site.text)
            yield ctx.report(
                f'a data_map template of "{found.function.name}" reads "{root}", which '
                "nothing provides: it reads an empty value", found.site.path, span=where,
                hint=f'did you mean "{close[0]}"?')


def _slip(word: str, name: str) -> bool:
    """A typing slip away: one edit, two in a long name."""
    if len(word) < 3:
        return False
    return edit_distance(word, name) <= (2 if len(name) >= 8 else 1)


def global_data_keys(ai: AiSite) -> tuple[set[str], bool]:
    """The global_data keys the document defines (its own global_data, static
    set_global_data actions, gather_info answers), and whether anything else
    may add keys at run time (a webhook's reply, a templated action)."""
    declared = ai.args.get("global_data")
    keys = set(declared) if isinstance(declared, dict) else set()
    open_ended = False
    for _, name, value in ai.actions():
        if name == "set_global_data":
            if isinstance(value, dict):
                keys.update(value)
            else:
                open_ended = True
    for context in ai.contexts:
        for step in context.steps:
            gather = step.data.get("gather_info")
            if not isinstance(gather, dict):
                continue
            if isinstance(gather.get("output_key"), str):
                keys.add(str(gather["output_key"]))
                continue
            questions = gather.get("questions")
            for question in questions if isinstance(questions, list) else []:
                if isinstance(question, dict) and isinstance(question.get("key"), str):
                    keys.add(str(question["key"]))
    params = ai.args.get("params")
    webhooks_may_set = not (isinstance(params, dict)
                            and params.get("swaig_set_global_data") is False)
    swaig = ai.args.get("SWAIG")
    includes = isinstance(swaig, dict) and bool(swaig.get("includes"))
    webhook_functions = any(not function.data.get("data_map")
                            and function.name not in ai.natives for function in ai.functions)
    return keys, open_ended or (webhooks_may_set and (includes or webhook_functions))


@rule("CK507")
def unknown_global_data_key(ctx: LintContext) -> Iterator[Diagnostic]:
    known: dict[int, tuple[set[str], bool]] = {}
    for ai, site in _sites(ctx):
        if not isinstance(ai.args.get("global_data"), dict):
            continue  # a document that declares no global_data leaves it to the app
        if site.path[len(ai.path):][:1] == ("global_data",):
            continue
        if id(ai) not in known:
            known[id(ai)] = global_data_keys(ai)
        keys, open_ended = known[id(ai)]
        for ref in _references(site):
            if ref.root != "global_data" or not ref.path \
                    or not isinstance(ref.path[0], str) or ref.path[0] in keys:
                continue
            name = ref.path[0]
            hint = did_you_mean(name, sorted(keys))
            if hint is None and open_ended:
                continue  # a webhook may set it
            where = position_in(ctx.doc, site.path, ref.line, ref.col, site.text)
            yield ctx.report(f'global_data has no key "{name}": the document never defines '
                             "it, so it reads empty", site.path, span=where, hint=hint)
