"""The public status page as a customer's browser shows it, on a desktop and on a phone:
`incident-bot serve` with incidents declared through its API, read by headless Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.fakes.alertmanager_payloads import alert, notification
from tests.harness.browser import (
    DESKTOP,
    PHONE,
    BrowserTools,
    BrowserToolsMissing,
    browser_tools,
    horizontal_overflow,
    launch,
    open_page,
    rendered_dom,
    visible_text,
)
from tests.harness.served import ServedBot

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC_TITLE = "Exports are delayed"
PUBLIC_UPDATE = "Exports of long filings take several minutes; we are adding workers."
# What an alert carries and a customer must never read: hosts, paths, alert names.
INTERNAL_HOST = "db-primary.factsway.internal:5432"
INTERNAL_SUMMARY = f"{INTERNAL_HOST} /var/lib/postgresql/data at 97%"
INTERNAL_ALERT = "PostgresDiskFull"
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def tools() -> BrowserTools:
    try:
        return browser_tools()
    except BrowserToolsMissing as exc:
        pytest.fail(f"the browser tests need Chromium and axe-core: {exc}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tools: BrowserTools) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await launch(playwright, tools)
        yield browser
        await browser.close()


async def declare_from_alert(bot: ServedBot) -> dict[str, Any]:
    """A critical production alert: the bundled config declares an incident for it, titled
    with the alert's own words."""
    fired = alert(
        "disk1",
        alertname=INTERNAL_ALERT,
        severity="critical",
        service="records",
        summary=INTERNAL_SUMMARY,
    )
    body = notification("disk", [fired], alertname=INTERNAL_ALERT)
    assert bot.session is not None
    async with bot.session.post(bot.url + "/webhooks/alertmanager", json=body) as resp:
        assert resp.status == 200, await resp.text()
    async with asyncio.timeout(20):
        while True:
            for incident in (await bot.api("GET", "/api/incidents"))["incidents"]:
                if INTERNAL_HOST in incident["title"]:
                    found: dict[str, Any] = incident
                    return found
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServedBot]:
    """One bot for the module (the tests only read its pages): an incident a person declared
    and wrote a public update for, and one the alert policy declared from an alert."""
    workdir: Path = tmp_path_factory.mktemp("status-browser")
    async with ServedBot(workdir, {"SLACK_ALERTS_CHANNEL": "C_ALERTS"}) as served:
        declared = await served.api(
            "POST", "/api/incidents", {"title": PUBLIC_TITLE, "severity": "P2"}
        )
        await served.api(
            "POST", f"/api/incidents/{declared['id']}/updates", {"text": PUBLIC_UPDATE}
        )
        await declare_from_alert(served)
        yield served


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_a_customer_reads_what_was_published_and_nothing_from_the_alert(
    bot: ServedBot, browser: Browser, width: str
) -> None:
    page = await open_page(browser, bot.url + "/", VIEWPORTS[width])

    shown = await visible_text(page)
    dom = await rendered_dom(page)

    assert PUBLIC_TITLE in shown
    assert PUBLIC_UPDATE in shown
    for internal in (INTERNAL_HOST, "/var/lib/postgresql", INTERNAL_ALERT):
        assert internal not in dom, f"{internal!r} is in the page's DOM at {width} width"


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_page_never_scrolls_sideways(
    bot: ServedBot, browser: Browser, width: str
) -> None:
    page = await open_page(browser, bot.url + "/", VIEWPORTS[width])

    found = await horizontal_overflow(page)

    assert found["scrollWidth"] <= found["innerWidth"], found
    assert found["wide"] == [], found


async def test_the_browser_applies_the_pages_style_and_runs_no_script(
    bot: ServedBot, browser: Browser
) -> None:
    # Seen as a visitor's browser enforces the page's Content-Security-Policy: its own inline
    # style must pass the policy (a wrong hash leaves the page unstyled), a script must not.
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.add_init_script(
        "window.__refused = [];"
        " document.addEventListener('securitypolicyviolation',"
        " e => window.__refused.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = await page.goto(bot.url + "/", wait_until="load")
    assert response is not None and response.status == 200

    refused_at_load = await page.evaluate("window.__refused")
    await page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.append(s); }"
    )
    await page.wait_for_function("window.__refused.length > 0", timeout=5000)
    ran = await page.evaluate("window.__ran === true")
    await context.close()

    assert refused_at_load == []
    assert not ran
