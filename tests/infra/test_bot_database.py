"""incident-bot-database.sql on a real PostgreSQL: the bot's own role and database, and nothing
else, made idempotently the way the Job incident-bot-db and Compose's incident-bot-db run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator

import pytest

from bot.store.factory import open_store
from tests.harness.postgres import PostgresError, ThrowawayPostgres
from tests.infra.rendering import INFRA

SQL = INFRA / "kubernetes" / "base" / "incident-bot-database.sql"
PLATFORM_DB = "factsway"
PLATFORM_ROLE = "factsway"


@pytest.fixture
def server() -> Iterator[ThrowawayPostgres]:
    """A server of its own: roles are cluster-wide, and each test starts without the bot's.
    The platform's database is owned by an ordinary role here, so the test also shows the
    platform keeps its access (in the cluster that role is the superuser)."""
    server = ThrowawayPostgres(extensions=())
    try:
        server.start()
    except (PostgresError, OSError) as exc:
        pytest.fail(f"could not start throwaway PostgreSQL: {exc}")
    try:
        server.psql(f"CREATE ROLE {PLATFORM_ROLE} LOGIN")
        server.psql(f"CREATE DATABASE {PLATFORM_DB} OWNER {PLATFORM_ROLE}")
        yield server
    finally:
        server.stop()


def run_setup(server: ThrowawayPostgres, **env: str) -> subprocess.CompletedProcess[str]:
    """The script as the Job runs it: the superuser over TCP, every value in the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_"))}
    environ.pop("INCIDENT_BOT_DB_PASSWORD", None)
    environ.update(
        PGHOST=server.host,
        PGPORT=str(server.port),
        PGUSER=server.user,
        PGDATABASE=PLATFORM_DB,
        PGCONNECT_TIMEOUT="10",
        POSTGRES_DB=PLATFORM_DB,
        **env,
    )
    return subprocess.run(
        [str(server.bindir / "psql"), "--no-psqlrc", "--file", str(SQL)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )


def connects(
    server: ThrowawayPostgres,
    role: str,
    database: str,
    sql: str = "SELECT current_user",
) -> subprocess.CompletedProcess[str]:
    """psql as ROLE into DATABASE (trust authentication: CONNECT privileges still apply)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run(
        [
            str(server.bindir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            server.host,
            "-p",
            str(server.port),
            "-U",
            role,
            "-d",
            database,
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=environ,
    )


def password_hash(server: ThrowawayPostgres) -> str:
    return server.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'incident_bot'")


def test_makes_a_role_that_owns_its_database_and_reaches_nothing_else(
    server: ThrowawayPostgres,
) -> None:
    # A read-only role for the pg.* steps, granted CONNECT by name (the README's recipe).
    server.psql("CREATE ROLE stats_reader LOGIN")
    server.psql(f"GRANT CONNECT ON DATABASE {PLATFORM_DB} TO stats_reader")
    first = run_setup(server, INCIDENT_BOT_DB_PASSWORD="first0password")
    assert first.returncode == 0, first.stderr
    assert "are ready" in first.stdout
    first_hash = password_hash(server)
    assert first_hash.startswith("SCRAM-SHA-256$")
    # Idempotent; a new password in the Secret becomes the role's.
    again = run_setup(server, INCIDENT_BOT_DB_PASSWORD="second0password")
    assert again.returncode == 0, again.stderr
    assert password_hash(server) not in ("", first_hash)

    attributes = server.psql(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin"
        " FROM pg_roles WHERE rolname = 'incident_bot'"
    )
    assert attributes == "f|f|f|f|f|t"
    assert (
        server.psql("SELECT count(*) FROM pg_auth_members WHERE member = 'incident_bot'::regrole")
        == "0"
    )
    owner = server.psql(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'incident_bot'"
    )
    assert owner == "incident_bot" != PLATFORM_ROLE

    # Its own database: it connects and creates tables (its migrations need no more).
    own = connects(server, "incident_bot", "incident_bot")
    assert own.returncode == 0, own.stderr
    create = connects(
        server, "incident_bot", "incident_bot", "CREATE TABLE leases (name text PRIMARY KEY)"
    )
    assert create.returncode == 0, create.stderr
    # Nowhere else: not the platform's database, not the maintenance ones.
    for database in (PLATFORM_DB, "postgres", "template1"):
        refused = connects(server, "incident_bot", database)
        assert refused.returncode != 0, database
        assert "permission denied" in refused.stderr, refused.stderr
    # The platform's role and the named read-only role keep theirs; others may not enter the
    # bot's database.
    assert connects(server, PLATFORM_ROLE, PLATFORM_DB).returncode == 0
    assert connects(server, "stats_reader", PLATFORM_DB).returncode == 0
    assert connects(server, "stats_reader", "incident_bot").returncode != 0
    assert connects(server, PLATFORM_ROLE, "incident_bot").returncode != 0


def test_refuses_to_run_without_a_password(server: ThrowawayPostgres) -> None:
    for env in ({}, {"INCIDENT_BOT_DB_PASSWORD": ""}):
        result = run_setup(server, **env)
        assert result.returncode != 0
        assert "INCIDENT_BOT_DB_PASSWORD is empty or not set" in result.stderr
    assert server.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'incident_bot'") == "0"


def test_leaves_alone_an_incident_bot_role_it_did_not_make(server: ThrowawayPostgres) -> None:
    # Say, the README's read-only role for the pg.* steps under the same name.
    server.psql("CREATE ROLE incident_bot LOGIN")
    server.psql(f"GRANT CONNECT ON DATABASE {PLATFORM_DB} TO incident_bot")
    server.psql("GRANT pg_read_all_stats TO incident_bot")
    result = run_setup(server, INCIDENT_BOT_DB_PASSWORD="a0password")
    assert result.returncode != 0
    assert "rename it" in result.stderr
    assert connects(server, "incident_bot", PLATFORM_DB).returncode == 0
    assert server.psql("SELECT count(*) FROM pg_database WHERE datname = 'incident_bot'") == "0"
    assert password_hash(server) == ""


def test_the_bots_replicas_migrate_and_lead_as_that_role(server: ThrowawayPostgres) -> None:
    setup = run_setup(server, INCIDENT_BOT_DB_PASSWORD="a0password")
    assert setup.returncode == 0, setup.stderr
    url = f"postgresql://incident_bot:a0password@{server.host}:{server.port}/incident_bot"

    async def two_replicas() -> None:
        stores = [open_store(url) for _ in range(2)]
        try:
            # Started together: the migrations' lock lets one apply them, the other wait.
            await asyncio.gather(*(store.open() for store in stores))
            assert await stores[0].hold_lease("singleton-work", "replica-a", 10.0) is not None
            assert await stores[1].hold_lease("singleton-work", "replica-b", 10.0) is None
        finally:
            for store in stores:
                await store.close()

    asyncio.run(two_replicas())
    owners = server.psql(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
        database="incident_bot",
    )
    assert owners == "incident_bot"
