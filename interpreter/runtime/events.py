"""Events: everything that reaches a call's actor, in one inbox, in order.

Each event is immutable. The actor stamps `seq` (its position in the inbox)
and `at` (the loop's monotonic time) when it is posted. Events that report an
effect's outcome carry the `epoch` the effect was started in; the actor drops
those whose epoch has passed (the caller barged in, the call moved on) and
traces the drop. Names are past tense: they say what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from interpreter.errors import ErrorType
from interpreter.ir import BargePolicy
from interpreter.jsontypes import JSONValue
from interpreter.media import barge
from interpreter.media.ports import FailureKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    seq: int = 0
    at: float = 0.0
    # The epoch an effect was started in; 0 for events from outside the call.
    epoch: int = 0

    @property
    def type_name(self) -> str:
        return type(self).__name__


# ------------------------------------------------------------------ the caller


# `source` is "caller", or the id of a leg whose media is being used (a confirm
# section runs its prompt on the called party).


@dataclass(frozen=True, slots=True)
class SpeechStarted(Event):
    """The caller started speaking (voice activity, or the text runtime's say)."""

    source: str = "caller"


@dataclass(frozen=True, slots=True)
class TranscriptReceived(Event):
    text: str
    final: bool = True
    confidence: float = 1.0
    source: str = "caller"


@dataclass(frozen=True, slots=True)
class TranscriptionFailed(Event):
    """The caller spoke but speech-to-text returned no words (an stt_error)."""

    reason: str
    source: str = "caller"


@dataclass(frozen=True, slots=True)
class DigitPressed(Event):
    digit: str
    source: str = "caller"


@dataclass(frozen=True, slots=True)
class CallerHungUp(Event):
    pass


@dataclass(frozen=True, slots=True)
class TransportClosed(Event):
    """The media transport went away without a hangup (a dropped socket)."""

    reason: str = ""


# ------------------------------------------------------------------ effects


@dataclass(frozen=True, slots=True)
class PlayoutFinished(Event):
    """Everything queued for the caller (or a leg) has been played."""

    playout_id: int
    source: str = "caller"


@dataclass(frozen=True, slots=True)
class PlayoutStopped(PlayoutFinished):
    """The media path stopped this playout itself — it decided a barge-in at
    the frame (`cause`: "speech", "words" or "noise") — and the caller heard
    `heard` of it. A kind of finished: whoever waits for the playout's end is
    not left waiting; whoever listens for barge-ins takes it as one."""

    heard: str = ""
    cause: str = ""


@dataclass(frozen=True, slots=True)
class SpeechNoted(Event):
    """The media path says something about the call's speech (a substituted
    voice, estimated word marks). Traced; nothing waits for it."""

    note: str
    source: str = "caller"


@dataclass(frozen=True, slots=True)
class PlayoutPaused(Event):
    """The media path paused the agent over the caller's speech (`paused`),
    or let it go on where it paused (`why`). Traced; nothing waits for it."""

    paused: bool
    why: str = ""
    source: str = "caller"


@dataclass(frozen=True, slots=True)
class PlayoutFailed(Event):
    """Speech synthesis (tts_error) or a file (media_error) failed: item `item`
    of the playout with this id and everything queued after it were dropped."""

    playout_id: int
    kind: FailureKind
    item: int
    reason: str
    source: str = "caller"

    @property
    def error_type(self) -> ErrorType:
        return ErrorType.TTS_ERROR if self.kind is FailureKind.SPEECH else ErrorType.MEDIA_ERROR


@dataclass(frozen=True, slots=True)
class RequestCompleted(Event):
    effect_id: int
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True, slots=True)
class EffectFailed(Event):
    """An effect could not do its work: a classified failure, never an exception
    the actor would have to catch."""

    effect_id: int
    error_type: ErrorType
    error: str


@dataclass(frozen=True, slots=True)
class LegRinging(Event):
    leg_id: str


@dataclass(frozen=True, slots=True)
class LegAnswered(Event):
    leg_id: str


