"""Caller scripts: what a simulated caller does on a call, loaded from YAML.

A script lists the caller's steps (say, press, wait, hangup), each with a cue
saying when it happens, the legs the flow may dial with how each one
behaves (answers, busy, no answer, declined, answers but the answered report
is lost), and the media faults to inject (speech synthesis failing on a
phrase, files that cannot be fetched; a `say` step can be garbled so that
speech-to-text fails). It is loaded with our document loader, so every error carries the
file:line:col of the offending node, and checked completely before a call
starts: the simulation never reads an unchecked value. The format is
documented for users in docs/caller-scripts.md.

Diagnostic codes (all errors):
    CK701  unknown key
    CK702  wrong type or invalid value
    CK703  a step without exactly one action
    CK704  conflicting or misplaced cues
    CK705  an option that does not apply where it is given: a destination
           option with an outcome other than answer, garbled on a step that
           is not a say
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from interpreter.diagnostics import JSONPath, Span, sort_diagnostics
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.document.reader import DocumentReader
from interpreter.document.schema import did_you_mean
from interpreter.errors import DocumentError
from interpreter.jsontypes import JSONValue
from interpreter.limits import CALLER_SCRIPT_MAX_COUNT, CALLER_SCRIPT_MAX_SECONDS

DEFAULT_FROM = "+15550000001"
DEFAULT_TO = "+15550000000"
DEFAULT_PAUSE = 0.5
DEFAULT_LINGER = 30.0
DEFAULT_PATIENCE = 30.0
DEFAULT_ANSWER_AFTER = 1.0
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class Cue(enum.Enum):
    """What a step waits for before it acts."""

    TURN = "turn"  # the agent finished speaking since the caller's last action, then `pause`
    BARGE_IN = "barge_in"  # `seconds` after the agent starts speaking
    AT = "at"  # `seconds` after the call started
    AFTER = "after"  # `seconds` after the previous step ended, whatever the agent does


@dataclass(frozen=True, slots=True)
class Timing:
    cue: Cue = Cue.TURN
    seconds: float = 0.0
    # With TURN or BARGE_IN: first wait until the agent has played this phrase
    # (case-insensitive) since the caller's last action.
    after_hearing: str = ""


TURN = Timing()


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    timing: Timing = TURN
    span: Span | None = field(default=None, compare=False)
    # Speech-to-text fails on it: the flow sees speech start but gets no words.
    garbled: bool = False


@dataclass(frozen=True, slots=True)
class Press:
    digits: str
    timing: Timing = TURN
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Wait:
    """Stay silent; starts when the previous step ends, so it has no cue."""

    seconds: float
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Hangup:
    timing: Timing = TURN
    span: Span | None = field(default=None, compare=False)
    # `hangup: {drop: true}`: the connection drops instead (no hangup is
    # signalled), as a lost socket would: the call ends `transport_lost`.
    drop: bool = False


# Sounds a `sound` step makes (interpreter/media/sounds.py makes them): not
# speech, so a good VAD lets them pass; on text media they are silent.
SOUND_NAMES = ("cough", "click", "noise")


@dataclass(frozen=True, slots=True)
class Sound:
    """Make a sound that is not speech (audio runs only)."""

    name: str
    timing: Timing = TURN
    span: Span | None = field(default=None, compare=False)


Step: TypeAlias = Say | Press | Wait | Hangup | Sound


class Outcome(enum.Enum):
    ANSWER = "answer"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Destination:
    """How a dialed destination behaves; the defaults are an unlisted one's."""

    outcome: Outcome = Outcome.ANSWER
    answer_after: float = DEFAULT_ANSWER_AFTER
    lose_answered_event: bool = False
    press: str = ""  # digits pressed after each prompt the called party hears
    hangup_after: float | None = None  # seconds after answering


UNLISTED = Destination()


@dataclass(frozen=True, slots=True)
class TtsFault:
    """Speech synthesis fails for say items whose text contains `saying`."""

    saying: str  # case-insensitive, whitespace ignored
    times: int = 1  # failures before it stops failing; 0 fails every time
    # False: the flow's voice fails (whichever it is) but not the runtime's
    # FALLBACK_VOICE, so its retry succeeds; True: every voice fails.
    all_voices: bool = False
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Faults:
    """Media failures a simulated caller injects; the default injects none."""

    tts: tuple[TtsFault, ...] = ()
    files: frozenset[str] = frozenset()  # URLs that cannot be fetched


