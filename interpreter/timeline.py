"""A picture of a call: both sides' speech, barge-ins, tools, steps and latency.

`build_timeline(records, caller=..., start=...)` turns a call's trace records
(and, when the run has them, the simulated caller's own records) into a
`Timeline`: spans per lane and point marks. `draw_timeline(timeline, path)`
writes it as a PNG with matplotlib's Agg canvas (no pyplot: no global figure
state, no display needed).

Speech comes from the caller's records when given: they hold when each side's
audio actually played (the trace knows when a sentence was *queued*, and a
text call reports only the end of the last playout of a batch). From the
trace alone, the caller speaks from `SpeechStarted` to the final transcript,
and the agent's queued sentences play one after the other until a playout
ends or a barge-in cuts them off.

A long call is drawn in rows of `ROW_SECONDS`, one under the other, so text
stays legible; a label that does not fit its span is cut short, and a mark
or tool label that would overlap another is left out (the mark stays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath

from interpreter.transports.script_follower import CallerAction
from interpreter.transports.simulated_media import AgentLine

ROW_SECONDS = 60.0  # a call longer than ROW_SECONDS * 1.25 is drawn in rows this long


class CallerRecords(Protocol):
    """What a simulated caller (text or audio) kept of the call."""

    @property
    def heard(self) -> list[AgentLine]: ...
    @property
    def said(self) -> list[CallerAction]: ...


@dataclass(frozen=True, slots=True)
class Span:
    """Something that lasted, in seconds since the call started. `style`
    says how it ended or what it is ("cut_off", "failed", "sound", ...)."""

    start: float
    end: float
    label: str
    style: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened at one instant (`style`: "barge_in",
    "declined", "error", "fatal", "hangup", "digit", "timeout")."""

    t: float
    label: str
    style: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """A call as lanes. `latency`: per model turn, from the caller's last words
    to the first sentence handed to speech (the trace's `turn` records);
    `gaps`: how long the caller waited, from the end of their speech to the
    agent's next audio."""

    title: str
    duration: float
    caller: tuple[Span, ...]
    agent: tuple[Span, ...]
    marks: tuple[Mark, ...]
    tools: tuple[Span, ...]
    steps: tuple[Span, ...]
    latency: tuple[Span, ...]
    gaps: tuple[Span, ...]


# ------------------------------------------------------------------ the model


def build_timeline(records: Iterable[dict[str, Any]], *, flow: str = "",
                   caller: CallerRecords | None = None, start: float = 0.0) -> Timeline:
    """The timeline of a call from its trace records; `caller` (with `start`,
    the loop time the call started at) supplies both sides' speech."""
    records = list(records)
    if caller is not None:
        said = _caller_spans(caller.said, start)
        heard = _agent_spans(caller.heard, start)
    else:
        said, heard = _caller_from_trace(records), _agent_from_trace(records)
    marks = _marks(records)
    ends = [float(r.get("t", 0.0)) for r in records] + [s.end for s in (*said, *heard)]
    duration = max([0.0, *ends])
    return Timeline(_title(records, flow, duration), duration, tuple(said), tuple(heard),
                    tuple(marks), tuple(_tools(records)), tuple(_steps(records, duration)),
                    tuple(_latency(records)), tuple(_gaps(said, heard)))


def _title(records: list[dict[str, Any]], flow: str, duration: float) -> str:
    ended = [r for r in records if r.get("kind") == "call_ended"]
    disposition = str(ended[-1].get("disposition")) if ended else "not ended"
    return " · ".join(part for part in (flow, f"{duration:.1f} s", disposition) if part)


def _caller_spans(said: Sequence[CallerAction], start: float) -> list[Span]:
    spans = []
    for action in said:
        if action.kind == "hangup":
            continue  # a mark, not speech
        label = {"press": f"press {action.value}", "sound": f"[{action.value}]"}.get(
            action.kind, action.value)
        style = "garbled" if action.note == "garbled" else \
            "" if action.kind == "say" else action.kind
        spans.append(Span(action.start - start, action.end - start, label, style))
    return spans


def _agent_spans(heard: Sequence[AgentLine], start: float) -> list[Span]:
    """What the agent played, one item after another: a line queued behind
    another starts when that one ends (its record starts when it was queued),
    and one stopped before it started is left out (nothing of it played)."""
    spans: list[Span] = []
    for line in sorted(heard, key=lambda line: line.start):
        label = line.text if line.kind == "say" else f"[{line.kind} {line.text}]"
        style = "cut_off" if line.cut_off else "" if line.kind == "say" else "sound"
        begin = max([line.start - start, *(s.end for s in spans[-1:])])
        if line.end - start > begin or not line.cut_off:
            spans.append(Span(begin, max(begin, line.end - start), label, style))
    return spans


