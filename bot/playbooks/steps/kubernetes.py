"""Kubernetes steps: pods, logs, events, the deployment, resource use and recent rollouts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.incident import format_duration
from bot.domain.pod_status import pod_status
from bot.domain.report import Code, Line, Mark, Strong, line
from bot.domain.rollout import RecentRollout, history, images, recent_rollout, revision_number
from bot.integrations.kubernetes import Kubernetes, KubernetesError
from bot.playbooks.model import StepContext, StepOutput

MAX_LISTED = 15


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tail: int = Field(100, ge=1, le=5000)
    container: str | None = None
    previous: bool = False
    pods: int = Field(3, ge=1, le=10)


class EventsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=200)


class RolloutsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(2, gt=0, le=72)


def _kube(ctx: StepContext) -> Kubernetes:
    kube: Kubernetes = ctx.need("kubernetes", "KUBECONFIG or in-cluster service account")
    return kube


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


async def _target(ctx: StepContext) -> tuple[Kubernetes, dict[str, Any], str]:
    """The service's deployment and the label selector of its pods."""
    service = ctx.need_service()
    kube = _kube(ctx)
    deployment = await kube.deployment(ctx.namespace, service.deployment)
    labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return kube, deployment, ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _pod_line(pod: dict[str, Any], now: datetime) -> tuple[Line, bool]:
    """A pod as `kubectl get pods` shows it (STATUS, READY, RESTARTS, AGE), then why: the
    container the status comes from, in its own words."""
    found = pod_status(pod)
    meta = pod.get("metadata") or {}
    born = _ts(meta.get("creationTimestamp")) or _ts((pod.get("status") or {}).get("startTime"))
    age = format_duration((now - born).total_seconds()) if born else "?"
    restarts = f"{found.restarts} restart{'' if found.restarts == 1 else 's'}"
    if found.last_restart is not None:
        restarts += f" (last {format_duration((now - found.last_restart).total_seconds())} ago)"
    spans: list[Code | str] = [
        Code(meta.get("name", "?")),
        f" {found.status}, {found.ready}/{found.total} ready, {restarts}, age {age},"
        f" node {pod.get('spec', {}).get('nodeName') or '?'}",
    ]
    if found.why:
        kind = "init container" if found.init else "container"
        spans += [f"; {kind} ", Code(found.container), f": {found.why}"]
    shown = line(*spans, mark=Mark.OK if found.healthy else Mark.PROBLEM)
    return shown, found.healthy and found.restarts == 0


async def pods(ctx: StepContext, params: NoParams) -> StepOutput:
    kube, _, selector = await _target(ctx)
    found = await kube.pods(ctx.namespace, selector)
    if not found:
        return StepOutput.of(
            line("No pods match ", Code(selector), " in ", Code(ctx.namespace), "."),
            healthy=False,
        )
    now = ctx.clock.now()
    lines = [_pod_line(p, now) for p in found]
    shown = [text for text, _ in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(line(f"…and {len(lines) - MAX_LISTED} more"))
    return StepOutput(tuple(shown), healthy=all(ok for _, ok in lines))


async def logs(ctx: StepContext, params: LogsParams) -> StepOutput:
    kube, _, selector = await _target(ctx)
    found = await kube.pods(ctx.namespace, selector)
    if not found:
        return StepOutput.of(line("No pods match ", Code(selector), "."), healthy=False)
    parts: list[str] = []
    summary: list[Line] = []
    for pod in found[: params.pods]:
        name = pod["metadata"]["name"]
        text = await kube.pod_logs(
            ctx.namespace,
            name,
            tail=params.tail,
            container=params.container,
            previous=params.previous,
        )
        lines = text.splitlines()
        errors = [ln for ln in lines if any(w in ln.lower() for w in ("error", "fatal", "panic"))]
        summary.append(
            line(Code(name), f": {len(lines)} lines, {len(errors)} with errors")
            if not errors
            else line(
                Code(name),
                f": {len(lines)} lines, {len(errors)} with errors; last: ",
                Code(errors[-1][:200]),
            )
        )
        parts.append(f"==> {name}{' (previous)' if params.previous else ''} <==\n{text}")
    return StepOutput(tuple(summary), details="\n\n".join(parts))


async def events(ctx: StepContext, params: EventsParams) -> StepOutput:
    kube, deployment, selector = await _target(ctx)
    names = [deployment["metadata"]["name"]]
    names += [rs["metadata"]["name"] for rs in await kube.replicasets(ctx.namespace, deployment)]
    names += [p["metadata"]["name"] for p in await kube.pods(ctx.namespace, selector)]
    found = await kube.events(ctx.namespace, names)
    found.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)
    if not found:
        return StepOutput.of("No events for the deployment, its ReplicaSets or pods.")
    warnings = [e for e in found if e.get("type") == "Warning"]
    # Event text is written by whatever runs in the cluster: plain text spans, never markup.
    lines = [
        line(
            f"{e.get('reason', '')} {e.get('involvedObject', {}).get('name', '')}:"
            f" {e.get('message', '')}" + (f" (x{e['count']})" if (e.get("count") or 1) > 1 else ""),
            mark=Mark.WARNING if e.get("type") == "Warning" else Mark.INFO,
        )
        for e in (warnings + [e for e in found if e not in warnings])[: params.limit]
    ]
    return StepOutput(tuple(lines), healthy=not warnings)


