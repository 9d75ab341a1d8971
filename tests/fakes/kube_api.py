"""A local Kubernetes API server for the real `kubernetes_asyncio` client, reached via kubeconfig.

It serves the slice of the API an incident bot touches (apps/v1 Deployments with the scale
subresource, ReplicaSets, Pods and their logs, Events, autoscaling/v2 HorizontalPodAutoscalers,
metrics.k8s.io) over plain HTTP with the server's wire conventions: `Status` error bodies,
JSON/merge/strategic-merge patches, dryRun, generation and resourceVersion bookkeeping, zero
status counts omitted, list items without kind/apiVersion. A small deployment controller rolls
templates out one pod per `controller_delay`, so rollouts, stalls on crash-looping pods and
rollbacks (which reuse an old ReplicaSet under a new revision number, keep the old one in
revision-history and move the Progressing condition to it) look as they do on a cluster; pods
run their init containers and native sidecars as the kubelet reports them; an HPA controller
holds each autoscaled Deployment within its bounds. Objects exported from a real cluster can be
loaded as they are (`load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import math
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.fakes import kube_rbac

Obj = dict[str, Any]
SHIPPED_ROLE: list[Obj] = kube_rbac.shipped_role()
Handler = Callable[[web.Request], Awaitable[web.Response]]
REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
# The controller copies a Deployment's annotations onto its new ReplicaSet, except these.
NOT_COPIED = {REVISION, HISTORY, DESIRED, MAX_REPLICAS}
NOT_COPIED.add("kubectl.kubernetes.io/last-applied-configuration")
# Kubernetes' rand.SafeEncodeString alphabet, so template hashes and pod names look real.
SAFE = "bcdfghjklmnpqrstvwxz2456789"
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
REASONS[405] = "MethodNotAllowed"
REASONS |= {409: "Conflict", 415: "UnsupportedMediaType", 422: "Invalid"}
# resource -> (URL prefix, kind, resource as error messages name it, extra field selectors)
RESOURCES: dict[str, tuple[str, str, str, set[str]]] = {
    "deployments": ("/apis/apps/v1", "Deployment", "deployments.apps", set()),
    "replicasets": ("/apis/apps/v1", "ReplicaSet", "replicasets.apps", {"status.replicas"}),
    "pods": ("/api/v1", "Pod", "pods", {"spec.nodeName", "status.phase", "spec.restartPolicy"}),
    "events": ("/api/v1", "Event", "events", {"reason", "source", "type", "reportingComponent"}),
    "horizontalpodautoscalers": (
        "/apis/autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers.autoscaling",
        set(),
    ),
}
RESOURCES["events"][3].update(f"involvedObject.{f}" for f in ("kind", "name", "namespace", "uid"))
RESOURCES["events"][3].update(("involvedObject.apiVersion", "involvedObject.fieldPath"))
KIND_RESOURCE = {spec[1]: name for name, spec in RESOURCES.items()}
COMPONENTS = {"Pod": "kubelet", "Deployment": "deployment-controller"}
COMPONENTS["HorizontalPodAutoscaler"] = "horizontal-pod-autoscaler"
# Strategic merge patch merges these lists item by item on the key (patchMergeKey).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name"}
MERGE_KEYS |= {"volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name"}
EXIT_CODES = {"OOMKilled": 137, "Error": 1, "Completed": 0, "ContainerCannotRun": 128}
# API-server defaulting: templates read back and resent must compare equal to stored ones.
DEPLOYMENT_DEFAULTS: Obj = {
    "replicas": 1,
    "revisionHistoryLimit": 10,
    "progressDeadlineSeconds": 600,
}
POD_DEFAULTS: Obj = {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30}
POD_DEFAULTS["dnsPolicy"] = "ClusterFirst"
POD_DEFAULTS |= {"securityContext": {}, "schedulerName": "default-scheduler"}
CONTAINER_DEFAULTS: Obj = {"resources": {}, "terminationMessagePath": "/dev/termination-log"}
CONTAINER_DEFAULTS["terminationMessagePolicy"] = "File"
POD_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
# Deployment condition reason -> (type, status, message); {rs} is the new ReplicaSet's name.
CONDITIONS = {
    "MinimumReplicasAvailable": ("Available", "True", "Deployment has minimum availability."),
    "MinimumReplicasUnavailable": (
        "Available",
        "False",
        "Deployment does not have minimum availability.",
    ),
    "DeploymentPaused": ("Progressing", "Unknown", "Deployment is paused"),
    "DeploymentResumed": ("Progressing", "Unknown", "Deployment is resumed"),
    "NewReplicaSetCreated": ("Progressing", "True", 'Created new replica set "{rs}"'),
    "FoundNewReplicaSet": ("Progressing", "True", 'Found new replica set "{rs}"'),
    "ReplicaSetUpdated": ("Progressing", "True", 'ReplicaSet "{rs}" is progressing.'),
    "NewReplicaSetAvailable": (
        "Progressing",
        "True",
        'ReplicaSet "{rs}" has successfully progressed.',
    ),
    "ProgressDeadlineExceeded": (
        "Progressing",
        "False",
        'ReplicaSet "{rs}" has timed out progressing.',
    ),
}


class KubeError(Exception):
    """An API failure, answered as the `Status` object the real server sends."""

    def __init__(self, code: int, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details

    def response(self) -> web.Response:
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        body |= {"message": self.message, "reason": REASONS[self.code], "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return web.json_response(body, status=self.code)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_found(resource: str, name: str) -> KubeError:
    plural, _, group = RESOURCES[resource][2].partition(".")
    details = {"name": name, "kind": plural} | ({"group": group} if group else {})
    return KubeError(404, f'{RESOURCES[resource][2]} "{name}" not found', details)


def invalid(kind: str, name: str, errors: list[tuple[str, str, str]]) -> KubeError:
    """422 worded as the server words field errors: `Kind.group "name" is invalid: field: ...`."""
    texts = [f"{field}: {detail}" for field, _, detail in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    kind_name, _, group = kind.partition(".")
    causes = [{"reason": r, "message": d, "field": f} for f, r, d in errors]
    details = {"name": name, "group": group, "kind": kind_name, "causes": causes}
    return KubeError(422, f'{kind} "{name}" is invalid: {joined}', details)


def patch_failed(message: str) -> KubeError:
    # The server's answer when a JSON patch cannot be applied to the stored object.
    causes = [{"reason": "UnexpectedServerResponse", "message": message}]
    text = "the server rejected our request due to an error in our request"
    return KubeError(422, text, {"causes": causes})


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 add/remove/replace on a copy; paths are JSON pointers (~1 is '/')."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise KubeError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path, value = op.get("op"), str(op.get("path", "")), copy.deepcopy(op.get("value"))
        if kind not in ("add", "remove", "replace"):
            raise KubeError(400, f"Unexpected kind: {kind}")
        if path and not path.startswith("/"):
            raise patch_failed(f"JSON pointer must start with '/': {path!r}")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts:
            doc = value
            continue
        parent: Any = doc
        for part in parts[:-1]:
            if isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
                parent = parent[int(part)]
            elif isinstance(parent, dict) and part in parent:
                parent = parent[part]
            else:
                raise patch_failed(f'{kind} operation does not apply: missing path: "{path}"')
        key = parts[-1]
        if isinstance(parent, list):
            index = int(key) if key.isdigit() else len(parent) if key == "-" else -1
            if not 0 <= index < len(parent) + (kind == "add"):
                raise patch_failed(f'{kind} operation does not apply: bad index: "{path}"')
            if kind != "add":
                del parent[index]
            if kind != "remove":
                parent.insert(index, value)
        elif isinstance(parent, dict) and (kind == "add" or key in parent):
            if kind == "remove":
                del parent[key]
            else:
                parent[key] = value
        else:
            raise patch_failed(f'{kind} operation does not apply: doc is missing key: "{path}"')
    return doc


def merge_patch(target: Any, patch: Any, field: str = "", strategic: bool = False) -> Any:
    """RFC 7386 (null deletes, objects merge, the rest replaces); `strategic` also merges the
    MERGE_KEYS lists by key, as strategic merge patch does for containers, env, volumes..."""
    if strategic and isinstance(patch, list) and field in MERGE_KEYS:
        key, items = MERGE_KEYS[field], copy.deepcopy(target if isinstance(target, list) else [])
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise KubeError(400, f"map: {item} does not contain declared merge key: {key}")
            at = next((i for i, old in enumerate(items) if old.get(key) == item[key]), None)
            if at is None:
                items.append(merge_patch({}, item, strategic=True))
            else:
                items[at] = merge_patch(items[at], item, strategic=True)
        return items
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: Obj = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif not (strategic and key.startswith("$")):  # $setElementOrder etc. only reorder
            result[key] = merge_patch(result.get(key), value, key, strategic)
    return result


PATCHERS: dict[str, Callable[[Any, Any], Any]] = {
    "application/json-patch+json": json_patch,
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": lambda t, p: merge_patch(t, p, strategic=True),
}


def label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """Equality (`a=b,c!=d`) and set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`) selectors."""
    reqs: list[tuple[str, bool, set[str] | None]] = []  # (key, wanted, values; None = exists)
    for part in filter(None, (p.strip() for p in re.split(r",(?![^()]*\))", text))):
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part):
            reqs.append((m[1], m[2] == "in", {v.strip() for v in m[3].split(",") if v.strip()}))
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", part):
            reqs.append((m[1], m[2] != "!=", {m[3]}))
        elif m := re.fullmatch(r"(!?)([\w./-]+)", part):
            reqs.append((m[2], not m[1], None))
        else:
            raise KubeError(400, f"unable to parse requirement: {part}")

    def match(labels: Mapping[str, str], key: str, wanted: bool, values: set[str] | None) -> bool:
        # `!=` and `notin` also match objects without the key, as in Kubernetes.
        return (key in labels if values is None else labels.get(key) in values) == wanted

    return lambda labels: all(match(labels, *req) for req in reqs)


def field_selector(resource: str, text: str) -> Callable[[Obj], bool]:
    allowed = RESOURCES[resource][3] | {"metadata.name", "metadata.namespace"}
    reqs: list[tuple[str, bool, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise KubeError(400, f"invalid selector: '{text}'; can't understand '{part}'")
        if m[1] not in allowed:
            raise KubeError(400, f"field label not supported: {m[1]}")
        reqs.append(("source.component" if m[1] == "source" else m[1], m[2] != "!=", m[3]))

    def value(obj: Obj, path: str) -> str:
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return "" if node is None else str(node)

    return lambda obj: all((value(obj, path) == want) == eq for path, eq, want in reqs)


def flag(value: str | None) -> bool:
    # Query booleans parse as Go's strconv.ParseBool: the Python client sends `True`.
    return (value or "").lower() in ("1", "t", "true")


def without_hash(template: Obj) -> Obj:
    # The controller compares templates ignoring the hash label it adds (EqualIgnoreHash).
    template = copy.deepcopy(template)
    ((template.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return template


def template_hash(template: Obj) -> str:
    data = json.dumps(without_hash(template), sort_keys=True).encode()
    number = str(int.from_bytes(hashlib.sha256(data).digest()[:4], "big"))
    return "".join(SAFE[ord(ch) % len(SAFE)] for ch in number)


def default_deployment(d: Obj) -> None:
    """Fill in what the API server defaults; tolerate malformed parts, validation reports them."""
    spec = d.get("spec")
    if not isinstance(spec, dict):
        return
    for key, value in DEPLOYMENT_DEFAULTS.items():
        spec.setdefault(key, value)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict) and strategy.setdefault("type", "RollingUpdate") != "Recreate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.setdefault("metadata", {}), dict):
        # A zero metav1.Time: the server stores no time and always writes it back as null, so a
        # template sent without it (the Python client drops nulls) is the same template.
        template["metadata"].setdefault("creationTimestamp", None)
    pod = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(pod, dict):
        return
    for key, value in POD_DEFAULTS.items():
        pod.setdefault(key, copy.deepcopy(value))
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if not isinstance(container, dict):
            continue
        for key, value in CONTAINER_DEFAULTS.items():
            container.setdefault(key, copy.deepcopy(value))
        image = str(container.get("image") or "")
        last = image.rsplit("/", 1)[-1]
        always = (":" not in last and "@" not in image) or last.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if always else "IfNotPresent")
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def replicas_error(replicas: Any) -> list[tuple[str, str, str]]:
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas >= 0:
        return []
    detail = f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0"
    return [("spec.replicas", "FieldValueInvalid", detail)]


def validate_deployment(d: Obj) -> list[tuple[str, str, str]]:
    """(field, cause reason, detail) for each violation apps/v1 validation would report."""
    spec = d["spec"] if isinstance(d.get("spec"), dict) else {}
    errors = replicas_error(spec.get("replicas"))
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec["template"] if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        errors.append(("spec.selector", "FieldValueRequired", "Required value"))
    elif any(labels.get(k) != v for k, v in selector.items()):
        shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in labels.items())
        detail = f"Invalid value: {shown}}}: `selector` does not match template `labels`"
        errors.append(("spec.template.metadata.labels", "FieldValueInvalid", detail))
    containers = (template.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        return [*errors, ("spec.template.spec.containers", "FieldValueRequired", "Required value")]
    names: list[Any] = []
    for i, container in enumerate(c if isinstance(c, dict) else {} for c in containers):
        field, name = f"spec.template.spec.containers[{i}]", container.get("name")
        if not name:
            errors.append((f"{field}.name", "FieldValueRequired", "Required value"))
        elif name in names:
            errors.append((f"{field}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
        names.append(name)
        if not isinstance(container.get("image"), str) or not container["image"].strip():
            errors.append((f"{field}.image", "FieldValueRequired", "Required value"))
    return errors


def revision(obj: Obj) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))


def is_ready(pod: Obj) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def owner_ref(obj: Obj) -> Obj:
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"]}
    return ref | {"uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: Obj, owner: Obj) -> bool:
    refs = obj["metadata"].get("ownerReferences") or []
    return any(ref["uid"] == owner["metadata"]["uid"] for ref in refs)


def set_condition(status: Obj, reason: str, rs_name: str, bump: bool = False) -> None:
    """Set the condition `reason` implies; lastTransitionTime moves only when its status flips,
    lastUpdateTime only on a change or when `bump` (the controller saw progress)."""
    type_, state, text = CONDITIONS[reason]
    conditions: list[Obj] = status.setdefault("conditions", [])
    old = next((c for c in conditions if c["type"] == type_), None)
    if old and (old["status"], old["reason"]) == (state, reason) and not bump:
        return
    stamp = now()
    moved = old["lastTransitionTime"] if old and old["status"] == state else stamp
    new = {"type": type_, "status": state, "lastUpdateTime": stamp, "lastTransitionTime": moved}
    new |= {"reason": reason, "message": text.format(rs=rs_name)}
    conditions[:] = [c for c in conditions if c is not old] + [new]
    conditions.sort(key=lambda c: c["type"] != "Available")  # a stable order for readers


# autoscaling/v2 defaulting (SetDefaults_HorizontalPodAutoscalerBehavior) and metrics.
HPA_BEHAVIOR: Obj = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": []},
    "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": []},
}
HPA_BEHAVIOR["scaleUp"]["policies"] = [{"type": "Pods", "value": 4, "periodSeconds": 15}]
HPA_BEHAVIOR["scaleUp"]["policies"] += [{"type": "Percent", "value": 100, "periodSeconds": 15}]
HPA_BEHAVIOR["scaleDown"]["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]
CPU_METRIC = "cpu resource utilization (percentage of request)"
# The HPA controller's condition reasons -> (type, status, message); {n} a replica count.
HPA_CONDITIONS = {
    "SucceededRescale": (
        "AbleToScale",
        "True",
        "the HPA controller was able to update the target scale to {n}",
    ),
    "ReadyForNewScale": ("AbleToScale", "True", "recommended size matches current size"),
    "ValidMetricFound": (
        "ScalingActive",
        "True",
        f"the HPA was able to successfully calculate a replica count from {CPU_METRIC}",
    ),
    "ScalingDisabled": (
        "ScalingActive",
        "False",
        "scaling is disabled since the replica count of the target is zero",
    ),
    "DesiredWithinRange": (
        "ScalingLimited",
        "False",
        "the desired count is within the acceptable range",
    ),
    "TooFewReplicas": (
        "ScalingLimited",
        "True",
        "the desired replica count is less than the minimum replica count",
    ),
    "TooManyReplicas": (
        "ScalingLimited",
        "True",
        "the desired replica count is more than the maximum replica count",
    ),
}


def set_hpa_condition(status: Obj, reason: str, n: int = 0) -> None:
    """As the HPA controller's setConditionInList: lastTransitionTime moves with the status."""
    type_, state, text = HPA_CONDITIONS[reason]
    conditions: list[Obj] = status.setdefault("conditions", [])
    old = next((c for c in conditions if c["type"] == type_), None)
    new = {"type": type_, "status": state, "lastTransitionTime": now()}
    if old is not None and old["status"] == state:
        new["lastTransitionTime"] = old["lastTransitionTime"]
    new |= {"reason": reason, "message": text.format(n=n)}
    conditions[:] = [new if c is old else c for c in conditions] + ([new] if old is None else [])


def validate_hpa(hpa: Obj) -> list[tuple[str, str, str]]:
    """What autoscaling/v2 validation reports for the fields the bot writes."""
    spec = hpa["spec"] if isinstance(hpa.get("spec"), dict) else {}
    errors: list[tuple[str, str, str]] = []
    low, high, ref = spec.get("minReplicas", 1), spec.get("maxReplicas"), spec.get("scaleTargetRef")
    ref = ref if isinstance(ref, dict) else {}
    for key in ("kind", "name"):
        if not ref.get(key):
            errors.append((f"spec.scaleTargetRef.{key}", "FieldValueRequired", "Required value"))
    if not isinstance(low, int) or isinstance(low, bool) or low < 1:
        detail = f"Invalid value: {json.dumps(low)}: must be greater than or equal to 1"
        errors.append(("spec.minReplicas", "FieldValueInvalid", detail))
    elif not isinstance(high, int) or isinstance(high, bool) or high < 1:
        detail = f"Invalid value: {json.dumps(high)}: must be greater than 0"
        errors.append(("spec.maxReplicas", "FieldValueInvalid", detail))
    elif high < low:
        detail = f"Invalid value: {high}: must be greater than or equal to `minReplicas`"
        errors.append(("spec.maxReplicas", "FieldValueInvalid", detail))
    return errors


def back_off(restarts: int) -> str:
    """The kubelet's crash-loop back-off after `restarts` restarts, as Go prints a duration:
    10s doubling up to 5m0s."""
    seconds = min(10 * 2 ** max(restarts - 1, 0), 300)
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


class FakeKubernetes:
    """The API server plus deployment, ReplicaSet and HPA controllers, on 127.0.0.1 over HTTP."""

    def __init__(
        self,
        *,
        namespace: str = "factsway-prod",
        metrics_server: bool = False,
        role: list[Obj] | None = SHIPPED_ROLE,
    ) -> None:
        self.namespace = namespace
        # The RBAC rules in force; None lets every request through (the fake's own tests).
        self.role = role
        self.metrics_server = metrics_server
        self.token = "test-token"  # the bearer token the server accepts
        self.url = ""
        self.controller_delay = 0.05
        # (method, path with query, parsed JSON body): a dict, or a list for JSON patches.
        self.requests: list[tuple[str, str, Any]] = []
        self._store: dict[str, dict[tuple[str, str], Obj]] = {r: {} for r in RESOURCES}
        self._rv = 1000
        self._random = random.Random(1)  # names, not secrets: stable from run to run
        self._hang = 0.0
        self._stopped = asyncio.Event()
        self._logs: dict[tuple[str, str | None, bool], str] = {}
        # template hash -> (reason, restarts, the container that crashes; None: the first app one)
        self._crashing: dict[str, tuple[str, int, str | None]] = {}
        self._recommend: dict[str, int] = {}  # HPA uid -> the replicas its metrics ask for
        self._usage: dict[str, tuple[str, str]] = {}
        self._progress_at: dict[str, float] = {}  # deployment uid -> monotonic time
        self._ips = itertools.count()
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler in self._routes():
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._task = asyncio.create_task(self._control())

    async def stop(self) -> None:
        self._stopped.set()  # releases hung answers so the runner closes promptly
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # re-raises a controller crash, so the test sees it
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeKubernetes:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def write_kubeconfig(self, path: Path, *, token: str = "test-token") -> Path:
        if not self.url:
            raise RuntimeError("start() the fake before writing a kubeconfig for it")
        context = {"cluster": "fake", "user": "fake-user", "namespace": self.namespace}
        config: Obj = {"apiVersion": "v1", "kind": "Config", "current-context": "fake"}
        config["clusters"] = [{"name": "fake", "cluster": {"server": self.url}}]
        config["users"] = [{"name": "fake-user", "user": {"token": token}}]
        config["contexts"] = [{"name": "fake", "context": context}]
        path.write_text(yaml.safe_dump(config))
        return path

    def hang(self, seconds: float) -> None:
        self._hang = seconds

    # --- seeding and inspection ------------------------------------------------------------------

    def add_deployment(
        self,
        name: str,
        *,
        image: str,
        replicas: int = 2,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
        change_cause: str | None = None,
        containers: int = 1,
        paused: bool = False,
        init_containers: tuple[str, ...] = (),
        sidecars: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """A deployment as if long since rolled out: revision 1, its ReplicaSet, ready pods.
        `init_containers` run to completion first; `sidecars` are native sidecars (init
        containers with restartPolicy: Always), started before the app and kept running."""
        ns, labels = namespace or self.namespace, {"app": name, **(labels or {})}
        pod_containers = [{"name": name, "image": image}]
        for i in range(1, containers):
            pod_containers += [{"name": f"sidecar-{i}", "image": f"registry.local/sidecar-{i}:1"}]
        inits: list[Obj] = [{"name": n, "image": f"registry.local/{n}:1"} for n in init_containers]
        inits += [
            {"name": n, "image": f"registry.local/{n}:1", "restartPolicy": "Always"}
            for n in sidecars
        ]
        pod_spec: Obj = {"containers": pod_containers} | (
            {"initContainers": inits} if inits else {}
        )
        template = {"metadata": {"labels": dict(labels)}, "spec": pod_spec}
        spec = {"replicas": replicas, "selector": {"matchLabels": {"app": labels["app"]}}}
        d: Obj = {"apiVersion": "apps/v1", "kind": "Deployment", "status": {}}
        d["metadata"] = self._meta(ns, name) | {"generation": 1, "labels": labels}
        d["metadata"]["annotations"] = {CHANGE_CAUSE: change_cause} if change_cause else {}
        d["spec"] = spec | {"template": template} | ({"paused": True} if paused else {})
        default_deployment(d)
        if errors := validate_deployment(d):
            raise ValueError(invalid("Deployment.apps", name, errors).message)
        self._store["deployments"][(ns, name)] = d
        rs = self._create_rs(d, [])
        self._scale_rs(d, rs, replicas)
        self._sync_pods(rs)
        self._update_status(d, rs, [rs], None)
        return self.deployment(name, namespace=ns)

    def set_image(self, name: str, image: str, *, change_cause: str | None = None) -> None:
        """Like `kubectl set image`: the first container's image only; the controller rolls it."""
        d = self._get("deployments", self.namespace, name)
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image
        if change_cause:
            d["metadata"]["annotations"][CHANGE_CAUSE] = change_cause
        d["metadata"]["generation"] += 1
        self._touch(d)

    def deployment(self, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        return copy.deepcopy(self._get("deployments", namespace or self.namespace, name))

    def load(self, *objects: Obj) -> None:
        """Objects as a cluster returned them (`kubectl get -o json`, a List or single
        objects), stored as they are; the controllers carry on from there."""
        for obj in objects:
            if str(obj.get("kind", "")).endswith("List"):
                kind = str(obj["kind"]).removesuffix("List")
                self.load(
                    *(
                        {"kind": kind, "apiVersion": obj.get("apiVersion")} | item
                        for item in obj.get("items") or []
                    )
                )
                continue
            resource = KIND_RESOURCE[str(obj["kind"])]
            stored = copy.deepcopy(dict(obj))
            stored["apiVersion"] = (
                stored.get("apiVersion") or RESOURCES[resource][0].split("/", 2)[-1]
            )
            meta = stored["metadata"]
            meta.setdefault("namespace", self.namespace)
            self._store[resource][(meta["namespace"], meta["name"])] = stored
            self._touch(stored)
            if resource == "horizontalpodautoscalers":
                status = stored.get("status") or {}
                wanted = status.get("desiredReplicas") or status.get("currentReplicas") or 1
                self._recommend[meta["uid"]] = int(wanted)

    def add_autoscaler(
        self,
        deployment: str,
        *,
        min_replicas: int = 1,
        max_replicas: int = 10,
        recommends: int | None = None,
        cpu: int = 70,
    ) -> dict[str, Any]:
        """An autoscaling/v2 HPA on the deployment, as `kubectl autoscale` makes one; its
        metrics ask for `recommends` replicas (by default, what the deployment runs now)."""
        d = self._get("deployments", self.namespace, deployment)
        target = {"type": "Utilization", "averageUtilization": cpu}
        hpa: Obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}
        hpa["metadata"] = self._meta(self.namespace, deployment)
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}
        hpa["spec"] = {"scaleTargetRef": ref, "minReplicas": min_replicas}
        hpa["spec"] |= {"maxReplicas": max_replicas, "behavior": copy.deepcopy(HPA_BEHAVIOR)}
        hpa["spec"]["metrics"] = [{"type": "Resource", "resource": {"name": "cpu"}}]
        hpa["spec"]["metrics"][0]["resource"]["target"] = target
        hpa["status"] = {"desiredReplicas": 0}
        if errors := validate_hpa(hpa):
            raise ValueError(
                invalid("HorizontalPodAutoscaler.autoscaling", deployment, errors).message
            )
        self._store["horizontalpodautoscalers"][(self.namespace, deployment)] = hpa
        wanted = d["spec"]["replicas"] if recommends is None else recommends
        self._recommend[hpa["metadata"]["uid"]] = wanted
        self._autoscale(hpa)
        return copy.deepcopy(hpa)

    def recommend(self, autoscaler: str, replicas: int) -> None:
        """What the HPA's metrics now ask for (before its bounds are applied)."""
        hpa = self._get("horizontalpodautoscalers", self.namespace, autoscaler)
        self._recommend[hpa["metadata"]["uid"]] = replicas

    def autoscaler(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._get("horizontalpodautoscalers", self.namespace, name))

    def replicasets(self, deployment: str) -> list[dict[str, Any]]:
        """The deployment's ReplicaSets, oldest revision first."""
        d = self._get("deployments", self.namespace, deployment)
        return copy.deepcopy(sorted(self._owned(d, "replicasets"), key=revision))

    def pods(self, deployment: str) -> list[dict[str, Any]]:
        d = self._get("deployments", self.namespace, deployment)
        return copy.deepcopy([p for rs in self._owned(d, "replicasets") for p in self._owned(rs)])

    def add_event(
        self, involved_kind: str, involved_name: str, reason: str, message: str, *, type_: str = ""
    ) -> None:
        self._event(
            self.namespace, involved_kind, involved_name, reason, message, type_ or "Warning"
        )

    def set_logs(
        self, pod: str, text: str, *, container: str | None = None, previous: str | None = None
    ) -> None:
        """Logs of the running container (None: the pod's first) and of its previous instance."""
        self._logs[(pod, container, False)] = text
        if previous is not None:
            self._logs[(pod, container, True)] = previous

    def set_usage(self, pod: str, *, cpu: str, memory: str) -> None:
        """What metrics-server reports for each container of the pod (default 12m / 130Mi)."""
        self._usage[pod] = (cpu, memory)

    def crash_pods(
        self,
        deployment: str,
        *,
        reason: str = "OOMKilled",
        restarts: int = 3,
        container: str | None = None,
    ) -> None:
        """Pods of the deployment's current template crash-loop: those running now and those
        the controller creates for that template later. Other templates' pods are unaffected.
        `container` names the one that crashes (an init container holds the pod in Pending);
        by default the first app container."""
        d = self._get("deployments", self.namespace, deployment)
        self._crashing[template_hash(d["spec"]["template"])] = (reason, restarts, container)
        for rs in self._owned(d, "replicasets"):
            if rs["metadata"]["labels"][HASH_LABEL] == template_hash(d["spec"]["template"]):
                for pod in self._owned(rs):
                    pod["status"] = self._pod_status(pod)
                    self._touch(pod)

    # --- HTTP plumbing ---------------------------------------------------------------------------

    def _routes(self) -> list[tuple[str, str, Handler]]:
        deployment = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
        routes: list[tuple[str, str, Handler]] = [("GET", "/apis/", self._discovery)]
        routes += [("GET", "/apis", self._discovery)]
        routes += [(m, deployment, self._write_deployment) for m in ("PUT", "PATCH")]
        routes += [(m, f"{deployment}/scale", self._scale) for m in ("GET", "PUT", "PATCH")]
        routes += [("GET", "/api/v1/namespaces/{ns}/pods/{name}/log", self._log)]
        hpa = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}"
        routes += [(m, hpa, self._write_autoscaler) for m in ("PUT", "PATCH")]
        for resource, (prefix, *_) in RESOURCES.items():
            lister, many = self._lister(resource), f"{prefix}/namespaces/{{ns}}/{resource}"
            routes += [("GET", f"{prefix}/{resource}", lister), ("GET", many, lister)]
            routes += [("GET", f"{many}/{{name}}", self._getter(resource))]
        if self.metrics_server:  # without it the group is absent, as on a bare cluster: 404
            metrics = "/apis/metrics.k8s.io/v1beta1"
            routes += [("GET", metrics, self._discovery), ("GET", f"{metrics}/pods", self._metrics)]
            for path in ("/namespaces/{ns}/pods", "/namespaces/{ns}/pods/{name}"):
                routes += [("GET", f"{metrics}{path}", self._metrics)]
        return routes

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw, body = await request.read(), None
        with contextlib.suppress(ValueError):
            body = json.loads(raw) if raw else None
        self.requests.append((request.method, request.path_qs, body))
        if self._hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._hang)
        try:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                raise KubeError(401, "Unauthorized")
            self._authorize(request)
            return await handler(request)
        except KubeError as error:
            return error.response()
        except web.HTTPNotFound:
            return KubeError(404, "the server could not find the requested resource", {}).response()
        except web.HTTPMethodNotAllowed:
            text = "the server does not allow this method on the requested resource"
            return KubeError(405, text, {}).response()

    def _authorize(self, request: web.Request) -> None:
        asked = kube_rbac.attributes(request.method, request.path, dict(request.query))
        if self.role is None or asked is None or kube_rbac.allows(self.role, asked):
            return
        plural, _, _ = asked.resource.partition("/")
        details = {"kind": plural} | ({"group": asked.group} if asked.group else {})
        details |= {"name": asked.name} if asked.name else {}
        raise KubeError(403, kube_rbac.forbidden_message(asked, self.namespace), details)

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        value = request.query.get("dryRun")
        if value not in (None, "All"):
            raise KubeError(400, f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return value == "All"

    @staticmethod
    async def _change(request: web.Request, current: Obj) -> Any:
        """The whole object a PUT body, or a PATCH of `current`, asks for."""
        try:
            body = json.loads(await request.read())
        except ValueError as error:
            raise KubeError(400, f"error decoding request body: {error}") from None
        if request.method == "PUT":
            return body
        if (patcher := PATCHERS.get(request.content_type)) is None:
            accepted = ", ".join(PATCHERS)
            text = "the body of the request was in an unknown format - accepted media types include"
            raise KubeError(415, f"{text}: {accepted}")
        if patcher is not json_patch and not isinstance(body, dict):
            raise KubeError(400, "json: cannot unmarshal array into Go value of type map")
        return patcher(current, body)

    def _get(self, resource: str, ns: str, name: str) -> Obj:
        if (obj := self._store[resource].get((ns, name))) is None:
            raise not_found(resource, name)
        return obj

    def _lister(self, resource: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if flag(request.query.get("watch")):
                raise KubeError(400, "this fake Kubernetes API does not serve watches")
            labels = label_selector(request.query.get("labelSelector", ""))
            fields = field_selector(resource, request.query.get("fieldSelector", ""))
            ns, items = request.match_info.get("ns"), []
            for (obj_ns, _), obj in sorted(self._store[resource].items()):
                if ns in (None, obj_ns) and labels(obj["metadata"].get("labels") or {}):
                    # List items come without kind and apiVersion, as the server sends them.
                    items += [{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}]
            items = [item for item in items if fields(item)]
            api_version = RESOURCES[resource][0].removeprefix("/api/").removeprefix("/apis/")
            body: Obj = {"kind": f"{RESOURCES[resource][1]}List", "apiVersion": api_version}
            body["metadata"] = {"resourceVersion": str(self._rv)}
            return web.json_response(body | {"items": items})

        return handler

    def _getter(self, resource: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            info = request.match_info
            return web.json_response(self._get(resource, info["ns"], info["name"]))

        return handler

    # --- handlers ------------------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        if request.path.rstrip("/") == "/apis":
            groups = [("apps", ("v1",)), ("autoscaling", ("v2", "v1"))]
            groups += [("metrics.k8s.io", ("v1beta1",))] if self.metrics_server else []
            listed = []
            for name, versions in groups:
                gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
                listed.append({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": listed})
        kinds = (("nodes", False, "NodeMetrics"), ("pods", True, "PodMetrics"))
        verbs = ["get", "list"]
        resources = [{"name": n, "namespaced": ns, "kind": k, "verbs": verbs} for n, ns, k in kinds]
        body = {"kind": "APIResourceList", "apiVersion": "v1"}
        return web.json_response(
            body | {"groupVersion": "metrics.k8s.io/v1beta1", "resources": resources}
        )

    async def _write_deployment(self, request: web.Request) -> web.Response:
        current = self._get("deployments", request.match_info["ns"], request.match_info["name"])
        dry = self._dry_run(request)
        new = await self._change(request, current)
        return web.json_response(self._update_deployment(current, new, dry))

    async def _write_autoscaler(self, request: web.Request) -> web.Response:
        """PUT or PATCH of an HPA: validated, status kept (an HPA has no metadata.generation)."""
        ns, name = request.match_info["ns"], request.match_info["name"]
        current = self._get("horizontalpodautoscalers", ns, name)
        dry = self._dry_run(request)
        new = await self._change(request, current)
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise KubeError(400, "the request body is not a HorizontalPodAutoscaler object")
        meta, cur = new.setdefault("metadata", {}), current["metadata"]
        if meta.get("resourceVersion") not in (None, "", cur["resourceVersion"]):
            text = (
                f'Operation cannot be fulfilled on horizontalpodautoscalers.autoscaling "{name}":'
            )
            text += " the object has been modified; please apply your changes to the latest"
            text += " version and try again"
            details = {"name": name, "group": "autoscaling", "kind": "horizontalpodautoscalers"}
            raise KubeError(409, text, details)
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            meta[key] = cur[key]
        meta["resourceVersion"] = cur["resourceVersion"]
        new |= {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}
        new["status"] = copy.deepcopy(current["status"])
        if isinstance(new.get("spec"), dict):
            new["spec"].setdefault("minReplicas", 1)
        if errors := validate_hpa(new):
            raise invalid("HorizontalPodAutoscaler.autoscaling", name, errors)
        if dry:
            return web.json_response(new)
        self._store["horizontalpodautoscalers"][(ns, name)] = new
        self._touch(new)
        return web.json_response(new)

    def _update_deployment(self, current: Obj, new: Any, dry: bool) -> Obj:
        """Validate and store a whole new Deployment; generation moves only with the spec, and
        status cannot be written through the main resource."""
        cur = current["metadata"]
        if not isinstance(new, dict) or not isinstance(new.setdefault("metadata", {}), dict):
            raise KubeError(400, "the request body is not a Deployment object")
        meta, name = new["metadata"], cur["name"]
        if meta.get("name", name) != name:
            text = f"the name of the object ({meta['name']}) does not match the name on the URL"
            raise KubeError(400, f"{text} ({name})")
        if meta.get("resourceVersion") not in (None, "", cur["resourceVersion"]):
            text = f'Operation cannot be fulfilled on deployments.apps "{name}": the object has'
            text += " been modified; please apply your changes to the latest version and try again"
            raise KubeError(409, text, {"name": name, "group": "apps", "kind": "deployments"})
        for key in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            meta[key] = cur[key]
        meta["resourceVersion"] = cur["resourceVersion"]
        new |= {"apiVersion": "apps/v1", "kind": "Deployment"}
        new["status"] = copy.deepcopy(current["status"])
        default_deployment(new)
        errors = validate_deployment(new)
        if not errors and new["spec"]["selector"] != current["spec"]["selector"]:
            detail = f"Invalid value: {json.dumps(new['spec']['selector'])}: field is immutable"
            errors.append(("spec.selector", "FieldValueInvalid", detail))
        if errors:
            raise invalid("Deployment.apps", name, errors)
        if new["spec"] != current["spec"]:
            meta["generation"] = cur["generation"] + 1
        if dry:  # what would be stored, generation included; the stored object is untouched
            return new
        self._store["deployments"][(cur["namespace"], name)] = new
        self._touch(new)
        return copy.deepcopy(new)

    async def _scale(self, request: web.Request) -> web.Response:
        d = self._get("deployments", request.match_info["ns"], request.match_info["name"])
        if request.method == "GET":
            return web.json_response(self._scale_of(d))
        dry = self._dry_run(request)
        new = await self._change(request, self._scale_of(d))
        spec, meta = (new.get("spec"), new.get("metadata")) if isinstance(new, dict) else ({}, {})
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if errors := replicas_error(replicas):
            raise invalid("Scale.autoscaling", d["metadata"]["name"], errors)
        wanted = copy.deepcopy(d)
        wanted["spec"]["replicas"] = replicas
        wanted["metadata"]["resourceVersion"] = (meta or {}).get("resourceVersion")
        return web.json_response(self._scale_of(self._update_deployment(d, wanted, dry)))

    @staticmethod
    def _scale_of(d: Obj) -> Obj:
        keys = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        match_labels = sorted(d["spec"]["selector"]["matchLabels"].items())
        status = {"replicas": d["status"].get("replicas", 0)}  # not omitted when 0 in Scale
        status["selector"] = ",".join(f"{k}={v}" for k, v in match_labels)
        scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "status": status}
        scale["metadata"] = {k: d["metadata"][k] for k in keys}
        return scale | {"spec": {"replicas": d["spec"]["replicas"]}}

    async def _log(self, request: web.Request) -> web.Response:
        name, query = request.match_info["name"], request.query
        pod = self._get("pods", request.match_info["ns"], name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
        if (container := query.get("container")) is None and len(names) > 1:
            text = f"a container name must be specified for pod {name}, choose one of"
            text += f": [{' '.join(names)}]"
            raise KubeError(
                400,
                text + (f" or one of the init containers: [{' '.join(inits)}]" if inits else ""),
            )
        if (container := container or names[0]) not in names + inits:
            raise KubeError(400, f"container {container} is not valid for pod {name}")
        previous = flag(query.get("previous"))
        keys = [(name, container, previous)] + [(name, None, previous)] * (container == names[0])
        logs = next((self._logs[k] for k in keys if k in self._logs), None)
        statuses = pod["status"]["containerStatuses"] + pod["status"].get(
            "initContainerStatuses", []
        )
        restarted = any(s["name"] == container and s["lastState"] for s in statuses)
        if logs is None and previous and not restarted:
            # A restarted container has a previous instance even when no logs were set for it.
            text = f'previous terminated container "{container}" in pod "{name}" not found'
            raise KubeError(400, text)
        lines = (logs or "").splitlines(keepends=True)
        if "tailLines" in query:
            lines = lines[len(lines) - min(int(query["tailLines"]), len(lines)) :]
        return web.Response(text="".join(lines), content_type="text/plain")

    async def _metrics(self, request: web.Request) -> web.Response:
        ns, name = request.match_info.get("ns"), request.match_info.get("name")
        labels = label_selector(request.query.get("labelSelector", ""))
        items: list[Obj] = []
        for (pod_ns, pod_name), pod in sorted(self._store["pods"].items()):
            if ns not in (None, pod_ns) or name not in (None, pod_name):
                continue
            if labels(pod["metadata"]["labels"]):
                cpu, memory = self._usage.get(pod_name, ("12m", "130Mi"))
                usage = {"cpu": cpu, "memory": memory}
                containers = [
                    {"name": c["name"], "usage": usage} for c in pod["spec"]["containers"]
                ]
                meta: Obj = {"name": pod_name, "namespace": pod_ns, "creationTimestamp": now()}
                meta["labels"] = pod["metadata"]["labels"]
                items.append({"metadata": meta, "timestamp": now(), "window": "15.015s"})
                items[-1]["containers"] = containers
        kind = {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics"}
        if name is not None and not items:
            raise KubeError(404, f'podmetrics.metrics.k8s.io "{name}" not found')
        if name is not None:
            return web.json_response(kind | items[0])
        return web.json_response(kind | {"kind": "PodMetricsList", "metadata": {}, "items": items})

    # --- the controllers -------------------------------------------------------------------------

    async def _control(self) -> None:
        while True:
            for hpa in list(self._store["horizontalpodautoscalers"].values()):
                self._autoscale(hpa)
            for d in list(self._store["deployments"].values()):
                self._reconcile(d)
            await asyncio.sleep(self.controller_delay)

    def _autoscale(self, hpa: Obj) -> None:
        """One pass of the HPA controller (reconcileAutoscaler; every 15 s on a cluster): a
        target outside the bounds is moved to the nearest one, otherwise to what the metrics
        ask for within them. A Deployment scaled by hand is scaled back on the next pass."""
        ns, spec = hpa["metadata"]["namespace"], hpa["spec"]
        d = self._store["deployments"].get((ns, spec["scaleTargetRef"].get("name", "")))
        if d is None or spec["scaleTargetRef"].get("kind") != "Deployment":
            return
        status, low, high = (
            copy.deepcopy(hpa["status"]),
            spec.get("minReplicas", 1),
            spec["maxReplicas"],
        )
        current = d["spec"]["replicas"]
        wanted = self._recommend.get(hpa["metadata"]["uid"], current)
        if current == 0:
            desired, why = 0, ""
            set_hpa_condition(status, "ScalingDisabled")
        elif current > high:
            desired, why = high, "Current number of replicas above Spec.MaxReplicas"
        elif current < low:
            desired, why = low, "Current number of replicas below Spec.MinReplicas"
        else:
            desired = min(max(wanted, low), high)
            why = f"{CPU_METRIC} {'above' if desired > current else 'below'} target"
            set_hpa_condition(status, "ValidMetricFound")
            limit = "TooFewReplicas" if wanted < low else "TooManyReplicas" if wanted > high else ""
            set_hpa_condition(status, limit or "DesiredWithinRange")
        usage = {"averageUtilization": 12, "averageValue": "6m"}
        status["currentMetrics"] = [
            {"type": "Resource", "resource": {"name": "cpu", "current": usage}}
        ]
        status |= {"currentReplicas": d["status"].get("replicas", 0), "desiredReplicas": desired}
        if desired != current:
            wanted_d = copy.deepcopy(d)
            wanted_d["spec"]["replicas"] = desired
            self._update_deployment(d, wanted_d, False)
            status["lastScaleTime"] = now()
            set_hpa_condition(status, "SucceededRescale", desired)
            text = f"New size: {desired}; reason: {why}"
            self._event(
                ns,
                "HorizontalPodAutoscaler",
                hpa["metadata"]["name"],
                "SuccessfulRescale",
                text,
                "Normal",
            )
        elif current:
            set_hpa_condition(status, "ReadyForNewScale")
        order = {"AbleToScale": 0, "ScalingActive": 1, "ScalingLimited": 2}
        status["conditions"].sort(key=lambda c: order.get(c["type"], 3))
        if status != hpa["status"]:
            hpa["status"] = status
            self._touch(hpa)

    def _reconcile(self, d: Obj) -> None:
        """One step of the deployment controller: scales at most one pod up or down."""
        owned, template = self._owned(d, "replicasets"), without_hash(d["spec"]["template"])
        matching = [rs for rs in owned if without_hash(rs["spec"]["template"]) == template]
        new_rs = matching[0] if matching else None
        note = None
        if d["spec"].get("paused"):  # no rollout; scaling still reaches the current ReplicaSet
            target = new_rs or max(owned, key=revision, default=None)
            if target is not None and (have := target["spec"]["replicas"]) != d["spec"]["replicas"]:
                self._scale_rs(d, target, have + (1 if have < d["spec"]["replicas"] else -1))
        else:
            if new_rs is None:
                new_rs, note = self._create_rs(d, owned), "NewReplicaSetCreated"
                owned.append(new_rs)
            elif self._adopt(d, new_rs, owned) and not any(
                c["type"] == "Progressing" for c in d["status"].get("conditions") or []
            ):
                # getNewReplicaSet notes an adopted ReplicaSet only when no Progressing condition
                # exists yet; otherwise the rollout's progress moves the condition to it.
                note = "FoundNewReplicaSet"
            self._roll(d, new_rs, [rs for rs in owned if rs is not new_rs])
        for rs in owned:
            self._sync_pods(rs)
        self._update_status(d, new_rs, owned, note)

    def _create_rs(self, d: Obj, owned: list[Obj]) -> Obj:
        pod_hash = template_hash(d["spec"]["template"])
        rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "status": {"replicas": 0}}
        rs["spec"] = {"replicas": 0, "template": copy.deepcopy(d["spec"]["template"])}
        rs["spec"]["template"]["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        rs["spec"]["selector"] = copy.deepcopy(d["spec"]["selector"])
        rs["spec"]["selector"]["matchLabels"][HASH_LABEL] = pod_hash
        ns, name = d["metadata"]["namespace"], f"{d['metadata']['name']}-{pod_hash}"
        rs["metadata"] = self._meta(ns, name) | {"generation": 1, "ownerReferences": [owner_ref(d)]}
        rs["metadata"]["labels"] = dict(rs["spec"]["template"]["metadata"]["labels"])
        rs["metadata"]["annotations"] = {REVISION: str(max(map(revision, owned), default=0) + 1)}
        self._copy_annotations(d, rs)
        self._store["replicasets"][(ns, name)] = rs
        return rs

    def _copy_annotations(self, d: Obj, rs: Obj) -> None:
        # Done on every sync, so a change-cause annotated after the fact reaches the current RS.
        annotations = rs["metadata"]["annotations"]
        for key, value in d["metadata"]["annotations"].items():
            if key not in NOT_COPIED and annotations.get(key) != value:
                annotations[key] = value
                self._touch(rs)

    def _adopt(self, d: Obj, rs: Obj, owned: list[Obj]) -> bool:
        """An old ReplicaSet matching the template again (a rollback) becomes the newest revision,
        its old number kept in revision-history: no new ReplicaSet is created."""
        self._copy_annotations(d, rs)
        newest = max((revision(o) for o in owned if o is not rs), default=0) + 1
        if (old := revision(rs)) >= newest:
            return False
        history = rs["metadata"]["annotations"].get(HISTORY)
        rs["metadata"]["annotations"][HISTORY] = f"{history},{old}" if history else str(old)
        rs["metadata"]["annotations"][REVISION] = str(newest)
        self._touch(rs)
        return True

    @staticmethod
    def _limits(d: Obj) -> tuple[int, int]:
        """(maxSurge, maxUnavailable): a percentage of replicas is rounded up for surge, down
        for unavailable, as the controller does."""
        rolling, desired = d["spec"]["strategy"].get("rollingUpdate") or {}, d["spec"]["replicas"]
        limits = []
        for key, rounding in (("maxSurge", math.ceil), ("maxUnavailable", math.floor)):
            value = rolling.get(key, "25%")
            is_percent = isinstance(value, str) and value.endswith("%")
            limits.append(rounding(int(value[:-1]) * desired / 100) if is_percent else int(value))
        return limits[0], max(limits[1], 1 if limits[0] == 0 else 0)  # a rollout must move

    def _roll(self, d: Obj, new_rs: Obj, old: list[Obj]) -> None:
        """RollingUpdate: surge the new RS within maxSurge; retire old pods only while
        availability stays at desired - maxUnavailable (unready old pods may always go)."""
        desired, (surge, unavailable) = d["spec"]["replicas"], self._limits(d)
        counts = {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge)}
        if any(new_rs["metadata"]["annotations"].get(k) != v for k, v in counts.items()):
            new_rs["metadata"]["annotations"] |= counts
            self._touch(new_rs)
        have = new_rs["spec"]["replicas"]
        total = have + sum(rs["spec"]["replicas"] for rs in old)
        if have > desired or (have < desired and total < desired + surge):
            self._scale_rs(d, new_rs, have + (1 if have < desired else -1))
            return
        available = sum(is_ready(p) for rs in [new_rs, *old] for p in self._owned(rs))
        for rs in sorted((rs for rs in old if rs["spec"]["replicas"] > 0), key=revision):
            if not all(map(is_ready, self._owned(rs))) or available - 1 >= desired - unavailable:
                self._scale_rs(d, rs, rs["spec"]["replicas"] - 1)
                return

    def _scale_rs(self, d: Obj, rs: Obj, replicas: int) -> None:
        before, rs["spec"]["replicas"] = rs["spec"]["replicas"], replicas
        rs["metadata"]["generation"] += 1
        self._touch(rs)
        verb = "up" if replicas > before else "down"
        text = f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {replicas}"
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        self._event(ns, "Deployment", name, "ScalingReplicaSet", text, "Normal")

    def _sync_pods(self, rs: Obj) -> None:
        """The ReplicaSet controller: pods follow spec.replicas, unready ones deleted first."""
        ns, name, pods = rs["metadata"]["namespace"], rs["metadata"]["name"], self._owned(rs)
        for _ in range(rs["spec"]["replicas"] - len(pods)):
            text = f"Created pod: {self._create_pod(rs)}"
            self._event(ns, "ReplicaSet", name, "SuccessfulCreate", text, "Normal")
        for pod in sorted(pods, key=is_ready)[: max(len(pods) - rs["spec"]["replicas"], 0)]:
            del self._store["pods"][(ns, pod["metadata"]["name"])]
            text = f"Deleted pod: {pod['metadata']['name']}"
            self._event(ns, "ReplicaSet", name, "SuccessfulDelete", text, "Normal")
        pods = self._owned(rs)
        ready = sum(map(is_ready, pods))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready}
        status |= {"availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]}
        status = {k: v for k, v in status.items() if v or k == "replicas"}  # omitempty, as served
        if status != rs["status"]:
            rs["status"] = status
            self._touch(rs)

    def _create_pod(self, rs: Obj) -> str:
        ns, rs_name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        name = f"{rs_name}-{''.join(self._random.choice(SAFE) for _ in range(5))}"
        template = copy.deepcopy(rs["spec"]["template"])
        spec = template["spec"] | {"nodeName": "node-1", "serviceAccountName": "default"}
        pod: Obj = {"apiVersion": "v1", "kind": "Pod", "spec": spec}
        pod["metadata"] = self._meta(ns, name)
        meta = {k: v for k, v in template["metadata"].items() if k != "creationTimestamp"}
        pod["metadata"] |= meta | {"generateName": f"{rs_name}-"}
        pod["metadata"]["ownerReferences"] = [owner_ref(rs)]
        n = next(self._ips)
        pod["status"] = {"podIP": f"10.244.{n // 250}.{n % 250 + 2}"}
        pod["status"] = self._pod_status(pod)
        self._store["pods"][(ns, name)] = pod
        return name

    def _pod_status(self, pod: Obj) -> Obj:
        """As the kubelet reports a started pod: init containers completed (ready, not started),
        native sidecars (restartPolicy: Always) and app containers running and ready. In a
        template crash_pods marked, one container crash-loops: an app container leaves the pod
        Running but unready; an init container holds it in Pending, the containers after it
        waiting in PodInitializing and the Initialized condition False."""
        meta, started = pod["metadata"], pod["metadata"]["creationTimestamp"]
        crash = self._crashing.get(meta["labels"].get(HASH_LABEL, ""))
        inits, apps = pod["spec"].get("initContainers") or [], pod["spec"]["containers"]
        crashing = (crash[2] or apps[0]["name"]) if crash else None
        where = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
        blocked = False  # an init container has not completed (or, a sidecar, not started)
        init_statuses: list[Obj] = []
        statuses: list[Obj] = []
        for index, c in enumerate([*inits, *apps]):
            is_init = index < len(inits)
            sidecar = is_init and c.get("restartPolicy") == "Always"
            cid = hashlib.sha256(f"{meta['uid']}/{c['name']}".encode()).hexdigest()
            digest = hashlib.sha256(c["image"].encode()).hexdigest()
            status: Obj = {"name": c["name"], "image": c["image"], "restartCount": 0}
            if blocked:  # never started: no container ID, no image ID yet
                status |= {"imageID": "", "ready": False, "started": False, "lastState": {}}
                status["state"] = {"waiting": {"reason": "PodInitializing"}}
            elif c["name"] == crashing and crash is not None:
                reason, restarts = crash[0], crash[1]
                text = f"back-off {back_off(restarts)} restarting failed container={c['name']}"
                waiting = {"reason": "CrashLoopBackOff", "message": f"{text} pod={where}"}
                ended = {"exitCode": EXIT_CODES.get(reason, 1), "reason": reason}
                ended |= {"startedAt": started, "finishedAt": now()}
                ended["containerID"] = f"containerd://{cid}"
                status |= {"containerID": f"containerd://{cid}", "ready": False, "started": False}
                status |= {"imageID": f"{c['image'].split(':')[0]}@sha256:{digest}"}
                status |= {"restartCount": restarts, "state": {"waiting": waiting}}
                status["lastState"] = {"terminated": ended}
                text = f"Back-off restarting failed container {c['name']} in pod {where}"
                for _ in range(max(restarts, 1)):  # the kubelet reports each back-off
                    self._event(meta["namespace"], "Pod", meta["name"], "BackOff", text)
                blocked = blocked or is_init
            else:
                status |= {"containerID": f"containerd://{cid}", "lastState": {}}
                status |= {"imageID": f"{c['image'].split(':')[0]}@sha256:{digest}"}
                if is_init and not sidecar:  # ran to completion
                    done = {"exitCode": 0, "reason": "Completed", "startedAt": started}
                    done |= {"finishedAt": started, "containerID": f"containerd://{cid}"}
                    status |= {"ready": True, "started": False, "state": {"terminated": done}}
                else:
                    status |= {"ready": True, "started": True}
                    status["state"] = {"running": {"startedAt": started}}
            (init_statuses if is_init else statuses).append(status)
        sidecars = {c["name"] for c in inits if c.get("restartPolicy") == "Always"}
        serving = [s for s in init_statuses if s["name"] in sidecars] + statuses
        unready = [s["name"] for s in serving if not s["ready"]]
        incomplete = [s["name"] for s in init_statuses if not (s["ready"] or s["started"])]
        conditions = []
        for type_ in (*POD_CONDITIONS, "PodScheduled"):
            cond: Obj = {"type": type_, "status": "True", "lastProbeTime": None}
            cond["lastTransitionTime"] = started
            if type_ == "Initialized" and incomplete:
                cond["reason"] = "ContainersNotInitialized"
                cond["message"] = f"containers with incomplete status: [{' '.join(incomplete)}]"
            elif type_ in ("Ready", "ContainersReady") and unready:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{' '.join(unready)}]"
            cond["status"] = str("reason" not in cond)
            conditions.append(cond)
        ip = pod["status"]["podIP"]
        every = [*inits, *apps]
        qos = "Burstable" if any(c.get("resources") for c in every) else ""
        phase = "Pending" if incomplete else "Running"
        result = {"phase": phase, "conditions": conditions, "hostIP": "10.0.0.10", "podIP": ip}
        result |= {"hostIPs": [{"ip": "10.0.0.10"}], "podIPs": [{"ip": ip}], "startTime": started}
        if init_statuses:
            result["initContainerStatuses"] = init_statuses
        result["containerStatuses"] = statuses
        return result | {"qosClass": qos or "BestEffort"}

    def _update_status(
        self, d: Obj, new_rs: Obj | None, owned: list[Obj], note: str | None
    ) -> None:
        """Deployment status from its ReplicaSets, plus the Available and Progressing conditions."""
        spec, old, uid = d["spec"], d["status"], d["metadata"]["uid"]
        annotations = d["metadata"]["annotations"]  # the Deployment shows its current revision
        if new_rs is not None and annotations.get(REVISION) != str(revision(new_rs)):
            annotations[REVISION] = str(revision(new_rs))
            self._touch(d)
        counts: dict[str, int] = {"observedGeneration": d["metadata"]["generation"]}
        counts["replicas"] = sum(rs["status"]["replicas"] for rs in owned)
        counts["updatedReplicas"] = new_rs["status"]["replicas"] if new_rs else 0
        for key in ("readyReplicas", "availableReplicas"):
            counts[key] = sum(rs["status"].get(key, 0) for rs in owned)
        available, wanted = counts["availableReplicas"], sum(rs["spec"]["replicas"] for rs in owned)
        counts["unavailableReplicas"] = max(wanted - available, 0)
        status: Obj = {k: v for k, v in counts.items() if v}  # zero counts omitted, as served
        status["conditions"] = copy.deepcopy(old.get("conditions", []))
        rs_name = new_rs["metadata"]["name"] if new_rs else d["metadata"]["name"]
        minimum = available >= spec["replicas"] - self._limits(d)[1]
        set_condition(
            status, "MinimumReplicas" + ("Available" if minimum else "Unavailable"), rs_name
        )
        # Progress, as the controller counts it: more updated/ready/available pods, fewer old ones.
        grown = ("updatedReplicas", "readyReplicas", "availableReplicas")
        progressed = note is not None or uid not in self._progress_at
        progressed |= any(status.get(k, 0) > old.get(k, 0) for k in grown)
        outdated = old.get("replicas", 0) - old.get("updatedReplicas", 0)
        progressed |= counts["replicas"] - counts["updatedReplicas"] < outdated
        if progressed:
            self._progress_at[uid] = time.monotonic()
        current = [c["reason"] for c in status["conditions"] if c["type"] == "Progressing"]
        stalled = time.monotonic() - self._progress_at[uid] > spec["progressDeadlineSeconds"]
        complete = counts["updatedReplicas"] == counts["replicas"] == available == spec["replicas"]
        reason = (
            "DeploymentPaused"
            if spec.get("paused")
            else "DeploymentResumed"
            if current == ["DeploymentPaused"]
            else "NewReplicaSetAvailable"
            if complete
            else note
            or ("ReplicaSetUpdated" if progressed else None)
            or ("ProgressDeadlineExceeded" if stalled else None)
        )
        if reason is not None:
            set_condition(status, reason, rs_name, bump=reason in (note, "ReplicaSetUpdated"))
        if status != old:
            d["status"] = status
            self._touch(d)

    # --- store helpers ---------------------------------------------------------------------------

    def _meta(self, ns: str, name: str) -> Obj:
        uid = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        meta = {"name": name, "namespace": ns, "uid": uid, "creationTimestamp": now()}
        self._rv += 1
        return meta | {"resourceVersion": str(self._rv)}

    def _touch(self, obj: Obj) -> None:
        # One counter for every object, as etcd's revision: each write gets a newer version.
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _owned(self, owner: Obj, resource: str = "pods") -> list[Obj]:
        return [obj for obj in self._store[resource].values() if owned_by(obj, owner)]

    def _event(
        self, ns: str, kind: str, name: str, reason: str, message: str, type_: str = "Warning"
    ) -> None:
        """Record an event; a repeat of the same one bumps its count, as the event recorder does."""
        for seen in self._store["events"].values():
            ref, same = seen["involvedObject"], (ns, kind, name, reason, message, type_)
            mine = (ref["namespace"], ref["kind"], ref["name"], seen["reason"], seen["message"])
            if (*mine, seen["type"]) == same:
                seen["count"] += 1
                seen["lastTimestamp"] = now()
                self._touch(seen)
                return
        involved: Obj = {"kind": kind, "namespace": ns, "name": name}
        if (target := self._store.get(KIND_RESOURCE.get(kind, ""), {}).get((ns, name))) is not None:
            involved |= {"uid": target["metadata"]["uid"], "apiVersion": target["apiVersion"]}
        component = COMPONENTS.get(kind, f"{kind.lower()}-controller")
        stamp, key = time.time_ns(), f"{name}.{time.time_ns():x}"
        while (ns, key) in self._store["events"]:  # names are <object>.<nanoseconds in hex>
            stamp += 1
            key = f"{name}.{stamp:x}"
        event: Obj = {"apiVersion": "v1", "kind": "Event", "type": type_}
        event["metadata"] = self._meta(ns, key)
        event |= {"involvedObject": involved, "reason": reason, "message": message, "count": 1}
        event |= {"source": {"component": component}, "firstTimestamp": now()}
        event |= {"lastTimestamp": now(), "eventTime": None, "reportingComponent": component}
        event["reportingInstance"] = ""
        self._store["events"][(ns, key)] = event


async def rolled_out(kube: FakeKubernetes, name: str, timeout: float = 15) -> None:
    """Until the controller has finished rolling the deployment out, as `kubectl rollout status`
    would say."""
    async with asyncio.timeout(timeout):
        while True:
            d = kube.deployment(name)
            s, spec = d.get("status") or {}, d["spec"]
            if (
                s.get("observedGeneration") == d["metadata"]["generation"]
                and s.get("updatedReplicas") == spec["replicas"]
                and s.get("availableReplicas") == spec["replicas"]
                and s.get("replicas") == spec["replicas"]
            ):
                return
            await asyncio.sleep(0.05)
