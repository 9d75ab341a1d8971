"""Playbooks from Slack against the fake Kubernetes API: results, files, scrubbing, timeouts,
and the enrichment of a new alert thread with a rollback offer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import PlatformConfig, Settings
from bot.playbooks.loader import load_directory
from bot.playbooks.registry import STEP_KINDS
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.kube_api import FakeKubernetes, rolled_out
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.alerts import TOKEN, block_text, deliver, parents, replies, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

NS = "factsway-prod"
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubernetes]:
    async with FakeKubernetes(namespace=NS) as fake:
        fake.add_deployment("records-service", image="registry.local/records:1.0")
        yield fake


@pytest.fixture
def start(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
    platform_config: PlatformConfig,
    tmp_path: Path,
    health_server: str,
) -> Callable[..., Any]:
    async def run(playbooks_dir: Path = PLAYBOOKS, **extra: str) -> RunningBot:
        config = platform_config.model_copy(deep=True)
        config.playbooks_dir = playbooks_dir
        config.health_url_template = health_server + "/{deployment}{path}"
        settings = make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.url,
            SLACK_ALERTS_CHANNEL="C_ALERTS",
            ALERTMANAGER_TOKEN=TOKEN,
            INCIDENT_BOT_OPERATORS="U1",
            KUBECONFIG=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
            **extra,
        )
        return await start_bot(settings, config)

    return run


async def offer_and_quick_steps(bot: RunningBot, fake: FakeSlack) -> tuple[Message, Message]:
    """The first two replies of the first alert thread: the rollback offer, then the quick steps."""
    async with asyncio.timeout(30):
        while True:
            await settled(bot)
            threads = parents(fake)
            if threads and len(replies(fake, threads[0])) >= 2:
                offer, quick = replies(fake, threads[0])[:2]
                return offer, quick
            await asyncio.sleep(0.1)


async def run_command(bot: RunningBot, fake: FakeSlack, text: str) -> str:
    before = len(fake.responses)
    await bot.slack_command("/incident", text, response_url=fake.issue_response_url())
    async with asyncio.timeout(30):
        while len(fake.responses) == before:
            await asyncio.sleep(0.02)
    return str(fake.responses[-1]["text"])


def test_every_shipped_playbook_loads() -> None:
    catalogue = load_directory(PLAYBOOKS, STEP_KINDS)
    assert catalogue.errors == []
    assert set(catalogue.playbooks) == {
        "service-down",
        "database-connections",
        "export-failures",
        "high-error-rate",
        "slow-responses",
        "disk-space-low",
        "p0-investigation",
    }


def test_a_bad_playbook_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(
        "name: broken\ndescription: x\nsteps:\n"
        "  - kind: k8s.pods\n"
        "  - kind: k8s.logz\n"
        "  - kind: k8s.logs\n    params: {tail: -5}\n"
    )
    errors = [str(e) for e in load_directory(tmp_path, STEP_KINDS).errors]
    assert errors[0].startswith("broken.yaml:5: unknown step kind `k8s.logz`")
    assert errors[1].startswith("broken.yaml:7: k8s.logs: tail:")


async def test_service_down_finds_the_crash_uploads_logs_and_scrubs_secrets(
    start: Callable[..., Any],
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
) -> None:
    kube.crash_pods("records-service", reason="OOMKilled", restarts=4)
    for pod in kube.pods("records-service"):
        name = pod["metadata"]["name"]
        kube.set_logs(
            name,
            "starting\nERROR connect postgresql://app:hunter2@db/records failed\n"
            "token=xoxb-1234-secret\n",
        )
    bot = await start(PLATFORM_DATABASE_URL="postgresql://app:hunter2@127.0.0.1:9/records")
    answer = await run_command(bot, fake_slack, "run service-down records")
    assert answer == "Playbook `service-down` ran; the results are posted in this channel."
    async with asyncio.timeout(20):
        while not fake_slack.files:
            await asyncio.sleep(0.05)
    await settled(bot)
    [result] = [m for m in fake_slack.messages["C_ALERTS"] if "service-down" in m.text]
    shown = repr(result.blocks)
    assert "OOMKilled" in shown and ":x:" in shown
    assert "503" in shown  # the health endpoint
    uploaded = " ".join(str(f.get("content", b"")) for f in fake_slack.files.values())
    assert "ERROR connect" in uploaded
    for leaked in ("hunter2", "xoxb-1234-secret"):
        assert leaked not in shown and leaked not in uploaded


async def test_a_step_that_times_out_does_not_stop_the_others(
    start: Callable[..., Any],
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
    tmp_path: Path,
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "quick.yaml").write_text(
        "name: quick\ndescription: two checks\nneeds_service: true\nsteps:\n"
        "  - {kind: k8s.pods, timeout: 1}\n"
        "  - {kind: http.health, timeout: 5}\n"
    )
    bot = await start(books)
    kube.hang(3)
    await run_command(bot, fake_slack, "run quick records")
    await settled(bot)
    [result] = [m for m in fake_slack.messages["C_ALERTS"] if "quick" in m.text]
    shown = repr(result.blocks)
    assert "Gave up after 1 s" in shown
    assert "503" in shown


async def test_a_new_alert_thread_offers_to_roll_back_a_recent_rollout(
    start: Callable[..., Any],
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
) -> None:
    kube.set_image("records-service", "registry.local/records:1.1", change_cause="release 1.1")
    await rolled_out(kube, "records-service")
    bot = await start()
    await deliver(
        bot, notification("g1", [alert("a1", alertname="ServiceDown")], alertname="ServiceDown")
    )
    offer, quick = await offer_and_quick_steps(bot, fake_slack)
    assert "records* rolled out" in offer.text and "release 1.1" in offer.text
    assert "registry.local/records:1.0" in offer.text
    assert "Playbook service-down for records" in quick.text
    button = next(e for b in offer.blocks or [] if b["type"] == "actions" for e in b["elements"])
    assert button["text"]["text"] == "Roll back to revision 1"
    before = len(fake_slack.responses)
    await bot.slack_action(
        "rollback_offer",
        button["value"],
        message_ts=offer.ts,
        response_url=fake_slack.issue_response_url(),
    )
    async with asyncio.timeout(20):
        while len(fake_slack.responses) == before:
            await asyncio.sleep(0.05)
    assert fake_slack.responses[-1]["text"].startswith("Posted for confirmation")


HOSTILE = (
    "Back-off <!channel> restarting, ask <@U0ADMIN> or"
    " <https://evil.example/reset|Reset your password here>"
)


async def test_cluster_text_in_a_new_alert_thread_is_shown_as_text_never_as_markup(
    start: Callable[..., Any],
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
) -> None:
    """Event messages and the change-cause annotation are written by whatever runs in the
    cluster; the quick steps and the rollback offer of an automatic thread show them as text."""
    kube.add_event("Deployment", "records-service", "BackOff", HOSTILE)
    kube.set_image("records-service", "registry.local/records:1.1", change_cause=HOSTILE)
    await rolled_out(kube, "records-service")
    bot = await start()
    await deliver(
        bot, notification("g1", [alert("a1", alertname="ServiceDown")], alertname="ServiceDown")
    )
    offer, quick = await offer_and_quick_steps(bot, fake_slack)
    shown = [offer.text, block_text(offer), quick.text, block_text(quick)]
    assert "BackOff" in block_text(quick)  # the events step ran and its line is there
    for text in shown:
        assert "<!channel>" not in text
        assert "<@U0ADMIN>" not in text
        assert "<https://evil.example" not in text
    assert "&lt;!channel&gt;" in block_text(quick)
    assert "&lt;https://evil.example/reset|Reset your password here&gt;" in block_text(quick)
    assert "&lt;@U0ADMIN&gt;" in offer.text
