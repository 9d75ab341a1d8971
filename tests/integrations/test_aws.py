"""The desktop update channel against moto's S3 and CloudFront, over real HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from bot.integrations.aws import (
    DesktopRollbackPlan,
    DesktopUpdates,
    DesktopUpdatesError,
)
from tests.fakes.aws import (
    YAML_CONTENT_TYPE,
    create_distribution,
    fake_aws_env,
    list_invalidations,
    moto_server,
    read_object,
    reset,
    seed_updates,
    update_yaml,
)

BUCKET = "factsway-updates"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto's URL, emptied, with fake credentials in the environment."""
    fake_aws_env(monkeypatch)
    reset(moto_url)
    return moto_url


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def updates(url: str, distribution_id: str = "E1234") -> DesktopUpdates:
    return DesktopUpdates(BUCKET, distribution_id, endpoint_url=url)


async def test_versions_are_listed_newest_first(aws: str) -> None:
    win = {"latest.yml": "win"}
    await seed_updates(
        aws,
        BUCKET,
        releases={"1.2.2": win, "1.2.10": win, "1.10.0": win, "1.2.3": win, "1.9": win},
        root_version="1.10.0",
        extra={
            # Prefixes that are not releases, or hold no update file, are not offered.
            "v1.3.0/FactsWay-Setup-1.3.0.exe": b"installer only",
            "v2.0.0-beta.1/latest.yml": update_yaml("2.0.0-beta.1"),
            "vendor/latest.yml": b"version: 9.9.9\n",
            "v1.4.0/nested/latest.yml": update_yaml("1.4.0"),
            "v1.5.0/beta.yml": update_yaml("1.5.0"),
        },
    )

    assert await updates(aws).versions() == ["1.10.0", "1.9", "1.2.10", "1.2.3", "1.2.2"]


async def test_plan_reports_what_users_get_now_and_after(aws: str) -> None:
    await seed_updates(aws, BUCKET)

    plan = await updates(aws).plan("v1.2.2")

    assert plan == DesktopRollbackPlan(
        version="1.2.2",
        files=[("v1.2.2/latest-mac.yml", "latest-mac.yml"), ("v1.2.2/latest.yml", "latest.yml")],
        current={"latest-mac.yml": "1.2.3", "latest.yml": "1.2.3"},
    )
    assert (await updates(aws).plan("1.2.2")) == plan


async def test_plan_for_a_missing_version_lists_the_available_ones(aws: str) -> None:
    await seed_updates(aws, BUCKET)

    with pytest.raises(DesktopUpdatesError) as raised:
        await updates(aws).plan("1.2.1")

    message = str(raised.value)
    assert "1.2.1" in message
    assert "Available versions: 1.2.3, 1.2.2." in message
    assert "\n" not in message


async def test_plan_refuses_a_release_file_announcing_another_version(aws: str) -> None:
    await seed_updates(aws, BUCKET, extra={"v1.2.1/latest.yml": update_yaml("1.2.0")})

    with pytest.raises(DesktopUpdatesError, match=r"announces 1\.2\.0, not 1\.2\.1"):
        await updates(aws).plan("1.2.1")


