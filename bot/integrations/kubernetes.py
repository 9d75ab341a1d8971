"""The Kubernetes API through kubernetes-asyncio: reads for playbooks, patches for actions.

Objects come back as plain dicts (the API's own JSON shape), so the rollout rules in the
domain can read them without knowing the client library.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

REQUEST_TIMEOUT = 15
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/strategic-merge-patch+json"

Obj = dict[str, Any]


class KubernetesError(Exception):
    """A call failed; the message says why, in the API's words."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _error(exc: ApiException) -> KubernetesError:
    reason = exc.reason or ""
    try:
        body = json.loads(exc.body or "{}")
        reason = body.get("message") or reason
    except (TypeError, ValueError):
        pass
    return KubernetesError(f"Kubernetes answered {exc.status}: {reason}", exc.status or 0)


class Kubernetes:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)
        self._autoscaling = client.AutoscalingV2Api(api)
        self._custom = client.CustomObjectsApi(api)

    @classmethod
    async def connect(cls, kubeconfig: str | None) -> Kubernetes:
        """From a kubeconfig file, or the pod's service account when running in the cluster."""
        configuration = client.Configuration()
        if kubeconfig:
            await config.load_kube_config(
                config_file=kubeconfig, client_configuration=configuration
            )
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self._api.close()

    def _plain(self, obj: Any) -> Any:
        return self._api.sanitize_for_serialization(obj)

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except ApiException as exc:
            raise _error(exc) from exc
        except TimeoutError as exc:
            raise KubernetesError(
                f"the Kubernetes API did not answer within {REQUEST_TIMEOUT} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise KubernetesError(f"cannot reach the Kubernetes API: {type(exc).__name__}") from exc

    async def deployment(self, namespace: str, name: str) -> Obj:
        found = await self._call(
            self._apps.read_namespaced_deployment(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        )
        result: Obj = self._plain(found)
        return result

    async def replicasets(self, namespace: str, deployment: Obj) -> list[Obj]:
        """The ReplicaSets this deployment owns (by owner reference, as kubectl decides)."""
        labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        found = await self._call(
            self._apps.list_namespaced_replica_set(
                namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
            )
        )
        uid = deployment.get("metadata", {}).get("uid")
        items: list[Obj] = self._plain(found).get("items", [])
        return [
            rs
            for rs in items
            if any(
                ref.get("uid") == uid and ref.get("controller")
                for ref in rs.get("metadata", {}).get("ownerReferences") or []
            )
        ]

    async def pods(self, namespace: str, selector: str) -> list[Obj]:
        found = await self._call(
            self._core.list_namespaced_pod(
                namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
            )
        )
        items: list[Obj] = self._plain(found).get("items", [])
        return items

    async def autoscaler_for(self, namespace: str, deployment: str) -> Obj | None:
        """The autoscaling/v2 HorizontalPodAutoscaler whose scaleTargetRef is this Deployment
        (the HPA controller then owns its replica count), or None."""
        found = await self._call(
            self._autoscaling.list_namespaced_horizontal_pod_autoscaler(
                namespace, _request_timeout=REQUEST_TIMEOUT
            )
        )
        items: list[Obj] = self._plain(found).get("items", [])
        for hpa in items:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            group = str(ref.get("apiVersion") or "").split("/")[0]
            if (
                ref.get("kind") == "Deployment"
                and ref.get("name") == deployment
                and group
                in (
                    "apps",
                    "extensions",
                )
            ):
                return hpa
        return None

    async def patch_autoscaler(
        self, namespace: str, name: str, patch: Obj, *, dry_run: bool
    ) -> Obj:
        """A JSON merge patch of an HPA (its minReplicas and maxReplicas)."""
        kwargs: dict[str, Any] = {
            "_content_type": "application/merge-patch+json",
            "_request_timeout": REQUEST_TIMEOUT,
        }
        if dry_run:
            kwargs["dry_run"] = "All"
        found = await self._call(
            self._autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                name, namespace, patch, **kwargs
            )
        )
        result: Obj = self._plain(found)
        return result

    async def pod_logs(
        self, namespace: str, pod: str, *, tail: int, container: str | None, previous: bool
    ) -> str:
        kwargs: dict[str, Any] = {
            "tail_lines": tail,
            "previous": previous,
            "_request_timeout": REQUEST_TIMEOUT,
            # Raw text: with preloading the client json-decodes a log that is one JSON line.
            "_preload_content": False,
        }
        if container:
            kwargs["container"] = container
        response = await self._call(self._core.read_namespaced_pod_log(pod, namespace, **kwargs))
        try:
            return str(await response.text())
        finally:
            response.release()

    async def events(self, namespace: str, names: list[str]) -> list[Obj]:
        events: list[Obj] = []
        for name in names:
            found = await self._call(
                self._core.list_namespaced_event(
                    namespace,
                    field_selector=f"involvedObject.name={name}",
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
            events.extend(self._plain(found).get("items", []))
        return events

    async def pod_metrics(self, namespace: str) -> list[Obj] | None:
        """None when the cluster has no metrics-server (metrics.k8s.io is not served)."""
        try:
            found = await self._custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods", _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc) from exc
        items: list[Obj] = found.get("items", [])
        return items

    async def patch_deployment(
        self, namespace: str, name: str, ops: list[Obj], *, dry_run: bool
    ) -> Obj:
        """An RFC 6902 JSON patch, as `kubectl rollout undo` sends it."""
        kwargs: dict[str, Any] = {"_content_type": JSON_PATCH, "_request_timeout": REQUEST_TIMEOUT}
        if dry_run:
            kwargs["dry_run"] = "All"
        found = await self._call(
            self._apps.patch_namespaced_deployment(name, namespace, ops, **kwargs)
        )
        result: Obj = self._plain(found)
        return result

    async def merge_patch_deployment(
        self, namespace: str, name: str, patch: Obj, *, dry_run: bool
    ) -> Obj:
        kwargs: dict[str, Any] = {"_content_type": MERGE_PATCH, "_request_timeout": REQUEST_TIMEOUT}
        if dry_run:
            kwargs["dry_run"] = "All"
        found = await self._call(
            self._apps.patch_namespaced_deployment(name, namespace, patch, **kwargs)
        )
        result: Obj = self._plain(found)
        return result

    async def scale(self, namespace: str, name: str, replicas: int, *, dry_run: bool) -> Obj:
        kwargs: dict[str, Any] = {"_content_type": MERGE_PATCH, "_request_timeout": REQUEST_TIMEOUT}
        if dry_run:
            kwargs["dry_run"] = "All"
        found = await self._call(
            self._apps.patch_namespaced_deployment_scale(
                name, namespace, {"spec": {"replicas": replicas}}, **kwargs
            )
        )
        result: Obj = self._plain(found)
        return result
