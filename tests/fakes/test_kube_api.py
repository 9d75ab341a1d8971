"""The fake Kubernetes API, driven through the real kubernetes_asyncio client and a kubeconfig."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import aiohttp
import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from tests.fakes.kube_api import FakeKubernetes

NS = "factsway-prod"
APP = "records-service"
T = TypeVar("T")


async def connect(
    fake: FakeKubernetes, tmp_path: Path, token: str = "test-token"
) -> client.ApiClient:
    configuration = client.Configuration()
    kubeconfig = fake.write_kubeconfig(tmp_path / f"kubeconfig-{token}", token=token)
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubernetes]:
    async with FakeKubernetes(role=None) as fake:
        fake.add_deployment(APP, image="registry.local/records:1.0", change_cause="deploy 1.0")
        yield fake


@pytest.fixture
async def api(kube: FakeKubernetes, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    async with await connect(kube, tmp_path) as api_client:
        yield api_client


async def until(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 5.0
) -> T:
    """Poll `fetch` until `done` holds; fail with the last value after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(value := await fetch()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last value: {value}")
        await asyncio.sleep(0.02)
    return value


def rolled_out(d: client.V1Deployment, revision: str) -> bool:
    s = d.status
    return (
        d.metadata.annotations.get("deployment.kubernetes.io/revision") == revision
        and s.observed_generation == d.metadata.generation
        and s.updated_replicas == s.replicas == s.available_replicas == d.spec.replicas
    )


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body or b"")
    return body


def replica_sets_by_revision(listing: client.V1ReplicaSetList) -> dict[str, client.V1ReplicaSet]:
    return {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in listing.items
    }


async def test_lists_and_reads_deployments(kube: FakeKubernetes, api: client.ApiClient) -> None:
    kube.add_deployment(
        "billing", image="registry.local/billing:7", replicas=3, labels={"team": "payments"}
    )
    apps = client.AppsV1Api(api)

    listed = await apps.list_namespaced_deployment(NS)
    assert sorted(d.metadata.name for d in listed.items) == ["billing", APP]
    assert listed.items[0].kind is None  # list items come without kind, as from a real server
    payments = await apps.list_namespaced_deployment(NS, label_selector="team=payments")
    assert [d.metadata.name for d in payments.items] == ["billing"]

    d = await apps.read_namespaced_deployment(APP, NS)
    assert d.spec.template.spec.containers[0].image == "registry.local/records:1.0"
    assert d.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert d.metadata.annotations == {
        "kubernetes.io/change-cause": "deploy 1.0",
        "deployment.kubernetes.io/revision": "1",
    }
    assert (d.metadata.generation, d.status.observed_generation) == (1, 1)
    assert (d.status.replicas, d.status.ready_replicas, d.status.available_replicas) == (2, 2, 2)
    assert d.status.unavailable_replicas is None  # zero counts are omitted
    assert [(c.type, c.status, c.reason) for c in d.status.conditions] == [
        ("Available", "True", "MinimumReplicasAvailable"),
        ("Progressing", "True", "NewReplicaSetAvailable"),
    ]
    assert ("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}", None) in kube.requests

    with pytest.raises(ApiException) as missing:
        await apps.read_namespaced_deployment("nope", NS)
    assert missing.value.status == 404
    assert status_of(missing.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


async def test_set_image_rolls_out_a_new_revision_pod_by_pod(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    kube.controller_delay = 0.1
    kube.set_image(APP, "registry.local/records:1.1", change_cause="deploy 1.1")
    seen: list[tuple[int | None, int | None]] = []

    async def read() -> client.V1Deployment:
        d = await apps.read_namespaced_deployment(APP, NS)
        seen.append((d.status.replicas, d.status.updated_replicas))
        return d

    d = await until(read, lambda d: rolled_out(d, "2"))
    assert d.metadata.generation == 2
    assert (3, 1) in seen  # one new pod surged next to the two old ones (maxSurge 25% of 2 = 1)
    assert d.metadata.annotations["kubernetes.io/change-cause"] == "deploy 1.1"

    sets = replica_sets_by_revision(
        await apps.list_namespaced_replica_set(NS, label_selector=f"app={APP}")
    )
    assert sorted(sets) == ["1", "2"]
    old, new = sets["1"], sets["2"]
    assert (old.spec.replicas, new.spec.replicas, new.status.ready_replicas) == (0, 2, 2)
    assert old.metadata.annotations["kubernetes.io/change-cause"] == "deploy 1.0"
    assert new.metadata.annotations["kubernetes.io/change-cause"] == "deploy 1.1"
    owner = new.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        APP,
        d.metadata.uid,
        True,
    )
    pod_hash = new.metadata.labels["pod-template-hash"]
    assert new.metadata.name == f"{APP}-{pod_hash}"
    assert new.spec.selector.match_labels == {"app": APP, "pod-template-hash": pod_hash}
    assert new.spec.template.spec.containers[0].image == "registry.local/records:1.1"

    pods = await core.list_namespaced_pod(NS, label_selector=f"app={APP}")
    assert len(pods.items) == 2
    for pod in pods.items:
        assert pod.metadata.labels["pod-template-hash"] == pod_hash
        assert pod.metadata.owner_references[0].name == new.metadata.name
        assert pod.status.phase == "Running" and pod.spec.node_name and pod.status.start_time
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        (container,) = pod.status.container_statuses
        assert (container.ready, container.restart_count, container.image) == (
            True,
            0,
            "registry.local/records:1.1",
        )
        assert container.state.running.started_at is not None

    progressing = d.status.conditions[1]
    assert (progressing.reason, progressing.message) == (
        "NewReplicaSetAvailable",
        f'ReplicaSet "{new.metadata.name}" has successfully progressed.',
    )
    scaling = await core.list_namespaced_event(NS, field_selector=f"involvedObject.name={APP}")
    messages = [e.message for e in scaling.items if e.reason == "ScalingReplicaSet"]
    assert f"Scaled up replica set {new.metadata.name} from 0 to 1" in messages
    assert f"Scaled down replica set {old.metadata.name} from 1 to 0" in messages


async def test_json_patch_with_dry_run_changes_nothing(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps = client.AppsV1Api(api)
    before = kube.deployment(APP)
    body = [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": "registry.local/records:9",
        }
    ]

    would_be = await apps.patch_namespaced_deployment(APP, NS, body, dry_run="All")

    assert would_be.spec.template.spec.containers[0].image == "registry.local/records:9"
    assert would_be.metadata.generation == 2  # what would be stored
    assert kube.requests[-1] == (
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}?dryRun=All",
        body,
    )
    await asyncio.sleep(kube.controller_delay * 5)
    after = kube.deployment(APP)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == 1
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert len(kube.replicasets(APP)) == 1