NO_FAULTS = Faults()


@dataclass(frozen=True, slots=True)
class CallerScript:
    steps: tuple[Step, ...] = ()
    from_: str = DEFAULT_FROM
    to: str = DEFAULT_TO
    pause: float = DEFAULT_PAUSE
    linger: float = DEFAULT_LINGER
    patience: float = DEFAULT_PATIENCE
    destinations: Mapping[str, Destination] = field(
        default_factory=lambda: MappingProxyType({}))
    file: str = "<script>"
    faults: Faults = NO_FAULTS

    def destination(self, destination: str) -> Destination:
        """The listed behaviour, or an unlisted destination's (answers after 1 s)."""
        return self.destinations.get(destination, UNLISTED)


def load_caller_script(source: str | bytes, file: str = "<script>",
                       options: LoadOptions | None = None) -> CallerScript:
    """Load and check a caller script; DocumentError lists every problem found."""
    return parse_caller_script(load_document(source, file, options))


_TOP = ("from", "to", "pause", "linger", "patience", "steps", "destinations", "faults")
_ACTIONS = ("say", "press", "wait", "hangup", "sound")
_CUES = ("at", "barge_in", "after")
_STEP_KEYS = (*_ACTIONS, *_CUES, "after_hearing", "garbled")
_FAULTS = ("tts", "files")
_TTS_FAULT = ("saying", "times", "all_voices")
_DESTINATION = ("outcome", "answer_after", "lose_answered_event", "press", "hangup_after")
_ANSWER_ONLY = ("answer_after", "lose_answered_event", "press", "hangup_after")


def parse_caller_script(doc: SourceDocument) -> CallerScript:
    """A checked script from a loaded document; DocumentError on any problem."""
    reader = _Reader(doc)
    top = reader.mapping((), doc.data, _TOP, "a caller script")
    script = CallerScript(file=doc.file)
    if top is not None:
        script = CallerScript(
            steps=_steps(reader, top.get("steps", [])),
            from_=reader.text(("from",), top.get("from", DEFAULT_FROM), "from") or "",
            to=reader.text(("to",), top.get("to", DEFAULT_TO), "to") or "",
            pause=reader.seconds(("pause",), top.get("pause", DEFAULT_PAUSE)),
            linger=reader.seconds(("linger",), top.get("linger", DEFAULT_LINGER)),
            patience=reader.seconds(("patience",), top.get("patience", DEFAULT_PATIENCE)),
            destinations=MappingProxyType(_destinations(reader, top.get("destinations", {}))),
            file=doc.file,
            faults=_faults(reader, top["faults"]) if "faults" in top else NO_FAULTS,
        )
    if reader.found:
        raise DocumentError(sort_diagnostics(reader.found))
    return script


class _Reader(DocumentReader):
    """Checks values and collects diagnostics, so one run reports every problem."""

    UNKNOWN_KEY, INVALID = "CK701", "CK702"

    def seconds(self, path: JSONPath, value: JSONValue) -> float:
        # bool is an int in Python, but `pause: true` is a mistake, not 1 second.
        if isinstance(value, bool) or not isinstance(value, int | float) or not \
                0 <= value <= CALLER_SCRIPT_MAX_SECONDS:
            self.error("CK702", f"{_name(path)} must be a number of seconds from 0 to "
                       f"{CALLER_SCRIPT_MAX_SECONDS:,} (a day)", path)
            return 0.0
        return float(value)

    def count(self, path: JSONPath, value: JSONValue) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not \
                0 <= value <= CALLER_SCRIPT_MAX_COUNT:
            self.error("CK702", f"{_name(path)} must be a whole number from 0 to "
                       f"{CALLER_SCRIPT_MAX_COUNT:,}", path)
            return 0
        return value

    def flag(self, path: JSONPath, value: JSONValue) -> bool:
        if not isinstance(value, bool):
            self.error("CK702", f"{_name(path)} must be true or false", path)
            return False
        return value

    def text(self, path: JSONPath, value: JSONValue, what: str) -> str | None:
        if isinstance(value, str) and value:
            return value
        # An unquoted +15551230000 is a YAML integer: the "+" is already lost.
        hint = "quote it" if isinstance(value, int | float) else None
        self.error("CK702", f"{what} must be a non-empty string", path, hint=hint)
        return None

    def digits(self, path: JSONPath, value: JSONValue) -> str | None:
        if not isinstance(value, str):
            hint = 'quote digits, as in press: "1"' if isinstance(value, int) else None
            self.error("CK702", "press takes a string of DTMF digits", path, hint=hint)
            return None
        bad = sorted(set(value) - DTMF_DIGITS)
        if not value or bad:
            shown = f" ({', '.join(repr(c) for c in bad)})" if bad else ""
            self.error("CK702", f"press takes DTMF digits 0-9 * # A-D{shown}", path)
            return None
        return value