def _event(record: dict[str, Any]) -> str:
    return str(record.get("event")) if record.get("kind") == "event" else ""


def _caller_from_trace(records: list[dict[str, Any]]) -> list[Span]:
    """The caller speaks from speech onset to the final transcript (or to
    the recognizer giving up)."""
    spans: list[Span] = []
    onset: float | None = None
    for record in records:
        t, event = float(record.get("t", 0.0)), _event(record)
        if record.get("source", "caller") != "caller":
            continue
        if event == "SpeechStarted":
            onset = t if onset is None else onset
        elif event == "TranscriptReceived" and record.get("final"):
            spans.append(Span(t if onset is None else onset, t, str(record.get("text", ""))))
            onset = None
        elif event == "TranscriptionFailed" and onset is not None:
            spans.append(Span(onset, t, "(not understood)", "garbled"))
            onset = None
        elif event == "DigitPressed":
            spans.append(Span(t, t, f"press {record.get('digit', '')}", "press"))
    return spans


_PLAYOUT_ENDS = {"PlayoutFinished": "", "PlayoutStopped": "cut_off", "PlayoutFailed": "failed"}


def _agent_from_trace(records: list[dict[str, Any]]) -> list[Span]:
    """Queued sentences play one after another: they are grouped until a
    playout of theirs ends (ids grow, so the ones queued before it ended
    too) or a barge-in stops them."""
    spans: list[Span] = []
    pending: list[tuple[float, int, str]] = []  # queued at, playout id, text

    def close(t: float, upto: int | None, style: str) -> None:
        done = [p for p in pending if upto is None or p[1] <= upto]
        if not done:
            return
        begin = max([done[0][0], *(s.end for s in spans[-1:])])
        spans.append(Span(min(begin, t), t, " ".join(p[2] for p in done), style))
        pending[:] = [p for p in pending if p not in done]

    for record in records:
        kind, t, event = record.get("kind"), float(record.get("t", 0.0)), _event(record)
        if record.get("source", "caller") != "caller":
            continue
        if kind == "say":
            pending.append((t, int(record.get("playout", 0)), str(record.get("text", ""))))
        elif kind == "play":
            items = [str(item) for item in record.get("items", ())]
            text = " ".join(i[4:] if i.startswith("say:") else f"[{i}]" for i in items
                            if not i.startswith("silence:"))
            pending.append((t, int(record.get("playout", 0)), text))
        elif event in _PLAYOUT_ENDS:
            close(t, int(record.get("playout_id", 0)), _PLAYOUT_ENDS[event])
        elif kind in ("barge_in", "playout_stopped"):
            close(t, None, "cut_off")
        elif kind == "call_ended":
            close(t, None, "")
    return spans


def _marks(records: list[dict[str, Any]]) -> list[Mark]:
    marks = []
    for record in records:
        kind, t = record.get("kind"), float(record.get("t", 0.0))
        if kind == "barge_in":
            heard = " ".join(str(record.get("heard") or "").split())
            marks.append(Mark(t, f'barge-in after "{heard}"' if heard else "barge-in",
                              "barge_in"))
        elif kind == "barge_declined":
            # The agent went on (the audio path resumes it where it paused).
            marks.append(Mark(t, f"went on: {record.get('why', '')}", "declined"))
        elif _event(record) == "PlayoutPaused":
            # Pause, then decide (audio): the pause and the resume at the frame.
            if record.get("paused"):
                marks.append(Mark(t, "paused", "declined"))
            else:
                marks.append(Mark(t, f"resumed: {record.get('why', '')}", "declined"))
        elif kind == "error":
            fatal = record.get("fatal") is True
            marks.append(Mark(t, f"{'FATAL ' if fatal else ''}{record.get('type', 'error')}",
                              "fatal" if fatal else "error"))
        elif kind in ("attention_timeout", "inactivity_timeout"):
            marks.append(Mark(t, f"{str(kind).split('_')[0]} timeout", "timeout"))
        elif _event(record) == "CallerHungUp":
            marks.append(Mark(t, "caller hung up", "hangup"))
    return marks


