"""The buttons on an alert thread's parent: acknowledge, declare, silence, run a playbook."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.alerts import matchers_text, silence_matchers
from bot.domain.clock import Clock
from bot.domain.incident import Severity
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.integrations.alertmanager import AlertmanagerAPI, AlertmanagerError
from bot.integrations.pagerduty import PagerDutyAPI
from bot.playbooks.service import Playbooks
from bot.services.auto_declare import AutoDeclarePolicy
from bot.services.incidents import Lifecycle
from bot.services.outbox import Outbox
from bot.slack.alert_threads import AlertThreads, parent_key
from bot.slack.blocks import actions, button, clip, escape, link, section
from bot.slack.pagerduty_actions import act_on_pagerduty
from bot.slack.playbook_runs import post_run
from bot.store.base import Store
from bot.store.records import AlertGroupState

log = logging.getLogger(__name__)
SILENCE_FOR = timedelta(hours=1)
NO_ALERTMANAGER = "Silencing from Slack needs ALERTMANAGER_URL (the Alertmanager API) to be set."


@dataclass(frozen=True)
class AlertActionDeps:
    store: Store
    outbox: Outbox
    threads: AlertThreads
    lifecycle: Lifecycle
    policy: AutoDeclarePolicy
    clock: Clock
    alertmanager: AlertmanagerAPI | None
    pagerduty: PagerDutyAPI | None
    client: AsyncWebClient
    playbooks: Playbooks | None = None


def _digest(sets: list[dict[str, str]]) -> str:
    """Ties a confirmation to the matchers it showed."""
    return hashlib.sha256(json.dumps(sets, sort_keys=True).encode()).hexdigest()[:16]


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


class AlertActions:
    def __init__(self, deps: AlertActionDeps) -> None:
        self.d = deps

    def register(self, app: AsyncApp) -> None:
        for action_id, handler in (
            ("alert_ack", self.acknowledge),
            ("alert_declare", self.declare),
            ("alert_silence", self.silence),
            ("alert_playbook", self.playbook),
        ):
            app.action(action_id)(self._wrap(handler))
        app.action("alert_silence_confirm")(self._wrap(self.silence_confirmed, confirms=True))

    def _wrap(self, handler: Any, *, confirms: bool = False) -> Any:
        """Acks, finds the button's group; a confirming button also hands on what it showed."""

        async def run(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            user = str(body.get("user", {}).get("id", ""))
            value = str((body.get("actions") or [{}])[0].get("value", ""))
            # A confirmation button carries what it confirmed after the group id.
            group_id, _, shown = value.partition(":")
            group = await self.d.store.alert_group(group_id)
            if group is None:
                await respond(**_ephemeral("This alert group is no longer known to the bot."))
                return
            if confirms:
                await handler(group, user, respond, shown)
            else:
                await handler(group, user, respond)

        return run

    async def _reply(self, group: AlertGroupState, text: str) -> None:
        if group.channel:
            await self.d.outbox.post(
                group.channel, text, thread_key=parent_key(group), incident_id=group.incident_id
            )

    async def _record(
        self, group: AlertGroupState, user: str, text: str, data: dict[str, Any] | None = None
    ) -> None:
        if group.incident_id is not None:
            await self.d.store.append_event(
                group.incident_id,
                NewEvent(
                    EventKind.ACTION,
                    user,
                    text,
                    self.d.clock.now(),
                    {"alert_group": group.group_id, **(data or {})},
                ),
            )

    async def acknowledge(self, group: AlertGroupState, user: str, respond: AsyncRespond) -> None:
        if group.acked_by:
            await respond(**_ephemeral(f"Already acknowledged by {group.acked_by}."))
            return
        await self.d.store.update_alert_group(group.group_key, acked_by=f"<@{user}>")
        view = self.d.threads.view(group)
        await self._reply(group, f":eyes: <@{user}> acknowledged {escape(view.title)}.")
        await self._record(group, user, f"acknowledged alert {view.title}")
        self.d.threads.wakeup.set()
        if group.pd_incident_id is not None:
            text = await act_on_pagerduty(
                self.d.pagerduty, self.d.client, user, group.pd_incident_id, "acknowledged"
            )
            await respond(**_ephemeral(text))

    async def declare(self, group: AlertGroupState, user: str, respond: AsyncRespond) -> None:
        if group.incident_id is not None:
            await respond(**_ephemeral(f"Already part of incident #{group.incident_id}."))
            return
        view = self.d.threads.view(group)
        severity = self.d.policy.severity_for(view) or Severity.P2
        title = f"{view.title}: {view.summary}" if view.summary else view.title
        outcome = await self.d.lifecycle.declare(
            title[:200], severity, user, services=view.services, description=view.description
        )
        if isinstance(outcome, Problem):
            await respond(**_ephemeral(f":warning: Could not declare: {escape(outcome.message)}"))
            return
        self.d.lifecycle.open_later(outcome)
        await self.d.store.update_alert_group(group.group_key, incident_id=outcome.id)
        await self.d.store.append_event(
            outcome.id,
            NewEvent(
                EventKind.ALERT,
                user,
                f"alert group linked: {view.title}",
                self.d.clock.now(),
                {"alert_group": group.group_id, "firing": view.firing},
                key=True,
            ),
        )
        await self._reply(
            group,
            f":rotating_light: <@{user}> declared {severity} incident"
            f" #{outcome.id} from this alert.",
        )
        self.d.threads.wakeup.set()

    def _matchers(self, group: AlertGroupState) -> list[dict[str, str]]:
        return silence_matchers(group.group_labels, group.alerts)

    async def silence(self, group: AlertGroupState, user: str, respond: AsyncRespond) -> None:
        """Shows exactly what would be silenced; nothing is silenced until that is confirmed."""
        if self.d.alertmanager is None:
            await respond(**_ephemeral(NO_ALERTMANAGER))
            return
        sets = self._matchers(group)
        if not sets:
            await respond(
                **_ephemeral(
                    f":warning: This thread's {len(group.alerts)} alerts share no label beyond"
                    " the group's, and one silence each would be too many to review. Silence"
                    " them in Alertmanager, where the matchers can be chosen by hand."
                )
            )
            return
        shown = "\n".join(f"• `{escape(matchers_text(m))}`" for m in sets)
        what = f"{len(sets)} silences" if len(sets) > 1 else "one silence"
        text = f":mute: Silence for 1 hour with {what}, matching:\n{shown}"
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=clip(text, 2900),
            blocks=[
                section(text),
                actions(
                    f"silence-confirm:{group.group_id}",
                    button(
                        "Silence for 1h",
                        "alert_silence_confirm",
                        f"{group.group_id}:{_digest(sets)}",
                        style="danger",
                    ),
                ),
            ],
        )

    async def silence_confirmed(
        self, group: AlertGroupState, user: str, respond: AsyncRespond, shown: str
    ) -> None:
        if self.d.alertmanager is None:  # unset since the matchers were shown (a restart)
            await respond(**_ephemeral(NO_ALERTMANAGER))
            return
        sets = self._matchers(group)
        if not sets or _digest(sets) != shown:
            await respond(
                **_ephemeral(
                    "The thread's alerts changed since those matchers were shown; nothing was"
                    " silenced. Click Silence 1h again to see the new ones."
                )
            )
            return
        now = self.d.clock.now()
        created: list[str] = []
        try:
            for matchers in sets:
                created.append(
                    await self.d.alertmanager.create_silence(
                        matchers,
                        starts_at=now,
                        ends_at=now + SILENCE_FOR,
                        created_by=f"slack:{user}",
                        comment=f"Silenced from Slack for 1h (alert group {group.group_id})",
                    )
                )
        except AlertmanagerError as exc:
            made = f" ({len(created)} of {len(sets)} were made)" if created else ""
            await respond(
                **_ephemeral(f":warning: Could not create the silence: {escape(str(exc))}{made}")
            )
            if not created:
                return
        base = group.external_url.rstrip("/")
        listed = ", ".join(
            (link(f"{base}/#/silences/{sid}", f"silence {sid}") if base else f"silence `{sid}`")
            for sid in created
        )
        matched = "; ".join(f"`{escape(matchers_text(m))}`" for m in sets[: len(created)])
        await self._reply(
            group,
            clip(
                f":mute: <@{user}> silenced this thread's alerts for 1 hour ({listed}): {matched}",
                3000,
            ),
        )
        await self._record(
            group, user, f"silenced alert group for 1h ({', '.join(created)}): {matched}"
        )

    async def playbook(self, group: AlertGroupState, user: str, respond: AsyncRespond) -> None:
        books = self.d.playbooks
        view = self.d.threads.view(group)
        matching = books.for_alert(view) if books is not None else []
        if books is None or not matching or not group.channel:
            names = ", ".join(books.names()) if books is not None else ""
            await respond(
                **_ephemeral(
                    "No playbook's triggers match this alert. Run one by hand in a channel:"
                    f" `/incident run PLAYBOOK SERVICE` ({names or 'none loaded'})."
                )
            )
            return
        service = view.services[0] if view.services else None
        await respond(
            **_ephemeral(
                f"Running {', '.join(b.name for b in matching)}; results go into this thread."
            )
        )
        for book in matching:
            run = await books.run(book.name, service)
            if isinstance(run, Problem):
                await self._reply(group, f":warning: {escape(run.message)}")
                continue
            await post_run(
                self.d.outbox,
                group.channel,
                run,
                thread_key=parent_key(group),
                incident_id=group.incident_id,
            )
            attention = sum(r.outcome != "ok" for r in run.results)
            # One event per run, holding what it showed: the post-mortem's evidence.
            await self._record(
                group,
                user,
                f"ran playbook {book.name}{' for ' + service if service else ''}:"
                f" {len(run.results)} steps, {attention} need attention",
                run.evidence(),
            )
