"""Pods read as `kubectl get pods` reads them (printPod's READY, STATUS and RESTARTS), from the
pods in tests/fixtures/kubernetes/pods-status-column.json: init containers, native sidecars,
crash loops, a pod being deleted, a finished app beside a running container, a missing image."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.domain.pod_status import PodStatus, pod_status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes"
PODS: dict[str, dict[str, Any]] = {
    p["metadata"]["name"].rsplit("-", 1)[1]: p
    for p in json.loads((FIXTURES / "pods-status-column.json").read_text())["items"]
}


def status_of(suffix: str) -> PodStatus:
    return pod_status(PODS[suffix])


# (pod, STATUS, READY, RESTARTS) as kubectl prints them for these objects.
KUBECTL = [
    ("h8vzq", "Init:CrashLoopBackOff", "0/1", 3),
    ("c4ldw", "Init:1/2", "0/1", 0),
    ("t9bns", "Running", "2/2", 1),
    ("q2fjk", "Init:CrashLoopBackOff", "0/2", 4),
    ("w6xgr", "Terminating", "1/1", 0),
    ("z8kpm", "CrashLoopBackOff", "0/1", 5),
    ("r3hvd", "NotReady", "1/2", 0),
    ("b5nqs", "ImagePullBackOff", "0/1", 0),
]


@pytest.mark.parametrize(("suffix", "status", "ready", "restarts"), KUBECTL)
def test_status_ready_and_restarts_are_kubectls(
    suffix: str, status: str, ready: str, restarts: int
) -> None:
    found = status_of(suffix)
    assert (found.status, f"{found.ready}/{found.total}", found.restarts) == (
        status,
        ready,
        restarts,
    )


def test_a_crash_looping_init_container_is_named_with_its_back_off_and_last_exit() -> None:
    found = status_of("h8vzq")
    assert (found.container, found.init) == ("migrate", True)
    assert "back-off 40s restarting failed container=migrate" in found.why
    assert "last ended: Error (exit code 1)" in found.why
    assert found.last_restart == datetime(2026, 2, 10, 14, 3, 51, tzinfo=UTC)
    assert not found.healthy


def test_a_native_sidecar_counts_in_ready_and_restarts_and_the_pod_is_healthy() -> None:
    found = status_of("t9bns")
    assert found.healthy
    assert found.last_restart == datetime(2026, 2, 10, 14, 1, 12, tzinfo=UTC)


def test_restarts_of_init_containers_no_longer_count_once_the_pod_is_initialized() -> None:
    pod = json.loads(json.dumps(PODS["t9bns"]))
    pod["spec"]["initContainers"][0].pop("restartPolicy")  # a classic init container now
    pod["status"]["initContainerStatuses"][0]["state"] = {
        "terminated": {"exitCode": 0, "reason": "Completed"}
    }
    pod["status"]["initContainerStatuses"][0]["restartCount"] = 2
    found = pod_status(pod)
    assert (found.status, found.total, found.restarts) == ("Running", 1, 0)


def test_an_app_container_crash_loop_says_how_it_ended() -> None:
    found = status_of("z8kpm")
    assert (found.container, found.init) == ("app", False)
    assert "OOMKilled (exit code 137)" in found.why


def test_a_missing_image_says_what_the_registry_answered() -> None:
    assert "not found" in status_of("b5nqs").why


def test_a_pod_with_no_status_yet_is_its_phase() -> None:
    found = pod_status({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app"}]}})
    assert (found.status, found.ready, found.total, found.restarts) == ("Unknown", 0, 1, 0)
    found = pod_status({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}})
    assert found.status == "Pending"
