"""Megabytes of hostile text from the cluster: scrubbed of secrets all the same, and the bot
keeps answering while it is."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import PlatformConfig, Settings
from tests.fakes.kube_api import FakeKubernetes
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

NS = "factsway-prod"
# URL-like text that never reaches an @: every "a://" makes the scrubber look ahead for one.
HOSTILE_LINE = "a://b:" * 5_000 + "\n"


async def slowest_answer(bot: RunningBot, done: asyncio.Event) -> float:
    """The longest wait for an answer to /healthz, asked every 20 ms while `done` is not set:
    a request sent while the bot is stalled waits for the stall to end."""
    worst = 0.0
    while not done.is_set():
        asked = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.02)
        async with await bot.request("GET", "/healthz") as response:
            assert response.status == 200
        # The pause itself is not waiting: anything beyond it is.
        worst = max(worst, time.monotonic() - asked - 0.02)
    return worst


async def test_five_megabytes_of_hostile_pod_logs_never_stall_the_bot(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
    tmp_path: Path,
) -> None:
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "logs.yaml").write_text(
        "name: logs\ndescription: Recent logs\nsteps:\n  - {kind: k8s.logs, params: {tail: 100}}\n"
    )
    config = platform_config.model_copy(deep=True)
    config.playbooks_dir = books
    async with FakeKubernetes(namespace=NS) as kube:
        kube.add_deployment("records-service", image="registry.local/records:1.0", replicas=2)
        for pod in kube.pods("records-service"):
            kube.set_logs(
                pod["metadata"]["name"],
                "ERROR connect postgresql://app:hunter2@db/records failed\n" + HOSTILE_LINE * 83,
            )
        bot = await start_bot(
            make_settings(
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake_slack.url,
                SLACK_ALERTS_CHANNEL="C_ALERTS",
                KUBECONFIG=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
            ),
            config,
        )
        done = asyncio.Event()
        probe = asyncio.create_task(slowest_answer(bot, done))
        response = await bot.slack_command(
            "/incident", "run logs records", response_url=fake_slack.issue_response_url()
        )
        assert response.status == 200
        async with asyncio.timeout(120):
            while not any(m.files for m in fake_slack.messages.get("C_ALERTS", [])):
                await asyncio.sleep(0.05)
        done.set()
        worst = await probe

    uploaded = " ".join(str(f.get("content", b"")) for f in fake_slack.files.values())
    assert len(uploaded) > 4_000_000
    assert "ERROR connect postgresql://app:" in uploaded
    assert "hunter2" not in uploaded
    assert worst < 0.5, f"the bot stopped answering for {worst:.2f} s"
