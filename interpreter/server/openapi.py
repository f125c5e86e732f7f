"""The OpenAPI 3.1 document of REST v1, and its rendering as docs/rest-api.md.

Written by hand as data, next to the app: a test checks that every route the
app serves is here with the scope it enforces, and that every path here is
served; another that docs/rest-api.md is exactly `render_markdown()`.
Regenerate the page with `python -m interpreter.server.openapi > docs/rest-api.md`.
"""

from __future__ import annotations

import json
from typing import Any

from interpreter.server.problems import CODES, PROBLEM_JSON

JSON = "application/json"
YAML = "application/yaml"
NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"
# server/events.py's defaults (a test checks).
HEARTBEAT_SECONDS = 15.0
QUEUE_LIMIT = 512
DOCUMENT_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/json")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _ref("Problem")}}}


_NAME = {"name": "name", "in": "path", "required": True,
         "description": "The flow's name: 1 to 64 of a-z, 0-9, _ and -.",
         "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
_VERSION = {"name": "version", "in": "path", "required": True,
            "description": "A version number.", "schema": {"type": "integer", "minimum": 1}}

# Problems every authenticated operation can answer with.
_AUTH_PROBLEMS = {
    "401": _problem("Missing, unknown or revoked token (`unauthorized`)."),
    "403": _problem("The token lacks the scope (`forbidden`)."),
}
_NAME_PROBLEMS = {
    "400": _problem("Not a flow name (`invalid-flow-name`) or a malformed request "
                    "(`invalid-request`)."),
    "404": _problem("No such flow or version (`not-found`)."),
}
_DOCUMENT = {"description": "The document exactly as uploaded, byte for byte, with the "
                            "media type it was uploaded as (YAML types are stored as "
                            "`application/yaml`). `X-Flow-Version` names the version.",
             "headers": {"X-Flow-Version": {"schema": {"type": "integer"},
                                            "description": "The version served."}},
             # A stored document always loaded as a mapping (a flow), in either syntax.
             "content": {YAML: {"schema": {"type": "object"}},
                         JSON: {"schema": {"type": "object"}}}}


def _operation(operation_id: str, summary: str, scope: str | None, responses: dict[str, Any],
               *, description: str = "", parameters: list[dict[str, Any]] | None = None,
               body: dict[str, Any] | None = None, tag: str = "flows") -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = body
    if scope is None:
        operation["security"] = []
    else:
        operation["security"] = [{"bearer": [scope]}]
        responses = {**responses, **_AUTH_PROBLEMS}
    operation["responses"] = dict(sorted(
        {**responses, "500": _problem("Unexpected error (`internal-error`); logged, no "
                                      "details in the body.")}.items()))
    return operation


def _command_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


_COMMAND_PROBLEMS = {
    **_NAME_PROBLEMS,
    "409": _problem("The live version is not what was expected, or (rollback) the version "
                    "is not older than the live one (`conflict`)."),
    "413": _problem("Body over 16 KiB (`payload-too-large`)."),
    "415": _problem("Not `application/json` (`unsupported-media-type`)."),
}

_CALL_ID = {"name": "call_id", "in": "path", "required": True,
            "description": "The call's id, as `POST /v1/calls` returned it.",
            "schema": {"type": "string"}}
_KEY = {"name": "key", "in": "path", "required": True,
        "description": "The delivery's key (its idempotency key).",
        "schema": {"type": "string"}}
_DELIVERY: dict[str, Any] = {
        "type": "object",
        "required": ["key", "call_id", "kind", "url", "state", "attempts", "last_status",
                     "last_error", "next_attempt_at", "created_at", "updated_at",
                     "summary_owed"],
        "properties": {
            "key": {"type": "string", "description": "The idempotency key."},
            "call_id": {"type": "string"},
            "kind": {"type": "string", "description": "`post_prompt` or `status`."},
            "url": {"type": ["string", "null"],
                    "description": "Where it goes, without credentials; null: kept only."},
            "state": {"type": "string", "enum": ["pending", "delivered", "failed", "kept"]},
            "attempts": {"type": "integer", "description": "Attempts in this round."},
            "last_status": {"type": ["integer", "null"],
                            "description": "The HTTP status of the last attempt."},
            "last_error": {"type": ["string", "null"],
                           "description": "The last problem seen (`HTTP 503`, "
                                          "`timeout: ...`, a summary not generated)."},
            "next_attempt_at": {"type": ["number", "null"],
                                "description": "When a pending one is tried next "
                                               "(seconds since the epoch)."},
            "created_at": {"type": "number"}, "updated_at": {"type": "number"},
            "summary_owed": {"type": "boolean",
                             "description": "A summary is still to be generated."},
        }}

_LAST_EVENT_ID = {"name": "Last-Event-ID", "in": "header", "required": False,
                  "description": "Resume after this record number: only later records "
                                 "are replayed.",
                  "schema": {"type": "integer", "minimum": 0}}
# One server-sent event, as its fields: an event stream's `schema` describes each
# event, not the stream as one string (how schemathesis and OpenAPI 3.2's
# `itemSchema` read it). Every event names its kind and carries JSON data;
# records carry their number as the id.
_SSE_EVENT = {"type": "object", "required": ["event", "data"],
              "properties": {"event": {"type": "string", "enum": ["record", "end", "lagged"]},
                             "data": {"type": "string", "contentMediaType": JSON},
                             "id": {"type": "string", "pattern": "^[0-9]+$"}}}
_FOLLOW_CONFLICT = {"409": _problem("The call is live on a host whose trace sinks do not "
                                    "feed this server's events (`conflict`).")}
_CALL_PROBLEMS = {
    "404": _problem("No such call (`not-found`)."),
}

# Commands to a live call (server/commands.py): each goes through the call's
# inbox, is traced as `command_received` and runs at the call's next safe point.
_SAFE_POINT = ("It goes through the call's inbox like any other event, is traced as "
               "`command_received` (with `by`: the token's id) and runs at the call's "
               "next safe point: between the agent's turns in an ai session, else "
               "between two verbs (a verb that waits, such as a sleep or a bridged "
               "`connect`, finishes first). A command the call never reaches is traced "
               "as `command_dropped` when it ends.")


def _call_command(operation_id: str, summary: str, description: str,
                  body: dict[str, Any] | None, required_body: bool,
                  conflicts: str = "", safe_point: str = _SAFE_POINT) -> dict[str, Any]:
    """One `POST /v1/calls/{call_id}/<command>` operation."""
    request = None if body is None else {
        "required": required_body, "content": {JSON: {"schema": body}}}
    return {"post": _operation(
        operation_id, summary, "calls",
        {"202": _json(_ref("CallInfo"), "Accepted: the command is in the call's inbox."),
         **_CALL_PROBLEMS,
         "400": _problem("The body is not what the command takes (`invalid-request`)."),
         "409": _problem("The call has ended (`call-ended`); it is not revived." + conflicts),
         "413": _problem("Body over 16 KiB (`payload-too-large`)."),
         "415": _problem("Not `application/json` (`unsupported-media-type`).")},
        description=f"{description} {safe_point}".strip(), parameters=[_CALL_ID],
        body=request,
        tag="calls")}


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False,
            "properties": properties}


