"""The compiled flow: frozen dataclasses with every reference resolved.

What the runtime executes. Nothing here is a dict of user strings looked up
during a call: a step holds the `Step` objects it may move to and the
`Function` objects it offers, an `execute` holds the `Section` it calls, a
`goto` holds the index of its label, expressions are parsed, and defaults are
filled in.

Sections, contexts and steps may refer to each other in cycles (a step whose
valid_steps lead back to it), so those three compare by identity (`eq=False`)
and print by name; the compiler ties the knots once while building them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from interpreter.diagnostics import Span
from interpreter.errors import ErrorType, RecoveryPolicy
from interpreter.expressions import Expr, SwaigTemplate, SwmlTemplate
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import ListenSettings, Voice
from interpreter.patterns import FlowPattern

# JSON as the IR holds it: immutable containers all the way down.
FrozenJSON: TypeAlias = (
    "bool | int | float | str | tuple[FrozenJSON, ...] | Mapping[str, FrozenJSON] | None"
)


@dataclass(frozen=True, slots=True)
class Js:
    """A bare JavaScript-subset expression (cond.when, goto.when)."""

    source: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class SwmlText:
    """A Calling-SWML string with `${...}`/`%{...}` parts, split at compile time."""

    source: str
    template: SwmlTemplate


@dataclass(frozen=True, slots=True)
class SwaigText:
    """A SWAIG template string (prompts, data_map, tool replies)."""

    source: str
    template: SwaigTemplate


# JSON whose strings may be templates; rendered against the call's variables.
Templated: TypeAlias = (
    "bool | int | float | str | SwmlText | SwaigText | tuple[Templated, ...]"
    " | Mapping[str, Templated] | None"
)


# Functions the platform calls itself (on answer, on hangup, for summaries);
# they are never offered to the model.
RESERVED_FUNCTIONS = frozenset(
    {"startup_hook", "hangup_hook", "start_hook", "stop_hook", "summarize_conversation"})


def freeze(value: JSONValue) -> FrozenJSON:
    """User JSON as the IR holds it: mappings and tuples all the way down."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: object) -> JSONValue:
    """IR JSON back to plain dicts and lists (for the wire and for mutation)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # type: ignore[return-value]
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        return {str(key): thaw(item) for key, item in value.items()}  # type: ignore[attr-defined]
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --------------------------------------------------------------------- Calling SWML


@dataclass(frozen=True, slots=True)
class PlayItem:
    """One thing to play: a file URL, `say:` text, `silence:` seconds or `ring:`.

    `kind` is known at compile time when the prefix is literal; a URL that is
    entirely a variable is `dynamic` and classified when rendered.
    """

    kind: str  # "url" | "say" | "silence" | "ring" | "dynamic"
    value: SwmlText | str


@dataclass(frozen=True, slots=True)
class Answer:
    span: Span
    max_duration: int = 14400
    codecs: str | None = None


@dataclass(frozen=True, slots=True)
class Hangup:
    span: Span
    reason: str = "hangup"


@dataclass(frozen=True, slots=True)
class Play:
    span: Span
    items: tuple[PlayItem, ...]
    volume: float = 0.0
    # say_voice + say_language; None when the document names no voice (the
    # call's voice then applies).
    voice: Voice | None = None
    auto_answer: bool = True
    # Where the play's state changes are POSTed (runtime/status_callbacks.py).
    status_url: SwmlText | str | None = None


@dataclass(frozen=True, slots=True)
class PromptInput:
    """`prompt`: play, then collect digits and/or speech."""

    span: Span
    play: tuple[PlayItem, ...]
    max_digits: int = 1
    terminators: str = ""
    digit_timeout: float = 5.0
    initial_timeout: float = 5.0
    speech: bool = False
    speech_timeout: float | None = None
    speech_end_timeout: float | None = None
    speech_language: str = "en-US"
    speech_hints: tuple[str, ...] = ()
    volume: float = 0.0
    voice: Voice | None = None
    # What the transport's recognizer gets while the prompt listens.
    listen: ListenSettings = field(default_factory=ListenSettings)
    # Where the collect result is POSTed (runtime/status_callbacks.py).
    status_url: SwmlText | str | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    span: Span
    duration_ms: int | SwmlText  # -1 sleeps until the call ends


@dataclass(frozen=True, slots=True)
class SetVars:
    span: Span
    values: tuple[tuple[str, Templated], ...]


@dataclass(frozen=True, slots=True)
class UnsetVars:
    span: Span
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Switch:
    span: Span
    variable: Js  # a variable name, parsed as a path lookup
    cases: Mapping[str, Block]
    default: Block | None


@dataclass(frozen=True, slots=True)
class CondBranch:
    when: Js | None  # None: an `else` entry
    then: Block
    otherwise: Block | None = None


@dataclass(frozen=True, slots=True)
class Cond:
    span: Span
    branches: tuple[CondBranch, ...]


@dataclass(frozen=True, slots=True)
class Goto:
    """Jump to `label`. `index` is the label's position in the method list
    that holds it; `in_same_list` is false when that list is the section's
    top level rather than the list holding the goto."""

    span: Span
    label: str
    index: int
    in_same_list: bool
    when: Js | None = None
    max: int = 100


@dataclass(frozen=True, slots=True)
class Label:
    span: Span
    name: str


@dataclass(frozen=True, slots=True)
class Destination:
    """Where `execute`/`transfer` go: a section of this flow, or a URL or inline
    SWML decided when the call gets there."""

    section: Section | None = field(default=None, repr=False)
    dynamic: SwmlText | str | None = None

    @property
    def name(self) -> str:
        if self.section is not None:
            return self.section.name
        return self.dynamic.source if isinstance(self.dynamic, SwmlText) else str(self.dynamic)


@dataclass(frozen=True, slots=True)
class Execute:
    span: Span
    dest: Destination
    params: Templated = None
    meta: Templated = None
    on_return: Block | None = None
    result: Switch | Cond | None = None


@dataclass(frozen=True, slots=True)
class Return:
    span: Span
    value: Templated = None


@dataclass(frozen=True, slots=True)
class Transfer:
    span: Span
    dest: Destination
    params: Templated = None
    meta: Templated = None


@dataclass(frozen=True, slots=True)
class CallStateCallback:
    """connect's `call_state_url`: where the dialled legs' state changes go,
    and which of them (`call_state_events`)."""

    url: SwmlText | str
    events: tuple[str, ...] = ("ended",)


@dataclass(frozen=True, slots=True)
class Connect:
    """Dial one or more legs. `groups` run in series; the legs of one group ring
    in parallel (so `to` is one group of one, `serial` many groups of one)."""

    span: Span
    groups: tuple[tuple[SwmlText | str, ...], ...]
    from_number: SwmlText | str | None = None
    timeout: float = 60.0
    max_duration: int = 14400
    answer_on_bridge: bool = False
    ringback: tuple[PlayItem, ...] = ()
    confirm: Block | Destination | None = None
    confirm_timeout: float | None = None
    result: Switch | Cond | None = None
    headers: tuple[tuple[str, SwmlText | str], ...] = ()
    # Where the connect's own state changes go (connecting, connected, ...).
    status_url: SwmlText | str | None = None
    call_state: CallStateCallback | None = None


@dataclass(frozen=True, slots=True)
class Request:
    span: Span
    url: SwmlText | str
    method: str = "GET"
    headers: tuple[tuple[str, SwmlText | str], ...] = ()
    body: Templated = None
    timeout: float = 0.0
    connect_timeout: float = 0.0
    save_variables: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    span: Span
    background: bool  # record_call runs in the background; record blocks
    format: str = "wav"
    stereo: bool = False
    direction: str = "speak"
    terminators: str = ""
    beep: bool = False
    initial_timeout: float = 4.0
    end_silence_timeout: float = 5.0
    max_length: float | None = None
    control_id: str | None = None
    # Where the recording's state changes are POSTed (recording, finished, ...).
    status_url: SwmlText | str | None = None


@dataclass(frozen=True, slots=True)
class StopRecordCall:
    span: Span
    control_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendDigits:
    span: Span
    digits: SwmlText | str


@dataclass(frozen=True, slots=True)
class SendSms:
    span: Span
    to_number: SwmlText | str
    from_number: SwmlText | str
    body: SwmlText | str | None = None
    media: tuple[SwmlText | str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A method the schema accepts but this runtime does not execute."""

    span: Span
    method: str
    args: FrozenJSON