def _tools(records: list[dict[str, Any]]) -> list[Span]:
    """Each tool call from its start to its reply, failure or cancellation
    (matched by function name, oldest first: results carry no effect id)."""
    started: list[tuple[float, str]] = []
    spans = []
    for record in records:
        kind, t = record.get("kind"), float(record.get("t", 0.0))
        name = str(record.get("function", ""))
        if kind == "effect_started" and record.get("effect") == "tool":
            started.append((t, name))
        elif kind in ("tool_returned", "tool_failed", "tool_cancelled", "tool_mocked"):
            match = next((s for s in started if s[1] == name), None)
            if match is not None:
                started.remove(match)
            begin = match[0] if match else t - float(record.get("seconds") or 0.0)
            style = {"tool_failed": "failed", "tool_cancelled": "cancelled",
                     "tool_mocked": "mocked"}.get(str(kind), "")
            outcome = {"failed": f" ✗ {record.get('error', '')}", "cancelled": " cancelled",
                       "mocked": " (mocked)"}.get(style, "")
            spans.append(Span(begin, t, f"{name} {_ms(t - begin)}{outcome}", style))
    return spans


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _steps(records: list[dict[str, Any]], duration: float) -> list[Span]:
    """Where the call was: the ai session's context and step, and outside
    an ai session the call's state (answered, transferring, bridged)."""
    spans: list[Span] = []
    current: tuple[float, str, str] | None = None  # since, label, style
    context: str | None = None

    def switch(t: float, label: str | None, style: str = "") -> None:
        nonlocal current
        if current is not None and t > current[0]:
            spans.append(Span(current[0], t, current[1], current[2]))
        current = (t, label, style) if label is not None else None

    for record in records:
        kind, t = record.get("kind"), float(record.get("t", 0.0))
        if kind == "state":
            new = str(record.get("new"))
            if new == "in_ai":
                switch(t, "ai")
            elif new in ("answered", "transferring", "bridged"):
                switch(t, new, "state")
            elif new == "ended":
                switch(t, None)
        elif kind == "ai_started":
            context = record.get("context")
            switch(t, _where(context, record.get("step")))
        elif kind == "step_change":
            switch(t, _where(context, record.get("new")))
        elif kind == "context_change":
            context = record.get("new")
            switch(t, _where(context, record.get("step")))
    switch(duration, None)
    return spans


def _where(context: object, step: object) -> str:
    parts = [str(part) for part in (context, step) if part not in (None, "", "default")]
    return " / ".join(parts) or "ai session"


def _latency(records: list[dict[str, Any]]) -> list[Span]:
    """Per model turn: from the caller's last words (or the request, when the
    agent spoke first) to the first sentence handed to speech, or to the
    model's tool call."""
    spans: list[Span] = []
    for record in records:
        if record.get("kind") != "turn":
            continue
        t = float(record.get("t", 0.0))
        requested = t - float(record.get("seconds") or 0.0)
        begin = round(requested - float(record.get("eos_to_request_s") or 0.0), 6)
        audio = record.get("audio_latency_s")
        # A reply after a tool call counts from the same words as the turn that
        # called it: one bar, to the first sentence, tool included.
        via_tool = bool(spans) and spans[-1].start == begin and spans[-1].style == "tool"
        if via_tool:
            spans.pop()
        if audio is not None:
            spans.append(Span(begin, begin + float(audio),
                              f"{float(audio):.2f} s{' incl. tool' if via_tool else ''}"))
        elif record.get("tool_calls"):
            spans.append(Span(begin, t, f"{t - begin:.2f} s → tool", "tool"))
    return spans


def _gaps(said: Sequence[Span], heard: Sequence[Span]) -> list[Span]:
    """From the end of each caller utterance to the agent's next audio,
    when the agent answers before the caller speaks again."""
    gaps = []
    starts = sorted(span.start for span in heard if span.style != "sound")
    spoken = sorted((s for s in said if s.style in ("", "garbled")), key=lambda s: s.start)
    for index, span in enumerate(spoken):
        after = next((t for t in starts if t >= span.end), None)
        following = spoken[index + 1].start if index + 1 < len(spoken) else None
        if after is not None and (following is None or after <= following):
            gaps.append(Span(span.end, after, f"{after - span.end:.2f} s"))
    return gaps


# ------------------------------------------------------------------ the picture

