"""What a playbook is, what a step gets, and what it gives back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.config import PlatformConfig, Service
from bot.domain.clock import Clock
from bot.domain.report import Line, line

MAX_TIMEOUT = 120.0


class Triggers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alertnames: list[str] = []
    labels: dict[str, str] = {}
    services: list[str] = []


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    title: str | None = None
    params: dict[str, Any] = {}
    timeout: float = Field(20.0, gt=0, le=MAX_TIMEOUT)
    quick: bool = False  # run when an alert's thread is enriched automatically


class PlaybookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str
    triggers: Triggers = Triggers()
    needs_service: bool = False
    steps: list[StepSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Playbook:
    spec: PlaybookSpec
    source: str  # file it came from, for messages
    params: tuple[BaseModel, ...]  # each step's validated params, in step order

    @property
    def name(self) -> str:
        return self.spec.name


class StepUnavailable(Exception):
    """The step cannot run here (an integration is not configured); said, not failed."""


@dataclass(frozen=True)
class StepOutput:
    lines: tuple[Line, ...]  # a few lines of what was found, rendered by whoever shows them
    details: str = ""  # long plain text (logs, tables): attached as a file
    healthy: bool = True  # False: the step ran and found something wrong

    @classmethod
    def of(cls, *lines: Line | str, details: str = "", healthy: bool = True) -> StepOutput:
        """A `str` is a line of plain text."""
        return cls(
            tuple(ln if isinstance(ln, Line) else line(ln) for ln in lines), details, healthy
        )


@dataclass
class StepContext:
    config: PlatformConfig
    clock: Clock
    service: Service | None
    integrations: Mapping[str, Any] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        if self.service is not None:
            return self.config.namespace_of(self.service)
        return self.config.namespace

    def need(self, name: str, setting: str) -> Any:
        found = self.integrations.get(name)
        if found is None:
            raise StepUnavailable(f"{name} is not configured ({setting})")
        return found

    def need_service(self) -> Service:
        if self.service is None:
            names = ", ".join(s.name for s in self.config.services)
            raise StepUnavailable(f"this step needs a service; known services: {names}")
        return self.service


P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class StepKind(Generic[P]):
    name: str
    params: type[P]
    run: Callable[[StepContext, P], Awaitable[StepOutput]]
    description: str
