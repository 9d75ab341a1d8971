"""RBAC as the API server applies it to a namespaced Role, for the fake Kubernetes API.

The fake answers with the bot's shipped Role in force, so a call the Role does not grant is
refused in every test exactly as a cluster refuses it (403 Forbidden, the authorizer's wording),
instead of passing here and failing on the first real deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROLE_FILE = Path(__file__).parents[2] / "infra" / "kubernetes" / "base" / "incident-bot.yaml"
USER = "system:serviceaccount:{ns}:incident-bot"


@dataclass(frozen=True)
class Attributes:
    """What the authorizer decides on (k8s.io/apiserver RequestInfo)."""

    verb: str
    group: str
    resource: str  # with its subresource: "deployments/scale"
    namespace: str | None
    name: str | None


def shipped_role() -> list[dict[str, Any]]:
    """The rules of the bot's Role as the base manifests ship it."""
    for doc in yaml.safe_load_all(ROLE_FILE.read_text()):
        if doc and doc.get("kind") == "Role" and doc["metadata"]["name"] == "incident-bot":
            rules: list[dict[str, Any]] = doc["rules"]
            return rules
    raise LookupError(f"no Role incident-bot in {ROLE_FILE.name}")


def attributes(method: str, path: str, query: dict[str, str]) -> Attributes | None:
    """The request's verb and resource; None for discovery and other non-resource URLs, which
    every authenticated user may read (the system:discovery binding)."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource, name = rest[0], rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if method == "GET":
        watching = query.get("watch") in ("1", "true")
        verb = "watch" if watching else ("get" if name else "list")
    else:
        verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
        verb = verbs.get(method) or ("delete" if name else "deletecollection")
    return Attributes(verb, group, resource, namespace, name)


def allows(rules: list[dict[str, Any]], request: Attributes) -> bool:
    def matches(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    for rule in rules:
        names = rule.get("resourceNames")
        if (
            matches(rule.get("apiGroups", []), request.group)
            and matches(rule.get("resources", []), request.resource)
            and matches(rule.get("verbs", []), request.verb)
            and (not names or (request.name is not None and request.name in names))
        ):
            return True
    return False


def forbidden_message(request: Attributes, namespace: str) -> str:
    """The authorizer's reason, as `kubectl` prints it from the Status message."""
    user = USER.format(ns=namespace)
    plural, _, sub = request.resource.partition("/")
    what = f"{plural}.{request.group}" if request.group else plural
    subject = f'{what} "{request.name}"' if request.name else what
    scope = (
        f'in API group "{request.group}" in the namespace "{request.namespace}"'
        if request.namespace
        else f'in API group "{request.group}" at the cluster scope'
    )
    shown = f"{plural}/{sub}" if sub else plural
    return f'{subject} is forbidden: User "{user}" cannot {request.verb} resource "{shown}" {scope}'
