"""Rollout history, rollback plans and rollout status by kubectl's rules, from Deployment and
ReplicaSet objects shaped as the apps/v1 API returns them.

kubectl's `rollout undo` (DeploymentRollbacker) picks the previous or the asked-for revision
among the Deployment's ReplicaSets, refuses paused Deployments and unknown revisions, skips
when the template already matches, and otherwise sends a JSON patch replacing the pod template
(without the pod-template-hash label) and the annotations. `rollout status`
(DeploymentStatusViewer) prints one of a handful of messages.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.domain.rollout import (
    RollbackPatch,
    became_current,
    history,
    images,
    plan_rollback,
    recent_rollout,
    rollout_status,
)

Obj = dict[str, Any]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes"

NAMESPACE = "shop"
NAME = "checkout"
DEPLOYMENT_UID = "0b8f5d0e-6a3c-4c1e-9d2a-7f4e1b2c3d4e"
REGISTRY = "registry.example.com/shop/checkout"
ENVOY = "envoyproxy/envoy:v1.31.2"
REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HASH = "pod-template-hash"


def pod_template(version: str, pod_hash: str | None = None) -> Obj:
    labels = {"app": NAME}
    if pod_hash is not None:
        labels[HASH] = pod_hash
    return {
        "metadata": {"creationTimestamp": None, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": NAME,
                    "image": f"{REGISTRY}:{version}",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                    "resources": {
                        "limits": {"memory": "512Mi"},
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                },
                {
                    "name": "envoy",
                    "image": ENVOY,
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                },
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    }


def replicaset(
    revision: int | None,
    version: str,
    pod_hash: str,
    created: str,
    *,
    replicas: int = 0,
    change_cause: str | None = None,
    revision_history: str | None = None,
) -> Obj:
    annotations = {DESIRED: "3", MAX_REPLICAS: "4", "example.com/team": "payments"}
    if revision is not None:
        annotations[REVISION] = str(revision)
    if change_cause is not None:
        annotations[CHANGE_CAUSE] = change_cause
    if revision_history is not None:
        annotations[HISTORY] = revision_history
    status: Obj = {"replicas": replicas, "observedGeneration": 2}
    if replicas:
        status |= {"fullyLabeledReplicas": replicas, "readyReplicas": replicas}
        status |= {"availableReplicas": replicas}
    return {
        "metadata": {
            "name": f"{NAME}-{pod_hash}",
            "namespace": NAMESPACE,
            "uid": f"5e1c{pod_hash}-0000-4000-8000-000000000000",
            "resourceVersion": "48190",
            "generation": 2,
            "creationTimestamp": created,
            "labels": {"app": NAME, HASH: pod_hash},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": NAME,
                    "uid": DEPLOYMENT_UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": NAME, HASH: pod_hash}},
            "template": pod_template(version, pod_hash),
        },
        "status": status,
    }


def condition(kind: str, status: str, reason: str, message: str) -> Obj:
    stamp = "2026-02-10T14:02:11Z"
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def available(pod_hash: str) -> list[Obj]:
    return [
        condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        ),
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{NAME}-{pod_hash}" has successfully progressed.',
        ),
    ]


def deployment(
    revision: int,
    version: str,
    *,
    generation: int = 3,
    status: Obj | None = None,
    paused: bool = False,
    replicas: int | None = 3,
    change_cause: str | None = None,
) -> Obj:
    annotations = {
        REVISION: str(revision),
        LAST_APPLIED: json.dumps({"apiVersion": "apps/v1", "kind": "Deployment"}),
        "example.com/team": "payments",
    }
    if change_cause is not None:
        annotations[CHANGE_CAUSE] = change_cause
    spec: Obj = {
        "selector": {"matchLabels": {"app": NAME}},
        "template": pod_template(version),
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if paused:
        spec["paused"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "uid": DEPLOYMENT_UID,
            "resourceVersion": "48213",
            "generation": generation,
            "creationTimestamp": "2025-11-02T08:00:00Z",
            "labels": {"app": NAME},
            "annotations": annotations,
        },
        "spec": spec,
        "status": status
        if status is not None
        else {
            "observedGeneration": generation,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": available("7b9d6c5f4d"),
        },
    }


# Three releases; revision 3 (1.5.0) is live.
RS1 = replicaset(1, "1.4.0", "6c8f7d9b5c", "2026-01-20T09:00:00Z", change_cause="release 1.4.0")
RS2 = replicaset(2, "1.4.1", "5d4c8b7f9d", "2026-02-01T11:30:00Z", change_cause="release 1.4.1")
RS3 = replicaset(
    3, "1.5.0", "7b9d6c5f4d", "2026-02-10T14:00:00Z", replicas=3, change_cause="release 1.5.0"
)
LIVE = deployment(3, "1.5.0", change_cause="release 1.5.0")


def checkout(version: str) -> tuple[str, str]:
    return (f"checkout={REGISTRY}:{version}", f"envoy={ENVOY}")


def apply_patch(obj: Obj, ops: Sequence[Obj]) -> Obj:
    """What the API server does with kubectl's JSON patch of `replace` operations."""
    patched = copy.deepcopy(obj)
    for op in ops:
        assert op["op"] == "replace"
        *parents, last = op["path"].strip("/").split("/")
        target = patched
        for part in parents:
            target = target[part]
        assert last in target, f"replace of a missing {op['path']}"
        target[last] = copy.deepcopy(op["value"])
    return patched