@dataclass(frozen=True, slots=True)
class LegFailed(Event):
    leg_id: str
    reason: str  # "busy" | "no_answer" | "declined" | "failed" | "not_confirmed"


@dataclass(frozen=True, slots=True)
class LegEnded(Event):
    """A bridged or answered leg hung up."""

    leg_id: str


@dataclass(frozen=True, slots=True)
class LegStatusReported(Event):
    """The answer to a status query, used to reconcile a lost leg event."""

    leg_id: str
    status: str  # "ringing" | "answered" | "failed" | "ended"


# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class HangupRequested(Event):
    """A REST or operator command to end the call, after `farewell` is spoken
    (a server shutting down says why it ends the call)."""

    reason: str = "hangup"
    farewell: str = ""


@dataclass(frozen=True, slots=True)
class VariablesSet(Event):
    """A REST command merging values into the call's `vars`."""

    values: dict[str, JSONValue] = field(default_factory=dict)


ENDING_EVENTS = (CallerHungUp, TransportClosed, HangupRequested)


# Operator commands to a live call (REST: server/commands.py). Each is traced
# as `command_received` when the actor takes it from the inbox; say, transfer
# and unhold then wait for the call's next safe point (between the agent's
# turns, between verbs: runtime/commands.py) rather than cut into a reply or a
# verb half done, so the actor keeps them in `Call.commands` until then.


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Event):
    """An operator's command; `by` says who sent it (e.g. "rest:tok_...")."""

    by: str = ""
    command: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class SayRequested(Command):
    """Speak `text` to the caller, after what the agent is saying."""

    text: str
    command: ClassVar[str] = "say"


@dataclass(frozen=True, slots=True)
class TransferRequested(Command):
    """Hand the call to `dest`: a section of its flow, a number or a SIP address."""

    dest: str
    command: ClassVar[str] = "transfer"


@dataclass(frozen=True, slots=True)
class UnholdRequested(Command):
    """Take the caller off the ai verb's hold (the platform's `ai_unhold`)."""

    command: ClassVar[str] = "unhold"


@dataclass(frozen=True, slots=True)
class EventInjected(Command):
    """An operator injected the event `name` (its allow-list name): the event
    itself is posted right after this one, so the trace says where it came
    from. (Not `event`: trace records use that key for the event's type.)"""

    name: str
    command: ClassVar[str] = "inject"


# The commands kept for a safe point (EventInjected only marks the next event).
DEFERRED_COMMANDS = (SayRequested, TransferRequested, UnholdRequested)


# ------------------------------------------------------------------ the ai verb


@dataclass(frozen=True, slots=True)
class LlmDelta(Event):
    effect_id: int
    text: str


@dataclass(frozen=True, slots=True)
class LlmToolCalled(Event):
    effect_id: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class LlmFinished(Event):
    effect_id: int
    reason: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class LlmFailed(Event):
    effect_id: int
    error_kind: str  # LlmError kind: timeout | rate_limit | token_limit | provider | protocol
    message: str
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class ToolReturned(Event):
    effect_id: int
    name: str
    reply: object  # a tools.base.ToolReply; kept opaque here so events stay import-light


@dataclass(frozen=True, slots=True)
class IncludeFetched(Event):
    """A SWAIG include's signatures arrived (JSON as received)."""

    effect_id: int
    reply: JSONValue


@dataclass(frozen=True, slots=True)
class ToolFailed(Event):
    effect_id: int
    name: str
    error_type: str
    message: str
    # What a data_map requested before it failed (shown without credentials).
    requests: tuple[Mapping[str, JSONValue], ...] = ()


def barges(policy: BargePolicy, event: Event, interruptible: bool = True) -> bool:
    """Whether this caller event interrupts what plays (media/barge.py decides)."""
    match event:
        case SpeechStarted():
            return barge.on_speech(policy, interruptible)
        case TranscriptReceived(text=text, final=final, confidence=confidence):
            return barge.on_words(policy, text, final, confidence, interruptible)
        case DigitPressed():
            return barge.on_digit(policy, interruptible)
        case PlayoutStopped():
            return True  # the path already applied the policy, at the frame
    return False