def _name(path: JSONPath) -> str:
    return str(path[-1]) if path else "value"


def _steps(reader: _Reader, value: JSONValue) -> tuple[Step, ...]:
    if not isinstance(value, list):
        reader.error("CK702", "steps must be a list", ("steps",))
        return ()
    parsed = (_step(reader, ("steps", index), item) for index, item in enumerate(value))
    return tuple(step for step in parsed if step is not None)


def _step(reader: _Reader, path: JSONPath, value: JSONValue) -> Step | None:
    body = reader.mapping(path, value, _STEP_KEYS, "a step")
    if body is None:
        return None
    actions = [key for key in _ACTIONS if key in body]
    if len(actions) != 1:
        reader.error("CK703", f"a step takes one action, not {' and '.join(actions)}"
                     if actions else "a step needs an action: say, press, wait, hangup or "
                     "sound", path)
        return None
    action, span = actions[0], reader.doc.span(path)
    where = (*path, action)
    garbled = False
    if "garbled" in body:
        garbled = reader.flag((*path, "garbled"), body["garbled"])
        if action != "say":
            reader.error("CK705", f"garbled only applies to a say step, not to {action}",
                         (*path, "garbled"), key=True)
    if action == "wait":
        for cue in (key for key in (*_CUES, "after_hearing") if key in body):
            reader.error("CK704", f'a wait has no "{cue}": it starts when the previous step ends',
                         (*path, cue), key=True)
        return Wait(reader.seconds(where, body[action]), span)
    # Cues as (path, kind): `hangup: {after: 1.5}` is shorthand for a step-level after.
    cues: list[tuple[JSONPath, str]] = [((*path, key), key) for key in _CUES if key in body]
    drop = False
    if action == "hangup":
        inner = reader.mapping(where, body[action] if body[action] is not None else {},
                               ("after", "drop"), "hangup")
        if inner is not None and "after" in inner:
            cues.append(((*where, "after"), "after"))
        if inner is not None and "drop" in inner:
            drop = reader.flag((*where, "drop"), inner["drop"])
    for extra, _kind in cues[1:]:
        reader.error("CK704", f'"{_name(extra)}" conflicts with "{_name(cues[0][0])}": '
                     "a step has one cue", extra, key=True)
    timing = TURN
    if cues:
        cue_path, kind = cues[0]
        timing = Timing(Cue(kind), reader.seconds(cue_path, reader.doc.get(cue_path)))
    if "after_hearing" in body:
        phrase = reader.text((*path, "after_hearing"), body["after_hearing"], "after_hearing")
        if timing.cue in (Cue.AT, Cue.AFTER):
            reader.error("CK704", f'after_hearing does not combine with "{timing.cue.value}", '
                         "which is a time, not a wait for the agent",
                         (*path, "after_hearing"), key=True)
        timing = Timing(timing.cue, timing.seconds, phrase or "")
    if action == "say":
        text = reader.text(where, body[action], "say")
        return Say(text, timing, span, garbled) if text is not None else None
    if action == "press":
        digits = reader.digits(where, body[action])
        return Press(digits, timing, span) if digits is not None else None
    if action == "sound":
        name = reader.text(where, body[action], "sound")
        if name is not None and name not in SOUND_NAMES:
            reader.error("CK706", f"unknown sound {name!r}: one of {', '.join(SOUND_NAMES)}",
                         where)
            return None
        return Sound(name, timing, span) if name is not None else None
    return Hangup(timing, span, drop)


