"""Running playbooks from Slack: `/incident run`, the alert thread's button, and the
automatic enrichment of new alert threads (recent rollout first, with a rollback offer)."""

from __future__ import annotations

import logging

from bot.config import PlatformConfig
from bot.domain.alerts import GroupView
from bot.domain.clock import Clock
from bot.domain.problem import Problem
from bot.domain.rollout import recent_rollout
from bot.integrations.kubernetes import Kubernetes, KubernetesError
from bot.playbooks.service import Playbooks, Run
from bot.playbooks.steps.kubernetes import reused, rollout_when
from bot.services.outbox import Outbox
from bot.slack import playbook_messages
from bot.slack.blocks import Block, actions, button, escape, section
from bot.store.sqlite_alerts import group_id_of

log = logging.getLogger(__name__)


async def post_run(
    outbox: Outbox,
    channel: str,
    run: Run,
    *,
    thread_key: str | None = None,
    incident_id: int | None = None,
) -> None:
    text, blocks = playbook_messages.run_message(run)
    await outbox.post(channel, text, blocks=blocks, thread_key=thread_key, incident_id=incident_id)
    for filename, title, content in playbook_messages.attachments(run):
        await outbox.upload(
            channel, filename, content, title=title, thread_key=thread_key, incident_id=incident_id
        )


def offer_value(service: str, revision: int, group_key: str | None) -> str:
    """`service:revision:group`; service names have no colon (the config's pattern)."""
    group = group_id_of(group_key) if group_key is not None else ""
    return f"{service}:{revision}:{group}"


def read_offer(value: str) -> tuple[str, int | None, str | None]:
    """The service, revision and alert group id of an offer; a button posted before offers
    named them carries the service alone."""
    service, _, rest = value.partition(":")
    revision, _, group = rest.partition(":")
    return service, int(revision) if revision.isdigit() else None, group or None


class PlaybookEnricher:
    """Implements the alert threads' AlertEnricher seam."""

    def __init__(
        self, playbooks: Playbooks, config: PlatformConfig, clock: Clock, kube: Kubernetes | None
    ) -> None:
        self._playbooks = playbooks
        self._config = config
        self._clock = clock
        self._kube = kube

    async def enrich(self, view: GroupView) -> list[tuple[str, list[Block]]]:
        replies = await self.rollout_offers(view.services, view.group_key)
        service = view.services[0] if view.services else None
        for book in self._playbooks.for_alert(view):
            if book.spec.needs_service and service is None:
                continue
            run = await self._playbooks.run(book.name, service, quick_only=True)
            if isinstance(run, Problem):
                continue
            replies.append(playbook_messages.run_message(run))
        return replies

    async def rollout_offers(
        self, services: tuple[str, ...], group_key: str | None = None
    ) -> list[tuple[str, list[Block]]]:
        """The runbook's first mitigation: if it rolled out recently, offer to roll back. The
        button names the revision it shows and the alert group: the rollback is to that
        revision, and belongs to the group's incident whatever channel the thread is in."""
        if self._kube is None:
            return []
        offers = []
        for name in services:
            svc = self._config.service(name)
            if svc is None:
                continue
            namespace = self._config.namespace_of(svc)
            try:
                dep = await self._kube.deployment(namespace, svc.deployment)
                rollout = recent_rollout(
                    dep, await self._kube.replicasets(namespace, dep), self._clock.now()
                )
            except KubernetesError as exc:
                log.warning("rollout check failed", extra={"service": name, "error": str(exc)})
                continue
            if rollout is None or rollout.previous is None:
                continue
            new, old = rollout.revision, rollout.previous
            when = rollout_when(rollout, self._clock.now())
            # Images and the change-cause annotation are whatever the deployer wrote.
            text = (
                f":rocket: *{escape(name)}* rolled out at {when}: revision {old.number}"
                f" ({escape(', '.join(old.images))}) → revision {new.number}"
                f"{reused(rollout)} ({escape(', '.join(new.images))})"
                + (f". Change-cause: {escape(new.change_cause)}" if new.change_cause else "")
                + ". If this started it, roll back (the runbook's first mitigation)."
            )
            offers.append(
                (
                    text,
                    [
                        section(text),
                        actions(
                            f"rollback-offer:{name}",
                            button(
                                f"Roll back to revision {old.number}",
                                "rollback_offer",
                                offer_value(name, old.number, group_key),
                                style="danger",
                            ),
                        ),
                    ],
                )
            )
        return offers
