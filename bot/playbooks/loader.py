"""Loads playbooks/*.yaml, validating each step's kind and params; errors name file and line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.playbooks.model import Playbook, PlaybookSpec, StepKind


@dataclass(frozen=True)
class LoadError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _line(node: yaml.Node | None, path: Sequence[Any]) -> int:
    """The line of the YAML node at a pydantic error location (as deep as it can follow)."""
    if node is None:
        return 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
    return node.start_mark.line + 1


def load_file(path: Path, kinds: Mapping[str, StepKind[Any]]) -> Playbook | list[LoadError]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except OSError as exc:
        return [LoadError(name, 1, f"cannot read: {exc.strerror}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [
            LoadError(
                name,
                mark.line + 1 if mark else 1,
                f"not valid YAML: {getattr(exc, 'problem', exc)}",
            )
        ]
    if not isinstance(raw, dict):
        return [LoadError(name, 1, "a playbook is a mapping (name, description, steps)")]
    try:
        spec = PlaybookSpec.model_validate(raw)
    except ValidationError as exc:
        return [
            LoadError(
                name,
                _line(node, err["loc"]),
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
            )
            for err in exc.errors()
        ]
    errors: list[LoadError] = []
    params: list[BaseModel] = []
    for index, step in enumerate(spec.steps):
        kind = kinds.get(step.kind)
        if kind is None:
            errors.append(
                LoadError(
                    name,
                    _line(node, ["steps", index, "kind"]),
                    f"unknown step kind `{step.kind}`; known kinds: {', '.join(sorted(kinds))}",
                )
            )
            continue
        try:
            params.append(kind.params.model_validate(step.params))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ["steps", index, "params", *err["loc"]]
                errors.append(
                    LoadError(
                        name,
                        _line(node, loc),
                        f"{step.kind}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
                    )
                )
    if errors:
        return errors
    return Playbook(spec=spec, source=name, params=tuple(params))


@dataclass(frozen=True)
class Catalogue:
    playbooks: dict[str, Playbook]
    errors: list[LoadError]

    def find(self, name: str) -> Playbook | None:
        return self.playbooks.get(name)

    def matching(
        self, alertnames: set[str], labels: Mapping[str, str], services: Sequence[str]
    ) -> list[Playbook]:
        """Playbooks whose triggers match an alert group (for automatic enrichment)."""
        found = []
        for book in self.playbooks.values():
            t = book.spec.triggers
            if not (t.alertnames or t.labels or t.services):
                continue
            if t.alertnames and not alertnames & set(t.alertnames):
                continue
            if any(labels.get(k) != v for k, v in t.labels.items()):
                continue
            if t.services and not set(services) & set(t.services):
                continue
            found.append(book)
        return found


def load_directory(folder: Path, kinds: Mapping[str, StepKind[Any]]) -> Catalogue:
    playbooks: dict[str, Playbook] = {}
    errors: list[LoadError] = []
    if not folder.is_dir():
        return Catalogue({}, [LoadError(str(folder), 1, "playbook folder not found")])
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        loaded = load_file(path, kinds)
        if isinstance(loaded, list):
            errors.extend(loaded)
        elif loaded.name in playbooks:
            errors.append(LoadError(path.name, 1, f"playbook `{loaded.name}` is defined twice"))
        else:
            playbooks[loaded.name] = loaded
    return Catalogue(playbooks, errors)
