"""Rules: value forms the SignalWire Agents SDK emits but SWML does not document.

Documents the SDK serves are run by the platform, so callkernel never rejects
them: the schema accepts these forms, the compiler coerces them
(`coerce.py`, SDK section) and these rules say what was read and how.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from interpreter.diagnostics import Diagnostic, JSONPath
from interpreter.document.coerce import boolean_required, is_swml_var, item_limit, template_text
from interpreter.document.index import AiSite
from interpreter.document.lint import LintContext, rule
from interpreter.jsontypes import JSONValue, kind_of


def _foreach_sites(ai: AiSite) -> Iterator[tuple[JSONPath, dict[str, JSONValue]]]:
    for function in ai.functions:
        data_map = function.data.get("data_map")
        webhooks = data_map.get("webhooks") if isinstance(data_map, dict) else None
        for position, hook in enumerate(webhooks if isinstance(webhooks, list) else []):
            foreach = hook.get("foreach") if isinstance(hook, dict) else None
            if isinstance(foreach, dict):
                yield (*function.path, "data_map", "webhooks", position, "foreach"), foreach


@rule("CK605")
def sdk_value_coerced(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for path, foreach in _foreach_sites(ai):
            append = foreach.get("append")
            if "append" in foreach and not isinstance(append, str):
                text = json.dumps(template_text(append))
                yield ctx.report(f"foreach append is {kind_of(append, yaml=True)}, not a "
                                 f"template; it is read as {text}", (*path, "append"),
                                 hint=f"write it as the string {text}")
            limit = foreach.get("max")
            if (isinstance(limit, str) and not is_swml_var(limit)) \
                    or (isinstance(limit, float) and not limit.is_integer()):
                yield ctx.report(f"foreach max is {kind_of(limit, yaml=True)}; it is read as "
                                 f"{item_limit(limit)}", (*path, "max"),
                                 hint=f"write it as the integer {item_limit(limit)}")
        for path, name, argument in ai.actions():
            if name == "SWML" and isinstance(argument, dict) and "transfer" in argument:
                yield ctx.report("transfer inside the SWML document (the SDK's execute_swml) "
                                 "is read as transfer beside SWML", (*path, "transfer"),
                                 key=True, hint="move transfer next to SWML in the action")
        for function in ai.functions:
            parameters = function.data.get("parameters")
            for where, required in boolean_required(parameters,
                                                    (*function.path, "parameters")):
                name = str(where[-2])
                effect = (f'"{name}" is added to the object\'s required list' if required
                          else "it is dropped (the property stays optional)")
                yield ctx.report(f'"required: {str(required).lower()}" on property "{name}" '
                                 f'of "{function.name}" is JSON Schema draft 3; {effect}',
                                 where, key=True,
                                 hint="list required properties in the object's `required`")


@rule("CK606")
def sdk_value_ignored(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for function in ai.functions:
            if "is_hangup_hook" in function.data:
                yield ctx.report(f'is_hangup_hook is an SDK key SWML does not define: '
                                 f'"{function.name}" stays an ordinary function and does not '
                                 "run at hang-up", (*function.path, "is_hangup_hook"), key=True,
                                 hint='name the function "hangup_hook" to run it at hang-up')
        for path, foreach in _foreach_sites(ai):
            if is_swml_var(foreach.get("max")):
                yield ctx.report("foreach max is a ${...} variable, which callkernel does not "
                                 "apply: every item is used", (*path, "max"),
                                 hint="give max as an integer")