def planned(result: object) -> RollbackPatch:
    assert isinstance(result, RollbackPatch), result
    return result


def patch_ops(patch: RollbackPatch) -> dict[str, Any]:
    return {op["path"]: op["value"] for op in patch.ops}


# History ------------------------------------------------------------------------------------


def test_history_lists_every_revision_newest_first() -> None:
    revisions = history([RS1, RS3, RS2])
    assert [r.number for r in revisions] == [3, 2, 1]
    newest = revisions[0]
    assert newest.images == checkout("1.5.0")
    assert newest.change_cause == "release 1.5.0"
    assert newest.created == datetime(2026, 2, 10, 14, 0, tzinfo=UTC)
    assert newest.replicaset == "checkout-7b9d6c5f4d"
    assert [r.images for r in revisions[1:]] == [checkout("1.4.1"), checkout("1.4.0")]


def test_history_orders_revisions_as_numbers_not_strings() -> None:
    sets = [
        replicaset(n, f"1.{n}.0", f"{n:02d}aaaaaaaa", f"2026-01-{n:02d}T00:00:00Z")
        for n in (9, 10, 11, 2)
    ]
    assert [r.number for r in history(sets)] == [11, 10, 9, 2]


def test_history_without_a_change_cause_shows_none() -> None:
    rs = replicaset(4, "1.6.0", "8f7c6d5b4c", "2026-02-11T10:00:00Z")
    assert history([rs])[0].change_cause == ""


def test_a_replicaset_without_a_revision_is_revision_0_as_kubectl_counts_it() -> None:
    orphan = replicaset(None, "0.9.0", "4b5c6d7f8g", "2025-12-01T00:00:00Z")
    assert [r.number for r in history([orphan, RS1])] == [1, 0]
    assert history([]) == []


def test_a_replicaset_whose_revision_is_not_a_number_is_left_out_as_kubectl_does() -> None:
    garbled = replicaset(None, "0.9.0", "4b5c6d7f8g", "2025-12-01T00:00:00Z")
    garbled["metadata"]["annotations"][REVISION] = "two"
    assert [r.number for r in history([garbled, RS1])] == [1]
    result = plan_rollback(deployment(1, "1.4.0"), [garbled, RS1])
    assert not isinstance(result, RollbackPatch)
    assert "no rollout history found" in result.message


def listed(name: str) -> list[Obj]:
    """The items of a `kubectl get … -o json` List in tests/fixtures/kubernetes."""
    items: list[Obj] = json.loads((FIXTURES / name).read_text())["items"]
    return items


def split(items: list[Obj]) -> tuple[Obj, list[Obj]]:
    [live] = [i for i in items if i["kind"] == "Deployment"]
    return live, [i for i in items if i["kind"] == "ReplicaSet"]


def test_undo_goes_back_to_a_replicaset_without_a_revision_annotation() -> None:
    # A Deployment adopted a hand-made ReplicaSet: `kubectl rollout history` lists it as
    # revision 0, and `kubectl rollout undo` goes back to it.
    live, sets = split(listed("replicaset-without-revision.json"))
    assert [r.number for r in history(sets)] == [1, 0]
    patch = planned(plan_rollback(live, sets))
    assert patch.to_revision == 0
    assert patch.images_after == ("app=registry.factsway.example/records-service:2025.08.4",)