_LEG_ID = {"type": "string", "minLength": 1,
           "description": "A leg of this call (`leg_dial` in its trace names it)."}
CALL_COMMAND_PATHS: dict[str, dict[str, Any]] = {
    "/v1/calls/{call_id}/say": _call_command(
        "sayToCall", "Have the agent say something to the caller",
        "The agent speaks `text` after what it is saying now (the reply in progress "
        "plays out first). In an ai session it is spoken as the agent's own words: "
        "the caller may barge in as the session's barge-in settings allow, and the "
        "conversation keeps what the caller heard as an assistant message, so the "
        "model knows it was said. Outside one it is played like `play: say:...` "
        "and waited out; a call not answered yet refuses it (`command_refused`).",
        _closed({"text": {"type": "string", "minLength": 1, "maxLength": 2000}},
                ["text"]), True),
    "/v1/calls/{call_id}/transfer": _call_command(
        "transferCall", "Transfer a live call",
        "A tail call, like the SWML `transfer` method and the SWAIG `transfer` "
        "action: an ai session in progress ends (reason `transfer`; its hangup hook "
        "and summary run) and the rest of the script is left. `dest` a section of "
        "the call's flow: the script goes on there. `dest` a phone number or a SIP "
        "address: the call `connect`s to it (ringback, then bridged; the call ends "
        "when the bridge does); if no leg answers, `connect_failed` and a "
        "`transfer_failed` error (its recovery phrase spoken) are traced and the "
        "script goes on where it was.",
        _closed({"dest": {"type": "string", "minLength": 1, "maxLength": 256,
                          "description": "A section name, `+15551230000`, or "
                                         "`sip:name@host`."}}, ["dest"]), True),
    "/v1/calls/{call_id}/unhold": _call_command(
        "unholdCall", "Take a held call off hold (`ai_unhold`)",
        "Ends the hold the ai verb's SWAIG `hold` action started, before its timeout: "
        "the hold music stops, the caller is listened to again and the agent says it "
        "is back (`unhold` with `why: unhold command`). The body is optional (`{}`).",
        _closed({}, []), False,
        " The call is live but not on hold (`not-on-hold`)."),
    "/v1/calls/{call_id}/inject": _call_command(
        "injectCallEvent", "Inject an external event into a live call",
        "Posts one event from an allow-list, as the transport or the network would "
        "have reported it, after an `EventInjected` marker (traced as "
        "`command_received` with the event's name): `leg_ringing`, `leg_answered`, "
        "`leg_ended` (`leg_id`), `leg_failed` (`leg_id`, `reason`: busy, no_answer, "
        "declined or failed), `digits` (`digits`: DTMF keys, each a `DigitPressed`), "
        "`speech` (`text`, `confidence` 0..1: the caller's final words, as a "
        "recognizer would bring them). An injected event is handled as soon as the "
        "actor takes it, like the real one (no safe point: a `leg_answered` answers the "
        "leg a `connect` is ringing). A leg event names a leg of this call.",
        {"oneOf": [
            _closed({"event": {"const": name}, "leg_id": _LEG_ID}, ["event", "leg_id"])
            for name in ("leg_ringing", "leg_answered", "leg_ended")] + [
            _closed({"event": {"const": "leg_failed"}, "leg_id": _LEG_ID,
                     "reason": {"enum": ["busy", "no_answer", "declined", "failed"]}},
                    ["event", "leg_id"]),
            _closed({"event": {"const": "digits"},
                     "digits": {"type": "string", "pattern": "^[0-9*#A-D]{1,64}$"}},
                    ["event", "digits"]),
            _closed({"event": {"const": "speech"},
                     "text": {"type": "string", "minLength": 1, "maxLength": 2000},
                     "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
                    ["event", "text"])]}, True,
        " The call has no such leg (`unknown-leg`).", safe_point=""),
}

PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": _operation(
        "healthz", "Liveness: the process answers", None,
        {"200": _json(_ref("Status"), "Alive.")}, tag="ops")},
    "/readyz": {"get": _operation(
        "readyz", "Readiness: the store answers and the server is not shutting down", None,
        {"200": _json(_ref("Status"), "Ready."),
         "503": _problem("The store does not answer (`store-unavailable`), or the server "
                         "is draining its calls on its way down (`shutting-down`).")},
        tag="ops")},
    "/phone": {"get": _operation(
        "phonePage", "The browser softphone (docs/softphone.md)", None,
        {"200": {"description": "The page (HTML); it asks for a token and sends it with "
                                "every request it makes.",
                 "content": {"text/html": {"schema": {"type": "string"}}}}}, tag="pages")},
    "/console": {"get": _operation(
        "consolePage", "The call console (docs/softphone.md)", None,
        {"200": {"description": "The page (HTML); it asks for a token and sends it with "
                                "every request it makes.",
                 "content": {"text/html": {"schema": {"type": "string"}}}}}, tag="pages")},
    "/static/{file}": {"get": _operation(
        "pageFile", "A page's script or style sheet", None,
        {"200": {"description": "The file, `text/javascript` or `text/css`, with "
                                "`Cache-Control: no-store`.",
                 "content": {"text/javascript": {"schema": {"type": "string"}},
                             "text/css": {"schema": {"type": "string"}}}},
         "404": _problem("No such page file (`not-found`).")},
        parameters=[{"name": "file", "in": "path", "required": True,
                     "description": "A file name from the package's server/static folder.",
                     "schema": {"type": "string"}}], tag="pages")},
    "/v1/openapi.json": {"get": _operation(
        "openapi", "This document", "read",
        {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")}, tag="ops")},
    "/metrics": {"get": _operation(
        "metrics", "Metrics in Prometheus text", "read",
        {"200": {"description": "The server's metrics: live calls, calls ended by "
                                "disposition, turns, turn and tool latency histograms, "
                                "errors by type, outbox depth (docs/operations.md lists "
                                "them). Prometheus text format 0.0.4, or OpenMetrics when "
                                "`Accept` asks for `application/openmetrics-text`.",
                 "content": {"text/plain": {"schema": {"type": "string"}},
                             "application/openmetrics-text": {"schema": {"type": "string"}}}}},
        description="Needs a token like every endpoint but health: give Prometheus one "
                    "with the `read` scope (`authorization: {credentials: ...}` in its "
                    "scrape config).", tag="ops")},
    "/v1/flows": {"get": _operation(
        "listFlows", "List flows", "read",
        {"200": _json({"type": "object", "required": ["flows", "bound"],
                       "properties": {"flows": {"type": "array",
                                                "items": _ref("FlowSummary")},
                                      "bound": {"type": "array",
                                                "items": _ref("FlowBinding"),
                                                "description": "Flows bound to a URL."}}},
                      "Every stored flow, by name, and every flow bound to a URL.")})},
    "/v1/flows/{name}": {
        "post": _operation(
            "uploadVersion", "Upload a new version", "flows",
            {"201": {**_json(_ref("UploadResult"), "Stored as a draft (not live)."),
                     "headers": {"Location": {"schema": {"type": "string"},
                                              "description": "The new version's URL."}}},
             "400": _NAME_PROBLEMS["400"],
             "413": _problem("Body over the server's limit (`payload-too-large`); checked "
                             "by Content-Length and while reading."),
             "415": _problem("Not a YAML or JSON media type, or a `charset` other than "
                             "UTF-8 (`unsupported-media-type`); a body whose bytes are not "
                             "UTF-8 is a document error (422, CK006)."),
             "409": _problem("The name is bound to a URL (`conflict`): unbind it first."),
             "422": _problem("The document has errors (`invalid-document`): `errors` lists "
                             "every diagnostic, warnings included, as `callkernel lint "
                             "--format json` prints them.")},
            description="The body is the flow document. It is loaded, linted and compiled "
                        "as `callkernel lint` and `compile` do (size, depth and alias "
                        "bounds included), and stored byte for byte as a new draft "
                        "version numbered one past the latest.",
            parameters=[_NAME],
            body={"required": True, "content": {t: {"schema": {"type": "string"}}
                                                for t in DOCUMENT_TYPES}}),
        "get": _operation(
            "getFlow", "Get a flow's summary", "read",
            {"200": _json(_ref("FlowSummary"), "The flow."), **_NAME_PROBLEMS},
            parameters=[_NAME]),
        "delete": _operation(
            "deleteFlow", "Delete a flow and all its versions", "flows",
            {"204": {"description": "Deleted."}, **_NAME_PROBLEMS,
             "409": _problem("A live call runs the flow, or the routing table names it "
                             "(`conflict`): delete it once neither does.")},
            description="Its version numbers are not reused: a flow uploaded again under "
                        "the name numbers on from them, so call records never name two "
                        "documents with one number.",
            parameters=[_NAME]),
    },
    "/v1/flows/{name}/versions": {"get": _operation(
        "listVersions", "List a flow's versions (without their documents)", "read",
        {"200": _json({"type": "object", "required": ["name", "versions"],
                       "properties": {"name": {"type": "string"},
                                      "versions": {"type": "array",
                                                   "items": _ref("VersionInfo")}}},
                      "Oldest first."), **_NAME_PROBLEMS},
        parameters=[_NAME])},
    "/v1/flows/{name}/versions/{version}": {"get": _operation(
        "getVersion", "Get one version's document (or its metadata)", "read",
        {"200": _DOCUMENT, **_NAME_PROBLEMS},
        description="The document as uploaded. With `Accept: application/json` the "
                    "version's metadata (`VersionInfo`) instead; use `/source` to fetch "
                    "a JSON document itself.",
        parameters=[_NAME, _VERSION])},
    "/v1/flows/{name}/source": {"get": _operation(
        "getSource", "Get the live, latest or a numbered version's document", "read",
        {"200": _DOCUMENT, **_NAME_PROBLEMS},
        parameters=[_NAME, {
            "name": "version", "in": "query", "required": False,
            "description": "`latest` (the default), `live`, or a version number.",
            "schema": {"oneOf": [{"type": "string", "enum": ["latest", "live"]},
                                 {"type": "string", "pattern": "^[1-9][0-9]*$"}]}}])},
    "/v1/flows/{name}/publish": {"post": _operation(
        "publish", "Make a version live", "flows",
        {"200": _json(_ref("FlowSummary"), "Now live."), **_COMMAND_PROBLEMS},
        description="Atomic. With `expected_live`, only if the live version is still "
                    "that one (409 otherwise): of concurrent publishes that expect the "
                    "same live version, exactly one succeeds. `expected_live` absent or "
                    "null: no check. Publishing the live version again is a no-op.",
        parameters=[_NAME], body=_command_body("PublishRequest"))},
    "/v1/flows/{name}/rollback": {"post": _operation(
        "rollback", "Make an earlier version live again", "flows",
        {"200": _json(_ref("FlowSummary"), "Now live."), **_COMMAND_PROBLEMS},
        description="Like publish with `expected_live` set to the current live version; "
                    "409 when the version is not older than the live one (or none is live).",
        parameters=[_NAME], body=_command_body("RollbackRequest"))},
    "/v1/flows/{name}/diff": {"get": _operation(
        "diffVersions", "A unified diff between two versions' documents", "read",
        {"200": {"description": "The unified diff (`diff -u` form) of the two documents "
                                "as uploaded, decoded as UTF-8 with bad bytes replaced; "
                                "the headers name each side `NAME@VERSION`; empty when "
                                "they are the same. `X-Flow-Versions` names the two.",
                 "headers": {"X-Flow-Versions": {"schema": {"type": "string"},
                                                 "description": "`FROM..TO` as numbers."}},
                 "content": {"text/plain": {"schema": {"type": "string"}}}},
         **_NAME_PROBLEMS},
        parameters=[_NAME, *({
            "name": key, "in": "query", "required": True,
            "description": f"The {side} version: a number, `live` or `latest`.",
            "schema": {"oneOf": [{"type": "string", "enum": ["latest", "live"]},
                                 {"type": "string", "pattern": "^[1-9][0-9]*$"}]}}
            for key, side in (("from", "older"), ("to", "newer"))), {
            "name": "context", "in": "query", "required": False,
            "description": "Lines of context around each change (default 3).",
            "schema": {"type": "integer", "minimum": 0, "maximum": 1000}}])},
    "/v1/flows/{name}/binding": {
        "put": _operation(
            "bindFlow", "Bind a flow name to a URL (remote SWML)", "flows",
            {"200": _json(_ref("FlowBinding"), "Bound: calls of this flow fetch its "
                                               "document from the URL."),
             **_NAME_PROBLEMS,
             "409": _problem("The name is a stored flow (it has versions): delete it "
                             "first (`conflict`)."),
             "413": _problem("Body over 16 KiB (`payload-too-large`)."),
             "415": _problem("Not `application/json` (`unsupported-media-type`).")},
            description="The flow has no stored versions: for each call its document is "
                        "POSTed for with the call's details, as the hosted platform "
                        "fetches an SDK agent's (`user:pass@` in the URL is sent as Basic "
                        "auth), under the server's destination policy, and cached by "
                        "ETag. A failed fetch gives the call a spoken apology and a "
                        "classified error, never a dead call (docs/operations.md, "
                        "\"Flows bound to a URL\"). Binding a bound name again moves it "
                        "to the new URL.",
            parameters=[_NAME], body=_command_body("BindingRequest")),
        "get": _operation(
            "getBinding", "Get a flow's binding", "read",
            {"200": _json(_ref("FlowBinding"), "The binding (the URL without its "
                                               "credentials)."),
             **_NAME_PROBLEMS},
            parameters=[_NAME]),
        "delete": _operation(
            "unbindFlow", "Unbind a flow from its URL", "flows",
            {"204": {"description": "Unbound: the name is free (for versions, or "
                                    "another binding)."}, **_NAME_PROBLEMS},
            parameters=[_NAME]),
    },
    "/v1/routes": {
        "get": _operation(
            "getRoutes", "Get the routing table", "read",
            {"200": _json(_ref("RoutingTable"), "The table, with a warning for each "
                                                "route to a flow that does not exist "
                                                "now.")},
            tag="routing"),
        "put": _operation(
            "putRoutes", "Replace the routing table", "flows",
            {"200": _json(_ref("RoutingTable"), "Replaced, atomically; `warnings` lists "
                                                "routes to flows that do not exist and "
                                                "routes that can never match."),
             "413": _problem("Body over 256 KiB (`payload-too-large`)."),
             "415": _problem("Not a YAML or JSON media type (`unsupported-media-type`)."),
             "422": _problem("The table has errors (`invalid-routes`): `errors` lists "
                             "every diagnostic, with line:col in `routes.yaml` or "
                             "`routes.json`.")},
            description="The body is the whole table (docs/operations.md, \"Routing\"): "
                        "`routes`, each matching the called address (`to`: exact, or a "
                        "prefix ending in `*`) or custom parameters (`params`), naming "
                        "the `flow` that answers; and a `default` flow. Precedence: a "
                        "flow named when the call is started, then `to` routes in order, "
                        "then `params` routes in order, then the default.",
            body={"required": True, "content": {
                **{t: {"schema": {"type": "string"}} for t in DOCUMENT_TYPES if t != JSON},
                JSON: {"schema": _ref("RoutingTableDocument")}}},
            tag="routing"),
    },
    "/v1/calls": {
        "post": _operation(
            "startCall", "Start a call of a flow against a caller script", "calls",
            {"201": {**_json(_ref("CallInfo"), "Started: the call is live and runs on "
                                               "the server."),
                     "headers": {"Location": {"schema": {"type": "string"},
                                              "description": "The call's URL."}}},
             "400": _problem("A malformed request (`invalid-request`): a missing or "
                             "mistyped field, an unknown field, or a flow with an `ai` "
                             "verb and no `model` (on a virtual clock, or on a server "
                             "with no default model)."),
             "404": _problem("The named flow or version does not exist (`not-found`)."),
             "409": _problem("The named flow has no live version and no `version` was "
                             "named, or a version was named of a flow bound to a URL "
                             "(`conflict`)."),
             "413": _problem("Body over the server's limit (`payload-too-large`)."),
             "415": _problem("Not `application/json` (`unsupported-media-type`)."),
             "422": _problem("The caller script or the model's rules have errors "
                             "(`invalid-document`): `errors` lists every diagnostic of "
                             "the first that is bad, with line:col in `caller.yaml` or "
                             "`model.yaml`."),
             "503": _problem("The server is shutting down and starts no new call "
                             "(`shutting-down`), as many calls are live as it takes "
                             "(`too-many-calls`, with `Retry-After`), or the store cannot "
                             "record the call (`store-unavailable`): no call was started.")},
            description="The call runs in the background on the server's call host: a "
                        "simulated caller follows the caller script (docs/caller-scripts.md"
                        ") on text media, or speaks it with eSpeak on the audio media "
                        "runtime (`media: audio`), and the script's `destinations` answer "
                        "the legs the flow dials, as `callkernel run` does. With `flow` "
                        "the call runs that flow; without it the routing table picks one "
                        "by the script's `to` and the request's `params` (GET /v1/routes), "
                        "and a call no route takes, or whose flow cannot be had, hears an "
                        "apology and ends (its trace says why: `flow_unavailable`). The "
                        "call is recorded in the store before it starts. It runs in real "
                        "(wall-clock) time, or on a virtual clock of its own (`clock`). "
                        "The flow's version "
                        "is fixed when the call starts: a later publish does not change "
                        "a running call.",
            body=_command_body("StartCallRequest"), tag="calls"),
        "get": _operation(
            "listCalls", "List calls, newest first", "read",
            {"200": _json({"type": "object", "required": ["calls"],
                           "properties": {"calls": {"type": "array",
                                                    "items": _ref("CallInfo")}}},
                          "The calls that match, newest first."),
             "400": _problem("`state` is not `live` or `ended`, `limit` is not 1 to "
                             "1000, or a time is neither seconds nor ISO 8601 "
                             "(`invalid-request`).")},
            description="Every call the server ran, from its store (they survive "
                        "restarts): live ones with their current state, ended ones with "
                        "their disposition. A call a crash cut off is ended with the "
                        "disposition `server_crashed` when the server starts again.",
            parameters=[
                {"name": "flow", "in": "query", "required": False,
                 "description": "Only calls of this flow.", "schema": {"type": "string"}},
                {"name": "state", "in": "query", "required": False,
                 "description": "`live` or `ended`.",
                 "schema": {"type": "string", "enum": ["live", "ended"]}},
                {"name": "since", "in": "query", "required": False,
                 "description": "Only calls started at or after this time: seconds since "
                                "the epoch, or ISO 8601 (UTC unless a zone is given).",
                 "schema": {"type": "string"}},
                {"name": "until", "in": "query", "required": False,
                 "description": "Only calls started before this time (as `since`).",
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "description": "At most this many (1 to 1000; default 100).",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
            tag="calls")},
    "/v1/calls/{call_id}": {"get": _operation(
        "getCall", "Get a call's state", "read",
        {"200": _json(_ref("CallInfo"), "The call."), **_CALL_PROBLEMS},
        parameters=[_CALL_ID], tag="calls")},
    "/v1/calls/{call_id}/trace": {"get": _operation(
        "getTrace", "Get a call's trace", "read",
        {"200": {"description": "The trace records so far, oldest first (docs/trace.md), "
                                "secrets already redacted: one JSON object per line, or a "
                                "JSON array with `Accept: application/json`. "
                                "`X-Trace-Dropped` counts the records the host did not "
                                "keep in memory (0 unless it keeps only the last N).",
                 "headers": {"X-Trace-Dropped": {"schema": {"type": "integer"},
                                                 "description": "Records not kept."}},
                 "content": {NDJSON: {"schema": {"type": "string"}},
                             JSON: {"schema": {"type": "array",
                                               "items": {"type": "object"}}}}},
         **_CALL_PROBLEMS},
        parameters=[_CALL_ID], tag="calls")},
    "/v1/calls/{call_id}/events": {"get": _operation(
        "followCallEvents", "Follow a call's records as server-sent events", "read",
        {"200": {"description": "A `text/event-stream`: first every record the call has "
                                "so far, then each new one as the call makes it, each as "
                                "`event: record`, `id: <n>` and `data: <record JSON>` "
                                "(docs/trace.md; secrets already redacted); then "
                                "`event: end` with `data: {\"call_id\", \"disposition\", "
                                "\"records\"}` and the stream closes. An ended call "
                                "replays and ends at once. A `: heartbeat` comment "
                                f"comes every {HEARTBEAT_SECONDS:g} s while the call is "
                                "quiet. A reader that falls more than "
                                f"{QUEUE_LIMIT} records behind gets `event: lagged` with "
                                "`data: {\"missed_from\": n, \"detail\"}` and the "
                                "stream closes: read the rest from the trace. "
                                "`Last-Event-ID: n` (an EventSource reconnecting) "
                                "replays only the records after `n`.",
                 "content": {EVENT_STREAM: {"schema": _SSE_EVENT}}},
         **_CALL_PROBLEMS, **_FOLLOW_CONFLICT},
        parameters=[_CALL_ID, _LAST_EVENT_ID], tag="calls")},
    "/v1/calls/{call_id}/ws": {"get": _operation(
        "followCallWebSocket", "Follow a call's records over a WebSocket", "read",
        {"101": {"description": "Switching to a WebSocket: the same messages as the "
                                "event stream, one JSON text frame each — `{\"type\": "
                                "\"record\", \"record\": {...}}`, then `{\"type\": "
                                "\"end\", \"call_id\", \"disposition\", \"records\"}` "
                                "and the server closes (1000); or `{\"type\": "
                                "\"lagged\", \"missed_from\", \"detail\"}` and it closes "
                                "with 1013. What the client sends is ignored; the server "
                                f"pings every {HEARTBEAT_SECONDS:g} s."},
         "400": _problem("Not a WebSocket handshake (`invalid-request`)."),
         **_CALL_PROBLEMS, **_FOLLOW_CONFLICT},
        parameters=[_CALL_ID], tag="calls")},
    "/v1/calls/{call_id}/timeline.png": {"get": _operation(
        "getTimeline", "Get a picture of a call", "read",
        {"200": {"description": "A PNG drawn from the call's trace so far (docs/cli.md, "
                                "`--timeline`): both sides' speech, barge-ins, tool calls, "
                                "steps and per-turn latency.",
                 "content": {"image/png": {"schema": {"type": "string",
                                                      "format": "binary"}}}},
         **_CALL_PROBLEMS,
         "409": _problem("The call has no trace (a crash cut it off) (`conflict`).")},
        parameters=[_CALL_ID], tag="calls")},
    "/v1/calls/{call_id}/recordings": {"get": _operation(
        "listRecordings", "List a call's recordings", "read",
        {"200": _json({"type": "object", "required": ["recordings"],
                       "properties": {"recordings": {"type": "array", "items": {
                           "type": "object", "required": ["name", "bytes", "url"],
                           "properties": {"name": {"type": "string"},
                                          "bytes": {"type": "integer"},
                                          "url": {"type": "string"}}}}}},
                      "What the call's `record` and `record_call` verbs wrote (the "
                      "recordings folder, `CALLKERNEL_RECORDINGS`)."),
         **_CALL_PROBLEMS},
        parameters=[_CALL_ID], tag="calls")},
    "/v1/calls/{call_id}/recordings/{name}": {"get": _operation(
        "getRecording", "Get one of a call's recordings", "read",
        {"200": {"description": "The audio: WAV, or MP3 when the verb asked for it.",
                 "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}},
                             "audio/mpeg": {"schema": {"type": "string",
                                                       "format": "binary"}}}},
         "404": _problem("No such call, or the call made no recording of that name "
                         "(`not-found`).")},
        parameters=[_CALL_ID, {"name": "name", "in": "path", "required": True,
                               "description": "The recording's file name, as listed.",
                               "schema": {"type": "string"}}], tag="calls")},
    "/v1/calls/{call_id}/hangup": {"post": _operation(
        "hangUp", "Hang up a live call", "calls",
        {"202": _json(_ref("CallInfo"), "Asked: the hangup goes through the call's "
                                        "inbox like any other event, and the call ends "
                                        "shortly after with the disposition "
                                        "`hangup_requested`."),
         **_CALL_PROBLEMS,
         "409": _problem("The call has ended (`call-ended`); it is not revived.")},
        parameters=[_CALL_ID], tag="calls")},
    **CALL_COMMAND_PATHS,
    **{f"/v1/media{suffix}": {"get": _operation(
        f"mediaStream{name.title()}", f"A telephony provider's media stream ({label})",
        "calls",
        {"101": {"description": "Switching to a WebSocket: the provider's media-stream "
                                "protocol (docs/media-streams.md). The socket brings a "
                                "token with the `calls` scope as a bearer header, a "
                                "`token` query parameter or the custom parameter "
                                "`callkernel_token`; without one the server closes it "
                                "(1008). On `start` the routing table picks the flow by "
                                "the number called and the custom parameters; the call "
                                "is recorded and runs until the stream stops or the "
                                "socket closes. A server draining or full closes with "
                                "1013 (try again later)."},
         "400": _problem("Not a WebSocket handshake (`invalid-request`).")},
        tag="media")}
       for suffix, name, label in (("/twilio", "twilio", "Twilio"),
                                   ("/signalwire", "signalwire", "SignalWire"),
                                   ("/telnyx", "telnyx", "Telnyx"),
                                   ("/callkernel", "callkernel", "callkernel's own"),
                                   ("", "any", "the dialect told from `start`"))},
    "/v1/outbox": {"get": _operation(
        "listDeliveries", "List post-call deliveries, newest first", "read",
        {"200": _json({"type": "object", "required": ["deliveries"],
                       "properties": {"deliveries": {"type": "array",
                                                     "items": _ref("Delivery")}}},
                      "The deliveries that match."),
         "400": _problem("`state` or `limit` is not one the API knows "
                         "(`invalid-request`).")},
        description="What the durable outbox holds: each post_prompt summary and status "
                    "callback a call handed over, stored before its first attempt. "
                    "`pending` ones are attempted with exponential back-off (1 s doubling "
                    "to 10 min, 12 attempts, about 37 minutes) and `failed` after the "
                    "last; `kept` ones had no URL. Every attempt of one delivery carries "
                    "the same `Idempotency-Key` (its `key`) and `webhook-id`.",
        parameters=[
            {"name": "state", "in": "query", "required": False,
             "description": "Only deliveries in this state.",
             "schema": {"type": "string",
                        "enum": ["pending", "delivered", "failed", "kept"]}},
            {"name": "call_id", "in": "query", "required": False,
             "description": "Only this call's.", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": False,
             "description": "At most this many (1 to 1000; default 100).",
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        tag="outbox")},
    "/v1/outbox/{key}": {"get": _operation(
        "getDelivery", "Get a delivery with its body and summary", "read",
        {"200": _json(_ref("DeliveryWithBody"), "The delivery."),
         "404": _problem("No such delivery (`not-found`).")},
        parameters=[_KEY], tag="outbox")},
    "/v1/outbox/{key}/retry": {"post": _operation(
        "retryDelivery", "Retry a failed delivery by hand", "calls",
        {"202": _json(_ref("Delivery"), "Due now, with a new round of attempts."),
         "404": _problem("No such delivery (`not-found`)."),
         "409": _problem("It was delivered, or had no URL (`conflict`).")},
        parameters=[_KEY], tag="outbox")},
}

_DIAGNOSTIC = {
    "type": "object", "required": ["code", "severity", "message", "line", "col"],
    "description": "One diagnostic, as `callkernel lint --format json` prints it.",
    "properties": {
        "file": {"type": "string", "description": "`<name>.yaml` or `<name>.json`."},
        "line": {"type": "integer"}, "col": {"type": "integer"},
        "code": {"type": "string", "description": "CK001..., see docs/lint-rules.md."},
        "severity": {"type": "string", "enum": ["error", "warning", "info"]},
        "message": {"type": "string"},
        "path": {"type": "string", "description": "The node, as `sections/main/0`."},
        "hint": {"type": ["string", "null"]},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "detail", "code"],
        "description": "An RFC 7807 problem document: every error response is one.",
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": sorted(CODES)},
            "errors": {"type": "array", "items": _ref("Diagnostic")},
        }},
    "Diagnostic": _DIAGNOSTIC,
    "Status": {"type": "object", "required": ["status"],
               "properties": {"status": {"type": "string"}}},
    "FlowSummary": {
        "type": "object", "required": ["name", "versions", "latest", "live", "updated_at"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "integer", "description": "How many versions it has."},
            "latest": {"type": "integer", "description": "The newest version."},
            "live": {"type": ["integer", "null"], "description": "The published version."},
            "updated_at": {"type": "number", "description": "Seconds since the epoch."},
        }},
    "VersionInfo": {
        "type": "object",
        "required": ["name", "version", "content_hash", "media_type", "size", "created_at",
                     "warnings", "live"],
        "properties": {
            "name": {"type": "string"}, "version": {"type": "integer"},
            "content_hash": {"type": "string", "description": "`sha256:...` of the "
                                                              "compiled flow."},
            "media_type": {"type": "string", "enum": [YAML, JSON]},
            "size": {"type": "integer", "description": "Bytes."},
            "created_at": {"type": "number"},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "Lint warnings, one line each as the CLI prints."},
            "live": {"type": "boolean"},
        }},
    "UploadResult": {
        "type": "object",
        "required": ["name", "version", "content_hash", "warnings", "diagnostics", "live"],
        "properties": {
            "name": {"type": "string"}, "version": {"type": "integer"},
            "content_hash": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "Lint warnings, one line each as the CLI prints."},
            "diagnostics": {"type": "array", "items": _ref("Diagnostic"),
                            "description": "Every diagnostic the document had "
                                           "(warnings, notes), structured."},
            "live": {"type": "boolean", "const": False},
        }},
    "PublishRequest": {
        "type": "object", "required": ["version"],
        "properties": {"version": {"type": "integer", "minimum": 1},
                       "expected_live": {"type": ["integer", "null"], "minimum": 1}}},
    "RollbackRequest": {
        "type": "object", "required": ["version"],
        "properties": {"version": {"type": "integer", "minimum": 1}}},
    "Route": {
        "type": "object", "required": ["flow"],
        "description": "One route: `to` or `params`, and the flow that answers.",
        "properties": {
            "to": {"type": "string", "description": "The called address, exactly (an "
                                                    "E.164 number, a `sip:` address), or "
                                                    "a prefix ending in `*`."},
            "params": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Custom parameters that must all be among the "
                                      "call's."},
            "flow": {"type": "string", "description": "The flow's name."},
        }},
    "RoutingTableDocument": {
        "type": "object",
        "description": "A routing table as sent (JSON; YAML has the same shape).",
        "properties": {
            "routes": {"type": "array", "items": _ref("Route")},
            "default": {"type": ["string", "null"],
                        "description": "The flow for a call no route matches."},
        }},
    "RoutingTable": {
        "type": "object", "required": ["routes", "default", "updated_at", "warnings"],
        "properties": {
            "routes": {"type": "array", "items": _ref("Route"),
                       "description": "In precedence order within each kind."},
            "default": {"type": ["string", "null"]},
            "updated_at": {"type": ["number", "null"],
                           "description": "When it was set; null: never."},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "Routes to flows that do not exist, routes that "
                                        "never match."},
            "diagnostics": {"type": "array", "items": _ref("Diagnostic"),
                            "description": "(PUT) The warnings, structured."},
        }},
    "BindingRequest": {
        "type": "object", "required": ["url"],
        "properties": {"url": {"type": "string", "maxLength": 2048,
                               "description": "The http(s) URL; `user:pass@` in it is "
                                              "sent as Basic auth."}}},
    "FlowBinding": {
        "type": "object", "required": ["name", "url", "created_at", "updated_at"],
        "properties": {
            "name": {"type": "string"},
            "url": {"type": "string", "description": "Without its credentials."},
            "created_at": {"type": "number"}, "updated_at": {"type": "number"},
        }},
    "StartCallRequest": {
        "type": "object", "required": ["caller"], "additionalProperties": False,
        "properties": {
            "flow": {"type": ["string", "null"], "minLength": 1,
                     "description": "The flow's name (stored or bound to a URL); absent "
                                    "or null: the routing table picks one."},
            "version": {"type": ["integer", "null"], "minimum": 1,
                        "maximum": 10**18 - 1,
                        "description": "The stored version to run (needs `flow`); absent "
                                       "or null: the live one."},
            "media": {"type": "string", "enum": ["text", "audio"],
                      "description": "`text` (default): the text media runtime; `audio`: "
                                     "the audio media runtime, the caller speaking with "
                                     "eSpeak and heard by the embedded recognizer."},
            "params": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Custom parameters, as a media-stream transport "
                                      "carries them: routes may match on them."},
            "caller": {"type": "string",
                       "description": "The caller script as YAML or JSON text "
                                      "(docs/caller-scripts.md)."},
            "model": {"type": ["string", "null"],
                      "description": "Scripted model rules as YAML or JSON text (docs/"
                                     "ai.md, \"The scripted model\"); null: the server's "
                                     "default model, if it has one."},
            "clock": {"type": "string", "enum": ["real", "virtual"],
                      "description": "`real` (default): the call runs on the server's loop "
                                     "in wall-clock time, like a phone call, and can be "
                                     "followed and steered. `virtual`: it runs on a virtual "
                                     "clock of its own in a worker thread, as fast as the "
                                     "CPU allows (`callkernel run`'s clock, for testing a "
                                     "flow): it takes no commands, its events replay once "
                                     "it has ended, and an ai flow needs `model`."},
        }},
    "Delivery": _DELIVERY,
    "DeliveryWithBody": {
        **_DELIVERY, "required": [*_DELIVERY["required"], "body", "summary"],
        "properties": {
            **_DELIVERY["properties"],
            "body": {"type": "object", "description": "What is POSTed (without the summary)."},
            "summary": {"type": ["string", "null"],
                        "description": "The summary, once generated."}}},
    "CallInfo": {
        "type": "object",
        "required": ["call_id", "flow", "version", "content_hash", "media", "state",
                     "call_state", "disposition", "started_at", "ended_at"],
        "properties": {
            "call_id": {"type": "string"},
            "flow": {"type": ["string", "null"],
                     "description": "The flow that answered; null when no route took the "
                                    "call."},
            "version": {"type": ["integer", "null"],
                        "description": "The stored version; null for a flow bound to a "
                                       "URL, or no route."},
            "media": {"type": "string", "enum": ["text", "audio"]},
            "content_hash": {"type": "string", "description": "`sha256:...` of the "
                                                              "compiled flow it runs."},
            "state": {"type": "string", "enum": ["live", "ended"]},
            "call_state": {"type": "string",
                           "enum": ["new", "ringing", "answered", "in_ai", "transferring",
                                    "bridged", "ended", "unknown"],
                           "description": "The runtime's state of the call; `unknown` "
                                          "while a virtual-clock call runs (in a worker "
                                          "thread, not on the server's loop)."},
            "disposition": {"type": ["string", "null"],
                            "description": "How it ended (`hangup:...`, `caller_hangup`, "
                                           "`hangup_requested`, `error:...`, "
                                           "`server_crashed`); null while live."},
            "started_at": {"type": "number", "description": "Seconds since the epoch."},
            "ended_at": {"type": ["number", "null"], "description": "Null while live."},
        }},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "callkernel REST API", "version": "1",
        "description": "Upload, publish and roll back flows, bind them to URLs and route "
                       "calls to them; start calls, follow and steer them, read their "
                       "traces; see what the outbox delivered. Every endpoint but "
                       "`/healthz` and `/readyz` needs `Authorization: Bearer <token>`; a "
                       "token's scopes are `read` (every GET), `flows` (upload, publish, "
                       "roll back, delete, bind, route), `calls` (start and steer calls, "
                       "retry deliveries) and `admin` (everything). Every error is an "
                       "`application/problem+json` document with a stable `code`.",
    },
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "A token from `callkernel token "
                                                      "create`; the scope a route needs "
                                                      "is listed in its requirement."}},
        "schemas": SCHEMAS,
    },
}


