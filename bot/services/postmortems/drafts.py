"""Post-mortem drafts for the API, the CLI and Slack: Markdown, Word, and the metrics chart."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.incident import Incident
from bot.domain.postmortem import PostMortem, build, render_markdown
from bot.store.base import Store

log = logging.getLogger(__name__)
Format = Literal["md", "docx"]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Draft:
    incident: Incident
    model: PostMortem
    chart: bytes | None

    def filename(self, fmt: Format) -> str:
        return f"postmortem-incident-{self.incident.id}.{fmt}"

    def render(self, fmt: Format, names: Mapping[str, str] | None = None) -> bytes:
        if fmt == "md":
            return render_markdown(self.model, names).encode()
        from bot.services.postmortems.docx import render_docx

        return render_docx(self.model, names, self.chart)


class PostMortems:
    def __init__(
        self, store: Store, config: PlatformConfig, clock: Clock, prometheus: Any | None = None
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._prometheus = prometheus

    async def draft(self, incident_id: int, *, chart: bool = True) -> Draft | None:
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            return None
        events = await self._store.timeline(incident_id)
        now = self._clock.now()
        png = await self._chart(incident, now) if chart else None
        return Draft(incident, build(incident, events, now), png)

    async def _chart(self, incident: Incident, now: Any) -> bytes | None:
        if self._prometheus is None or not incident.services:
            return None
        from bot.services.postmortems.chart import incident_chart

        services = [s for s in (self._config.service(n) for n in incident.services) if s]
        try:
            return await incident_chart(
                self._prometheus, services, incident.declared_at, incident.resolved_at or now
            )
        except Exception as exc:
            # A draft without its chart beats no draft.
            log.warning("post-mortem chart failed", extra={"error": str(exc)})
            return None
