"""Whether a dangerous action's confirmation still shows the platform as it is: Confirm acts
on what the person saw ("Now: 2 replicas"), or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.actions import ActionKind, ActionPlan
from bot.domain.rollout import revision_number
from bot.integrations.aws import DesktopUpdates, DesktopUpdatesError
from bot.integrations.kubernetes import Kubernetes, KubernetesError


async def drift(
    plan: ActionPlan, kube: Kubernetes | None, desktop: DesktopUpdates | None
) -> str | None:
    """What changed since the plan was shown, if what it showed as "Now" no longer holds.
    None also when the platform cannot be read: carrying out then says why it failed."""
    try:
        if plan.kind == ActionKind.DESKTOP_ROLLBACK:
            return await _desktop(plan.detail, desktop) if desktop is not None else None
        if kube is None:
            return None
        if plan.detail.get("autoscaler"):
            return await _autoscaler(plan.detail, kube)
        return await _deployment(plan.detail, kube)
    except (KubernetesError, DesktopUpdatesError):
        return None


async def _desktop(d: Mapping[str, Any], desktop: DesktopUpdates) -> str | None:
    now = dict((await desktop.plan(str(d["version"]))).current)
    if now == dict(d.get("current") or {}):
        return None
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(now.items())) or "nothing"
    return f"the update channel changed since this was shown (now {shown})"


async def _autoscaler(d: Mapping[str, Any], kube: Kubernetes) -> str | None:
    hpa = await kube.autoscaler_for(str(d["namespace"]), str(d["deployment"]))
    if hpa is None:
        return f"{d['deployment']} has no HorizontalPodAutoscaler any more"
    spec = hpa.get("spec") or {}
    bounds = [spec.get("minReplicas") or 1, spec.get("maxReplicas") or 1]
    if bounds == list(d.get("bounds") or []):
        return None
    return f"the autoscaler's bounds are {bounds[0]} to {bounds[1]} now"


async def _deployment(d: Mapping[str, Any], kube: Kubernetes) -> str | None:
    name = str(d["deployment"])
    deployment = await kube.deployment(str(d["namespace"]), name)
    spec, meta = deployment.get("spec") or {}, deployment.get("metadata") or {}
    if "from_replicas" in d and spec.get("replicas", 0) != d["from_replicas"]:
        return (
            f"{name} runs {spec.get('replicas', 0)} replicas now, not the"
            f" {d['from_replicas']} this showed"
        )
    if "from_generation" in d and meta.get("generation") != d["from_generation"]:
        return f"{name} was changed since this was shown (generation {meta.get('generation')})"
    if "from_revision" in d and revision_number(deployment) != d["from_revision"]:
        return f"{name} is at revision {revision_number(deployment)} now"
    return None
