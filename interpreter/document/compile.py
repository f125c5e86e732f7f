"""Compile a lint-clean document into the frozen IR of `interpreter.ir`.

The compiler trusts what the schema and the lint rules guarantee (shapes,
defined references); it resolves every name to the object it names, parses
every expression (through the cache lint already filled), renders POM
prompts, compiles regular expressions and fills in defaults. It is
deterministic: the same document gives an equal IR and the same hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from interpreter import ir
from interpreter.diagnostics import Diagnostic, JSONPath, Severity, Span, has_errors
from interpreter.document.coerce import flag, freeze, number, strings
from interpreter.document.expression_sites import parse_cached
from interpreter.document.lint import lint_source
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.document.normalize import content_hash
from interpreter.errors import DocumentError
from interpreter.expressions import ExpressionSyntaxError, SwaigTemplate, SwmlTemplate
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import ListenSettings, Voice

_SECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def compile_flow(doc: SourceDocument) -> tuple[ir.CompiledFlow, list[Diagnostic]]:
    """Lint then compile; raise DocumentError if lint finds errors.

    Returns the flow and the warnings lint reported, so callers can show them.
    """
    diagnostics = lint_source(doc)
    if has_errors(diagnostics):
        raise DocumentError([d for d in diagnostics if d.severity is Severity.ERROR])
    return _Compiler(doc).compile(), diagnostics


def compile_text(source: str | bytes, file: str = "<input>",
                 options: LoadOptions | None = None) -> ir.CompiledFlow:
    """Load, lint and compile a document in one call."""
    flow, _ = compile_flow(load_document(source, file, options))
    return flow


class _Compiler:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        data = doc.data
        assert isinstance(data, dict)
        self.data: dict[str, JSONValue] = data
        raw_sections = data["sections"]
        assert isinstance(raw_sections, dict)
        self.raw_sections = raw_sections
        self.sections = {name: ir.Section(name, (), doc.span(("sections", name)))
                         for name in raw_sections}
        self._verbs: dict[str, Callable[[Any, JSONPath, _ListScope], ir.Verb]] = {
            "answer": self._answer, "hangup": self._hangup, "play": self._play,
            "prompt": self._prompt, "sleep": self._sleep, "set": self._set,
            "unset": self._unset, "switch": self._switch, "cond": self._cond,
            "goto": self._goto, "label": self._label, "execute": self._execute,
            "return": self._return, "transfer": self._transfer, "connect": self._connect,
            "request": self._request, "record": self._record, "record_call": self._record,
            "stop_record_call": self._stop_record_call, "send_digits": self._send_digits,
            "send_sms": self._send_sms, "ai": self._ai,
        }

    def compile(self) -> ir.CompiledFlow:
        for name, section in self.sections.items():
            body = self.raw_sections[name]
            assert isinstance(body, list)
            top = _ListScope.of(body, None)
            # The one mutation of a frozen IR object: sections may call each
            # other in cycles, so bodies are attached after every Section exists.
            object.__setattr__(section, "body", self._block(body, ("sections", name), top))
        ordered = (self.sections["main"],
                   *(s for n, s in self.sections.items() if n != "main"))
        version = str(self.data.get("version", "1.0.0"))
        flow = ir.CompiledFlow(ordered, version, self.doc.file)
        return ir.CompiledFlow(ordered, version, self.doc.file, content_hash(flow))

    # ------------------------------------------------------------ helpers

    def span(self, path: JSONPath) -> Span:
        return self.doc.span(path)

    def swml(self, text: str) -> ir.SwmlText | str:
        if "${" not in text and "%{" not in text:
            return text
        parsed = parse_cached("swml", text)
        if isinstance(parsed, ExpressionSyntaxError):
            raise AssertionError(f"lint let an invalid expression through: {text!r}")
        return ir.SwmlText(text, cast(SwmlTemplate, parsed))

    def swaig(self, text: str) -> ir.SwaigText:
        parsed = parse_cached("swaig", text)
        if isinstance(parsed, ExpressionSyntaxError):
            raise AssertionError(f"lint let an invalid template through: {text!r}")
        return ir.SwaigText(text, cast(SwaigTemplate, parsed))

    def maybe_swaig(self, value: JSONValue) -> ir.SwaigText | None:
        return self.swaig(value) if isinstance(value, str) else None

    def templated(self, value: JSONValue, swaig: bool = False) -> ir.Templated:
        if isinstance(value, str):
            if swaig:
                return self.swaig(value) if ("${" in value or "@{" in value or "%{" in value) \
                    else value
            return self.swml(value)
        if isinstance(value, dict):
            return MappingProxyType({key: self.templated(item, swaig)
                                     for key, item in value.items()})
        if isinstance(value, list):
            return tuple(self.templated(item, swaig) for item in value)
        return value

    def js(self, text: str) -> ir.Js:
        parsed = parse_cached("js", text)
        if isinstance(parsed, ExpressionSyntaxError):
            raise AssertionError(f"lint let an invalid expression through: {text!r}")
        return ir.Js(text, parsed)  # type: ignore[arg-type]

    # ------------------------------------------------------------ blocks

    def _block(self, body: list[JSONValue], path: JSONPath, top: _ListScope) -> ir.Block:
        scope = _ListScope.of(body, top)
        verbs: list[ir.Verb] = []
        for position, entry in enumerate(body):
            assert isinstance(entry, dict)
            method, args = next(iter(entry.items()))
            args_path = (*path, position, method)
            build = self._verbs.get(method)
            if build is None:
                verbs.append(ir.Unsupported(self.span(args_path), method, freeze(args)))
            else:
                verbs.append(build(args, args_path, scope))
        return tuple(verbs)

    def _nested(self, body: JSONValue, path: JSONPath, scope: _ListScope) -> ir.Block | None:
        if not isinstance(body, list):
            return None
        return self._block(body, path, scope.top or scope)

    # ------------------------------------------------------------ verbs

    def _answer(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        args = args if isinstance(args, dict) else {}
        return ir.Answer(self.span(path), int(number(args.get("max_duration"), 14400)),
                         args.get("codecs"))

    def _hangup(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        reason = args.get("reason") if isinstance(args, dict) else None
        return ir.Hangup(self.span(path), reason or "hangup")

    def play_items(self, value: JSONValue) -> tuple[ir.PlayItem, ...]:
        urls = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        items = []
        for url in urls:
            text = str(url)
            kind = "dynamic" if text.startswith(("${", "%{")) else "url"
            for prefix in ("say:", "silence:", "ring:"):
                if text.startswith(prefix):
                    kind, text = prefix[:-1], text[len(prefix):]
            items.append(ir.PlayItem(kind, self.swml(text)))
        return tuple(items)

    def _play(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        urls = args.get("urls", args.get("url"))
        return ir.Play(self.span(path), self.play_items(urls), number(args.get("volume"), 0.0),
                       _voice(args), flag(args.get("auto_answer"), True),
                       status_url=self.status_url(args))

    def _prompt(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        speech = any(key.startswith("speech_") for key in args)
        end = args.get("speech_end_timeout")
        timeout = args.get("speech_timeout")
        return ir.PromptInput(
            self.span(path), self.play_items(args.get("play")),
            int(number(args.get("max_digits"), 1)), str(args.get("terminators", "")),
            number(args.get("digit_timeout"), 5.0), number(args.get("initial_timeout"), 5.0),
            speech, number(timeout, 0) if timeout is not None else None,
            number(end, 0) if end is not None else None,
            str(args.get("speech_language", "en-US")), strings(args.get("speech_hints")),
            number(args.get("volume"), 0.0), _voice(args), _prompt_listen(args),
            status_url=self.status_url(args))

    def _sleep(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        value = args.get("duration") if isinstance(args, dict) else args
        if isinstance(value, str):
            swml = self.swml(value)
            return ir.Sleep(self.span(path), swml if isinstance(swml, ir.SwmlText)
                            else int(number(value, 0)))
        return ir.Sleep(self.span(path), int(value if isinstance(value, int) else 0))

    def _set(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        return ir.SetVars(self.span(path), tuple((name, self.templated(value))
                                                 for name, value in args.items()))

    def _unset(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        return ir.UnsetVars(self.span(path), strings(args))

    def _switch(self, args: Any, path: JSONPath, scope: _ListScope,
                default_variable: str = "") -> ir.Switch:
        cases = args.get("case") or {}
        return ir.Switch(
            self.span(path), self.js(str(args.get("variable", default_variable))),
            MappingProxyType({value: self._nested(body, (*path, "case", value), scope) or ()
                              for value, body in cases.items()}),
            self._nested(args.get("default"), (*path, "default"), scope))

    def _cond(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Cond:
        branches = []
        for position, branch in enumerate(args):
            when = branch.get("when")
            then_key = "then" if when is not None else "else"
            branches.append(ir.CondBranch(
                self.js(when) if isinstance(when, str) else None,
                self._nested(branch.get(then_key), (*path, position, then_key), scope) or (),
                self._nested(branch.get("else"), (*path, position, "else"), scope)
                if when is not None else None))
        return ir.Cond(self.span(path), tuple(branches))

    def _goto(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        label = args.get("label") if isinstance(args, dict) else args
        args = args if isinstance(args, dict) else {}
        index, same = scope.find(str(label))
        when = args.get("when")
        return ir.Goto(self.span(path), str(label), index, same,
                       self.js(when) if isinstance(when, str) else None,
                       int(number(args.get("max"), 100)))

    def _label(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        return ir.Label(self.span(path), str(args))

    def destination(self, dest: str) -> ir.Destination:
        if _SECTION_NAME.match(dest) and dest in self.sections:
            return ir.Destination(section=self.sections[dest])
        return ir.Destination(dynamic=self.swml(dest))

    def _result(self, value: JSONValue, path: JSONPath, scope: _ListScope,
                variable: str) -> ir.Switch | ir.Cond | None:
        if isinstance(value, dict):
            return self._switch(value, path, scope, variable)
        if isinstance(value, list):
            return self._cond(value, path, scope)
        return None

    def _execute(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        return ir.Execute(self.span(path), self.destination(str(args["dest"])),
                          self.templated(args.get("params")), self.templated(args.get("meta")),
                          self._nested(args.get("on_return"), (*path, "on_return"), scope),
                          self._result(args.get("result"), (*path, "result"), scope,
                                       "return_value"))

    def _return(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        return ir.Return(self.span(path), self.templated(args))

    def _transfer(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        dest = args if isinstance(args, str) else str(args["dest"])
        args = args if isinstance(args, dict) else {}
        return ir.Transfer(self.span(path), self.destination(dest),
                           self.templated(args.get("params")), self.templated(args.get("meta")))

    def _connect(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        groups: list[tuple[ir.SwmlText | str, ...]] = []
        if "to" in args:
            groups.append((self.swml(str(args["to"])),))
        for dest in args.get("serial") or []:
            groups.append((self.swml(str(dest.get("to") if isinstance(dest, dict) else dest)),))
        if args.get("parallel"):
            groups.append(tuple(self.swml(str(d.get("to") if isinstance(d, dict) else d))
                                for d in args["parallel"]))
        for group in args.get("serial_parallel") or []:
            groups.append(tuple(self.swml(str(d.get("to") if isinstance(d, dict) else d))
                                for d in group))
        confirm = args.get("confirm")
        confirm_ir: ir.Block | ir.Destination | None = None
        if isinstance(confirm, list):
            confirm_ir = self._nested(confirm, (*path, "confirm"), scope)
        elif isinstance(confirm, str):
            confirm_ir = self.destination(confirm)
        headers = args.get("headers") or []
        return ir.Connect(
            self.span(path), tuple(groups),
            self.swml(str(args["from"])) if "from" in args else None,
            number(args.get("timeout"), 60.0), int(number(args.get("max_duration"), 14400)),
            flag(args.get("answer_on_bridge"), False), self.play_items(args.get("ringback")),
            confirm_ir,
            number(args["confirm_timeout"], 0) if "confirm_timeout" in args else None,
            self._result(args.get("result"), (*path, "result"), scope, "connect_result"),
            tuple((str(h.get("name")), self.swml(str(h.get("value", "")))) for h in headers
                  if isinstance(h, dict)),
            status_url=self.status_url(args), call_state=self.call_state(args))

    def status_url(self, args: dict[str, Any]) -> ir.SwmlText | str | None:
        """A verb's `status_url` (its status callbacks), rendered when the verb runs."""
        url = args.get("status_url")
        return self.swml(url) if isinstance(url, str) and url else None

    def call_state(self, args: dict[str, Any]) -> ir.CallStateCallback | None:
        url = args.get("call_state_url")
        if not isinstance(url, str) or not url:
            return None
        events = args.get("call_state_events")
        return ir.CallStateCallback(self.swml(url), strings(events) if isinstance(events, list)
                                    else ("ended",))

    def _request(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        headers = args.get("headers") or {}
        pairs = headers.items() if isinstance(headers, dict) else \
            ((h.get("name"), h.get("value")) for h in headers if isinstance(h, dict))
        return ir.Request(
            self.span(path), self.swml(str(args["url"])), str(args.get("method", "GET")).upper(),
            tuple((str(name), self.swml(str(value))) for name, value in pairs),
            self.templated(args.get("body")), number(args.get("timeout"), 0.0),
            number(args.get("connect_timeout"), 0.0),
            flag(args.get("save_variables"), False))

    def _record(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        background = path[-1] == "record_call"
        args = args if isinstance(args, dict) else {}
        max_length = args.get("max_length")
        return ir.Record(
            self.span(path), background, str(args.get("format", "wav")),
            flag(args.get("stereo"), False),
            str(args.get("direction", "both" if background else "speak")),
            str(args.get("terminators", "" if background else "#")),
            flag(args.get("beep"), False),
            number(args.get("initial_timeout"), 0.0 if background else 4.0),
            number(args.get("end_silence_timeout"), 0.0 if background else 5.0),
            number(max_length, 0) if max_length is not None else None,
            str(args["control_id"]) if "control_id" in args else None,
            status_url=self.status_url(args))

    def _stop_record_call(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        control = args.get("control_id") if isinstance(args, dict) else None
        return ir.StopRecordCall(self.span(path), str(control) if control else None)

    def _send_digits(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        digits = args.get("digits") if isinstance(args, dict) else args
        return ir.SendDigits(self.span(path), self.swml(str(digits)))

    def _send_sms(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        return ir.SendSms(self.span(path), self.swml(str(args["to_number"])),
                          self.swml(str(args["from_number"])),
                          self.swml(str(args["body"])) if "body" in args else None,
                          tuple(self.swml(str(m)) for m in args.get("media") or []))

    def _ai(self, args: Any, path: JSONPath, scope: _ListScope) -> ir.Verb:
        from interpreter.document.compile_ai import compile_ai

        return compile_ai(self, args, path)


class _ListScope:
    """Labels of one method list, and of its section's top-level list."""

    __slots__ = ("labels", "top")

    def __init__(self, labels: dict[str, int], top: _ListScope | None) -> None:
        self.labels = labels
        self.top = top

    @classmethod
    def of(cls, body: list[JSONValue], top: _ListScope | None) -> _ListScope:
        labels: dict[str, int] = {}
        for position, entry in enumerate(body):
            if isinstance(entry, dict) and isinstance(entry.get("label"), str):
                labels.setdefault(str(entry["label"]), position)
        return cls(labels, top)

    def find(self, label: str) -> tuple[int, bool]:
        if label in self.labels:
            return self.labels[label], True
        if self.top is not None and label in self.top.labels:
            return self.top.labels[label], False
        raise AssertionError(f"lint let an undefined label through: {label!r}")



def _voice(args: dict[str, Any]) -> Voice | None:
    """say_voice ("Polly.Salli", "engine.voice:model") and say_language."""
    voice, language = args.get("say_voice"), args.get("say_language")
    if not isinstance(voice, str) and not isinstance(language, str):
        return None
    return Voice.parse(voice if isinstance(voice, str) else "",
                       language if isinstance(language, str) else "")


def _prompt_listen(args: dict[str, Any]) -> ListenSettings:
    """The prompt verb's speech settings (seconds in SWML) as listen settings."""
    base = ListenSettings()
    end, timeout = args.get("speech_end_timeout"), args.get("speech_timeout")
    return ListenSettings(
        end_of_speech_ms=int(number(end, base.end_of_speech_ms / 1000) * 1000),
        speech_timeout_ms=int(number(timeout, base.speech_timeout_ms / 1000) * 1000),
        language=str(args.get("speech_language", base.language)),
        hints=strings(args.get("speech_hints")))