# ------------------------------------------------------------ docs/rest-api.md

def render_markdown(document: dict[str, Any] | None = None) -> str:
    """docs/rest-api.md: the OpenAPI document as a page."""
    doc = document or OPENAPI
    info = doc["info"]
    lines = [f"# {info['title']}", "",
             "<!-- Generated from interpreter/server/openapi.py by `python -m "
             "interpreter.server.openapi > docs/rest-api.md`; do not edit. -->", "",
             info["description"], "",
             "The machine-readable document is served at `GET /v1/openapi.json`.", "",
             "## Endpoints", "",
             "| Method | Path | Scope | Summary |", "|---|---|---|---|"]
    for path, method, operation in _operations(doc):
        lines.append(f"| {method.upper()} | `{path}` | {_scope(operation)} | "
                     f"{operation['summary']} |")
    for path, method, operation in _operations(doc):
        lines += ["", f"### {method.upper()} `{path}`", "", operation["summary"] + ".", ""]
        if "description" in operation:
            lines += [operation["description"], ""]
        lines.append(f"Scope: {_scope(operation)}.")
        if operation.get("parameters"):
            lines.append("")
        for parameter in operation.get("parameters", []):
            lines.append(f"- `{parameter['name']}` ({parameter['in']}): "
                         f"{parameter['description']}")
        if "requestBody" in operation:
            types = ", ".join(f"`{t}`" for t in operation["requestBody"]["content"])
            lines += ["", f"Body: {types}."]
        lines += ["", "| Status | Meaning |", "|---|---|"]
        for status, response in operation["responses"].items():
            lines.append(f"| {status} | {response['description']} |")
    lines += ["", "## Problem codes", "", "| Code | Status | Title |", "|---|---|---|"]
    for code, (status, title) in sorted(CODES.items(), key=lambda item: (item[1][0], item[0])):
        lines.append(f"| `{code}` | {status} | {title} |")
    lines += ["", "## Schemas"]
    for name, schema in doc["components"]["schemas"].items():
        lines += ["", f"### {name}", ""]
        if "description" in schema:
            lines += [schema["description"], ""]
        lines += ["| Field | Type | Required | Notes |", "|---|---|---|---|"]
        required = set(schema.get("required", []))
        for field, spec in schema["properties"].items():
            lines.append(f"| `{field}` | {_type(spec)} | {'yes' if field in required else ''} "
                         f"| {spec.get('description', '')} |")
    return "\n".join(lines) + "\n"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in doc["paths"].items()
            for method, operation in item.items()]


def _scope(operation: dict[str, Any]) -> str:
    requirement = operation["security"]
    return "none" if not requirement else ", ".join(f"`{s}`" for s in requirement[0]["bearer"])


def _type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[1]
    kind = spec.get("type", "any")
    if kind == "array":
        return _type(spec["items"]) + "[]"
    if isinstance(kind, list):
        return " or ".join(kind)
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    return str(kind)


if __name__ == "__main__":  # pragma: no cover - the docs regeneration command
    import sys

    if sys.argv[1:] == ["--json"]:
        print(json.dumps(OPENAPI, indent=2))
    else:
        sys.stdout.write(render_markdown())
