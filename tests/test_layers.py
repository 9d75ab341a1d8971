"""The import contract of docs/architecture.md is enforced: an import pointing up fails lint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_copy(
    tmp_path: Path, change: tuple[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs import-linter on a copy of the package, with one line added to one module."""
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if change is not None:
        module, line = change
        path = tmp_path / module
        path.write_text(path.read_text() + f"\n{line}\n")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    result = lint_copy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("bot/services/paging.py", "import bot.slack", "Every import points down the layers"),
        ("bot/playbooks/runner.py", "import bot.web.keys", "Every import points down the layers"),
        ("bot/services/outbox.py", "import slack_sdk", "Only the Slack adapter speaks Slack"),
        ("bot/domain/alerts.py", "import pydantic", "The domain is pure: standard library only"),
        ("bot/integrations/health.py", "import bot.integrations.kubernetes", "Each integration"),
    ],
)
def test_an_import_that_breaks_a_rule_fails_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    result = lint_copy(tmp_path, (module, line))
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
