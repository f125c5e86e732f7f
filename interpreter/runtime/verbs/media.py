"""Verbs on the caller's media path: answer, hangup, play, prompt, sleep,
record, record_call, stop_record_call, send_digits."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.media.keys import DIGITS, WAITS_MS
from interpreter.media.ports import Recording, RecordingFailed, Utterance
from interpreter.media.recording import BEEP_SECONDS
from interpreter.runtime import events as ev
from interpreter.runtime import faults
from interpreter.runtime import status_callbacks as status
from interpreter.runtime.call import playout_deadline
from interpreter.runtime.scope import render, render_text, utterances
from interpreter.runtime.state import CallState

SENDABLE = DIGITS + "".join(WAITS_MS)  # keys, and "w"/"W" pauses

if TYPE_CHECKING:
    from interpreter.runtime.executor import Executor

# How long to wait for the words of a caller who has started speaking, when the
# flow sets no limit (the hosted platform's speech_timeout default is 60 s).
SPEECH_TIMEOUT = 60.0


async def run(executor: Executor, verb: ir.Verb) -> None:
    match verb:
        case ir.Answer():
            answer(executor)
        case ir.Hangup(reason=reason):
            await hangup(executor, reason)
        case ir.Play():
            if verb.auto_answer:
                answer(executor)
            await play(executor, verb)
        case ir.PromptInput():
            answer(executor)
            await prompt(executor, verb)
        case ir.Sleep():
            await sleep(executor, verb)
        case ir.Record():
            await record(executor, verb)
        case ir.StopRecordCall(control_id=control_id):
            stopped = control_id or str(executor.call.vars.get("record_control_id", ""))
            executor.call.recording_terminators.pop(stopped, None)
            executor.channel.stop_recording(stopped)
            executor.call.trace.record("record_stopped", control_id=stopped)
            executor.call.report_recording_stopped(stopped)
        case ir.SendDigits(digits=digits):
            sent = render_text(digits, executor.scope)
            unknown = list(dict.fromkeys(c for c in sent if c not in SENDABLE))
            if unknown or not sent:
                # A digit string rendered from a variable can hold anything.
                executor.call.trace.record("digits_refused", digits=sent,
                                           why=f"not DTMF: {''.join(unknown)!r}" if unknown
                                           else "nothing to send")
                executor.call.vars["send_digits_result"] = "failed"
                return
            executor.channel.send_digits(sent)
            executor.call.trace.record("digits_sent", digits=sent)
            executor.call.vars["send_digits_result"] = "success"


def answer(executor: Executor) -> None:
    call = executor.call
    if executor.source != "caller" or call.state not in (CallState.NEW, CallState.RINGING):
        return
    executor.channel.answer()
    call.set_state(CallState.ANSWERED)


async def hangup(executor: Executor, reason: str) -> None:
    from interpreter.runtime.executor import LegDeclined, ScriptEnded

    if executor.source != "caller":
        raise LegDeclined(reason)
    raise ScriptEnded(f"hangup:{reason}")


async def play(executor: Executor, verb: ir.Play) -> None:
    """Play and wait; with a status_url, `playing` goes out as it starts and
    `finished` (also when the call ends during it) or `error` when it ends."""
    items = utterances(verb.items, executor.scope, voice=verb.voice, volume_db=verb.volume)
    to = status.target(verb.status_url, executor.scope)
    if to is None:
        await executor.play(items)
        return
    control = status.control_id()
    status.play(executor.call, to, executor.source, control, "playing")
    played = True
    try:
        played = await executor.play(items)
    finally:
        status.play(executor.call, to, executor.source, control,
                    "finished" if played else "error")


async def sleep(executor: Executor, verb: ir.Sleep) -> None:
    duration = verb.duration_ms
    if isinstance(duration, ir.SwmlText):
        rendered = render(duration, executor.scope)
        duration = int(rendered) if isinstance(rendered, int | float) else 0
    # Waiting in the inbox, not in asyncio.sleep: a hangup must end the sleep.
    await executor.call.wait_for(lambda _: False, None if duration < 0 else duration / 1000)


async def prompt(executor: Executor, verb: ir.PromptInput) -> None:
    """Play, then collect digits (and speech when asked); digits or speech
    during the play stop it. Sets prompt_result and friends
    (SignalWire's SWML docs for `prompt`)."""
    items = [executor.voiced(u) for u in utterances(verb.play, executor.scope,
                                                    voice=verb.voice, volume_db=verb.volume)]
    before = executor.listening
    if verb.speech:
        executor.listen(replace(verb.listen, barge=ir.PROMPT_BARGE))
    to = status.target(verb.status_url, executor.scope)
    try:
        await _collect(executor, verb, items)
    finally:
        if verb.speech:
            executor.listen(before)  # the prompt's settings end with it
    status.collect(executor.call, to, executor.source, status.control_id())


async def _collect(executor: Executor, verb: ir.PromptInput, items: list[Utterance]) -> None:
    call = executor.call
    source = executor.source
    playout = call.next_id()
    playing = bool(items)
    if playing:
        executor.channel.play(playout, items)
        call.trace.record("play", playout=playout, source=source,
                          items=[f"{u.kind}:{u.value}" for u in items])
    digits = ""
    if source == "caller":
        digits, call.pending_digits = "".join(call.pending_digits), []
    terminator = ""

    def wanted(event: ev.Event) -> bool:
        if getattr(event, "source", None) != source:
            return False
        return isinstance(event, ev.DigitPressed | ev.PlayoutFinished) or (
            verb.speech and isinstance(event, ev.SpeechStarted | ev.TranscriptReceived))

    result = "no_input"
    speaking = False
    while True:
        if digits and (len(digits) >= verb.max_digits):
            result = "match_digits"
            break
        if speaking:  # the caller is talking: wait for what they said
            timeout: float | None = verb.speech_timeout or SPEECH_TIMEOUT
        else:
            # While the prompt plays, its end is what is waited for (bounded:
            # a transport that never reports it counts as having finished).
            timeout = playout_deadline(items) if playing else (
                verb.digit_timeout if digits else _speech_or(verb, verb.initial_timeout))
        event = await call.wait_for(wanted, timeout)
        if event is None and playing and not speaking:
            playing = _interrupt(executor, playing)
            continue
        if event is None:
            result = "match_digits" if digits else "no_input"
            break
        match event:
            case ev.PlayoutStopped(playout_id=finished) if finished == playout:
                playing = _interrupt(executor, playing, event)  # the path decided it
            case ev.PlayoutFinished(playout_id=finished) if finished == playout:
                playing = False
            case ev.DigitPressed(digit=digit):
                playing = _interrupt(executor, playing, event)
                if digit in verb.terminators:
                    terminator = digit
                    result = "match_digits" if digits else "no_match"
                    break
                digits += digit
            case ev.SpeechStarted():
                playing = _interrupt(executor, playing, event)
                speaking = True
            case ev.TranscriptReceived(text=text, final=True, confidence=confidence):
                playing = _interrupt(executor, playing, event)
                call.vars.update(prompt_result="match_speech", prompt_value=text,
                                 prompt_speech_confidence=confidence,
                                 prompt_digit_terminator="")
                call.trace.record("prompt_result", result="match_speech", value=text)
                return
    if playing:
        _interrupt(executor, playing)
    call.vars.update(prompt_result=result, prompt_value=digits,
                     prompt_digit_terminator=terminator)
    call.trace.record("prompt_result", result=result, value=digits, terminator=terminator)


def _speech_or(verb: ir.PromptInput, initial: float) -> float:
    if verb.speech and verb.speech_timeout is not None:
        return max(initial, verb.speech_timeout)
    return initial


def _interrupt(executor: Executor, playing: bool, event: ev.Event | None = None) -> bool:
    """Input during the prompt's play stops it (the prompt verb's barge policy:
    any speech or digit); False once nothing plays."""
    if playing and event is not None and not ev.barges(ir.PROMPT_BARGE, event):
        return True
    if playing:
        heard = executor.channel.stop_playout()
        executor.call.trace.record("playout_stopped", source=executor.source,
                                   heard=heard.text, seconds=round(heard.seconds, 3))
    return False


async def record(executor: Executor, verb: ir.Record) -> None:
    """The text runtime records what the caller says: the transcript is the recording."""
    call = executor.call
    control = verb.control_id or f"rec-{call.next_id()}"
    try:
        # A record verb times its own silences; a record_call's are the path's.
        url = executor.channel.start_recording(control, Recording(
            verb.format, verb.stereo, verb.direction, verb.beep, verb.max_length or None,
            initial_timeout_s=verb.initial_timeout or None if verb.background else None,
            end_silence_s=verb.end_silence_timeout or None if verb.background else None))
    except RecordingFailed as error:
        faults.record(call, ErrorType.MEDIA_ERROR, str(error), fatal=False,
                      next="the flow goes on without the recording")
        call.vars.update({"record_call_result" if verb.background else "record_result":
                          "failed"})
        return
    to = status.target(verb.status_url, executor.scope)
    status.record(call, to, executor.source, control, "recording", url=url)
    if verb.background:
        call.vars.update(record_call_url=url, record_call_result="success",
                         record_control_id=control)
        call.trace.record("recording_started", control_id=control, url=url)
        if verb.terminators:
            call.recording_terminators[control] = verb.terminators
        if to is not None:
            call.recording_stopped[control] = status.BackgroundRecording(
                to, executor.source, control, url,
                call.now() + (BEEP_SECONDS if verb.beep else 0.0), verb.max_length,
                may_end_on_silence=bool(verb.initial_timeout or verb.end_silence_timeout))
        return
    started = call.now() + (BEEP_SECONDS if verb.beep else 0.0)
    # A call that ends mid-recording ends the recording with it: finished.
    result = "success"
    try:
        result = await _record(executor, verb, control, url)
    finally:
        found = result == "success"
        status.record(call, to, executor.source, control, "finished" if found else "no_input",
                      url=url if found else None,
                      duration=call.now() - started if found else None)


async def _record(executor: Executor, verb: ir.Record, control: str, url: str) -> str:
    """The blocking record: until silence, a terminator or max_length."""
    call = executor.call
    transcript: list[str] = []
    spoke = False  # speech the recognizer found no words in is recorded all the same
    # max_length bounds the whole recording, however the caller goes on; it
    # starts after the beep.
    beep = BEEP_SECONDS if verb.beep else 0.0
    ends_at = call.now() + beep + verb.max_length if verb.max_length else None

    def wanted(event: ev.Event) -> bool:
        return isinstance(event, ev.TranscriptReceived | ev.DigitPressed | ev.SpeechStarted
                          | ev.TranscriptionFailed) \
            and getattr(event, "source", "") == executor.source

    timeout = verb.initial_timeout
    while True:
        wait = timeout if timeout > 0 else None
        if ends_at is not None:
            wait = min(wait if wait is not None else ends_at, ends_at - call.now())
        event = await call.wait_for(wanted, max(wait, 0.0) if wait is not None else None)
        if event is None:
            break
        if isinstance(event, ev.DigitPressed) and event.digit in verb.terminators:
            break
        if isinstance(event, ev.SpeechStarted) or (
                isinstance(event, ev.TranscriptReceived) and not event.final):
            spoke = True
            timeout = SPEECH_TIMEOUT  # still speaking
        elif isinstance(event, ev.TranscriptReceived | ev.TranscriptionFailed):
            if isinstance(event, ev.TranscriptReceived):
                transcript.append(event.text)
            timeout = verb.end_silence_timeout
    executor.channel.stop_recording(control)
    result = "success" if transcript or spoke else "no_input"
    call.vars.update(record_url=url if result == "success" else "", record_result=result)
    call.trace.record("recorded", url=url, result=result, text=" ".join(transcript))
    return result
