"""Deployment history, rollback and rollout status, by kubectl's own rules.

Rollback follows kubectl's `pkg/polymorphichelpers/rollback.go` (DeploymentRollbacker) and
status follows `rollout_status.go` (DeploymentStatusViewer); objects are the API's JSON dicts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.problem import Problem

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
# Annotations that belong to the deployment itself and never come back from a ReplicaSet.
ANNOTATIONS_TO_SKIP = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Revision:
    number: int
    images: tuple[str, ...]
    change_cause: str
    created: datetime | None
    replicaset: str


@dataclass(frozen=True)
class RollbackPatch:
    to_revision: int
    ops: list[dict[str, Any]]  # the JSON patch kubectl sends
    images_before: tuple[str, ...]
    images_after: tuple[str, ...]


@dataclass(frozen=True)
class RolloutStatus:
    message: str
    done: bool
    failed: bool = False


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def revision_number(obj: Obj) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def images(template: Obj) -> tuple[str, ...]:
    containers = (template.get("spec") or {}).get("containers") or []
    return tuple(f"{c.get('name')}={c.get('image')}" for c in containers)


def history(replicasets: Sequence[Obj]) -> list[Revision]:
    """Newest first, as `kubectl rollout history` lists them (but newest on top)."""
    revisions = [
        Revision(
            number=revision_number(rs),
            images=images(rs.get("spec", {}).get("template") or {}),
            change_cause=(rs.get("metadata", {}).get("annotations") or {}).get(CHANGE_CAUSE, ""),
            created=_ts(rs.get("metadata", {}).get("creationTimestamp")),
            replicaset=str(rs.get("metadata", {}).get("name", "")),
        )
        for rs in replicasets
        if revision_number(rs) > 0
    ]
    return sorted(revisions, key=lambda r: r.number, reverse=True)


def _without_hash(template: Obj) -> dict[str, Any]:
    clean = copy.deepcopy(dict(template))
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return clean


def _target(replicasets: Sequence[Obj], to_revision: int) -> Obj | Problem:
    by_revision = {revision_number(rs): rs for rs in replicasets if revision_number(rs) > 0}
    if to_revision == 0:
        ordered = sorted(by_revision)
        if len(ordered) < 2:
            return Problem("no rollout history found: there is no previous revision")
        return by_revision[ordered[-2]]
    if to_revision not in by_revision:
        return Problem(f"unable to find the specified revision {to_revision} in history")
    return by_revision[to_revision]


def plan_rollback(
    deployment: Obj, replicasets: Sequence[Obj], to_revision: int = 0
) -> RollbackPatch | Problem:
    if (deployment.get("spec") or {}).get("paused"):
        return Problem("you cannot rollback a paused deployment; resume it first")
    target = _target(replicasets, to_revision)
    if isinstance(target, Problem):
        return target
    number = revision_number(target)
    current = deployment.get("spec", {}).get("template") or {}
    wanted = _without_hash(target.get("spec", {}).get("template") or {})
    if _without_hash(current) == wanted:
        return Problem(f"skipped rollback (current template already matches revision {number})")
    own = deployment.get("metadata", {}).get("annotations") or {}
    annotations = {k: v for k, v in own.items() if k in ANNOTATIONS_TO_SKIP}
    for key, value in (target.get("metadata", {}).get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[key] = value
    ops = [
        {"op": "replace", "path": "/spec/template", "value": wanted},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    return RollbackPatch(number, ops, images(current), images(wanted))


def rollout_status(deployment: Obj) -> RolloutStatus:
    name = deployment.get("metadata", {}).get("name", "")
    status = deployment.get("status") or {}
    generation = deployment.get("metadata", {}).get("generation") or 0
    if generation > (status.get("observedGeneration") or 0):
        return RolloutStatus("Waiting for deployment spec update to be observed...", False)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutStatus(f'deployment "{name}" exceeded its progress deadline', True, True)
    wanted = (deployment.get("spec") or {}).get("replicas")
    updated = status.get("updatedReplicas") or 0
    if wanted is not None and updated < wanted:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {wanted} new'
            " replicas have been updated...",
            False,
        )
    replicas = status.get("replicas") or 0
    if replicas > updated:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old'
            " replicas are pending termination...",
            False,
        )
    available = status.get("availableReplicas") or 0
    if available < updated:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated}'
            " updated replicas are available...",
            False,
        )
    return RolloutStatus(f'deployment "{name}" successfully rolled out', True)


@dataclass(frozen=True)
class RecentRollout:
    revision: Revision
    previous: Revision | None


def recent_rollout(
    replicasets: Sequence[Obj], now: datetime, window: timedelta = timedelta(hours=2)
) -> RecentRollout | None:
    """The current revision, if it appeared within the window, with the one it replaced."""
    revisions = history(replicasets)
    if not revisions or revisions[0].created is None or now - revisions[0].created > window:
        return None
    return RecentRollout(revisions[0], revisions[1] if len(revisions) > 1 else None)