def _destinations(reader: _Reader, value: JSONValue) -> dict[str, Destination]:
    if not isinstance(value, dict):
        reader.error("CK702", "destinations must be a mapping from destination to options",
                     ("destinations",))
        return {}
    found: dict[str, Destination] = {}
    for name, options in value.items():
        destination = _destination(reader, ("destinations", name), options)
        if destination is not None:
            found[name] = destination
    return found


def _destination(reader: _Reader, path: JSONPath, value: JSONValue) -> Destination | None:
    body = reader.mapping(path, value, _DESTINATION, "a destination")
    if body is None:
        return None
    outcome = Outcome.ANSWER
    raw = body.get("outcome", "answer")
    try:
        outcome = Outcome(raw)
    except ValueError:
        known = [o.value for o in Outcome]
        reader.error("CK702", f"outcome must be one of {', '.join(known)}", (*path, "outcome"),
                     hint=did_you_mean(raw, known) if isinstance(raw, str) else None)
    if outcome is not Outcome.ANSWER:
        for key in (key for key in _ANSWER_ONLY if key in body):
            reader.error("CK705", f'"{key}" only applies to a destination that answers, '
                         f"not to outcome {outcome.value}", (*path, key), key=True)
    lost = reader.flag((*path, "lose_answered_event"), body.get("lose_answered_event", False))
    hangup_after = body.get("hangup_after")
    return Destination(
        outcome=outcome,
        answer_after=reader.seconds((*path, "answer_after"),
                                    body.get("answer_after", DEFAULT_ANSWER_AFTER)),
        lose_answered_event=lost,
        press=(reader.digits((*path, "press"), body["press"]) or "") if "press" in body else "",
        hangup_after=(reader.seconds((*path, "hangup_after"), hangup_after)
                      if hangup_after is not None else None),
    )


def _faults(reader: _Reader, value: JSONValue) -> Faults:
    body = reader.mapping(("faults",), value, _FAULTS, "faults")
    if body is None:
        return NO_FAULTS
    tts: list[TtsFault] = []
    raw_tts = body.get("tts", [])
    if not isinstance(raw_tts, list):
        reader.error("CK702", "faults.tts must be a list of tts faults", ("faults", "tts"))
    else:
        for index, item in enumerate(raw_tts):
            fault = _tts_fault(reader, ("faults", "tts", index), item)
            if fault is not None:
                tts.append(fault)
    files: set[str] = set()
    raw_files = body.get("files", [])
    if not isinstance(raw_files, list):
        reader.error("CK702", "faults.files must be a list of URLs", ("faults", "files"))
    else:
        for index, item in enumerate(raw_files):
            url = reader.text(("faults", "files", index), item, "a file")
            if url is not None:
                files.add(url)
    return Faults(tuple(tts), frozenset(files))


def _tts_fault(reader: _Reader, path: JSONPath, value: JSONValue) -> TtsFault | None:
    body = reader.mapping(path, value, _TTS_FAULT, "a tts fault")
    if body is None:
        return None
    if "saying" not in body:
        reader.error("CK702", 'a tts fault needs "saying": the text whose synthesis fails', path)
        return None
    saying = reader.text((*path, "saying"), body["saying"], "saying")
    if saying is not None and not saying.split():
        # Blank would match every say item: surely not what was meant.
        reader.error("CK702", "saying must contain words", (*path, "saying"))
        saying = None
    times = reader.count((*path, "times"), body.get("times", 1))
    all_voices = reader.flag((*path, "all_voices"), body.get("all_voices", False))
    if saying is None:
        return None
    return TtsFault(saying, times, all_voices, reader.doc.span(path))


def call_details(script: CallerScript) -> dict[str, JSONValue]:
    """The `call` object a document fetch and the runtime's `call.*` both see."""
    return {"from": script.from_, "to": script.to, "direction": "inbound", "type": "phone"}
