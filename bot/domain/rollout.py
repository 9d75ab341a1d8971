"""Deployment history, rollback and rollout status, by kubectl's own rules.

Rollback follows kubectl's `pkg/polymorphichelpers/rollback.go` (DeploymentRollbacker) and
status follows `rollout_status.go` (DeploymentStatusViewer); when a revision became current
follows the deployment controller (`pkg/controller/deployment`); objects are the API's JSON dicts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.problem import Problem

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
# Annotations that belong to the deployment itself and never come back from a ReplicaSet.
ANNOTATIONS_TO_SKIP = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
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
    created: datetime | None  # the ReplicaSet's creation: months ago for a reused one
    replicaset: str
    # Revisions this ReplicaSet served before (a rollback or a revert reuses it), oldest first.
    earlier: tuple[int, ...] = ()


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


def parsed_revision(obj: Obj) -> int | None:
    """deploymentutil.Revision: no annotation is revision 0; one that is not a number is an
    error, and kubectl and the controller skip that ReplicaSet (None)."""
    value = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def revision_number(obj: Obj) -> int:
    """The revision to show: 0 when there is none, or none that can be read."""
    return parsed_revision(obj) or 0


def _earlier(rs: Obj) -> tuple[int, ...]:
    text = (rs.get("metadata", {}).get("annotations") or {}).get(REVISION_HISTORY) or ""
    return tuple(int(part) for part in text.split(",") if part.strip().isdigit())


def images(template: Obj) -> tuple[str, ...]:
    containers = (template.get("spec") or {}).get("containers") or []
    return tuple(f"{c.get('name')}={c.get('image')}" for c in containers)


def _revision(rs: Obj, number: int) -> Revision:
    return Revision(
        number=number,
        images=images(rs.get("spec", {}).get("template") or {}),
        change_cause=(rs.get("metadata", {}).get("annotations") or {}).get(CHANGE_CAUSE, ""),
        created=_ts(rs.get("metadata", {}).get("creationTimestamp")),
        replicaset=str(rs.get("metadata", {}).get("name", "")),
        earlier=_earlier(rs),
    )


def history(replicasets: Sequence[Obj]) -> list[Revision]:
    """Newest first, as `kubectl rollout history` lists them (but newest on top). A ReplicaSet
    without a revision annotation is revision 0, as kubectl counts it; one whose annotation is
    not a number is left out, as kubectl leaves it out."""
    revisions = [
        _revision(rs, number) for rs in replicasets if (number := parsed_revision(rs)) is not None
    ]
    return sorted(revisions, key=lambda r: r.number, reverse=True)


def _without_hash(template: Obj) -> dict[str, Any]:
    clean = copy.deepcopy(dict(template))
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return clean


def _target(replicasets: Sequence[Obj], to_revision: int) -> Obj | Problem:
    """deploymentRevision in kubectl's rollback.go: the second-highest revision, or the asked-for
    one; revision 0 (no annotation) counts, an unreadable annotation does not."""
    numbered = [(n, rs) for rs in replicasets if (n := parsed_revision(rs)) is not None]
    if to_revision == 0:
        ordered = sorted(numbered, key=lambda pair: pair[0])
        if len(ordered) < 2:
            return Problem("no rollout history found: there is no previous revision")
        return ordered[-2][1]
    found = next((rs for n, rs in numbered if n == to_revision), None)
    if found is None:
        return Problem(f"unable to find the specified revision {to_revision} in history")
    return found


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


# The Progressing condition's reasons that name the ReplicaSet being rolled out, as the
# controller writes them (deploymentutil: NewReplicaSetCreated, FoundNewReplicaSet,
# ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded).
NAMING_REASONS = {
    "NewReplicaSetCreated",
    "FoundNewReplicaSet",
    "ReplicaSetUpdated",
    "NewReplicaSetAvailable",
    "ProgressDeadlineExceeded",
}
_QUOTED = re.compile(r'"([^"]+)"')


def became_current(deployment: Obj, replicaset: Obj) -> datetime | None:
    """When the ReplicaSet's revision became the Deployment's current one, or None if the
    objects cannot say.

    After `kubectl rollout undo`, or any change back to an older template, the controller
    reuses that template's ReplicaSet (its revision bumped, the old number kept in
    revision-history), so its creationTimestamp can be months old. The Deployment's Progressing
    condition names the ReplicaSet it is rolling out ("ReplicaSet "x" is progressing.", then
    "... has successfully progressed."), and its lastUpdateTime moves on each step of that
    rollout and stops when it completes. A ReplicaSet that never served another revision was
    created for this one, so its creation time is the rollout's start.
    """
    name = (replicaset.get("metadata") or {}).get("name")
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") != "Progressing" or cond.get("reason") not in NAMING_REASONS:
            continue
        named = _QUOTED.search(str(cond.get("message") or ""))
        stamp = _ts(cond.get("lastUpdateTime"))
        if named and named.group(1) == name and stamp is not None:
            return stamp
    if _earlier(replicaset):
        return None  # reused, and the condition speaks of another ReplicaSet: unknown
    return _ts((replicaset.get("metadata") or {}).get("creationTimestamp"))


@dataclass(frozen=True)
class RecentRollout:
    revision: Revision
    previous: Revision | None
    at: datetime  # when the revision became current (see `became_current`)


def recent_rollout(
    deployment: Obj,
    replicasets: Sequence[Obj],
    now: datetime,
    window: timedelta = timedelta(hours=2),
) -> RecentRollout | None:
    """The current revision, if it became current within the window, with the one it replaced
    (the one `kubectl rollout undo` would go back to)."""
    numbered = [(n, rs) for rs in replicasets if (n := parsed_revision(rs)) is not None]
    if not numbered:
        return None
    ordered = sorted(numbered, key=lambda pair: pair[0], reverse=True)
    number, current = ordered[0]
    at = became_current(deployment, current)
    if at is None or now - at > window:
        return None
    previous = _revision(ordered[1][1], ordered[1][0]) if len(ordered) > 1 else None
    return RecentRollout(_revision(current, number), previous, at)