def test_images_names_each_container_with_its_image() -> None:
    assert images(LIVE["spec"]["template"]) == checkout("1.5.0")
    assert images({}) == ()


# Rollback -----------------------------------------------------------------------------------


def test_undo_goes_back_to_the_previous_revision() -> None:
    patch = planned(plan_rollback(LIVE, [RS1, RS2, RS3]))
    assert patch.to_revision == 2
    assert patch.images_before == checkout("1.5.0")
    assert patch.images_after == checkout("1.4.1")


def test_the_patch_is_kubectls_json_patch_of_the_template_and_the_annotations() -> None:
    patch = planned(plan_rollback(LIVE, [RS1, RS2, RS3]))
    assert [(op["op"], op["path"]) for op in patch.ops] == [
        ("replace", "/spec/template"),
        ("replace", "/metadata/annotations"),
    ]
    template = patch_ops(patch)["/spec/template"]
    # The revision's pod template, less the label the controller adds to each ReplicaSet.
    assert template["metadata"]["labels"] == {"app": NAME}
    assert template["spec"] == RS2["spec"]["template"]["spec"]


def test_applying_the_patch_makes_the_deployment_run_the_old_revision() -> None:
    patch = planned(plan_rollback(LIVE, [RS1, RS2, RS3]))
    rolled_back = apply_patch(LIVE, patch.ops)
    assert images(rolled_back["spec"]["template"]) == checkout("1.4.1")
    again = plan_rollback(rolled_back, [RS1, RS2, RS3], to_revision=2)
    assert not isinstance(again, RollbackPatch)
    assert again.message == "skipped rollback (current template already matches revision 2)"


def test_annotations_come_back_from_the_revision_except_the_deployments_own() -> None:
    patch = planned(plan_rollback(LIVE, [RS1, RS2, RS3]))
    annotations = patch_ops(patch)["/metadata/annotations"]
    # Kept from the Deployment: its revision and kubectl's last-applied configuration.
    assert annotations[REVISION] == "3"
    assert annotations[LAST_APPLIED] == LIVE["metadata"]["annotations"][LAST_APPLIED]
    # Restored from the revision: its change cause and the other annotations it was made with.
    assert annotations[CHANGE_CAUSE] == "release 1.4.1"
    assert annotations["example.com/team"] == "payments"
    # Never copied from a ReplicaSet: the controller's bookkeeping.
    assert DESIRED not in annotations
    assert MAX_REPLICAS not in annotations


def test_annotations_the_old_revision_never_had_are_dropped_as_kubectl_does() -> None:
    live = deployment(3, "1.5.0", change_cause="release 1.5.0")
    live["metadata"]["annotations"]["example.com/added-in-1.5"] = "yes"
    patch = planned(plan_rollback(live, [RS1, RS2, RS3]))
    assert "example.com/added-in-1.5" not in patch_ops(patch)["/metadata/annotations"]


def test_undo_to_a_given_revision() -> None:
    patch = planned(plan_rollback(LIVE, [RS1, RS2, RS3], to_revision=1))
    assert patch.to_revision == 1
    assert patch.images_after == checkout("1.4.0")
    assert patch_ops(patch)["/metadata/annotations"][CHANGE_CAUSE] == "release 1.4.0"


def test_the_previous_revision_is_the_second_highest_whatever_the_listing_order() -> None:
    sets = [
        replicaset(10, "1.10.0", "aaaaaaaa10", "2026-02-10T00:00:00Z", replicas=3),
        replicaset(2, "1.2.0", "aaaaaaaa02", "2026-01-02T00:00:00Z"),
        replicaset(9, "1.9.0", "aaaaaaaa09", "2026-02-09T00:00:00Z"),
    ]
    patch = planned(plan_rollback(deployment(10, "1.10.0"), sets))
    assert patch.to_revision == 9
    assert patch.images_after == checkout("1.9.0")


def test_planning_leaves_the_objects_it_was_given_untouched() -> None:
    sets = copy.deepcopy([RS1, RS2, RS3])
    live = copy.deepcopy(LIVE)
    planned(plan_rollback(live, sets))
    assert sets == [RS1, RS2, RS3]
    assert live == LIVE


