"""Every diagnostic code callkernel reports, with its severity and title.

Codes are stable: tools and CI configs match on them. A code is never reused
for another meaning; a retired code stays here, marked as such.

    CK0xx  loading (YAML/JSON text, safety limits)
    CK1xx  references (steps, contexts, sections, labels, functions)
    CK2xx  schema (unknown methods and keys, types, values)
    CK3xx  flow structure (reachability, dead ends)
    CK4xx  tools (SWAIG functions, webhooks, data_map)
    CK5xx  expressions
    CK6xx  runtime support and configuration
    CK8xx  scripted models checked against their flow (`callkernel lint x.model.yaml`)

Caller scripts (CK701-CK705), flow tests (CK711) and scripted-model rules
(CK801) are checked by their own loaders and documented with their formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from interpreter.diagnostics import Severity

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    severity: Severity
    title: str


_CODES = [
    Code("CK001", E, "YAML syntax error"),
    Code("CK002", E, "duplicate key"),
    Code("CK003", E, "YAML tag not allowed"),
    Code("CK004", E, "alias expansion or nesting over the limit"),
    Code("CK005", E, "document over the size limit"),
    Code("CK006", E, "document is not UTF-8"),
    Code("CK007", E, "JSON syntax error"),
    Code("CK008", E, "not plain data (empty document, non-string key, non-JSON number)"),
    Code("CK101", E, "section not defined"),
    Code("CK102", E, "label not defined in this section"),
    Code("CK103", E, "step not defined"),
    Code("CK104", E, "context not defined"),
    Code("CK105", E, "function not defined"),
    Code("CK106", E, "duplicate name"),
    Code("CK107", E, "reserved name"),
    Code("CK201", E, "unknown method"),
    Code("CK202", E, "unknown key"),
    Code("CK203", E, "missing required key"),
    Code("CK204", E, "wrong type"),
    Code("CK205", E, "invalid value"),
    Code("CK206", E, "method entry is not a single-key map"),
    Code("CK301", W, "step unreachable"),
    Code("CK302", W, "context unreachable"),
    Code("CK303", W, "step has no way forward"),
    Code("CK304", E, "step is both an end and has valid_steps"),
    Code("CK305", W, "function offered by no step"),
    Code("CK306", W, "section never used"),
    Code("CK307", W, "methods after an unconditional jump never run"),
    Code("CK401", E, "function has no implementation"),
    Code("CK402", E, "webhook URL is not a valid http(s) URL"),
    Code("CK403", W, "credentials over plain http"),
    Code("CK404", E, "function parameters are not a valid JSON Schema object"),
    Code("CK405", W, "function has no description"),
    Code("CK406", E, "function shadows a name the runtime injects"),
    Code("CK407", E, "invalid regular expression"),
    Code("CK408", W, "function has both data_map and a web_hook_url"),
    Code("CK409", W, "data_map never produces an output"),
    Code("CK411", E, "function key inside the function's parameters schema"),
    Code("CK412", W, "unknown keyword in a function's parameters schema"),
    Code("CK501", E, "expression syntax error"),
    Code("CK502", E, "expression outside the supported JavaScript subset"),
    Code("CK503", W, "unknown variable"),
    Code("CK504", E, "switch variable is not a name"),
    Code("CK505", W, "data_map template reads an argument the function does not declare"),
    Code("CK506", W, "data_map template reads a name nothing provides"),
    Code("CK507", W, "global_data key the document never defines"),
    Code("CK601", W, "method accepted but not executed by this runtime"),
    Code("CK602", W, "languages and multilingual both set"),
    Code("CK603", W, "post_prompt without post_prompt_url"),
    Code("CK604", W, "error_recovery entry contradicts itself"),
    Code("CK605", W, "SDK value form SWML does not document; coerced"),
    Code("CK606", W, "SDK key or value this runtime ignores"),
    Code("CK607", E, "send_digits holds characters that are not DTMF"),
    Code("CK802", W, "scripted model names a function, step or context its flow lacks"),
    Code("CK410", W, "regular expression may backtrack without end"),
    Code("CK009", E, "number out of range (not finite, or an integer beyond 64 bits)"),
]

CODES: MappingProxyType[str, Code] = MappingProxyType({c.code: c for c in _CODES})
