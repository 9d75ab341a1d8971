"""The store contract, signed Slack requests on PostgreSQL: a request is handled once across
every replica, and the claims outlive a restart and forget expired requests."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.store.postgres import PostgresStore
from tests.harness.postgres import ThrowawayPostgres
from tests.store.replicas import replicas


async def test_replicas_given_one_request_at_once_handle_it_once(
    postgres: ThrowawayPostgres,
) -> None:
    async with replicas(postgres, 3) as stores:
        for n in range(20):
            signature = f"v0={n:064x}"
            claimed = await asyncio.gather(
                *(s.claim_slack_request(signature, 1360.0 + n, 1000.0 + n) for s in stores)
            )
            assert claimed.count(True) == 1
        # A replay at any replica later on is still refused.
        assert not await stores[2].claim_slack_request(f"v0={0:064x}", 1360.0, 1030.0)


async def test_a_claim_survives_a_restart_and_expired_ones_are_forgotten(
    postgres: ThrowawayPostgres,
) -> None:
    async with replicas(postgres, 1) as (store,):
        for second in range(400):
            # One request a second, each kept for 120 s.
            sig = f"v0={second:064x}"
            assert await store.claim_slack_request(sig, second + 120.0, float(second))
        await store.close()
        store = PostgresStore(store.dsn)
        await store.open()
        try:
            assert not await store.claim_slack_request(f"v0={399:064x}", 519.0, 400.0)
            conn = await asyncpg.connect(store.dsn)
            try:
                kept = await conn.fetchval("SELECT count(*) FROM slack_requests_seen")
            finally:
                await conn.close()
            assert kept <= 121
        finally:
            await store.close()