def test_a_paused_deployment_is_refused() -> None:
    paused = deployment(3, "1.5.0", paused=True)
    result = plan_rollback(paused, [RS1, RS2, RS3])
    assert not isinstance(result, RollbackPatch)
    assert "paused" in result.message
    assert "resume" in result.message


def test_a_paused_deployment_is_refused_before_its_history_is_looked_at() -> None:
    paused = deployment(3, "1.5.0", paused=True)
    result = plan_rollback(paused, [RS3], to_revision=7)
    assert not isinstance(result, RollbackPatch)
    assert "paused" in result.message


def test_a_revision_not_in_history_is_refused() -> None:
    result = plan_rollback(LIVE, [RS1, RS2, RS3], to_revision=7)
    assert not isinstance(result, RollbackPatch)
    assert "unable to find" in result.message
    assert "revision 7 in history" in result.message


def test_undo_with_no_previous_revision_is_refused() -> None:
    first = deployment(1, "1.4.0")
    for sets in ([RS1], []):
        result = plan_rollback(first, sets)
        assert not isinstance(result, RollbackPatch)
        assert "no rollout history found" in result.message


# After `kubectl rollout undo` to revision 2 the controller reuses revision 2's ReplicaSet as
# revision 4 (remembering 2 in revision-history): revision 2 is gone from the history.
RS2_AS_4 = replicaset(
    4,
    "1.4.1",
    "5d4c8b7f9d",
    "2026-02-01T11:30:00Z",
    replicas=3,
    change_cause="release 1.4.1",
    revision_history="2",
)
RS3_OLD = replicaset(3, "1.5.0", "7b9d6c5f4d", "2026-02-10T14:00:00Z", change_cause="release 1.5.0")
ROLLED_BACK = deployment(4, "1.4.1", generation=4, change_cause="release 1.4.1")


def test_rolling_back_to_the_current_template_is_skipped() -> None:
    result = plan_rollback(ROLLED_BACK, [RS1, RS3_OLD, RS2_AS_4], to_revision=4)
    assert not isinstance(result, RollbackPatch)
    assert result.message == "skipped rollback (current template already matches revision 4)"


def test_a_revision_reused_by_a_rollback_is_no_longer_in_history() -> None:
    result = plan_rollback(ROLLED_BACK, [RS1, RS3_OLD, RS2_AS_4], to_revision=2)
    assert not isinstance(result, RollbackPatch)
    assert "revision 2 in history" in result.message


def test_undoing_a_rollback_returns_to_the_release_it_replaced() -> None:
    patch = planned(plan_rollback(ROLLED_BACK, [RS1, RS3_OLD, RS2_AS_4]))
    assert patch.to_revision == 3
    assert patch.images_before == checkout("1.4.1")
    assert patch.images_after == checkout("1.5.0")


def test_revision_history_of_a_reused_replicaset_does_not_reach_the_deployment() -> None:
    # Live on 1.5.0 again as revision 5; undo targets revision 4, which remembers revision 2.
    live = deployment(5, "1.5.0", generation=5)
    rs3_as_5 = replicaset(
        5, "1.5.0", "7b9d6c5f4d", "2026-02-10T14:00:00Z", replicas=3, revision_history="3"
    )
    rs2_as_4 = replicaset(
        4,
        "1.4.1",
        "5d4c8b7f9d",
        "2026-02-01T11:30:00Z",
        change_cause="release 1.4.1",
        revision_history="2",
    )
    patch = planned(plan_rollback(live, [RS1, rs2_as_4, rs3_as_5]))
    annotations = patch_ops(patch)["/metadata/annotations"]
    assert patch.to_revision == 4
    assert HISTORY not in annotations
    assert annotations[REVISION] == "5"


def test_a_template_that_differs_beyond_the_hash_label_is_not_skipped() -> None:
    live = deployment(3, "1.5.0")
    live["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    rs3 = copy.deepcopy(RS3)
    patch = planned(plan_rollback(live, [RS1, RS2, rs3], to_revision=3))
    assert patch.images_before == patch.images_after == checkout("1.5.0")
    assert patch_ops(patch)["/spec/template"]["metadata"]["labels"] == {"app": NAME}


# Rollout status -----------------------------------------------------------------------------


def test_a_finished_rollout() -> None:
    status = rollout_status(LIVE)
    assert status.message == 'deployment "checkout" successfully rolled out'
    assert status.done is True
    assert status.failed is False


def test_a_spec_change_the_controller_has_not_seen_yet() -> None:
    live = deployment(3, "1.5.0", generation=4)
    live["status"]["observedGeneration"] = 3
    status = rollout_status(live)
    assert status.message == "Waiting for deployment spec update to be observed..."
    assert (status.done, status.failed) == (False, False)


def progressing(pod_hash: str = "8c7b6d5f4c") -> list[Obj]:
    return [
        condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        ),
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{NAME}-{pod_hash}" is progressing.',
        ),
    ]


