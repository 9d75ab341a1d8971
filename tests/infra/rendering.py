"""Where infra/ lives and small accessors for rendered Kubernetes objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
OVERLAYS = INFRA / "kubernetes" / "overlays"
ENVIRONMENTS = ("staging", "production")
NAMESPACES = {"staging": "factsway-staging", "production": "factsway-prod"}

Manifest = dict[str, Any]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_templates(manifests: list[Manifest]) -> list[tuple[Manifest, Manifest]]:
    """(workload, pod template) for every Deployment, StatefulSet and Job."""
    return [
        (m, m["spec"]["template"])
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
    ]