async def deployment(ctx: StepContext, params: NoParams) -> StepOutput:
    _, dep, _ = await _target(ctx)
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    conditions = ", ".join(
        f"{c.get('type')}={c.get('status')}" + (f" ({c.get('reason')})" if c.get("reason") else "")
        for c in status.get("conditions") or []
    )
    wanted = spec.get("replicas", 0)
    ready = status.get("readyReplicas") or 0
    shown = _joined([Code(i) for i in images(spec.get("template") or {})])
    lines = [
        line(
            f"Replicas: {wanted} wanted, {status.get('updatedReplicas') or 0} updated,"
            f" {ready} ready, {status.get('availableReplicas') or 0} available"
        ),
        line(f"Revision {revision_number(dep)}; images: ", *shown),
        line(f"Conditions: {conditions or 'none'}"),
    ]
    if spec.get("paused"):
        lines.append(line("The deployment is paused.", mark=Mark.PAUSED))
    return StepOutput(tuple(lines), healthy=ready >= wanted and not spec.get("paused"))


async def top(ctx: StepContext, params: NoParams) -> StepOutput:
    kube, _, selector = await _target(ctx)
    try:
        metrics = await kube.pod_metrics(ctx.namespace)
    except KubernetesError as exc:
        if exc.status != 403:
            raise
        return StepOutput.of(
            "The bot's Kubernetes role may not read metrics.k8s.io; grant get and"
            " list on pods.metrics.k8s.io to see CPU and memory here."
        )
    if metrics is None:
        return StepOutput.of(
            "The cluster has no metrics-server (metrics.k8s.io is not served), so"
            " there is no CPU or memory use to show."
        )
    wanted = {p["metadata"]["name"] for p in await kube.pods(ctx.namespace, selector)}
    lines = [
        line(
            Code(m["metadata"]["name"]),
            ": "
            + ", ".join(
                f"{c.get('name')} cpu {c['usage'].get('cpu')} memory {c['usage'].get('memory')}"
                for c in m.get("containers") or []
            ),
        )
        for m in metrics
        if m["metadata"]["name"] in wanted
    ]
    return StepOutput(tuple(lines)) if lines else StepOutput.of("No metrics for these pods yet.")


def rollout_when(rollout: RecentRollout, now: datetime) -> str:
    """ "14:02 UTC (7m ago)": when the revision became current, not its ReplicaSet's birth."""
    return f"{rollout.at:%H:%M} UTC ({format_duration((now - rollout.at).total_seconds())} ago)"


def reused(rollout: RecentRollout) -> str:
    """How a rollback reads: the ReplicaSet of an earlier revision brought back."""
    earlier = rollout.revision.earlier
    return f", the template of revision {earlier[-1]} again" if earlier else ""


async def recent_rollouts(ctx: StepContext, params: RolloutsParams) -> StepOutput:
    kube = _kube(ctx)
    services = [ctx.service] if ctx.service is not None else list(ctx.config.services)
    window = timedelta(hours=params.hours)
    now = ctx.clock.now()
    lines = []
    for service in services:
        namespace = ctx.config.namespace_of(service)
        dep = await kube.deployment(namespace, service.deployment)
        rollout = recent_rollout(dep, await kube.replicasets(namespace, dep), now, window)
        if rollout is None:
            continue
        new = rollout.revision
        before = ", ".join(rollout.previous.images) if rollout.previous else "nothing"
        lines.append(
            line(
                Strong(service.name),
                f" revision {new.number}{reused(rollout)} at {rollout_when(rollout, now)}:"
                f" {before} → {', '.join(new.images)}"
                + (f" ({new.change_cause})" if new.change_cause else ""),
                mark=Mark.ROLLOUT,
            )
        )
    if not lines:
        return StepOutput.of(f"No rollouts in the last {params.hours:g} hours.")
    return StepOutput(tuple(lines), healthy=False)


def _joined(spans: list[Code], separator: str = ", ") -> list[Code | str]:
    joined: list[Code | str] = []
    for index, span in enumerate(spans):
        joined += [separator, span] if index else [span]
    return joined


async def rollout_history(kube: Kubernetes, namespace: str, name: str) -> str:
    dep = await kube.deployment(namespace, name)
    current = revision_number(dep)
    lines = [
        f"{'*' if r.number == current else ' '} revision {r.number}: {', '.join(r.images)}"
        + (f" ({r.change_cause})" if r.change_cause else "")
        for r in history(await kube.replicasets(namespace, dep))
    ]
    return "\n".join(lines) or "no revisions"