def test_new_replicas_still_being_created() -> None:
    # The API omits zero counts: no updatedReplicas yet.
    status: Obj = {"observedGeneration": 4, "replicas": 3, "readyReplicas": 3}
    status |= {"availableReplicas": 3, "unavailableReplicas": 1, "conditions": progressing()}
    result = rollout_status(deployment(4, "1.6.0", generation=4, status=status))
    assert result.message == (
        'Waiting for deployment "checkout" rollout to finish: 0 out of 3 new replicas have been'
        " updated..."
    )
    assert result.done is False


def test_some_new_replicas_updated() -> None:
    status: Obj = {"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1}
    status |= {"readyReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 1}
    status["conditions"] = progressing()
    result = rollout_status(deployment(4, "1.6.0", generation=4, status=status))
    assert result.message == (
        'Waiting for deployment "checkout" rollout to finish: 1 out of 3 new replicas have been'
        " updated..."
    )
    assert result.done is False


def test_old_replicas_pending_termination() -> None:
    status: Obj = {"observedGeneration": 4, "replicas": 4, "updatedReplicas": 3}
    status |= {"readyReplicas": 4, "availableReplicas": 4, "conditions": progressing()}
    result = rollout_status(deployment(4, "1.6.0", generation=4, status=status))
    assert result.message == (
        'Waiting for deployment "checkout" rollout to finish: 1 old replicas are pending'
        " termination..."
    )
    assert result.done is False


def test_updated_replicas_not_yet_available() -> None:
    status: Obj = {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3}
    status |= {"readyReplicas": 2, "availableReplicas": 2, "unavailableReplicas": 1}
    status["conditions"] = progressing()
    result = rollout_status(deployment(4, "1.6.0", generation=4, status=status))
    assert result.message == (
        'Waiting for deployment "checkout" rollout to finish: 2 of 3 updated replicas are'
        " available..."
    )
    assert result.done is False


def stalled(pod_hash: str = "8c7b6d5f4c") -> list[Obj]:
    return [
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        ),
        condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{NAME}-{pod_hash}" has timed out progressing.',
        ),
    ]


