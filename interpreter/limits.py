"""Every bound callkernel puts on its inputs, in one place.

Each input is checked against its limit as it arrives, before the work it
would cause: a document's size before it is parsed, its nesting and node count
while the parser streams events (never after a tree is built), an expression's
length before the grammar sees it, a string's length before it is built.
docs/limits.md lists every limit with what happens when it is exceeded; a test
checks that the table and this module agree.
"""

from __future__ import annotations

# ------------------------------------------------------------ documents
# Flows, caller scripts, scripted-model files and flow tests all go through
# interpreter/document/loader.py.

DOCUMENT_MAX_BYTES = 2 * 1024 * 1024
"""A document's size in bytes (CK005). `lint`/`compile --max-bytes` raise it."""

DOCUMENT_MAX_DEPTH = 200
"""Nesting of lists and maps in a document, aliases expanded (CK004)."""

DOCUMENT_MAX_NODES = 200_000
"""Values (scalars, lists, maps) in one document, aliases expanded (CK004).
A 5,000-line flow holds about 17,000."""

DOCUMENT_MAX_ALIAS_NODES = 100_000
"""Values reached through YAML aliases in one document (CK004)."""

DOCUMENT_MAX_INTEGER = 2**63 - 1
"""The largest integer a document may hold, either sign (CK009): what a 64-bit
consumer (SQLite, a JSON parser in another language) can hold."""

INPUT_MAX_BYTES = 16 * 1024 * 1024
"""The most the CLI reads from one file or from stdin; the document limit
(smaller, and raised with --max-bytes) applies after that."""

# ------------------------------------------------------------ expressions

EXPRESSION_MAX_LENGTH = 1024
"""Characters in one expression: one `${...}`, `%{...}` or `@{...}` part, or
one `when` (CK501). SignalWire's limit."""

EXPRESSION_MAX_DEPTH = 64
"""Nesting of one expression's syntax tree (CK502 in Calling SWML, CK501 in
SWAIG templates)."""

TEMPLATE_MAX_PARTS = 1000
"""`${...}`, `%{...}` and `@{...}` parts in one string (CK501)."""

TEMPLATE_MAX_EXPRESSION_TEXT = 32 * 1024
"""Characters inside the parts of one string, in all (CK501): what the
expression parser may be asked to read for one string."""

STRING_MAX_LENGTH = 64 * 1024
"""Characters an expression may build, and that the parts of one template may
insert into it; checked before the string is built (a runtime error)."""

ARRAY_MAX_LENGTH = 64 * 1024
"""Elements an expression may build into one array (`split`, `concat`);
checked before the array is built (a runtime error)."""

# ------------------------------------------------------------ JSON values

VALUE_MAX_DEPTH = 200
"""Nesting of a JSON value parsed at run time (JSON.parse in an expression);
the same as a document's. safejson.loads takes its bound per call."""

JSON_PARSE_MAX_BYTES = 1024 * 1024
"""The text JSON.parse in an expression accepts, in UTF-8 bytes."""

# ------------------------------------------------------------ caller scripts

CALLER_SCRIPT_MAX_SECONDS = 24 * 60 * 60
"""Any time in a caller script (pause, linger, at, after, wait...) (CK702)."""

CALLER_SCRIPT_MAX_COUNT = 1_000_000
"""Any count in a caller script (a tts fault's `times`) (CK702)."""

# ------------------------------------------------------------ runtime inputs
# Webhook replies, includes, LLM streams, tool arguments: their limits go
# here, with their rows in the "Runtime inputs" section of docs/limits.md.

# ------------------------------------------------------------ runtime inputs

HTTP_REPLY_MAX_BYTES = 256 * 1024
"""A reply body read from a webhook, a data_map request, an include or a
post-call delivery: read as it arrives and refused past this (tool_error)."""

REQUEST_VERB_MAX_BYTES = 64 * 1024
"""A `request` verb's response body: what is over it is cut off (the verb's
documented behaviour), never read whole."""

RUNTIME_JSON_MAX_BYTES = 1024 * 1024
"""JSON parsed at run time from outside (replies, the model's tool arguments,
a request verb's body), in UTF-8 bytes; nesting is bounded by VALUE_MAX_DEPTH."""

HTTP_MAX_REDIRECTS = 5
"""Redirects one data_map or request-verb exchange may follow."""

LLM_EVENT_MAX_BYTES = 1024 * 1024
"""One server-sent event of a model's stream (its data lines together)."""

LLM_REPLY_MAX_CHARS = 64 * 1024
"""The text of one streamed model reply."""

LLM_TOOL_ARGUMENTS_MAX_CHARS = 64 * 1024
"""The arguments of one tool call a model streams."""

LLM_TOOL_CALLS_MAX = 16
"""Tool calls in one model reply."""

WAIT_MAX_SECONDS = 24 * 60 * 60
"""The longest one wait of a call may last (a sleep, a timeout a variable
rendered): the schema's maxima say the same for durations written out."""