# ----------------------------------------------------------------------------- ai


@dataclass(frozen=True, slots=True)
class LlmSettings:
    temperature: float = 1.0
    top_p: float = 1.0
    confidence: float = 0.6
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    max_tokens: int = 256
    # The model to ask (prompt `model`, else params `ai_model`); None: the
    # provider's default.
    model: str | None = None
    extra: Mapping[str, FrozenJSON] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class PromptText:
    """A prompt as the model will see it (POM rendered to markdown at compile time)."""

    text: SwaigText
    settings: LlmSettings = LlmSettings()


FillerMap: TypeAlias = "Mapping[str, tuple[str, ...]]"


@dataclass(frozen=True, slots=True)
class Language:
    name: str
    code: str
    voice: str
    engine: str | None = None
    model: str | None = None
    speech_fillers: tuple[str, ...] = ()
    function_fillers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hint:
    hint: str
    pattern: FlowPattern | None = None
    replace: str | None = None


@dataclass(frozen=True, slots=True)
class Pronounce:
    replace: str
    with_: str
    ignore_case: bool = True
    # `replace` as a whole-word pattern, compiled once with the case flag.
    pattern: re.Pattern[str] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Webhook:
    """A SWAIG webhook, with credentials separated from the URL."""

    url: str
    user: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """A data_map output, shaped like a SWAIG reply (a function result)."""

    response: SwaigText | None
    tool_prompt: SwaigText | None
    actions: tuple[Templated, ...]
    post_process: bool = False


