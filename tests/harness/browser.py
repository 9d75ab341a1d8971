"""A page as a person's browser shows it: Debian's Chromium driven headless through
Playwright's Python API, axe-core's checks run inside it, and the layout measured there.

The browser and axe-core come from scripts/browser-tools.sh (`make test-tools`); when they
cannot be had the caller fails with the reason, never skips."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Playwright, ViewportSize

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_SCRIPT = REPO_ROOT / "scripts" / "browser-tools.sh"
# A cold machine installs Chromium through apt first.
_TOOLS_TIMEOUT = 900
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Without these, Chromium calls home (updates, sync, field trials) on every start: the
# network here and in CI is closed, and a test must not depend on it anyway.
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-quic",
]
# What axe-core calls an impact worth failing on (its scale: minor, moderate, serious,
# critical; https://github.com/dequelabs/axe-core/blob/develop/doc/API.md#results-object).
BLOCKING_IMPACTS = ("serious", "critical")


class BrowserToolsMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class BrowserTools:
    chromium: Path
    axe: Path


def browser_tools() -> BrowserTools:
    """Chromium and axe.min.js, installed first when missing (the script is idempotent)."""
    try:
        result = subprocess.run(
            ["bash", str(TOOLS_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=_TOOLS_TIMEOUT,
            check=False,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired:
        raise BrowserToolsMissing(f"{TOOLS_SCRIPT} took over {_TOOLS_TIMEOUT} s") from None
    if result.returncode != 0:
        raise BrowserToolsMissing(
            f"{TOOLS_SCRIPT} failed (exit {result.returncode}):\n{result.stderr.strip()}"
        )
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    try:
        tools = BrowserTools(Path(found["chromium"]), Path(found["axe"]))
    except KeyError:
        raise BrowserToolsMissing(f"{TOOLS_SCRIPT} printed {result.stdout!r}") from None
    if not tools.axe.is_file():
        raise BrowserToolsMissing(f"{tools.axe} is missing")
    return tools


async def launch(playwright: Playwright, tools: BrowserTools) -> Browser:
    return await playwright.chromium.launch(
        executable_path=str(tools.chromium), args=CHROMIUM_ARGS, headless=True
    )


async def open_page(
    browser: Browser, url: str, viewport: ViewportSize, *, bypass_csp: bool = True
) -> Page:
    """The page loaded in a fresh context. `bypass_csp` lets axe-core be injected into a page
    whose policy forbids every script; pass False to see the page as a visitor's browser
    enforces it."""
    context = await browser.new_context(viewport=viewport, bypass_csp=bypass_csp)
    page = await context.new_page()
    response = await page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, f"GET {url}: {response}"
    return page


async def axe_violations(page: Page, tools: BrowserTools) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page, each with its rule, impact,
    help and the elements it found."""
    await page.add_script_tag(content=tools.axe.read_text())
    violations: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ['violations']});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html,
                                          summary: n.failureSummary})),
            }));
        }"""
    )
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['html'][:160]}")
            lines.append(f"      {(node['summary'] or '').replace(chr(10), ' ')[:300]}")
    return "\n".join(lines)


async def horizontal_overflow(page: Page) -> dict[str, Any]:
    """The document's width against the window's, and the elements that stick out past its
    right edge (what makes a phone scroll sideways)."""
    found: dict[str, Any] = await page.evaluate(
        """() => {
            const width = window.innerWidth;
            const wide = [];
            for (const el of document.body.querySelectorAll('*')) {
                const box = el.getBoundingClientRect();
                if (box.right > width + 0.5) {
                    wide.push(`${el.tagName.toLowerCase()}.${el.className}: right ${box.right}`);
                }
            }
            return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
                    wide: wide.slice(0, 10)};
        }"""
    )
    return found


async def visible_text(page: Page) -> str:
    """What a person can read on the page (not hidden, not in attributes)."""
    return await page.inner_text("body")


async def rendered_dom(page: Page) -> str:
    """The whole DOM after rendering, hidden parts and attributes included."""
    return await page.content()
