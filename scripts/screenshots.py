"""Regenerates the screenshots in docs/ (`make screenshots`), in the browser tests' headless
Chromium:

- docs/status-page-{desktop,phone}.png: `incident-bot serve` with a sample incident, published
  through the API as a responder would, at desktop (1280 px) and phone (390 px) widths;
- docs/alert-thread.png: an alert thread as Slack shows it, from the blocks the bot builds for
  an Alertmanager group captured from the real Alertmanager (scripts/slack_samples.py), drawn
  by the static Block Kit mock (scripts/block_kit_mock.py).

    .venv/bin/python scripts/screenshots.py [--out docs] [--only status-page|alert-thread]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from playwright.async_api import ViewportSize, async_playwright  # noqa: E402

from scripts.block_kit_mock import page as mock_page  # noqa: E402
from scripts.slack_samples import alert_thread_panes  # noqa: E402
from tests.harness.browser import DESKTOP, PHONE, BrowserTools, browser_tools, launch  # noqa: E402
from tests.harness.served import ServedBot  # noqa: E402

SHOTS = {"status-page-desktop.png": DESKTOP, "status-page-phone.png": PHONE}
ALERT_THREAD = "alert-thread.png"
# Wide enough for the channel and the thread side by side, as Slack's desktop app shows them.
THREAD_VIEWPORT: ViewportSize = {"width": 1280, "height": 600}
KINDS = ("status-page", "alert-thread")


async def publish(bot: ServedBot, incident: int, text: str, **public: Any) -> None:
    """A public update (an API from before publication shows every update: then a plain one)."""
    try:
        await bot.api(
            "POST", f"/api/incidents/{incident}/updates", {"text": text, "public": True, **public}
        )
    except AssertionError as refused:
        if "public" not in str(refused):
            raise
        await bot.api("POST", f"/api/incidents/{incident}/updates", {"text": text})


async def sample(bot: ServedBot) -> None:
    """One incident resolved earlier today and one open, each with internal notes too."""
    past = await bot.api(
        "POST",
        "/api/incidents",
        {
            "title": "Signature blocks failing after deploy",
            "severity": "P2",
            "services": ["signature"],
        },
    )
    await publish(
        bot,
        past["id"],
        "Adding signature blocks to a filing fails for some users. We are looking into it.",
        public_title="Signature blocks fail to add",
        impact="partial_outage",
        components=["signature"],
    )
    await publish(bot, past["id"], "A fix is out and signature blocks work again.")
    await bot.api("POST", f"/api/incidents/{past['id']}/resolve", {"summary": "Rolled back."})

    now = await bot.api(
        "POST",
        "/api/incidents",
        {"title": "export-service p99 over 30 s", "severity": "P1", "services": ["export"]},
    )
    await bot.api(
        "POST",
        f"/api/incidents/{now['id']}/updates",
        {"text": "Queue depth on export workers at 4k; scaling the deployment."},
    )
    await publish(
        bot,
        now["id"],
        "Exports of long filings take several minutes. Documents are not lost; we are"
        " adding capacity.",
        public_title="Exports are delayed",
        impact="degraded_performance",
        components=["export"],
    )
    await publish(
        bot, now["id"], "We have added capacity and exports are catching up.", status="monitoring"
    )


async def alert_thread(out: Path, tools: BrowserTools) -> None:
    """The mock holds no script and loads nothing: set as the page's content, no server."""
    async with async_playwright() as playwright:
        browser = await launch(playwright, tools)
        page = await browser.new_page(viewport=THREAD_VIEWPORT)
        await page.set_content(mock_page(alert_thread_panes()), wait_until="load")
        await page.screenshot(path=str(out / ALERT_THREAD), full_page=True)
        print(f"wrote {ALERT_THREAD}")
        await browser.close()


async def status_page(out: Path, tools: BrowserTools) -> None:
    with tempfile.TemporaryDirectory(prefix="status-screenshots-") as tmp:
        async with ServedBot(Path(tmp)) as bot, async_playwright() as playwright:
            await sample(bot)
            browser = await launch(playwright, tools)
            for name, viewport in SHOTS.items():
                page = await browser.new_page(viewport=viewport)
                await page.goto(bot.url + "/", wait_until="load")
                await page.screenshot(path=str(out / name), full_page=True)
                print(f"wrote {name}")
            await browser.close()


async def main(out: Path, only: str | None = None) -> None:
    tools = browser_tools()
    if only in (None, "status-page"):
        await status_page(out, tools)
    if only in (None, "alert-thread"):
        await alert_thread(out, tools)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--only", choices=KINDS, help="one kind of screenshot (default: all)")
    args = parser.parse_args()
    asyncio.run(main(args.out.resolve(), args.only))