async def test_patch_content_types_and_validation(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps = client.AppsV1Api(api)
    kube.add_deployment("gateway", image="registry.local/gateway:1", containers=2)

    # A dict body goes as strategic merge: containers merge by name, the sidecar stays.
    patched = await apps.patch_namespaced_deployment(
        "gateway",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "gateway", "image": "gw:2"}]}}}},
    )
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [
        ("gateway", "gw:2"),
        ("sidecar-1", "registry.local/sidecar-1:1"),
    ]
    assert patched.metadata.generation == 2
    # A merge patch (RFC 7386) replaces lists wholesale; metadata-only changes keep generation.
    merged = await apps.patch_namespaced_deployment(
        "gateway",
        NS,
        {"metadata": {"annotations": {"team": "edge"}}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )
    assert merged.metadata.annotations["team"] == "edge" and merged.metadata.generation == 2
    merged = await apps.patch_namespaced_deployment(
        "gateway",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "gateway", "image": "gw:3"}]}}}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )
    assert [c.name for c in merged.spec.template.spec.containers] == ["gateway"]

    with pytest.raises(ApiException) as negative:
        await apps.patch_namespaced_deployment(
            APP, NS, [{"op": "replace", "path": "/spec/replicas", "value": -1}]
        )
    assert negative.value.status == 422
    invalid = status_of(negative.value)
    assert invalid["reason"] == "Invalid"
    detail = "Invalid value: -1: must be greater than or equal to 0"
    assert invalid["message"] == f'Deployment.apps "{APP}" is invalid: spec.replicas: {detail}'
    assert invalid["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: -1: must be greater than or equal to 0",
            "field": "spec.replicas",
        }
    ]
    with pytest.raises(ApiException) as no_image:
        await apps.patch_namespaced_deployment(
            APP, NS, [{"op": "remove", "path": "/spec/template/spec/containers/0/image"}]
        )
    assert no_image.value.status == 422
    assert (
        status_of(no_image.value)["details"]["causes"][0]["field"]
        == "spec.template.spec.containers[0].image"
    )
    with pytest.raises(ApiException) as missing_path:
        await apps.patch_namespaced_deployment(
            APP,
            NS,
            [{"op": "replace", "path": "/spec/template/metadata/annotations/x", "value": "y"}],
        )
    assert (missing_path.value.status, status_of(missing_path.value)["reason"]) == (422, "Invalid")
    assert kube.deployment(APP)["metadata"]["generation"] == 1


