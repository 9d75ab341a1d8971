"""The public status page as a customer's browser shows it, on a desktop and on a phone:
`incident-bot serve` with incidents declared, updated and published through its API, read by
headless Chromium."""

from __future__ import annotations

import asyncio
import re
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
    axe_violations,
    browser_tools,
    describe,
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
PAST_TITLE = "Signature blocks fail to add"
PAST_UPDATE = "Adding a signature block fails for some filings; we are looking into it."
# What responders write for each other and a customer must never read.
INTERNAL_TITLE = "export-service p99 over 30 s on export-7f9c"
PAST_INTERNAL = "signature-service 500s after the 14:02 deploy"
INTERNAL_NOTE = "Root cause: a bad deploy of export v2.3.1, rolling back on db-primary"
# What an alert carries: hosts, paths, alert names.
INTERNAL_HOST = "db-primary.factsway.internal:5432"
INTERNAL_SUMMARY = f"{INTERNAL_HOST} /var/lib/postgresql/data at 97%"
INTERNAL_ALERT = "PostgresDiskFull"
INTERNAL = (
    INTERNAL_TITLE,
    PAST_INTERNAL,
    INTERNAL_NOTE,
    "v2.3.1",
    INTERNAL_HOST,
    "/var/lib",
    INTERNAL_ALERT,
)
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
PAGES = ("status page", "incident page")


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
    with the alert's own words (and nobody publishes anything about it)."""
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


async def published(
    bot: ServedBot, title: str, public_title: str, text: str, service: str, impact: str
) -> int:
    """An incident under an internal title, an internal note, then a first public update
    under the title and impact a person chose for customers."""
    declared = await bot.api(
        "POST", "/api/incidents", {"title": title, "severity": "P1", "services": [service]}
    )
    updates = f"/api/incidents/{declared['id']}/updates"
    await bot.api("POST", updates, {"text": INTERNAL_NOTE})
    public = {"public_title": public_title, "impact": impact, "components": [service]}
    await bot.api("POST", updates, {"text": text, "public": True, **public})
    incident_id: int = declared["id"]
    return incident_id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServedBot]:
    """One bot for the module (the tests only read its pages): an open incident a person
    published, one they published and resolved, and one the alert policy declared that
    nobody published; each with internal notes."""
    workdir: Path = tmp_path_factory.mktemp("status-browser")
    async with ServedBot(workdir, {"SLACK_ALERTS_CHANNEL": "C_ALERTS"}) as served:
        past = await published(
            served, PAST_INTERNAL, PAST_TITLE, PAST_UPDATE, "signature", "partial_outage"
        )
        await served.api("POST", f"/api/incidents/{past}/resolve", {"summary": INTERNAL_NOTE})
        await published(
            served, INTERNAL_TITLE, PUBLIC_TITLE, PUBLIC_UPDATE, "export", "degraded_performance"
        )
        await declare_from_alert(served)
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def urls(bot: ServedBot, browser: Browser) -> dict[str, str]:
    """The status page, and the open incident's page as a customer reaches it: by its link."""
    page = await open_page(browser, bot.url + "/", DESKTOP)
    await page.get_by_role("link", name=PUBLIC_TITLE).click()
    await page.wait_for_load_state("load")
    found = {"status page": bot.url + "/", "incident page": page.url}
    await page.context.close()
    assert re.fullmatch(rf"{re.escape(bot.url)}/incidents/[A-Za-z0-9_-]+", found["incident page"])
    return found


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_a_customer_reads_what_was_published_and_nothing_internal(
    urls: dict[str, str], browser: Browser, width: str
) -> None:
    home = await open_page(browser, urls["status page"], VIEWPORTS[width])
    incident = await open_page(browser, urls["incident page"], VIEWPORTS[width])

    on_home, on_incident = await visible_text(home), await visible_text(incident)

    for shown in (PUBLIC_TITLE, PUBLIC_UPDATE, PAST_TITLE):
        assert shown in on_home, f"{shown!r} not shown on / at {width} width"
    assert PUBLIC_TITLE in on_incident
    assert PUBLIC_UPDATE in on_incident
    for name, page in (("/", home), ("the incident page", incident)):
        dom = await rendered_dom(page)
        for internal in INTERNAL:
            assert internal not in dom, f"{internal!r} is in the DOM of {name} at {width} width"
        # The internal severity scale means nothing to a customer.
        assert not re.search(r"\bP[0-3]\b", await visible_text(page)), name


@pytest.mark.parametrize("where", PAGES)
@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_page_never_scrolls_sideways(
    urls: dict[str, str], browser: Browser, width: str, where: str
) -> None:
    page = await open_page(browser, urls[where], VIEWPORTS[width])

    found = await horizontal_overflow(page)

    assert found["scrollWidth"] <= found["innerWidth"], found
    assert found["wide"] == [], found


@pytest.mark.parametrize("where", PAGES)
@pytest.mark.parametrize("width", VIEWPORTS)
async def test_axe_finds_no_serious_or_critical_violation(
    urls: dict[str, str], browser: Browser, tools: BrowserTools, width: str, where: str
) -> None:
    page = await open_page(browser, urls[where], VIEWPORTS[width])

    violations = await axe_violations(page, tools)

    assert violations == [], f"axe-core on the {where} at {width} width:\n{describe(violations)}"


@pytest.mark.parametrize("where", PAGES)
async def test_the_browser_applies_the_pages_style_and_runs_no_script(
    urls: dict[str, str], browser: Browser, where: str
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
    response = await page.goto(urls[where], wait_until="load")
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
