"""Playbooks as the rest of the bot uses them: find one, run it for a service, match alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.config import PlatformConfig
from bot.domain.alerts import GroupView
from bot.domain.clock import Clock
from bot.domain.evidence import StepSeen, run_data
from bot.domain.problem import Problem
from bot.playbooks.loader import Catalogue
from bot.playbooks.model import Playbook, StepContext, StepKind
from bot.playbooks.runner import StepResult, run_playbook


@dataclass(frozen=True)
class Run:
    playbook: Playbook
    service: str | None
    results: list[StepResult]

    def evidence(self) -> dict[str, Any]:
        """What the run showed, as its timeline event keeps it for the post-mortem."""
        steps = (
            StepSeen(r.title, r.kind, r.outcome, r.seconds, r.lines, r.details)
            for r in self.results
        )
        return run_data(self.playbook.name, self.service, steps)


class Playbooks:
    def __init__(
        self,
        catalogue: Catalogue,
        kinds: Mapping[str, StepKind[Any]],
        config: PlatformConfig,
        clock: Clock,
        integrations: Mapping[str, Any],
        *,
        secrets: Iterable[str] = (),
    ) -> None:
        self.catalogue = catalogue
        self._kinds = kinds
        self._config = config
        self._clock = clock
        self._integrations = integrations
        self._secrets = tuple(secrets)

    def names(self) -> list[str]:
        return sorted(self.catalogue.playbooks)

    async def run(
        self, name: str, service: str | None, *, quick_only: bool = False
    ) -> Run | Problem:
        book = self.catalogue.find(name)
        if book is None:
            known = ", ".join(self.names()) or "none loaded"
            return Problem(f"unknown playbook `{name}`; playbooks: {known}")
        svc = self._config.service(service) if service else None
        if service and svc is None:
            known = ", ".join(s.name for s in self._config.services)
            return Problem(f"unknown service `{service}`; known services: {known}")
        if book.spec.needs_service and svc is None:
            return Problem(f"`{name}` needs a service: `/incident run {name} SERVICE`")
        ctx = StepContext(self._config, self._clock, svc, self._integrations)
        results = await run_playbook(
            book, ctx, self._kinds, quick_only=quick_only, secrets=self._secrets
        )
        return Run(book, svc.name if svc else None, results)

    def for_alert(self, view: GroupView) -> list[Playbook]:
        alertnames = {a.name for a in view.alerts}
        labels = dict(view.alerts[0].labels) if view.alerts else {}
        return self.catalogue.matching(alertnames, labels, view.services)