async def test_scale_subresource(kube: FakeKubernetes, api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    scale = await apps.read_namespaced_deployment_scale(APP, NS)
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (
        2,
        2,
        f"app={APP}",
    )

    dry = await apps.patch_namespaced_deployment_scale(
        APP, NS, {"spec": {"replicas": 5}}, dry_run="All"
    )
    assert dry.spec.replicas == 5 and kube.deployment(APP)["spec"]["replicas"] == 2

    await apps.patch_namespaced_deployment_scale(APP, NS, {"spec": {"replicas": 4}})
    d = await until(lambda: apps.read_namespaced_deployment(APP, NS), lambda d: rolled_out(d, "1"))
    assert (d.spec.replicas, d.status.ready_replicas, d.metadata.generation) == (4, 4, 2)
    (rs,) = kube.replicasets(APP)  # scaling is no new revision
    assert rs["spec"]["replicas"] == 4 and len(kube.pods(APP)) == 4

    body = client.V1Scale(
        metadata=client.V1ObjectMeta(name=APP, namespace=NS), spec=client.V1ScaleSpec(replicas=1)
    )
    await apps.replace_namespaced_deployment_scale(APP, NS, body)
    await until(lambda: apps.read_namespaced_deployment(APP, NS), lambda d: d.status.replicas == 1)
    assert len(kube.pods(APP)) == 1

    with pytest.raises(ApiException) as negative:
        await apps.patch_namespaced_deployment_scale(APP, NS, {"spec": {"replicas": -3}})
    assert negative.value.status == 422
    assert status_of(negative.value)["message"].startswith(
        f'Scale.autoscaling "{APP}" is invalid: spec.replicas'
    )


async def test_rollback_patch_reuses_revision_one_as_revision_three(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps = client.AppsV1Api(api)
    kube.set_image(APP, "registry.local/records:1.1", change_cause="deploy 1.1")
    await until(lambda: apps.read_namespaced_deployment(APP, NS), lambda d: rolled_out(d, "2"))
    sets = replica_sets_by_revision(
        await apps.list_namespaced_replica_set(NS, label_selector=f"app={APP}")
    )
    first = sets["1"]

    # What `kubectl rollout undo` sends: revision 1's template without the hash label, and its
    # change-cause, as a JSON patch.
    template = api.sanitize_for_serialization(first.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    undo = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {
            "op": "replace",
            "path": "/metadata/annotations/kubernetes.io~1change-cause",
            "value": "deploy 1.0",
        },
    ]
    await apps.patch_namespaced_deployment(APP, NS, undo)
    d = await until(lambda: apps.read_namespaced_deployment(APP, NS), lambda d: rolled_out(d, "3"))

    assert d.spec.template.spec.containers[0].image == "registry.local/records:1.0"
    sets = replica_sets_by_revision(
        await apps.list_namespaced_replica_set(NS, label_selector=f"app={APP}")
    )
    assert sorted(sets) == ["2", "3"]  # no third ReplicaSet: revision 1's became revision 3
    reused = sets["3"]
    assert (reused.metadata.name, reused.metadata.uid) == (first.metadata.name, first.metadata.uid)
    assert reused.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert (reused.spec.replicas, sets["2"].spec.replicas) == (2, 0)
    pod_hash = reused.metadata.labels["pod-template-hash"]
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in kube.pods(APP)} == {pod_hash}


async def test_crash_looping_rollout_stalls_until_the_deadline(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    await apps.patch_namespaced_deployment(APP, NS, {"spec": {"progressDeadlineSeconds": 1}})
    kube.set_image(APP, "registry.local/records:1.1-bad")
    kube.crash_pods(APP)

    def stalled(d: client.V1Deployment) -> bool:
        return any(c.reason == "ProgressDeadlineExceeded" for c in d.status.conditions)

    d = await until(lambda: apps.read_namespaced_deployment(APP, NS), stalled)
    # The old pods stay: maxUnavailable (25% of 2, rounded down) is 0.
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (3, 1, 2)
    assert d.status.unavailable_replicas == 1
    assert {c.type: (c.status, c.reason) for c in d.status.conditions} == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("False", "ProgressDeadlineExceeded"),
    }
    new_hash = kube.replicasets(APP)[-1]["metadata"]["labels"]["pod-template-hash"]
    (pod,) = (
        await core.list_namespaced_pod(NS, label_selector=f"app={APP},pod-template-hash={new_hash}")
    ).items
    (container,) = pod.status.container_statuses
    assert (container.ready, container.restart_count) == (False, 3)
    assert container.state.waiting.reason == "CrashLoopBackOff"
    assert (container.last_state.terminated.reason, container.last_state.terminated.exit_code) == (
        "OOMKilled",
        137,
    )
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    events = await core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pod.metadata.name}"
    )
    back_off = [e for e in events.items if e.reason == "BackOff"]
    assert [(e.type, e.count) for e in back_off] == [("Warning", 3)]
    # A restarted container has a previous instance, so previous logs are there (empty).
    assert await core.read_namespaced_pod_log(pod.metadata.name, NS, previous=True) == ""


