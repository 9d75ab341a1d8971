"""The store contract, dangerous actions: an action reads back as asked for, and a state
change from an expected state has one winner, however many clicks or replicas race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.domain.actions import ActionKind, ActionPlan, ActionState
from bot.store.base import Store
from tests.harness.postgres import ThrowawayPostgres
from tests.store.replicas import replicas

AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
PLAN = ActionPlan(
    ActionKind.ROLLBACK,
    "records",
    {"revision": 41},
    "records:v42",
    "records:v41",
    {"patch": {"spec": {"image": "records:v41"}}},
)


async def test_an_action_reads_back_as_asked_for(store: Store) -> None:
    action = await store.create_action(PLAN, "U1", "C_WAR", 7, needed=2, at=AT)
    assert action.plan == PLAN
    assert (action.requested_by, action.channel, action.incident_id) == ("U1", "C_WAR", 7)
    assert (action.state, action.approvals, action.result) == (ActionState.PENDING, (), "")
    assert action.needed == 2 and action.created_at == AT
    assert await store.get_action(action.id) == action
    assert await store.get_action(action.id + 100) is None
    unlinked = await store.create_action(PLAN, "U2", "", None)
    assert unlinked.incident_id is None and unlinked.needed == 1
    assert unlinked.created_at.tzinfo is not None  # stamped now, in UTC


async def test_actions_in_state_come_oldest_first(store: Store) -> None:
    ids = [(await store.create_action(PLAN, "U1", "C", None)).id for _ in range(3)]
    await store.transition_action(ids[1], [ActionState.PENDING], ActionState.RUNNING)
    pending = await store.actions_in_state([ActionState.PENDING])
    assert [a.id for a in pending] == [ids[0], ids[2]]
    both = await store.actions_in_state(iter([ActionState.RUNNING, ActionState.PENDING]))
    assert [a.id for a in both] == ids
    assert await store.actions_in_state([]) == []


async def test_a_transition_happens_only_from_an_expected_state(store: Store) -> None:
    action = await store.create_action(PLAN, "U1", "C", None, needed=2)
    approved = await store.transition_action(
        action.id,
        [ActionState.PENDING],
        ActionState.PENDING,
        approvals=(u for u in ["U2"]),
    )
    assert approved is not None and approved.approvals == ("U2",)
    running = await store.transition_action(
        action.id, [ActionState.PENDING], ActionState.RUNNING, approvals=["U2", "U3"]
    )
    assert running is not None and running.state == ActionState.RUNNING
    assert running.approvals == ("U2", "U3") and running.result == ""
    # A second Confirm finds it moved on and changes nothing.
    again = await store.transition_action(
        action.id, [ActionState.PENDING], ActionState.RUNNING, approvals=["U9"]
    )
    assert again is None
    assert await store.get_action(action.id) == running
    done = await store.transition_action(
        action.id, [ActionState.RUNNING], ActionState.DONE, result="rolled back"
    )
    assert done is not None and (done.state, done.result) == (ActionState.DONE, "rolled back")
    assert done.approvals == ("U2", "U3")  # kept when not given
    assert await store.transition_action(action.id, [], ActionState.FAILED) is None
    assert await store.transition_action(404, [ActionState.PENDING], ActionState.DONE) is None


async def test_replicas_confirming_one_action_at_once_run_it_once(
    postgres: ThrowawayPostgres,
) -> None:
    async with replicas(postgres) as (a, b):
        for _ in range(10):
            action = await a.create_action(PLAN, "U1", "C", None)
            moved = await asyncio.gather(
                a.transition_action(
                    action.id, [ActionState.PENDING], ActionState.RUNNING, approvals=["U2"]
                ),
                b.transition_action(
                    action.id, [ActionState.PENDING], ActionState.RUNNING, approvals=["U3"]
                ),
            )
            [winner] = [m for m in moved if m is not None]
            stored = await b.get_action(action.id)
            assert stored == winner and stored.state == ActionState.RUNNING


async def test_a_result_holding_a_nul_is_stored(store: Store) -> None:
    """PostgreSQL's text cannot hold the character: it is dropped there, kept by SQLite."""
    action = await store.create_action(PLAN, "U1\x00", "C", None)
    assert action.requested_by.replace("\x00", "") == "U1"
    done = await store.transition_action(
        action.id, [ActionState.PENDING], ActionState.FAILED, result="exit\x00 1"
    )
    assert done is not None and done.result.replace("\x00", "") == "exit 1"
