"""Post-mortem drafts for the API, the CLI and Slack: Markdown, Word, and the metrics chart."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.evidence import AlertWindow, linked_groups
from bot.domain.incident import Incident
from bot.domain.postmortem import PostMortem, build
from bot.domain.postmortem_markdown import render_markdown
from bot.domain.thresholds import Threshold, rule_threshold
from bot.store.base import Store
from bot.store.records import AlertGroupState

log = logging.getLogger(__name__)
Format = Literal["md", "docx", "png", "zip"]
FORMATS: tuple[Format, ...] = ("md", "docx", "png", "zip")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CONTENT_TYPES: dict[Format, str] = {
    "md": "text/markdown; charset=utf-8",
    "docx": DOCX_TYPE,
    "png": "image/png",
    "zip": "application/zip",
}
# Each person's display name by id (Slack's directory); ids it does not know are left out.
Directory = Callable[[Iterable[str]], Awaitable[Mapping[str, str]]]


@dataclass(frozen=True)
class Draft:
    incident: Incident
    model: PostMortem
    chart: bytes | None
    names: Mapping[str, str] = field(default_factory=dict)

    def filename(self, fmt: Format) -> str:
        return f"postmortem-incident-{self.incident.id}.{fmt}"

    def render(self, fmt: Format, names: Mapping[str, str] | None = None) -> bytes:
        """The draft in `fmt`; "png" is the chart alone (b"" when there is none), "zip" the
        Markdown with its chart beside it, as the Markdown refers to it. People are shown by
        the names found when the draft was made unless `names` says otherwise."""
        names = self.names if names is None else names
        if fmt == "png":
            return self.chart or b""
        if fmt == "md":
            chart = self.filename("png") if self.chart is not None else None
            return render_markdown(self.model, names, chart).encode()
        if fmt == "zip":
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
                bundle.writestr(self.filename("md"), self.render("md", names))
                if self.chart is not None:
                    bundle.writestr(self.filename("png"), self.chart)
            return out.getvalue()
        from bot.services.postmortems.docx import render_docx

        return render_docx(self.model, names, self.chart)


def alert_window(group: AlertGroupState) -> AlertWindow:
    starts = [a.starts_at for a in group.alerts if a.starts_at is not None]
    firing = any(a.status == "firing" for a in group.alerts) or group.status == "firing"
    ends = [a.ends_at for a in group.alerts if a.ends_at is not None]
    name = group.group_labels.get("alertname") or group.common_labels.get("alertname") or ""
    if not name and group.alerts:
        name = group.alerts[0].name
    labels = ", ".join(f"{k}={v}" for k, v in group.group_labels.items() if k != "alertname")
    return AlertWindow(
        f"{name or 'alert group'}{f' ({labels})' if labels else ''}",
        group.group_id,
        min(starts, default=group.first_seen),
        None if firing else max(ends, default=group.last_seen),
        len(group.alerts),
        group.external_url,
    )


def thresholds(groups: list[AlertGroupState]) -> list[Threshold]:
    found: dict[tuple[str, float], Threshold] = {}
    for group in groups:
        for alert in group.alerts:
            notes = {**alert.labels, **group.common_annotations, **alert.annotations}
            threshold = rule_threshold(alert.name, alert.generator_url, notes)
            if threshold is not None:
                found.setdefault((threshold.preset, threshold.value), threshold)
    return list(found.values())


def people(model: PostMortem) -> list[str]:
    """Everyone the draft names: commander, timeline, owners, and who ran and confirmed what."""
    return [
        model.commander,
        *(e.actor for e in model.timeline),
        *(f.owner or "" for f in model.follow_ups),
        *(r.actor for r in model.evidence.runs),
        *(a.actor for a in model.evidence.actions),
        *(c for a in model.evidence.actions for c in a.confirmed_by),
    ]


class PostMortems:
    def __init__(
        self,
        store: Store,
        config: PlatformConfig,
        clock: Clock,
        prometheus: Any | None = None,
        directory: Directory | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._prometheus = prometheus
        self._directory = directory

    async def draft(self, incident_id: int, *, chart: bool = True) -> Draft | None:
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            return None
        events = await self._store.timeline(incident_id)
        groups = [
            group
            for group_id in linked_groups(events)
            if (group := await self._store.alert_group(group_id)) is not None
        ]
        now = self._clock.now()
        model = build(incident, events, now, [alert_window(g) for g in groups])
        png = await self._chart(incident, model, groups, now) if chart else None
        names = await self._directory(people(model)) if self._directory is not None else {}
        return Draft(incident, model, png, names)

    async def _chart(
        self, incident: Incident, model: PostMortem, groups: list[AlertGroupState], now: datetime
    ) -> bytes | None:
        if self._prometheus is None or not incident.services:
            return None
        from bot.services.postmortems.chart import Mark, incident_chart

        services = [s for s in (self._config.service(n) for n in incident.services) if s]
        marks = [Mark(incident.declared_at, "declared")]
        if model.times.mitigated is not None:
            marks.append(Mark(model.times.mitigated.at, "mitigated"))
        if incident.resolved_at is not None:
            marks.append(Mark(incident.resolved_at, "resolved"))
        try:
            return await incident_chart(
                self._prometheus,
                services,
                incident.declared_at,
                incident.resolved_at or now,
                marks=marks,
                thresholds=thresholds(groups),
            )
        except Exception as exc:
            # A draft without its chart beats no draft.
            log.warning("post-mortem chart failed", extra={"error": str(exc)})
            return None
