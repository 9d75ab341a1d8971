"""The post-mortem's metrics chart: error rate and p95 latency of the affected services.

Two stacked plots over the incident window with 15 minutes either side, so the review sees
the service before, during and after; the window itself is shaded. Each service is one line,
in the same colour on both plots.

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

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from bot.config import Service
from bot.integrations.prometheus import PrometheusQueries, Series, preset_query

PAD = timedelta(minutes=15)
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
) -> bytes | None:
    """PNG bytes of the affected services' error rate (%) and p95 latency (ms) around the
    incident, or None when Prometheus has no data for any of them.

    Raises PrometheusError when Prometheus cannot be asked; the caller decides whether a
    draft goes out without its chart.
    """
    if not services:
        return None
    start, end = _utc(start), _utc(end)
    lo, hi = start - PAD, end + PAD
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
    for i, (_, ylabel, scale) in enumerate(panels):
        row = answers[i * len(services) : (i + 1) * len(services)]
        lines = [
            ln
            for svc, found in zip(services, row, strict=True)
            if (ln := _line(svc.name, found, scale))
        ]
        drawn.append(Panel(ylabel, lines))
    if not any(panel.lines for panel in drawn):
        return None
    colours = {svc.name: f"C{i % 10}" for i, svc in enumerate(services)}
    return await asyncio.to_thread(_draw, drawn, colours, start, end, lo, hi)


def _draw(
    panels: list[Panel],
    colours: dict[str, str],
    start: datetime,
    end: datetime,
    lo: datetime,
    hi: datetime,
) -> bytes:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        ax.axvspan(start, end, color="tab:red", alpha=0.12, linewidth=0, label="incident")
        for line in panel.lines:
            ax.plot(line.times, line.values, color=colours[line.service], label=line.service)
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
    # matplotlib.dates ships no type hints (matplotlib 3.11); the calls are plain constructors.
    locator = AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_formatter(formatter)
    axes[-1].set_xlim(lo, hi)
    axes[-1].set_xlabel("UTC")
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    fig.suptitle(f"Affected services around the incident ({start:%Y-%m-%d %H:%M}-{until} UTC)")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