@pytest.mark.parametrize(
    "version",
    ["", "latest", "1.2.2; rm -rf /", "../v1.2.2", "1..2", "v", "1.2.2/", "1.2.2-beta.1", "V1.2"],
)
async def test_a_malformed_version_is_refused_before_any_call(
    version: str, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_env(monkeypatch)
    # Any call would fail with "could not reach"; the refusal must come first.
    with pytest.raises(DesktopUpdatesError, match="is not a version"):
        await updates(closed_port_url).plan(version)


async def test_rollback_copies_the_release_files_and_invalidates_the_cdn(aws: str) -> None:
    await seed_updates(aws, BUCKET)
    distribution_id = await create_distribution(aws, BUCKET)
    channel = updates(aws, distribution_id)
    plan = await channel.plan("1.2.2")
    started = time.monotonic()

    result = await channel.rollback(plan, wait_seconds=10, poll_seconds=0.1)

    print(f"rollback took {time.monotonic() - started:.2f}s")
    assert result.copied == ["latest-mac.yml", "latest.yml"]
    assert result.status == "Completed"
    for name, platform in (("latest.yml", "win"), ("latest-mac.yml", "mac")):
        body, content_type = await read_object(aws, BUCKET, name)
        assert body == update_yaml("1.2.2", platform)
        assert content_type == YAML_CONTENT_TYPE
    # The release's own copies are untouched.
    assert (await read_object(aws, BUCKET, "v1.2.3/latest.yml"))[0] == update_yaml("1.2.3")

    invalidations = await list_invalidations(aws, distribution_id)
    assert len(invalidations) == 1
    assert invalidations[0]["Id"] == result.invalidation_id
    assert invalidations[0]["InvalidationBatch"]["Paths"]["Items"] == ["/latest*"]

    after = await channel.plan("1.2.3")
    assert after.current == {"latest-mac.yml": "1.2.2", "latest.yml": "1.2.2"}


async def test_each_rollback_is_a_new_invalidation(aws: str) -> None:
    await seed_updates(aws, BUCKET)
    distribution_id = await create_distribution(aws, BUCKET)
    channel = updates(aws, distribution_id)
    plan = await channel.plan("1.2.2")

    first = await channel.rollback(plan, wait_seconds=0)
    second = await channel.rollback(plan, wait_seconds=0)

    invalidations = await list_invalidations(aws, distribution_id)
    assert {i["Id"] for i in invalidations} == {first.invalidation_id, second.invalidation_id}
    references = {i["InvalidationBatch"]["CallerReference"] for i in invalidations}
    assert len(references) == 2


async def test_a_forged_plan_is_refused_before_any_call(
    closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_env(monkeypatch)
    channel = updates(closed_port_url)
    forged = [
        DesktopRollbackPlan("1.2.2", [("secrets/prod.env", "latest.yml")], {}),
        DesktopRollbackPlan("1.2.2", [("v1.2.2/latest.yml", "index.html")], {}),
        DesktopRollbackPlan("1.2.2", [], {}),
        DesktopRollbackPlan("../x", [("v../x/latest.yml", "latest.yml")], {}),
    ]
    for plan in forged:
        with pytest.raises(DesktopUpdatesError, match=r"plan|not a version"):
            await channel.rollback(plan)


async def test_a_missing_distribution_is_reported_after_the_copy(aws: str) -> None:
    await seed_updates(aws, BUCKET)
    channel = updates(aws, "E0000MISSING")
    plan = await channel.plan("1.2.2")

    with pytest.raises(DesktopUpdatesError) as raised:
        await channel.rollback(plan, wait_seconds=0)

    message = str(raised.value)
    assert "Copied latest-mac.yml, latest.yml from 1.2.2" in message
    assert "NoSuchDistribution" in message


async def test_a_missing_bucket_is_reported(aws: str) -> None:
    with pytest.raises(DesktopUpdatesError, match="NoSuchBucket"):
        await updates(aws).versions()


async def test_missing_credentials_are_reported(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)

    with pytest.raises(DesktopUpdatesError, match="no AWS credentials found"):
        await updates(aws).versions()


async def test_an_unreachable_endpoint_fails_quickly(
    closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_env(monkeypatch)
    started = time.monotonic()

    with pytest.raises(DesktopUpdatesError) as raised:
        await updates(closed_port_url).versions()

    elapsed = time.monotonic() - started
    print(f"unreachable endpoint failed after {elapsed:.2f}s: {raised.value}")
    # Three connection attempts (two retries) with backoff; connection refused is immediate.
    assert elapsed < 20
    message = str(raised.value)
    assert message.startswith("Listing s3://factsway-updates/v*/ failed: could not reach AWS")
    assert "\n" not in message


async def test_error_messages_carry_no_credentials(
    closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_env(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret-key")
    url = closed_port_url.replace("http://", "http://user:hunter2pass@")

    with pytest.raises(DesktopUpdatesError) as raised:
        await updates(url).versions()

    print(raised.value)
    message = str(raised.value)
    assert "hunter2pass" not in message
    assert "wJalrXUtnFEMI" not in message
    assert "AKIAIOSFODNN7EXAMPLE" not in message


async def test_region_defaults_to_us_east_1(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    await seed_updates(aws, BUCKET)

    channel = updates(aws)

    assert channel._region == "us-east-1"
    assert await channel.versions() == ["1.2.3", "1.2.2"]


async def test_a_long_version_list_is_cut_to_the_newest(aws: str) -> None:
    win = {"latest.yml": "win"}
    await seed_updates(
        aws, BUCKET, releases={f"1.0.{n}": win for n in range(40)}, root_version=None
    )

    with pytest.raises(DesktopUpdatesError) as raised:
        await updates(aws).plan("2.0.0")

    assert str(raised.value).endswith(
        "Available versions: 1.0.39, 1.0.38, "
        + (", ".join(f"1.0.{n}" for n in range(37, 24, -1)))
        + " and 25 older."
    )


class SlowInvalidations:
    """CloudFront's get_invalidation as AWS behaves and moto does not: InProgress for a while
    (moto completes every invalidation on creation)."""

    def __init__(self, statuses: list[str | Exception]) -> None:
        self.statuses = statuses
        self.calls = 0

    async def get_invalidation(self, *, DistributionId: str, Id: str) -> dict[str, Any]:
        self.calls += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(status, Exception):
            raise status
        return {"Invalidation": {"Id": Id, "Status": status}}


async def test_waiting_polls_until_completed_through_a_failed_look() -> None:
    throttled = ClientError({"Error": {"Code": "Throttling"}}, "GetInvalidation")
    cloudfront = SlowInvalidations(["InProgress", throttled, "Completed"])

    status = await updates("http://unused")._wait(cloudfront, "I1", "InProgress", 10, 0.01)

    assert status == "Completed"
    assert cloudfront.calls == 3


async def test_waiting_returns_the_last_status_when_time_runs_out() -> None:
    cloudfront = SlowInvalidations(["InProgress"])
    started = time.monotonic()

    status = await updates("http://unused")._wait(cloudfront, "I1", "InProgress", 0.3, 0.05)

    assert status == "InProgress"
    assert 0.3 <= time.monotonic() - started < 2
    assert cloudfront.calls >= 3


@pytest.mark.parametrize("url", ["not a url", "127.0.0.1:9000", "ftp://host", "http://"])
def test_a_malformed_endpoint_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="AWS_ENDPOINT_URL"):
        updates(url)
