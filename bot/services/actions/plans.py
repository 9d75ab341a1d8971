"""Plans and carries out the dangerous actions: rollback, scale, restart, desktop rollback.

Planning reads the platform and says what would change; carrying out does a server-side dry
run first, then the change, then follows the rollout as `kubectl rollout status` would.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.config import PlatformConfig, Service
from bot.domain.actions import ActionKind, ActionPlan
from bot.domain.clock import Clock
from bot.domain.problem import Problem
from bot.domain.rollout import (
    images,
    plan_rollback,
    revision_number,
    rollout_status,
)
from bot.integrations.aws import DesktopRollbackPlan, DesktopUpdates, DesktopUpdatesError
from bot.integrations.kubernetes import Kubernetes, KubernetesError
from bot.playbooks.steps.kubernetes import rollout_history
from bot.services.actions.drift import drift

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
Progress = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    service: Service
    kube: Kubernetes
    namespace: str
    deployment: dict[str, Any]


class PlatformActions:
    def __init__(
        self,
        config: PlatformConfig,
        clock: Clock,
        *,
        kube: Kubernetes | None,
        desktop: DesktopUpdates | None,
        rollout_timeout: float = 600.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._kube = kube
        self._desktop = desktop
        self._rollout_timeout = rollout_timeout
        self._poll = poll_seconds

    def _service(self, name: str) -> Service | Problem:
        service = self._config.service(name)
        if service is None:
            known = ", ".join(s.name for s in self._config.services)
            return Problem(f"unknown service `{name}`; known services: {known}")
        return service

    def _need_kube(self) -> Kubernetes | Problem:
        if self._kube is None:
            return Problem("Kubernetes is not configured (KUBECONFIG or in-cluster)")
        return self._kube

    async def _read(self, name: str) -> Target | Problem:
        """The service, the API to reach it, and its deployment as it is now."""
        service, kube = self._service(name), self._need_kube()
        if isinstance(service, Problem):
            return service
        if isinstance(kube, Problem):
            return kube
        namespace = self._config.namespace_of(service)
        try:
            deployment = await kube.deployment(namespace, service.deployment)
        except KubernetesError as exc:
            return Problem(str(exc))
        return Target(service, kube, namespace, deployment)

    async def history(self, name: str) -> str | Problem:
        target = await self._read(name)
        if isinstance(target, Problem):
            return target
        try:
            return await rollout_history(target.kube, target.namespace, target.service.deployment)
        except KubernetesError as exc:
            return Problem(str(exc))

    async def plan_rollback(self, name: str, to_revision: int = 0) -> ActionPlan | Problem:
        target = await self._read(name)
        if isinstance(target, Problem):
            return target
        service, namespace, deployment = target.service, target.namespace, target.deployment
        try:
            replicasets = await target.kube.replicasets(namespace, deployment)
        except KubernetesError as exc:
            return Problem(str(exc))
        plan = plan_rollback(deployment, replicasets, to_revision)
        if isinstance(plan, Problem):
            return plan
        return ActionPlan(
            ActionKind.ROLLBACK,
            service.name,
            {"to_revision": to_revision},
            before=f"revision {revision_number(deployment)}: {', '.join(plan.images_before)}",
            after=f"revision {plan.to_revision}: {', '.join(plan.images_after)}",
            detail={
                "namespace": namespace,
                "deployment": service.deployment,
                "ops": plan.ops,
                "from_revision": revision_number(deployment),
            },
        )

    async def plan_scale(self, name: str, replicas: int) -> ActionPlan | Problem:
        service = self._service(name)
        if isinstance(service, Problem):
            return service
        if not service.min_replicas <= replicas <= service.max_replicas:
            return Problem(
                f"{service.name} may run {service.min_replicas} to"
                f" {service.max_replicas} replicas (config); {replicas} is outside"
            )
        target = await self._read(name)
        if isinstance(target, Problem):
            return target
        current = (target.deployment.get("spec") or {}).get("replicas", 0)
        detail: dict[str, Any] = {
            "namespace": target.namespace,
            "deployment": service.deployment,
            "from_replicas": current,
        }
        try:
            hpa = await target.kube.autoscaler_for(target.namespace, service.deployment)
        except KubernetesError as exc:
            if exc.status != 403:
                return Problem(str(exc))
            hpa = None
            detail["note"] = (
                "The bot may not read HorizontalPodAutoscalers here (grant get and list on"
                " horizontalpodautoscalers.autoscaling), so it cannot tell whether one manages"
                f" {service.deployment}; if one does, it will undo this within a minute."
            )
        if hpa is not None:
            return _plan_autoscaler(service, hpa, replicas, current, detail)
        if current == replicas:
            return Problem(f"{service.name} already runs {replicas} replicas")
        return ActionPlan(
            ActionKind.SCALE,
            service.name,
            {"replicas": replicas},
            before=f"{current} replicas",
            after=f"{replicas} replicas",
            detail=detail,
        )

    async def plan_restart(self, name: str) -> ActionPlan | Problem:
        target = await self._read(name)
        if isinstance(target, Problem):
            return target
        spec = target.deployment.get("spec") or {}
        if spec.get("paused"):
            return Problem("the deployment is paused; resume it before restarting")
        ready = (target.deployment.get("status") or {}).get("readyReplicas") or 0
        pods = spec.get("replicas", 0)
        return ActionPlan(
            ActionKind.RESTART,
            target.service.name,
            {},
            before=f"{ready}/{pods} pods ready",
            after=f"every pod replaced, one batch at a time ({pods} pods)",
            detail={
                "namespace": target.namespace,
                "deployment": target.service.deployment,
                # Any change to the spec (an image, the replicas, another restart) moves it.
                "from_generation": (target.deployment.get("metadata") or {}).get("generation"),
            },
        )

    async def plan_desktop(self, version: str) -> ActionPlan | Problem:
        if self._desktop is None:
            return Problem(
                "desktop updates are not configured (UPDATES_BUCKET, UPDATES_DISTRIBUTION_ID)"
            )
        try:
            plan = await self._desktop.plan(version)
        except DesktopUpdatesError as exc:
            return Problem(str(exc))
        now = ", ".join(f"{k}: {v}" for k, v in sorted(plan.current.items())) or "nothing"
        return ActionPlan(
            ActionKind.DESKTOP_ROLLBACK,
            "desktop",
            {"version": plan.version},
            before=now,
            after=f"{', '.join(dest for _, dest in plan.files)} announce {plan.version}",
            detail={
                "files": [list(f) for f in plan.files],
                "current": dict(plan.current),
                "version": plan.version,
            },
        )

    async def drift(self, plan: ActionPlan) -> str | None:
        """What changed since the plan was shown, if its "Now" no longer holds."""
        return await drift(plan, self._kube, self._desktop)

    async def execute(self, plan: ActionPlan, progress: Progress) -> tuple[bool, str]:
        """Carries out a confirmed plan; returns (succeeded, what happened)."""
        if plan.kind == ActionKind.DESKTOP_ROLLBACK:
            return await self._desktop_rollback(plan, progress)
        kube = self._need_kube()
        if isinstance(kube, Problem):
            return False, kube.message
        d = plan.detail
        namespace, name = str(d["namespace"]), str(d["deployment"])

        async def change(dry_run: bool) -> Any:
            if plan.kind == ActionKind.SCALE and d.get("autoscaler"):
                low, high = d["new_bounds"]
                bounds = {"spec": {"minReplicas": low, "maxReplicas": high}}
                return await kube.patch_autoscaler(
                    namespace, str(d["autoscaler"]), bounds, dry_run=dry_run
                )
            if plan.kind == ActionKind.ROLLBACK:
                return await kube.patch_deployment(namespace, name, list(d["ops"]), dry_run=dry_run)
            if plan.kind == ActionKind.SCALE:
                return await kube.scale(
                    namespace, name, int(plan.params["replicas"]), dry_run=dry_run
                )
            stamp = self._clock.now().isoformat()
            patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
            return await kube.merge_patch_deployment(namespace, name, patch, dry_run=dry_run)

        try:
            if plan.kind == ActionKind.ROLLBACK:
                current = await kube.deployment(namespace, name)
                if revision_number(current) != d.get("from_revision"):
                    return False, (
                        "the deployment changed since this was planned (now revision"
                        f" {revision_number(current)}); plan it again"
                    )
            await change(dry_run=True)
            await progress("Server-side dry run passed; applying…")
            await change(dry_run=False)
        except KubernetesError as exc:
            return False, str(exc)
        if plan.kind == ActionKind.SCALE and d.get("autoscaler"):
            low, high = d["new_bounds"]
            waited = await self._autoscaled(kube, namespace, name, (low, high), progress, d)
            if waited is not None:
                return False, waited
        return await self._follow(kube, namespace, name, progress)

    async def _autoscaled(
        self,
        kube: Kubernetes,
        namespace: str,
        name: str,
        bounds: tuple[int, int],
        progress: Progress,
        detail: Any,
    ) -> str | None:
        """Until the autoscaler has moved the Deployment within its new bounds (its next sync,
        every 15 s by default); None when it has, else what went wrong."""
        await progress(
            f"HorizontalPodAutoscaler {detail['autoscaler']} now allows {bounds[0]} to"
            f" {bounds[1]} replicas; waiting for it to scale…"
        )
        try:
            async with asyncio.timeout(self._rollout_timeout):
                while True:
                    wanted = ((await kube.deployment(namespace, name)).get("spec") or {}).get(
                        "replicas", 0
                    )
                    if bounds[0] <= wanted <= bounds[1]:
                        return None
                    await asyncio.sleep(self._poll)
        except TimeoutError:
            return (
                f"HorizontalPodAutoscaler {detail['autoscaler']} has its new bounds, but has not"
                f" scaled {name} into them after {self._rollout_timeout:g} s"
            )
        except KubernetesError as exc:
            return f"lost track of the autoscaler: {exc}"

    async def _follow(
        self, kube: Kubernetes, namespace: str, name: str, progress: Progress
    ) -> tuple[bool, str]:
        last = ""
        try:
            async with asyncio.timeout(self._rollout_timeout):
                while True:
                    deployment = await kube.deployment(namespace, name)
                    status = rollout_status(deployment)
                    if status.message != last:
                        last = status.message
                        await progress(status.message)
                    if status.done:
                        shown = ", ".join(
                            images((deployment.get("spec") or {}).get("template") or {})
                        )
                        return not status.failed, f"{status.message}; now running {shown}"
                    await asyncio.sleep(self._poll)
        except TimeoutError:
            return False, f"still not rolled out after {self._rollout_timeout:g} s: {last}"
        except KubernetesError as exc:
            return False, f"lost track of the rollout: {exc}"

    async def _desktop_rollback(self, plan: ActionPlan, progress: Progress) -> tuple[bool, str]:
        if self._desktop is None:
            return False, "desktop updates are not configured"
        files = [(str(a), str(b)) for a, b in plan.detail["files"]]
        target = DesktopRollbackPlan(
            str(plan.detail["version"]), files, dict(plan.detail["current"])
        )
        await progress(f"Copying {len(files)} files and invalidating the CDN…")
        try:
            result = await self._desktop.rollback(target)
        except DesktopUpdatesError as exc:
            return False, str(exc)
        return True, (
            f"copied {', '.join(result.copied)}; CloudFront invalidation"
            f" {result.invalidation_id} {result.status}"
        )


def _plan_autoscaler(
    service: Service, hpa: dict[str, Any], replicas: int, current: int, detail: dict[str, Any]
) -> ActionPlan | Problem:
    """`/scale` of a Deployment a HorizontalPodAutoscaler manages changes the HPA's bounds.

    Why this rather than a refusal: a /scale during an incident means "I need this many now",
    more pods for a surge or fewer hammering a struggling database. The Deployment's replica
    count is the HPA's to set: a hand-made change is put back at its next sync (15 s by
    default), so the change that holds is to its bounds. Raising minReplicas to N guarantees at
    least N, lowering maxReplicas to N caps at N, and the HPA keeps reacting to load within
    them. A refusal would leave the responder editing the HPA by hand mid-incident. The
    confirmation says all this, with the old bounds, so they can be put back afterwards (a
    GitOps controller may also put them back by itself).
    """
    name = str((hpa.get("metadata") or {}).get("name", ""))
    spec = hpa.get("spec") or {}
    low, high = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
    if replicas >= current:
        bounds, wanted = (replicas, max(high, replicas)), f"at least {replicas} replicas"
    else:
        bounds, wanted = (min(low, replicas), replicas), f"at most {replicas} replicas"
    if bounds == (low, high):
        return Problem(
            f"HorizontalPodAutoscaler {name} already keeps {service.name} between {low} and"
            f" {high} replicas (it runs {current} now); it decides the count within them"
        )
    detail = detail | {"autoscaler": name, "bounds": [low, high], "new_bounds": list(bounds)}
    detail["note"] = (
        f"{service.deployment} is scaled by HorizontalPodAutoscaler {name}: setting its replicas"
        " would be undone at the autoscaler's next sync (within 15 s), so Confirm changes the"
        f" autoscaler's bounds instead, to {bounds[0]} to {bounds[1]}. They stay until someone"
        f" sets them back to {low} to {high}."
    )
    return ActionPlan(
        ActionKind.SCALE,
        service.name,
        {"replicas": replicas},
        before=f"{current} replicas; HorizontalPodAutoscaler {name}: {low} to {high}",
        after=f"HorizontalPodAutoscaler {name}: {bounds[0]} to {bounds[1]} ({wanted})",
        detail=detail,
    )


def parse_replicas(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d{1,4}", text) else None