@dataclass(frozen=True, slots=True)
class DataMapExpression:
    string: SwaigText
    pattern: FlowPattern
    output: Output
    nomatch_output: Output | None = None  # SDK `nomatch-output`


@dataclass(frozen=True, slots=True)
class Foreach:
    input_key: str
    output_key: str
    append: SwaigText
    max: int | None = None


@dataclass(frozen=True, slots=True)
class DataMapWebhook:
    url: SwaigText
    method: str
    user: str | None
    password: str | None
    headers: tuple[tuple[str, SwaigText], ...]
    params: Templated
    input_args_as_params: bool
    require_args: tuple[str, ...]
    error_keys: tuple[str, ...]
    foreach: Foreach | None
    expressions: tuple[DataMapExpression, ...]
    output: Output | None


@dataclass(frozen=True, slots=True)
class DataMap:
    expressions: tuple[DataMapExpression, ...]
    webhooks: tuple[DataMapWebhook, ...]
    output: Output | None
    error_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function as offered to the model (OpenAI `tools[].function` shape);
    `parameters` is plain JSON, ready for the wire."""

    name: str
    description: str
    parameters: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Function:
    """A SWAIG function; exactly one of webhook, data_map and native is set.
    Its `spec` for the model is made once, when it is built."""

    name: str
    description: str
    parameters: Mapping[str, FrozenJSON]
    webhook: Webhook | None = None
    data_map: DataMap | None = None
    native: bool = False
    active: bool = True
    fillers: FillerMap = field(default_factory=lambda: MappingProxyType({}))
    skip_fillers: bool = False
    wait_for_fillers: bool = False
    meta_data: Mapping[str, FrozenJSON] = field(default_factory=lambda: MappingProxyType({}))
    meta_data_token: str | None = None
    wait_file: str | None = None
    timeout: float = 10.0
    spec: ToolSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parameters = thaw(self.parameters)
        object.__setattr__(self, "spec", ToolSpec(
            self.name, self.description, parameters if isinstance(parameters, dict) else {}))


@dataclass(frozen=True, slots=True)
class Include:
    url: str
    functions: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    meta_data: Mapping[str, FrozenJSON] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class GatherQuestion:
    key: str
    question: SwaigText
    type: str = "string"
    confirm: bool = False
    prompt: SwaigText | None = None
    functions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GatherInfo:
    questions: tuple[GatherQuestion, ...]
    prompt: SwaigText | None = None
    output_key: str | None = None
    completion_step: Step | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ContextReset:
    """A context_switch applied on entry (step `reset` or a context's system_prompt)."""

    system_prompt: SwaigText | None = None
    user_prompt: SwaigText | None = None
    consolidate: bool = False
    full_reset: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Step:
    name: str
    text: SwaigText
    criteria: SwaigText | None = None
    functions: tuple[Function, ...] = ()
    valid_steps: tuple[Step, ...] = field(default=(), repr=False)
    valid_contexts: tuple[Context, ...] = field(default=(), repr=False)
    skip_user_turn: bool = False
    end: bool = False
    skip_to_next_step: bool = False
    reset: ContextReset | None = None
    gather_info: GatherInfo | None = None
    span: Span | None = None

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


@dataclass(frozen=True, slots=True, eq=False)
class Context:
    name: str
    steps: tuple[Step, ...]
    isolated: bool = False
    text: SwaigText | None = None
    enter_fillers: FillerMap = field(default_factory=lambda: MappingProxyType({}))
    exit_fillers: FillerMap = field(default_factory=lambda: MappingProxyType({}))
    reset: ContextReset | None = None
    valid_contexts: tuple[Context, ...] = field(default=(), repr=False)

    @property
    def first_step(self) -> Step:
        return self.steps[0]

    def __repr__(self) -> str:
        return f"Context({self.name!r})"


class Barge(enum.Enum):
    """When the caller's speech interrupts the agent (`params.enable_barge`)."""

    COMPLETE_AND_PARTIAL = "complete,partial"
    COMPLETE = "complete"
    PARTIAL = "partial"
    ALL = "all"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class BargePolicy:
    """When the caller interrupts what is playing, compiled from the ai
    `params` (enable_barge, barge_min_words, barge_match_string,
    transparent_barge, interrupt_on_noise, static_greeting_no_barge,
    barge_functions) and the prompt's barge_confidence; media/barge.py
    applies it, at the frame in the audio runtime."""

    mode: Barge = Barge.COMPLETE_AND_PARTIAL
    min_words: int = 1
    match: FlowPattern | None = None
    # Words recognized with less confidence do not interrupt.
    confidence: float = 0.0
    # transparent_barge: the agent waits for the caller's whole turn (up to
    # transparent_max_s) before answering, and the interrupted reply's unheard
    # part is not kept anywhere.
    transparent: bool = True
    transparent_max_s: float = 3.0
    # interrupt_on_noise: sound this long interrupts even without words.
    noise_s: float | None = None
    greeting: bool = True  # the static greeting may be interrupted
    digits: bool = False  # a DTMF digit interrupts (the prompt verb)
    functions: bool = True  # barge_functions: a running tool completes


# The prompt verb: any speech or digit stops its play (as SWML's `prompt` does).
PROMPT_BARGE = BargePolicy(mode=Barge.ALL, digits=True)


@dataclass(frozen=True, slots=True)
class AiParams:
    """The `params` the runtime acts on, typed and defaulted; `raw` keeps all."""

    barge: BargePolicy = BargePolicy()
    listen: ListenSettings = field(default_factory=ListenSettings)
    volume_db: float = 0.0  # ai_volume: the agent's speech gain
    attention_timeout_ms: int = 5000
    attention_timeout_prompt: str = (
        "The user has not responded, try to get their attention. Stay in the same language.")
    inactivity_timeout_ms: int = 600000
    hard_stop_time_s: float | None = None
    hard_stop_prompt: str | None = None
    # acknowledge_interruptions: how many barge-ins the model is told of with
    # interrupt_prompt (0: none; true: every one).
    acknowledge_interruptions: int = 0
    interrupt_prompt: str = (
        "The user didn't wait for you to finish responding and started talking over you. "
        "As part of your next response, make a comment about how you were both talking at "
        "the same time and verify you properly understand what the user said.")
    wait_for_user: bool = False
    static_greeting: str | None = None
    local_tz: str = "US/Central"
    app_name: str = "swml app"
    swaig_allow_swml: bool = True
    swaig_allow_settings: bool = True
    swaig_set_global_data: bool = True
    swaig_post_conversation: bool = False
    # callkernel_secret_fields: keys whose values the call's trace redacts.
    secret_fields: tuple[str, ...] = ()
    raw: Mapping[str, FrozenJSON] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Ai:
    span: Span
    prompt: PromptText
    post_prompt: PromptText | None
    post_prompt_url: Webhook | None
    params: AiParams
    languages: tuple[Language, ...]
    hints: tuple[Hint, ...]
    pronounce: tuple[Pronounce, ...]
    global_data: Mapping[str, FrozenJSON]
    functions: tuple[Function, ...]
    includes: tuple[Include, ...]
    internal_fillers: Mapping[str, FillerMap]
    contexts: tuple[Context, ...]
    error_recovery: Mapping[ErrorType, RecoveryPolicy]
    webhook_defaults: Webhook | None = None
    # `default` when present, else the first context (SDK documents omit it).
    start_context: Context | None = field(default=None, repr=False)


Verb: TypeAlias = (
    "Answer | Hangup | Play | PromptInput | Sleep | SetVars | UnsetVars | Switch | Cond | Goto"
    " | Label | Execute | Return | Transfer | Connect | Request | Record | StopRecordCall"
    " | SendDigits | SendSms | Ai | Unsupported"
)
Block: TypeAlias = "tuple[Verb, ...]"


@dataclass(frozen=True, slots=True, eq=False)
class Section:
    name: str
    body: Block = field(default=(), repr=False)
    span: Span | None = None

    def __repr__(self) -> str:
        return f"Section({self.name!r})"


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """A compiled document: its sections (main first) and its content hash."""

    sections: tuple[Section, ...]
    version: str
    source_file: str
    content_hash: str = ""

    @property
    def main(self) -> Section:
        return self.sections[0]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)