def test_a_rollout_past_its_progress_deadline_has_failed() -> None:
    status: Obj = {"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1}
    status |= {"readyReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 1}
    status["conditions"] = stalled()
    result = rollout_status(deployment(4, "1.6.0", generation=4, status=status))
    assert result.message == 'deployment "checkout" exceeded its progress deadline'
    assert result.done is True
    assert result.failed is True


def test_the_deadline_is_not_judged_on_a_spec_the_controller_has_not_seen() -> None:
    status: Obj = {"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1}
    status["conditions"] = stalled()
    result = rollout_status(deployment(5, "1.6.1", generation=5, status=status))
    assert result.message == "Waiting for deployment spec update to be observed..."
    assert result.failed is False


def test_unavailability_alone_is_not_a_failure() -> None:
    status: Obj = {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3}
    status |= {"availableReplicas": 1, "unavailableReplicas": 2}
    status["conditions"] = [
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        ),
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            'ReplicaSet "checkout-8c7b6d5f4c" is progressing.',
        ),
    ]
    result = rollout_status(deployment(4, "1.6.0", generation=4, status=status))
    assert result.failed is False
    assert result.done is False
    assert "1 of 3 updated replicas are available" in result.message


def test_a_deployment_scaled_to_zero_is_rolled_out() -> None:
    # Every count is zero, so the API sends none of them.
    status: Obj = {"observedGeneration": 6, "conditions": available("7b9d6c5f4d")}
    result = rollout_status(deployment(3, "1.5.0", generation=6, replicas=0, status=status))
    assert result.message == 'deployment "checkout" successfully rolled out'
    assert result.done is True


# Recent rollout -----------------------------------------------------------------------------

# When LIVE's Progressing condition says revision 3's ReplicaSet finished rolling out.
DEPLOYED = datetime(2026, 2, 10, 14, 2, 11, tzinfo=UTC)


def test_a_rollout_within_the_window_is_reported_with_the_revision_it_replaced() -> None:
    found = recent_rollout(LIVE, [RS1, RS2, RS3], DEPLOYED + timedelta(minutes=30))
    assert found is not None
    assert found.revision.number == 3
    assert found.revision.images == checkout("1.5.0")
    assert found.at == DEPLOYED
    assert found.previous is not None
    assert found.previous.number == 2
    assert found.previous.images == checkout("1.4.1")


def test_a_rollout_older_than_the_window_is_not_recent() -> None:
    assert recent_rollout(LIVE, [RS1, RS2, RS3], DEPLOYED + timedelta(hours=2, minutes=1)) is None
    wider = recent_rollout(LIVE, [RS1, RS2, RS3], DEPLOYED + timedelta(hours=5), timedelta(hours=6))
    assert wider is not None
    assert wider.revision.number == 3


def test_a_first_deploy_has_nothing_before_it() -> None:
    first = deployment(1, "1.4.0", status={"observedGeneration": 3})  # no conditions yet
    found = recent_rollout(first, [RS1], datetime(2026, 1, 20, 9, 10, tzinfo=UTC))
    assert found is not None
    assert found.revision.number == 1
    assert found.at == datetime(2026, 1, 20, 9, 0, tzinfo=UTC)  # its ReplicaSet's creation
    assert found.previous is None


def test_no_replicasets_no_rollout() -> None:
    assert recent_rollout(LIVE, [], DEPLOYED) is None


# After `kubectl rollout undo` (tests/fixtures/kubernetes/rollout-after-undo.json): revision 2's
# ReplicaSet, created on 2025-11-18, is revision 4 since 14:06:19 on 2026-02-10.
UNDONE = datetime(2026, 2, 10, 14, 6, 19, tzinfo=UTC)


def test_an_undo_is_a_recent_rollout_though_its_replicaset_is_months_old() -> None:
    live, sets = split(listed("rollout-after-undo.json"))
    found = recent_rollout(live, sets, UNDONE + timedelta(minutes=9))
    assert found is not None
    assert found.revision.number == 4
    assert found.revision.earlier == (2,)
    assert found.revision.created == datetime(2025, 11, 18, 14, 31, 52, tzinfo=UTC)
    assert found.at == UNDONE
    assert found.revision.images == ("app=registry.factsway.example/records-service:2025.11.2",)
    assert found.previous is not None
    assert found.previous.number == 3  # what `kubectl rollout undo` would go back to now
    assert found.previous.images == ("app=registry.factsway.example/records-service:2026.02.0",)
    assert recent_rollout(live, sets, UNDONE + timedelta(hours=2, minutes=1)) is None


def test_an_undo_still_rolling_out_is_dated_by_its_progress() -> None:
    live, sets = split(listed("rollout-after-undo.json"))
    progressing = live["status"]["conditions"][1]
    progressing |= {"reason": "ReplicaSetUpdated", "lastUpdateTime": "2026-02-10T14:05:48Z"}
    progressing["message"] = 'ReplicaSet "records-service-7c6b8d9f45" is progressing.'
    reused = next(rs for rs in sets if rs["metadata"]["name"] == "records-service-7c6b8d9f45")
    assert became_current(live, reused) == datetime(2026, 2, 10, 14, 5, 48, tzinfo=UTC)


def test_a_reused_replicaset_the_conditions_do_not_name_has_no_known_time() -> None:
    live, sets = split(listed("rollout-after-undo.json"))
    live["status"]["conditions"] = live["status"]["conditions"][:1]  # no Progressing condition
    assert recent_rollout(live, sets, UNDONE) is None


def test_the_condition_of_the_previous_rollout_does_not_date_the_current_one() -> None:
    # Before the controller has seen the undo, the condition still names revision 3's ReplicaSet.
    live, sets = split(listed("rollout-after-undo.json"))
    before, _ = split(listed("rollout-before-undo.json"))
    live["status"] = before["status"]
    assert recent_rollout(live, sets, datetime(2026, 2, 7, 9, 20, tzinfo=UTC)) is None