async def test_paused_deployment_is_not_rolled_until_resumed(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps = client.AppsV1Api(api)
    kube.add_deployment("batch", image="registry.local/batch:1", paused=True)
    kube.set_image("batch", "registry.local/batch:2")
    d = await until(
        lambda: apps.read_namespaced_deployment("batch", NS),
        lambda d: d.status.observed_generation == 2,
    )
    await asyncio.sleep(kube.controller_delay * 5)
    assert len(kube.replicasets("batch")) == 1
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert [(c.status, c.reason) for c in d.status.conditions if c.type == "Progressing"] == [
        ("Unknown", "DeploymentPaused")
    ]

    await apps.patch_namespaced_deployment(
        "batch",
        NS,
        {"spec": {"paused": False}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )
    d = await until(
        lambda: apps.read_namespaced_deployment("batch", NS), lambda d: rolled_out(d, "2")
    )
    assert d.spec.template.spec.containers[0].image == "registry.local/batch:2"


async def test_pod_logs(kube: FakeKubernetes, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    first, second = (p["metadata"]["name"] for p in kube.pods(APP))
    kube.set_logs(first, "one\ntwo\nthree\n", previous="fatal: out of memory\n")

    assert await core.read_namespaced_pod_log(first, NS) == "one\ntwo\nthree\n"
    assert await core.read_namespaced_pod_log(first, NS, tail_lines=2) == "two\nthree\n"
    assert kube.requests[-1] == (
        "GET",
        f"/api/v1/namespaces/{NS}/pods/{first}/log?tailLines=2",
        None,
    )
    assert (
        await core.read_namespaced_pod_log(first, NS, container=APP, previous=True)
        == "fatal: out of memory\n"
    )
    assert await core.read_namespaced_pod_log(second, NS) == ""
    with pytest.raises(ApiException) as no_previous:
        await core.read_namespaced_pod_log(second, NS, previous=True)
    assert no_previous.value.status == 400
    assert status_of(no_previous.value)["message"] == (
        f'previous terminated container "{APP}" in pod "{second}" not found'
    )

    # The client json.loads() every str answer: a lone JSON log line comes back as a Python
    # repr. The fake serves text/plain faithfully; raw text needs _preload_content=False.
    kube.set_logs(second, '{"level":"error"}\n')
    assert await core.read_namespaced_pod_log(second, NS) == "{'level': 'error'}"
    raw = cast(
        aiohttp.ClientResponse,
        await core.read_namespaced_pod_log(second, NS, _preload_content=False),
    )
    assert (raw.content_type, await raw.text()) == ("text/plain", '{"level":"error"}\n')

    kube.add_deployment("gateway", image="registry.local/gateway:1", containers=2)
    gateway = kube.pods("gateway")[0]["metadata"]["name"]
    kube.set_logs(gateway, "proxy up\n", container="sidecar-1")
    with pytest.raises(ApiException) as ambiguous:
        await core.read_namespaced_pod_log(gateway, NS)
    assert status_of(ambiguous.value)["message"] == (
        f"a container name must be specified for pod {gateway}, choose one of: [gateway sidecar-1]"
    )
    assert await core.read_namespaced_pod_log(gateway, NS, container="sidecar-1") == "proxy up\n"
    with pytest.raises(ApiException) as missing:
        await core.read_namespaced_pod_log("nope", NS)
    assert (missing.value.status, status_of(missing.value)["message"]) == (
        404,
        'pods "nope" not found',
    )


async def test_events_by_field_selector(kube: FakeKubernetes, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    kube.add_event("Deployment", APP, "FailedCreate", "exceeded quota: compute-resources")
    kube.add_event("Pod", "records-service-abc12", "Unhealthy", "Readiness probe failed")
    kube.add_event("Deployment", APP, "FailedCreate", "exceeded quota: compute-resources")

    selector = f"involvedObject.name={APP},involvedObject.kind=Deployment"
    events = (await core.list_namespaced_event(NS, field_selector=selector)).items
    assert {(e.involved_object.kind, e.involved_object.name) for e in events} == {
        ("Deployment", APP)
    }
    (failed,) = [e for e in events if e.reason == "FailedCreate"]
    assert (failed.type, failed.count, failed.message) == (
        "Warning",
        2,
        "exceeded quota: compute-resources",
    )
    assert failed.first_timestamp <= failed.last_timestamp
    assert failed.involved_object.uid == kube.deployment(APP)["metadata"]["uid"]
    assert {e.reason for e in events} == {
        "FailedCreate",
        "ScalingReplicaSet",
    }  # the controller's too

    pod_events = (
        await core.list_namespaced_event(NS, field_selector="involvedObject.kind=Pod")
    ).items
    assert [(e.reason, e.type) for e in pod_events] == [("Unhealthy", "Warning")]
    with pytest.raises(ApiException) as unsupported:
        await core.list_namespaced_event(NS, field_selector="message=x")
    assert (unsupported.value.status, status_of(unsupported.value)["reason"]) == (400, "BadRequest")


async def test_metrics_api_absent_without_metrics_server(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    with pytest.raises(ApiException) as absent:
        await client.CustomObjectsApi(api).list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", NS, "pods"
        )
    assert absent.value.status == 404
    assert status_of(absent.value)["reason"] == "NotFound"
    groups = await client.ApisApi(api).get_api_versions()
    assert "metrics.k8s.io" not in {g.name for g in groups.groups}


async def test_metrics_api_reports_pod_usage(tmp_path: Path) -> None:
    async with FakeKubernetes(metrics_server=True, role=None) as fake:
        fake.add_deployment(APP, image="registry.local/records:1.0")
        first = fake.pods(APP)[0]["metadata"]["name"]
        fake.set_usage(first, cpu="250m", memory="512Mi")
        async with await connect(fake, tmp_path) as api:
            custom = client.CustomObjectsApi(api)
            listed = await custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", NS, "pods", label_selector=f"app={APP}"
            )
            groups = await client.ApisApi(api).get_api_versions()
    assert listed["kind"] == "PodMetricsList"
    usage = {m["metadata"]["name"]: m["containers"] for m in listed["items"]}
    assert len(usage) == 2
    assert usage.pop(first) == [{"name": APP, "usage": {"cpu": "250m", "memory": "512Mi"}}]
    assert list(usage.values()) == [[{"name": APP, "usage": {"cpu": "12m", "memory": "130Mi"}}]]
    assert "metrics.k8s.io" in {g.name for g in groups.groups}


async def test_requests_need_the_bearer_token(kube: FakeKubernetes, tmp_path: Path) -> None:
    async with await connect(kube, tmp_path, token="stolen") as api:
        with pytest.raises(ApiException) as wrong:
            await client.AppsV1Api(api).list_namespaced_deployment(NS)
    assert wrong.value.status == 401
    assert status_of(wrong.value)["reason"] == "Unauthorized"
    # No Authorization header at all.
    url = f"{kube.url}/api/v1/namespaces/{NS}/pods"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 401
        assert (await response.json())["code"] == 401


async def test_hang_delays_answers_past_a_client_timeout(
    kube: FakeKubernetes, api: client.ApiClient
) -> None:
    apps = client.AppsV1Api(api)
    kube.hang(5)
    with pytest.raises(asyncio.TimeoutError):
        await apps.read_namespaced_deployment(APP, NS, _request_timeout=0.2)
    kube.hang(0)
    assert (await apps.read_namespaced_deployment(APP, NS, _request_timeout=2)).metadata.name == APP


async def test_with_the_shipped_role_in_force_a_call_it_does_not_grant_is_forbidden(
    tmp_path: Path,
) -> None:
    async with FakeKubernetes() as fake:
        fake.add_deployment(APP, image="registry.local/records:1.0")
        async with await connect(fake, tmp_path) as api_client:
            apps = client.AppsV1Api(api_client)
            scale = await apps.read_namespaced_deployment_scale(APP, NS)
            assert scale.spec.replicas == 2  # granted: get on deployments/scale
            with pytest.raises(ApiException) as refused:
                await apps.delete_namespaced_deployment(APP, NS)
            status = json.loads(refused.value.body or b"{}")
            assert refused.value.status == 403 and status["reason"] == "Forbidden"
            assert status["message"] == (
                'deployments.apps "records-service" is forbidden: User'
                ' "system:serviceaccount:factsway-prod:incident-bot" cannot delete resource'
                ' "deployments" in API group "apps" in the namespace "factsway-prod"'
            )
            with pytest.raises(ApiException) as secret:
                await client.CoreV1Api(api_client).read_namespaced_secret("db", NS)
            assert secret.value.status == 403
        assert fake.deployment(APP) is not None  # the refused delete changed nothing