WIDTH_INCHES, LEFT, RIGHT = 18.0, 1.25, 0.3
LANE_INCHES = 0.42
FONT = 7.5
PAD_POINTS = 3.0  # between a label and what is next to it
LANES = ("caller", "agent", "events", "tools", "step", "model latency", "caller waited")
CALLER, AGENT, CUT = "#3b7dd8", "#2e9d57", "#d62728"
MARK_COLORS = {"barge_in": CUT, "declined": "#ff9f1c", "error": "#e377c2", "fatal": CUT,
               "hangup": "#444444", "timeout": "#8c564b", "digit": CALLER}
TOOL, TOOL_FAILED = "#8e6cc4", CUT
STEP_COLORS = ("#fde2b3", "#cfe8f3", "#e0d7f0", "#d5efd0", "#f6d3d3", "#eee8aa")
LATENCY, WAITED = "#7f7f7f", "#b0b0b0"


def draw_timeline(timeline: Timeline, path: str | Path, *,
                  row_seconds: float = ROW_SECONDS) -> Path:
    """Write the timeline to `path` as a PNG; the path written."""
    cut = rows(timeline.duration, row_seconds)
    row_height = LANE_INCHES * len(LANES) + 0.45
    height = 0.9 + row_height * len(cut) + 0.35
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=100)
    FigureCanvasAgg(figure)
    measure = _measure()
    figure.suptitle(timeline.title, x=LEFT / WIDTH_INCHES, y=1 - 0.18 / height,
                    ha="left", fontsize=12, fontweight="bold")
    figure.text(LEFT / WIDTH_INCHES, 1 - 0.45 / height, _summary(timeline),
                fontsize=FONT + 1, color="#444444", va="top")
    axes_width = WIDTH_INCHES - LEFT - RIGHT
    for index, (begin, end) in enumerate(cut):
        top = 0.9 + row_height * index
        axes = figure.add_axes((LEFT / WIDTH_INCHES,
                                1 - (top + LANE_INCHES * len(LANES)) / height,
                                axes_width / WIDTH_INCHES, LANE_INCHES * len(LANES) / height))
        _draw_row(axes, timeline, _Fit(begin, end, axes_width * 72 / (end - begin), measure))
        if index == len(cut) - 1:
            axes.set_xlabel("seconds since the call started", fontsize=FONT)
    figure.legend(handles=_legend(), loc="lower left", ncols=8, frameon=False,
                  fontsize=FONT, bbox_to_anchor=(LEFT / WIDTH_INCHES, 0.0))
    target = Path(path)
    figure.savefig(target, format="png")
    return target


def _measure() -> Callable[[str], float]:
    """How wide a label is, in points: the sum of its characters' widths,
    each measured once from the font's outlines (a little wider than Agg
    draws them, which errs on the side of room)."""
    measure = TextToPath().get_text_width_height_descent
    font = FontProperties(size=FONT)
    widths: dict[str, float] = {}
    # Measured between two letters: a lone space measures as nothing.
    x_width = measure("xx", font, False)[0] / 2

    def width(text: str) -> float:
        total = 0.0
        for char in text:
            if char not in widths:
                widths[char] = measure(f"x{char}x", font, False)[0] - 2 * x_width
            total += widths[char]
        return total

    return width


