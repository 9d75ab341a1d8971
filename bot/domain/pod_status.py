"""A pod as `kubectl get pods` shows it: READY, STATUS and RESTARTS by kubectl's own rules
(printPod in kubernetes' `pkg/printers/internalversion/printers.go`), and which container
made the status what it is; objects are the API's JSON dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class PodStatus:
    status: str  # kubectl's STATUS column: Running, Init:CrashLoopBackOff, Init:1/2, OOMKilled…
    ready: int  # READY: ready app containers and started, ready sidecars…
    total: int  # …of the app containers and the sidecars (restartable init containers)
    restarts: int  # RESTARTS, counted as kubectl counts them
    last_restart: datetime | None  # when the last counted restart's container ended
    container: str  # the container the status comes from ("" when it is the pod's phase)
    init: bool  # that container is an init container (or a sidecar)
    why: str  # that container's own words: its waiting message, or how it last ended

    @property
    def healthy(self) -> bool:
        return self.status == "Running" and self.total > 0 and self.ready == self.total


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _condition(pod: Obj, kind: str) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _ended(state: Obj, prefix: str = "") -> str:
    """A terminated state as kubectl names it: its reason, else Signal:N or ExitCode:N."""
    if state.get("reason"):
        return prefix + str(state["reason"])
    if state.get("signal"):
        return f"{prefix}Signal:{state['signal']}"
    return f"{prefix}ExitCode:{state.get('exitCode', 0)}"


def _why(container: Obj) -> str:
    """What the container says about itself: why it waits, and how it ended (now or last)."""
    state = container.get("state") or {}
    parts = []
    if message := (state.get("waiting") or {}).get("message"):
        parts.append(str(message))
    now_ended, last_ended = (
        state.get("terminated"),
        (container.get("lastState") or {}).get("terminated"),
    )
    ended, label = (now_ended, "ended") if now_ended else (last_ended, "last ended")
    if ended:
        text = f"{label}: {ended.get('reason') or 'exited'} (exit code {ended.get('exitCode', 0)})"
        parts.append(text + (f": {ended['message']}" if ended.get("message") else ""))
    return "; ".join(parts)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def pod_status(pod: Obj) -> PodStatus:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs: Sequence[Obj] = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(sidecars)
    ready = restarts = sidecar_restarts = 0
    last: datetime | None = None
    sidecar_last: datetime | None = None
    source: Obj = {}
    init = initializing = False

    init_statuses: Sequence[Obj] = status.get("initContainerStatuses") or []
    for index, c in enumerate(init_statuses):
        state = c.get("state") or {}
        ended = (c.get("lastState") or {}).get("terminated") or {}
        restarts += int(c.get("restartCount") or 0)
        last = _later(last, _ts(ended.get("finishedAt")))
        if c.get("name") in sidecars:
            sidecar_restarts += int(c.get("restartCount") or 0)
            sidecar_last = _later(sidecar_last, _ts(ended.get("finishedAt")))
        terminated, waiting = state.get("terminated"), state.get("waiting") or {}
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if c.get("name") in sidecars and c.get("started"):
            ready += bool(c.get("ready"))
            continue
        if terminated:
            reason = _ended(terminated, "Init:")
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        source, init, initializing = c, True, True
        break

    if not initializing or _condition(pod, "Initialized"):
        restarts, last = sidecar_restarts, sidecar_last
        running = False
        app: Sequence[Obj] = status.get("containerStatuses") or []
        for c in reversed(app):  # kubectl reads them last to first: the first one's reason wins
            state = c.get("state") or {}
            ended = (c.get("lastState") or {}).get("terminated") or {}
            restarts += int(c.get("restartCount") or 0)
            last = _later(last, _ts(ended.get("finishedAt")))
            waiting, terminated = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason, source, init = str(waiting["reason"]), c, False
            elif terminated:
                reason, source, init = _ended(terminated), c, False
            elif c.get("ready") and state.get("running"):
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running" if _condition(pod, "Ready") else "NotReady"
        if not source:  # no container explains it; the one that restarted last may
            restarted = [c for c in app if (c.get("lastState") or {}).get("terminated")]
            source = restarted[0] if restarted else {}

    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return PodStatus(
        status=reason or "Unknown",
        ready=ready,
        total=total,
        restarts=restarts,
        last_restart=last if restarts else None,
        container=str(source.get("name") or ""),
        init=init,
        why=_why(source) if source else "",
    )
