"""The post-mortem's metrics chart: error rate and p95 latency of the affected services.

Two stacked plots over the incident window with a margin either side (a quarter of the
incident, 5 minutes to 6 hours), so the review sees the service before, during and after; the
window itself is shaded, declared / mitigated / resolved are marked, and the alert rule's
threshold is drawn where the rule has one. Each service is one line, in the same colour on
both plots. Ticks are chosen by the span, so a 3-minute incident and a 3-day one both read.

The figure is drawn with matplotlib's object-oriented API (``Figure``), never pyplot: pyplot
keeps global state and picks a GUI backend, neither of which belongs in a server. Drawing
is CPU-bound (tens to hundreds of milliseconds), so it runs in a worker thread rather than on
the event loop; each call builds its own Figure, so threads share nothing.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from matplotlib.dates import DateFormatter, DayLocator, HourLocator, MinuteLocator
from matplotlib.figure import Figure
from matplotlib.ticker import Locator

from bot.config import Service
from bot.domain.thresholds import Threshold
from bot.integrations.prometheus import PrometheusQueries, Series, preset_query

MIN_PAD = timedelta(minutes=5)
MAX_PAD = timedelta(hours=6)
# Tick spacing by the plotted span: (longest span, unit, interval, format). At most about ten
# labels across the 8-inch figure, and a format that says no more than the spacing needs.
TICKS: list[tuple[timedelta, str, int, str]] = [
    (timedelta(minutes=20), "minute", 2, "%H:%M"),
    (timedelta(minutes=50), "minute", 5, "%H:%M"),
    (timedelta(hours=2), "minute", 15, "%H:%M"),
    (timedelta(hours=5), "minute", 30, "%H:%M"),
    (timedelta(hours=10), "hour", 1, "%H:%M"),
    (timedelta(hours=24), "hour", 3, "%H:%M"),
    (timedelta(days=2), "hour", 6, "%d %b %H:%M"),
    (timedelta(days=5), "hour", 12, "%d %b %H:%M"),
    (timedelta(days=12), "day", 1, "%d %b"),
]
MARK_STYLE = {"declared": "--", "mitigated": "-.", "resolved": ":"}
MAX_POINTS = 300
# No finer than a typical scrape interval: finer steps only repeat the same samples.
MIN_STEP = 15.0
FIGSIZE = (8.0, 5.5)  # inches; the Word export scales it to the text width
DPI = 150


@dataclass(frozen=True)
class Line:
    service: str
    times: list[datetime]
    values: list[float]  # in the plot's unit; NaN where Prometheus had no number


@dataclass(frozen=True)
class Panel:
    ylabel: str
    lines: list[Line]
    thresholds: list[tuple[float, str]]  # (value in the plot's unit, legend label)


@dataclass(frozen=True)
class Mark:
    """A moment the chart marks with a vertical line: declared, mitigated, resolved."""

    at: datetime
    label: str


def pad_for(start: datetime, end: datetime) -> timedelta:
    """The margin either side of the incident: a quarter of it, within 5 min and 6 h."""
    return min(MAX_PAD, max(MIN_PAD, (end - start) / 4))


def ticks_for(span: timedelta) -> tuple[Locator, str]:
    """A locator and a label format for a plotted span."""
    unit, interval, fmt = next(
        ((u, i, f) for longest, u, i, f in TICKS if span <= longest),
        ("day", max(1, math.ceil(span / timedelta(days=10))), "%d %b"),
    )
    # matplotlib.dates ships no type hints (matplotlib 3.11); these are plain constructors.
    if unit == "minute":
        return MinuteLocator(interval=interval, tz=UTC), fmt  # type: ignore[no-untyped-call]
    if unit == "hour":
        return HourLocator(interval=interval, tz=UTC), fmt  # type: ignore[no-untyped-call]
    return DayLocator(interval=interval, tz=UTC), fmt  # type: ignore[no-untyped-call]


def step_for(start: datetime, end: datetime, max_points: int = MAX_POINTS) -> float:
    """Seconds between points so that start..end (both included) has at most max_points."""
    span = max(0.0, (end - start).total_seconds())
    # n points cover n - 1 steps: span / step + 1 <= max_points.
    return max(MIN_STEP, float(math.ceil(span / (max_points - 1))))


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC (the store's convention), not as the host's local
    # time, which is what datetime.timestamp() would assume inside the client.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _line(service: str, found: list[Series], scale: float) -> Line | None:
    """The service's line, or None when Prometheus had no finite value for it at all.

    The presets aggregate to one series per service; should a query return several
    anyway, the first is drawn (a chart per label set is not what the review needs).
    """
    if not found:
        return None
    _, points = found[0]
    # NaN (0/0 with no traffic, an empty histogram) and infinities are drawn as gaps.
    values = [v * scale if math.isfinite(v) else math.nan for _, v in points]
    if not any(math.isfinite(v) for v in values):
        return None
    times = [datetime.fromtimestamp(at, UTC) for at, _ in points]
    return Line(service, times, values)


async def incident_chart(
    prometheus: PrometheusQueries,
    services: Sequence[Service],
    start: datetime,
    end: datetime,
    *,
    marks: Sequence[Mark] = (),
    thresholds: Sequence[Threshold] = (),
) -> bytes | None:
    """PNG bytes of the affected services' error rate (%) and p95 latency (ms) around the
    incident, or None when Prometheus has no data for any of them.

    Raises PrometheusError when Prometheus cannot be asked; the caller decides whether a
    draft goes out without its chart.
    """
    if not services:
        return None
    start, end = _utc(start), _utc(end)
    pad = pad_for(start, end)
    lo, hi = start - pad, end + pad
    step = step_for(lo, hi)
    panels = [("error_rate", "5xx error rate (%)", 100.0), ("p95_latency", "p95 latency (ms)", 1e3)]
    # Every query at once: they are independent, and each waits on the network in a thread.
    answers = await asyncio.gather(
        *(
            prometheus.range(preset_query(preset, svc.deployment), lo, hi, step)
            for preset, _, _ in panels
            for svc in services
        )
    )
    drawn: list[Panel] = []
    for i, (preset, ylabel, scale) in enumerate(panels):
        row = answers[i * len(services) : (i + 1) * len(services)]
        lines = [
            ln
            for svc, found in zip(services, row, strict=True)
            if (ln := _line(svc.name, found, scale))
        ]
        limits = [
            (t.value * scale, f"{t.alert} threshold") for t in thresholds if t.preset == preset
        ]
        drawn.append(Panel(ylabel, lines, limits))
    if not any(panel.lines for panel in drawn):
        return None
    colours = {svc.name: f"C{i % 10}" for i, svc in enumerate(services)}
    at = [Mark(_utc(m.at), m.label) for m in marks if lo <= _utc(m.at) <= hi]
    return await asyncio.to_thread(draw, drawn, colours, start, end, lo, hi, at)


def draw(
    panels: list[Panel],
    colours: dict[str, str],
    start: datetime,
    end: datetime,
    lo: datetime,
    hi: datetime,
    marks: Sequence[Mark] = (),
) -> bytes:
    out = io.BytesIO()
    figure(panels, colours, start, end, lo, hi, marks).savefig(out, format="png")
    return out.getvalue()


def figure(
    panels: list[Panel],
    colours: dict[str, str],
    start: datetime,
    end: datetime,
    lo: datetime,
    hi: datetime,
    marks: Sequence[Mark] = (),
) -> Figure:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        ax.axvspan(start, end, color="tab:red", alpha=0.12, linewidth=0, label="incident")
        for line in panel.lines:
            ax.plot(line.times, line.values, color=colours[line.service], label=line.service)
        for value, label in panel.thresholds:
            ax.axhline(value, color="tab:red", linestyle="--", linewidth=1, label=label)
        for mark in marks:
            style = MARK_STYLE.get(mark.label, "--")
            ax.axvline(mark.at, color="0.25", linestyle=style, linewidth=1, label=mark.label)
        if not panel.lines:
            # Say so, rather than leave an empty frame that reads as "zero".
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
        ax.set_ylabel(panel.ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    # One legend for both plots (a service may have data on only one), below them so it
    # never hides a line.
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        fontsize="small",
        ncols=min(5, len(handles)),
        frameon=False,
    )
    locator, fmt = ticks_for(hi - lo)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(DateFormatter(fmt, tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1].set_xlim(lo, hi)
    axes[-1].set_xlabel("UTC")
    clock = "%H:%M:%S" if end - start < timedelta(hours=1) else "%H:%M"
    until = f"{end:{clock}}" if end.date() == start.date() else f"{end:%Y-%m-%d {clock}}"
    fig.suptitle(f"Affected services around the incident ({start:%Y-%m-%d {clock}}-{until} UTC)")
    return fig
