"""The verb executor: a program counter and a call stack over compiled sections.

Frames hold a method list and a pc. A section frame is pushed for `main`, for
each `execute` (a subroutine: it returns) and replaces the whole stack for
`transfer` (a tail call). Inline frames run the chosen branch of a `cond` or
`switch` and then fall back to the frame below. `goto` moves the pc of its
own list or of the section's top level, which is where the compiler found the
label. All of it runs inside the call's actor task.

Verbs that fail raise CallFault; the executor classifies the fault, speaks the
recovery phrase and carries on with the next method, or ends the call when
the fault is fatal. Nothing escapes to the caller of `run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import CallFault, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import (
    FALLBACK_VOICE,
    CallerChannel,
    FailureKind,
    ListenSettings,
    Utterance,
    Voice,
)
from interpreter.runtime import commands, faults
from interpreter.runtime.call import playout_deadline
from interpreter.runtime.events import PlayoutFailed, PlayoutFinished
from interpreter.runtime.scope import render, render_text, scope_of, test, text_of, value_of

if TYPE_CHECKING:
    from interpreter.expressions import MappingScope
    from interpreter.runtime.call import Call

# The hosted platform's limit on section changes per call
# (relay_script_too_many_transfers).
MAX_TRANSFERS = 32


class ScriptEnded(Exception):
    """`return` at the top level, or a `hangup` verb: the script is over."""

    def __init__(self, disposition: str) -> None:
        super().__init__(disposition)
        self.disposition = disposition


class LegDeclined(Exception):
    """A confirm section hung up on the called party: do not bridge."""


@dataclass(slots=True)
class Frame:
    block: ir.Block
    section: ir.Section | None  # None for an inline branch
    params: dict[str, JSONValue]
    subroutine: ir.Execute | None = None  # the execute that pushed it, if any
    pc: int = 0


@dataclass(slots=True)
class Executor:
    """Runs method lists for one call, against one media channel.

    A confirm section runs in a second executor whose channel is the called
    leg's, so its prompts listen to that party (`source`)."""

    call: Call
    channel: CallerChannel
    source: str = "caller"
    stack: list[Frame] = field(default_factory=list)
    goto_counts: dict[int, int] = field(default_factory=dict)
    transfers: int = 0
    # The voice "say" items are spoken in when they name none: the ai verb's
    # language voice; FALLBACK_VOICE for everything once a voice has failed.
    voice: Voice | None = None
    # What the channel was last told about listening (an ai session's
    # settings, a prompt's while it listens for speech).
    listening: ListenSettings = field(default_factory=ListenSettings)

    @property
    def scope(self) -> MappingScope:
        params = self.stack[-1].params if self.stack else {}
        return scope_of(self.call.call_info, params, self.call.vars, self.call.envs)

    # ------------------------------------------------------------ running

    async def run_section(self, section: ir.Section, params: dict[str, JSONValue]) -> str:
        """Run `section` and whatever it transfers to; the script's disposition."""
        self.stack = [Frame(section.body, section, params)]
        try:
            await self._loop()
        except ScriptEnded as ended:
            return ended.disposition
        return "completed"

    async def run_block(self, block: ir.Block) -> None:
        """Run an inline method list to its end (used for confirm sections)."""
        self.stack = [Frame(block, None, {})]
        await self._loop()

    async def _loop(self) -> None:
        while self.stack:
            if self.call.commands and self.source == "caller":
                # Between two verbs: a safe point for operator commands.
                await commands.run_pending(self)
                continue
            frame = self.stack[-1]
            if frame.pc >= len(frame.block):
                self._end_of_list(frame)
                continue
            verb = frame.block[frame.pc]
            frame.pc += 1
            try:
                await self.step(verb)
            except CallFault as fault:
                await self.recover(fault, verb)
                continue
            if self.call.failures:
                # Retries count consecutive failures: a verb that completed
                # starts the count again.
                self.call.failures.clear()

    def _end_of_list(self, frame: Frame) -> None:
        self.stack.pop()
        if frame.subroutine is not None:
            self._returned(frame.subroutine, None)

    async def step(self, verb: ir.Verb) -> None:
        from interpreter.runtime.verbs import media, network

        self.call.trace.record("verb", verb=_verb_name(verb), line=_line(verb),
                               source=self.source)
        match verb:
            case ir.SetVars(values=values):
                for name, value in values:
                    self.call.vars[name] = render(value, self.scope)
            case ir.UnsetVars(names=names):
                for name in names:
                    self.call.vars.pop(name, None)
            case ir.Label():
                pass
            case ir.Cond():
                self.choose_cond(verb)
            case ir.Switch():
                self.choose_switch(verb)
            case ir.Goto():
                self._goto(verb)
            case ir.Execute():
                await self._execute(verb)
            case ir.Return(value=value):
                self._return(render(value, self.scope))
            case ir.Transfer():
                await self._transfer(verb)
            case ir.Unsupported(method=method):
                self.call.trace.record("not_executed", method=method,
                                       why="accepted by the schema, not executed by callkernel")
            case ir.Ai():
                await network.ai(self, verb)
            case ir.Connect() | ir.Request() | ir.SendSms():
                await network.run(self, verb)
            case _:
                await media.run(self, verb)

    # ------------------------------------------------------------ control flow

    def _push(self, block: ir.Block | None) -> None:
        if block:
            self.stack.append(Frame(block, None, self.stack[-1].params if self.stack else {}))

    def choose_cond(self, verb: ir.Cond) -> None:
        for branch in verb.branches:
            if branch.when is None:
                self._push(branch.then)
                return
            if test(branch.when, self.scope):
                self._push(branch.then)
                return
            if branch.otherwise is not None:
                self._push(branch.otherwise)
                return

    def choose_switch(self, verb: ir.Switch, required: bool = True) -> None:
        value = value_of(verb.variable, self.scope)
        key = "" if value is None else value if isinstance(value, str) else text_of(value)
        body = verb.cases.get(key, verb.default)
        if body is None and required:
            raise CallFault(ErrorType.STATE_ERROR,
                            f'switch on {verb.variable.source}: no case for "{key}" and no '
                            "default (relay_script_method_no_matching_condition)")
        self._push(body)

    def _goto(self, verb: ir.Goto) -> None:
        if verb.when is not None and not test(verb.when, self.scope):
            return
        jumps = self.goto_counts.get(id(verb), 0)
        if jumps >= verb.max:
            self.call.trace.record("goto_exhausted", label=verb.label, max=verb.max)
            return
        self.goto_counts[id(verb)] = jumps + 1
        if not verb.in_same_list:
            # The label is in the section's top-level list: leave inline branches.
            while self.stack[-1].section is None and len(self.stack) > 1:
                self.stack.pop()
        self.stack[-1].pc = verb.index

    async def _execute(self, verb: ir.Execute) -> None:
        params = render(verb.params, self.scope)
        section = await self._resolve(verb.dest)
        self.stack.append(Frame(section.body, section,
                                params if isinstance(params, dict) else {}, verb))

    def _return(self, value: JSONValue) -> None:
        while self.stack:
            frame = self.stack.pop()
            if frame.subroutine is not None:
                self._returned(frame.subroutine, value)
                return
        raise ScriptEnded("completed")

    def _returned(self, verb: ir.Execute, value: JSONValue) -> None:
        self.call.vars["return_value"] = value
        self.call.trace.record("returned", section=verb.dest.name, value=value)
        # Pushed in reverse: on_return runs first, then the matching result branch.
        result = verb.result
        if isinstance(result, ir.Switch):
            self.choose_switch(result, required=False)
        elif isinstance(result, ir.Cond):
            self.choose_cond(result)
        self._push(verb.on_return)

    async def _transfer(self, verb: ir.Transfer) -> None:
        self.transfers += 1
        if self.transfers > MAX_TRANSFERS:
            raise CallFault(ErrorType.STATE_ERROR,
                            f"more than {MAX_TRANSFERS} transfers in one call")
        params = render(verb.params, self.scope)
        section = await self._resolve(verb.dest)
        self.call.trace.record("transferred", to=section.name)
        self.stack = [Frame(section.body, section, params if isinstance(params, dict) else {})]

    async def _resolve(self, dest: ir.Destination) -> ir.Section:
        if dest.section is not None:
            return dest.section
        name = render_text(dest.dynamic, self.scope)
        section = self.call.flow.section(name)
        if section is not None:
            return section
        loader = self.call.flow_loader
        if loader is None:
            raise CallFault(ErrorType.TRANSFER_FAILED, f'no section or flow named "{name}"')
        try:
            flow = await loader(name)
        except CallFault:
            raise
        except Exception as error:
            raise CallFault(ErrorType.TRANSFER_FAILED, f"{name}: {error}") from None
        self.call.trace.record("flow_loaded", dest=name, hash=flow.content_hash)
        return flow.main

    # ------------------------------------------------------------ faults

    async def recover(self, fault: CallFault, verb: ir.Verb) -> None:
        """Classify, speak the recovery phrase, and go on — or end the call."""
        from interpreter.runtime.verbs import media

        outcome = faults.classify(self.call, fault.error_type, fault.detail,
                                  then="next method", verb=_verb_name(verb), line=_line(verb))
        if outcome.phrase:
            media.answer(self)  # a phrase to a call still ringing would go unheard
            await self.say(outcome.phrase)
        if outcome.fatal:
            raise ScriptEnded(f"error:{fault.error_type.value}")

    def listen(self, settings: ListenSettings) -> None:
        """How the caller is listened to from now on; the transport hears of it."""
        self.listening = settings
        self.channel.listen(settings)

    async def say(self, text: str) -> bool:
        return await self.play([Utterance("say", text)])

    def voiced(self, item: Utterance) -> Utterance:
        """The item in the voice it is spoken in: its own, else the call's; the
        fallback voice for all once a voice has failed."""
        if item.kind != "say":
            return item
        if self.voice == FALLBACK_VOICE or item.voice is None:
            return replace(item, voice=self.voice)
        return item

    async def play(self, items: list[Utterance]) -> bool:
        """Play and wait until it has been heard (or the call ends); False when
        something could not be played.

        A voice that fails to synthesize is a tts_error: the items not yet
        heard are played again in the fallback voice, which the call keeps
        from then on (the hosted platform falls back to a default voice the
        same way). A file that fails to play is a media_error and is skipped."""
        if not items:
            return True
        # Waited out to the end, never barged into (the ai verb's replies and the
        # prompt verb play through the channel themselves and handle barge-in):
        # say so, so a transport deciding barge-in at the frame leaves it be.
        items = [replace(self.voiced(u), interruptible=False) for u in items]
        playout = self.call.next_id()
        self.channel.play(playout, items)
        self.call.trace.record("play", playout=playout, source=self.source,
                               items=[f"{u.kind}:{u.value}" for u in items])
        event = await self.call.wait_for(lambda e: _finished(e, playout, self.source),
                                         playout_deadline(items))
        if isinstance(event, PlayoutFinished):
            return True
        if event is None:
            self.channel.stop_playout()
            faults.record(self.call, ErrorType.MEDIA_ERROR,
                          "the transport never reported the end of the playout",
                          fatal=False, next="carry on")
            return False
        assert isinstance(event, PlayoutFailed)
        retry = event.kind is FailureKind.SPEECH and self.voice != FALLBACK_VOICE
        faults.record(self.call, event.error_type, event.reason, fatal=False,
                      next="the rest in the fallback voice" if retry else "skipped",
                      item=event.item)
        if retry:
            self.voice = FALLBACK_VOICE
            return await self.play(items[event.item:])
        await self.play(items[event.item + 1:])
        return False


def _finished(event: object, playout: int, source: str) -> bool:
    return isinstance(event, PlayoutFinished | PlayoutFailed) and \
        event.playout_id == playout and event.source == source


# The SWML method name of each verb type whose class name is not it.
_VERB_NAMES: dict[type, str] = {
    ir.PromptInput: "prompt", ir.SetVars: "set", ir.UnsetVars: "unset",
    ir.StopRecordCall: "stop_record_call", ir.SendDigits: "send_digits",
    ir.SendSms: "send_sms"}


def _verb_name(verb: ir.Verb) -> str:
    if isinstance(verb, ir.Unsupported):
        return verb.method
    if isinstance(verb, ir.Record):
        return "record_call" if verb.background else "record"
    kind = type(verb)
    name = _VERB_NAMES.get(kind)
    if name is None:
        name = _VERB_NAMES[kind] = kind.__name__.lower()
    return name


def _line(verb: ir.Verb) -> int:
    return verb.span.line

