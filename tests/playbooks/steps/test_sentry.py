"""The sentry.issues step against a local server speaking Sentry's issues API."""

from __future__ import annotations

import secrets

import pytest

from bot.config import PlatformConfig
from bot.integrations.sentry_issues import SentryIssues, SentryIssuesError
from bot.playbooks.model import (
    StepOutput,
)
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.steps import sentry
from bot.slack.report import mrkdwn
from tests.fakes.http import closed_port
from tests.fakes.sentry import SENTRY_TOKEN, FakeSentry
from tests.harness.playbooks import context

KINDS = STEP_KINDS


async def test_new_sentry_issues_across_projects(
    platform_config: PlatformConfig, fake_sentry: tuple[FakeSentry, str]
) -> None:
    fake, url = fake_sentry
    client = SentryIssues(url + "/", SENTRY_TOKEN, "acme", ["factsway-api", "factsway-web"])
    ctx = context(platform_config, None, sentry=client)

    output = await sentry.issues(ctx, sentry.IssuesParams())

    assert sorted(fake.requests) == [
        (
            f"acme/{project}",
            {"query": "is:unresolved firstSeen:-2h", "sort": "date", "statsPeriod": ""},
            f"Bearer {SENTRY_TOKEN}",
        )
        for project in ("factsway-api", "factsway-web")
    ]
    assert not output.healthy
    lines = mrkdwn(output.lines).splitlines()
    assert lines[0] == "3 new unresolved issues in the last 2 hours (2 errors or fatal):"
    # Newest first across projects, with the title escaped so it cannot forge a link.
    assert lines[1] == (
        ":red_circle: <https://acme.sentry.io/issues/4003/|FACTSWAY-WEB-3> TypeError: cannot read"
        " 'caseId' of undefined &lt;3&gt; in `app/routes/records.ts in getRecord`: 12 events,"
        " 7 users, first seen 11:50 UTC"
    )
    assert lines[2].startswith(":red_circle: <https://acme.sentry.io/issues/4002/|FACTSWAY-API-2>")
    assert "1,532 events" in lines[2]
    assert lines[3].startswith(":warning: <https://acme.sentry.io/issues/4001/|FACTSWAY-API-1>")
    assert len(output.details.splitlines()) == 3


async def test_sentry_window_in_minutes_and_only_warnings_are_healthy(
    platform_config: PlatformConfig, fake_sentry: tuple[FakeSentry, str]
) -> None:
    fake, url = fake_sentry
    fake.issues["factsway-api"] = fake.issues["factsway-api"][1:]  # the warning only
    ctx = context(
        platform_config, None, sentry=SentryIssues(url, SENTRY_TOKEN, "acme", ["factsway-api"])
    )

    output = await sentry.issues(ctx, sentry.IssuesParams(hours=1.5))

    assert fake.requests[0][1]["query"] == "is:unresolved firstSeen:-90m"
    assert output.healthy
    assert mrkdwn(output.lines).startswith("1 new unresolved issue in the last 1.5 hours (0 errors")


async def test_no_new_sentry_issues(
    platform_config: PlatformConfig, fake_sentry: tuple[FakeSentry, str]
) -> None:
    fake, url = fake_sentry
    fake.issues["factsway-api"] = []
    ctx = context(
        platform_config, None, sentry=SentryIssues(url, SENTRY_TOKEN, "acme", ["factsway-api"])
    )

    output = await sentry.issues(ctx, sentry.IssuesParams())

    assert output == StepOutput.of("No new unresolved Sentry issues in the last 2 hours.")


async def test_sentry_errors_are_one_line_without_the_token(
    fake_sentry: tuple[FakeSentry, str],
) -> None:
    _, url = fake_sentry
    wrong = "sntrys_" + secrets.token_hex(16)

    with pytest.raises(SentryIssuesError) as refused:
        await SentryIssues(url, wrong, "acme", ["factsway-api"]).new_issues()
    with pytest.raises(SentryIssuesError) as missing:
        await SentryIssues(url, SENTRY_TOKEN, "acme", ["nope"]).new_issues()
    with pytest.raises(SentryIssuesError) as down:
        await SentryIssues(
            f"http://127.0.0.1:{closed_port()}", SENTRY_TOKEN, "acme", ["factsway-api"]
        ).new_issues()

    assert str(refused.value) == "Sentry answered HTTP 401 for acme/factsway-api: Invalid token"
    assert str(missing.value) == (
        "Sentry answered HTTP 404 for acme/nope: The requested resource does not exist"
    )
    assert str(down.value).startswith("cannot list Sentry issues of acme/factsway-api:")
    for error in (refused, missing, down):
        assert "\n" not in str(error.value)
        assert wrong not in str(error.value) and SENTRY_TOKEN not in str(error.value)
