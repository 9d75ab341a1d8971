"""Fixtures for the infra/ checks: kubectl (with kustomize) and both overlays rendered."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.rendering import ENVIRONMENTS, OVERLAYS, REPO_ROOT, Manifest

VALIDATE_SCRIPT = REPO_ROOT / "scripts" / "validate-infra.sh"
# A cold run may download kubectl (~34 MB) and install shellcheck.
_TOOLS_TIMEOUT = 600


@pytest.fixture(scope="session")
def infra_tools_bin() -> Path:
    """Directory with kubectl (kustomize v5) and shellcheck, from validate-infra.sh --tools."""
    try:
        result = subprocess.run(
            ["bash", str(VALIDATE_SCRIPT), "--tools"],
            capture_output=True,
            text=True,
            timeout=_TOOLS_TIMEOUT,
            check=False,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{VALIDATE_SCRIPT} --tools did not finish within {_TOOLS_TIMEOUT}s")
    if result.returncode != 0:
        pytest.fail(f"{VALIDATE_SCRIPT} --tools failed:\n{result.stderr.strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def rendered(infra_tools_bin: Path) -> dict[str, list[Manifest]]:
    """Each overlay's objects, as `kubectl kustomize` renders them."""
    out: dict[str, list[Manifest]] = {}
    for env in ENVIRONMENTS:
        result = subprocess.run(
            [str(infra_tools_bin / "kubectl"), "kustomize", str(OVERLAYS / env)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"kubectl kustomize {env} failed:\n{result.stderr}"
        out[env] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out