def rows(duration: float, row_seconds: float = ROW_SECONDS) -> list[tuple[float, float]]:
    """The call cut into rows of equal length, none longer than `row_seconds`
    (with a quarter to spare: a 70 s call is one row, not 60 s and 10 s)."""
    duration = max(duration, 1.0)
    count = max(1, int(-(-duration // row_seconds))) if duration > row_seconds * 1.25 else 1
    size = duration / count
    return [(i * size, (i + 1) * size) for i in range(count)]


def _summary(timeline: Timeline) -> str:
    barges = sum(1 for mark in timeline.marks if mark.style == "barge_in")
    waits = [gap.end - gap.start for gap in timeline.gaps]
    parts = [f"{len(timeline.caller)} caller utterances", f"{len(timeline.agent)} agent",
             f"{barges} barge-in{'s' if barges != 1 else ''}",
             f"{len(timeline.tools)} tool call{'s' if len(timeline.tools) != 1 else ''}"]
    if waits:
        parts.append(f"caller waited {sum(waits) / len(waits):.2f} s on average "
                     f"(longest {max(waits):.2f} s)")
    return " · ".join(parts)


def _legend() -> list[Patch]:
    return [Patch(color=CALLER, label="caller speech"), Patch(color=AGENT, label="agent speech"),
            Patch(facecolor=AGENT, edgecolor=CUT, linewidth=1.4, label="agent cut off"),
            Patch(color=MARK_COLORS["barge_in"], label="barge-in"),
            Patch(color=MARK_COLORS["declined"], label="barge-in declined: agent went on"),
            Patch(color=TOOL, label="tool call"), Patch(color=LATENCY, label="model latency"),
            Patch(color=WAITED, label="caller waited for the agent")]


def _draw_row(axes: Axes, timeline: Timeline, fit: _Fit) -> None:
    lane = {name: len(LANES) - 1 - i for i, name in enumerate(LANES)}  # first lane on top
    # A little room after the end: a mark at the last instant stays in sight.
    axes.set_xlim(fit.begin, fit.end + 10 / fit.points_per_second)
    axes.set_ylim(-0.5, len(LANES) - 0.5)
    axes.set_yticks(range(len(LANES)), list(reversed(LANES)), fontsize=FONT + 0.5)
    axes.tick_params(axis="x", labelsize=FONT)
    axes.tick_params(axis="y", length=0)
    axes.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    for y in range(len(LANES) - 1):
        axes.axhline(y + 0.5, color="#dddddd", linewidth=0.5)
    _speech(axes, timeline.caller, lane["caller"], CALLER, fit)
    _speech(axes, timeline.agent, lane["agent"], AGENT, fit)
    _marks_lane(axes, timeline.marks, lane["events"], fit)
    _tools_lane(axes, timeline.tools, lane["tools"], fit)
    _steps_lane(axes, timeline.steps, lane["step"], fit)
    _bars(axes, timeline.latency, lane["model latency"], LATENCY, fit)
    _bars(axes, timeline.gaps, lane["caller waited"], WAITED, fit)


@dataclass(frozen=True, slots=True)
class _Fit:
    """The row's window, and how much text fits in it."""

    begin: float
    end: float
    points_per_second: float
    measure: Callable[[str], float]  # a label's width in points

    def shows(self, start: float, end: float) -> bool:
        return end >= self.begin and start <= self.end

    def seconds(self, text: str) -> float:
        """How many seconds of the row `text` takes, with room to spare."""
        return (self.measure(text) + PAD_POINTS) / self.points_per_second

    def inset(self, start: float) -> float:
        """Where a label inside a span starting at `start` begins."""
        return max(start, self.begin) + PAD_POINTS / self.points_per_second

    def inside(self, span: Span) -> str:
        """The span's label cut to what fits in the part of it this row shows."""
        seconds = min(span.end, self.end) - max(span.start, self.begin)
        return fitted(span.label, seconds * self.points_per_second - 1.5 * PAD_POINTS,
                      self.measure)


def truncated(text: str, chars: int) -> str:
    """`text` in at most `chars` characters, cut short with an ellipsis; ""
    when too little would be left to read."""
    text = " ".join(text.split())
    if len(text) <= chars:
        return text
    return text[:chars - 1].rstrip() + "…" if chars >= 4 else ""


def fitted(text: str, points: float, measure: Callable[[str], float]) -> str:
    """The longest `truncated(text, n)` at most `points` wide, or ""."""
    text = " ".join(text.split())
    if points <= 0:
        return ""
    if measure(text) <= points:
        return text
    low, high = 0, len(text) - 1  # the answer's length lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        candidate = truncated(text, middle)
        if candidate and measure(candidate) <= points:
            low = middle
        else:
            high = middle - 1
    return truncated(text, low)


_FADED = ("sound", "garbled", "press")  # not words: drawn lighter


def _speech(axes: Axes, spans: Sequence[Span], y: int, color: str, fit: _Fit) -> None:
    shown = [span for span in spans if fit.shows(span.start, span.end)]
    minimum = 2 / fit.points_per_second

    def bars(which: Sequence[Span]) -> list[tuple[float, float]]:
        return [(span.start, max(span.end - span.start, minimum)) for span in which]

    # A white edge keeps back-to-back sentences apart.
    axes.broken_barh(bars([s for s in shown if s.style not in _FADED]), (y - 0.34, 0.68),
                     facecolors=color, alpha=0.85, edgecolor="white", linewidth=0.8)
    axes.broken_barh(bars([s for s in shown if s.style in _FADED]), (y - 0.34, 0.68),
                     facecolors=color, alpha=0.45, edgecolor="white", linewidth=0.8)
    # Where the agent was stopped: a red outline and a cross at its end.
    cut = [span for span in shown if span.style == "cut_off"]
    axes.broken_barh(bars(cut), (y - 0.34, 0.68), facecolors="none", edgecolor=CUT,
                     linewidth=1.4)
    axes.plot([span.end for span in cut], [y + 0.42] * len(cut), linestyle="none",
              marker="x", color=CUT, markersize=5)
    for span in shown:
        label = fit.inside(span)
        if label:
            axes.text(fit.inset(span.start), y, label, va="center", ha="left", fontsize=FONT,
                      color="#222222" if span.style in _FADED else "white", clip_on=True)


class _Labels:
    """Labels beside point-like things (marks, tool calls, latency bars), on
    the first level of the lane where they overlap nothing; a label with no
    free level is left out. A label that would run past the row's end goes
    on the left of its thing instead."""

    def __init__(self, axes: Axes, fit: _Fit, levels: Sequence[float]) -> None:
        self.axes, self.fit = axes, fit
        self.taken: list[list[tuple[float, float]]] = [[] for _ in levels]
        self.levels = list(levels)

    def add(self, after: float, before: float, text: str, color: str) -> None:
        """Label a thing from `before` to `after` (seconds) with `text`."""
        fit = self.fit
        pad = PAD_POINTS / fit.points_per_second
        width = fit.seconds(text)
        x, align = after + pad, "left"
        if x + width > fit.end:
            x, align = before - pad, "right"
        low, high = (x, x + width) if align == "left" else (x - width, x)
        for level, taken in zip(self.levels, self.taken, strict=True):
            if all(high <= start or low >= end for start, end in taken):
                taken.append((low, high))
                self.axes.text(x, level, text, fontsize=FONT, va="center", ha=align,
                               color=color, clip_on=True)
                return


def _marks_lane(axes: Axes, marks: Sequence[Mark], y: int, fit: _Fit) -> None:
    labels = _Labels(axes, fit, (y + 0.2, y - 0.2))
    for mark in marks:
        if not fit.shows(mark.t, mark.t):
            continue
        color = MARK_COLORS.get(mark.style, "#444444")
        # The instant runs through both speech lanes: what it cut off is right above.
        axes.axvline(mark.t, ymin=_frac(axes, y - 0.45), ymax=_frac(axes, y + 2.45),
                     color=color, linewidth=1.0, alpha=0.75, linestyle="--")
        axes.plot([mark.t], [y], marker="v" if mark.style != "declined" else "o",
                  color=color, markersize=6)
        labels.add(mark.t + 2 / fit.points_per_second, mark.t - 2 / fit.points_per_second,
                   truncated(mark.label, 32), color)


def _frac(axes: Axes, y: float) -> float:
    low, high = axes.get_ylim()
    return (y - low) / (high - low)


def _tools_lane(axes: Axes, tools: Sequence[Span], y: int, fit: _Fit) -> None:
    labels = _Labels(axes, fit, (y + 0.2, y - 0.2))
    for span in tools:
        if not fit.shows(span.start, span.end):
            continue
        color = TOOL_FAILED if span.style == "failed" else TOOL
        width = max(span.end - span.start, 3 / fit.points_per_second)
        axes.broken_barh([(span.start, width)], (y - 0.3, 0.6), facecolors=color,
                         alpha=0.5 if span.style == "cancelled" else 0.9)
        labels.add(span.start + width, span.start, truncated(span.label, 36), color)


def _steps_lane(axes: Axes, steps: Sequence[Span], y: int, fit: _Fit) -> None:
    colors = {label: STEP_COLORS[i % len(STEP_COLORS)]
              for i, label in enumerate(dict.fromkeys(s.label for s in steps))}
    for span in steps:
        if not fit.shows(span.start, span.end):
            continue
        axes.broken_barh([(span.start, span.end - span.start)], (y - 0.34, 0.68),
                         facecolors="#eeeeee" if span.style == "state" else colors[span.label],
                         edgecolor="#999999", linewidth=0.5)
        label = fit.inside(span)
        if label:
            axes.text(fit.inset(span.start), y, label, va="center", fontsize=FONT,
                      color="#333333", clip_on=True)


def _bars(axes: Axes, spans: Sequence[Span], y: int, color: str, fit: _Fit) -> None:
    labels = _Labels(axes, fit, (y,))
    for span in spans:
        if not fit.shows(span.start, span.end):
            continue
        width = max(span.end - span.start, 2 / fit.points_per_second)
        axes.broken_barh([(span.start, width)], (y - 0.22, 0.44), facecolors=color)
        labels.add(span.start + width, span.start, span.label, "#333333")
