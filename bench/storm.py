"""Alert storm: 10,000 alerts in 60 s across 200 groups, side by side through two receivers.

The same alerts go, at the same moments, to two real Alertmanagers (the Debian binary from
scripts/test-tools.sh) with the same route (group_by alertname, so 200 groups):

- bot: `webhook_configs` -> `incident-bot serve` (subprocess) -> FakeSlack A
- baseline: Alertmanager's own `slack_configs` (send_resolved: true) -> FakeSlack B's
  incoming webhook, what users have without the bot.

Both fakes allow 1 message/s/channel (429 + Retry-After past it); A also enforces Slack's
per-method tiers (bench/_slack.py). Every alert fires once; some groups resolve entirely,
some in part, some not at all, so each group has a known final state.

Counted, for each side: Slack calls and 429s; groups lost (the channel does not show the
group's final state at the end: for the bot, every group must be a thread whose parent shows
its final state or a line of the storm digest (which may span several messages) showing it,
and in one place only; for Alertmanager, the group's last message must show it); duplicates
(the bot: a parent or digest message posted twice, or one outbox row delivered twice;
Alertmanager: every message after a group's first is a new top-level post, and "repeats"
are posts identical to one already made for that group); seconds from the storm's last alert
to the channel showing every final state.

    .venv/bin/python bench/storm.py [--seconds 60] [--quick]   (--quick: 10 s, 2,000 alerts)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench._harness import (
    API_TOKEN,
    APP_TOKEN,
    BOT_TOKEN,
    REPO,
    bot_server,
    cpu_seconds,
    memory_kb,
    self_cpu_seconds,
    slack_env,
    table,
    workdir,
    write_json,
)
from bench._slack import WEBHOOK, BenchSlack
from tests.harness.alertmanager import RECEIVER_NAME, LocalAlertmanager

TICK = 0.25
CHANNEL = "C_ALERTS"


class SlackAlertmanager(LocalAlertmanager):
    """The same route, delivering with Alertmanager's own Slack integration instead."""

    def build_config(self, token_file: Path | None) -> dict[str, Any]:
        config = super().build_config(token_file)
        slack = {"api_url": self.webhook_url, "channel": "#alerts", "send_resolved": True}
        config["receivers"] = [{"name": RECEIVER_NAME, "slack_configs": [slack]}]
        return config


@dataclass
class Plan:
    """Which alert fires and resolves when, and so each group's final state."""

    groups: int
    per_group: int
    seconds: float
    events: list[tuple[float, int, int, bool]] = field(default_factory=list)  # t, g, k, resolve
    final_firing: dict[str, int] = field(default_factory=dict)
    lifetimes: dict[str, list[float]] = field(default_factory=dict)  # of each resolving alert
    # Alertmanager never tells of an alert that resolved before the group's next notification
    # (it sends no resolution of an alert it never sent firing): only one that fired longer
    # than this must be shown resolved.
    notified_within: float = 0.0

    @staticmethod
    def name(g: int) -> str:
        return f"BenchStorm{g:03d}"

    @classmethod
    def make(cls, groups: int, per_group: int, seconds: float, seed: int = 8) -> Plan:
        rnd = random.Random(seed)
        plan = cls(groups, per_group, seconds)
        for g in range(groups):
            if g % 4 == 0:
                resolving = per_group  # the whole group resolves
            elif g % 4 == 1:
                resolving = 0  # still firing at the end
            else:
                resolving = min(per_group - 1, per_group // 5 + (g * 7) % (per_group // 2))
            chosen = set(rnd.sample(range(per_group), resolving))
            for k in range(per_group):
                fire = rnd.uniform(0, 0.75 * seconds)
                plan.events.append((fire, g, k, False))
                if k in chosen:
                    end = min(0.98 * seconds, fire + rnd.uniform(0.05, 0.25) * seconds)
                    plan.events.append((end, g, k, True))
                    plan.lifetimes.setdefault(cls.name(g), []).append(end - fire)
            plan.final_firing[cls.name(g)] = per_group - resolving
        plan.events.sort()
        return plan

    @property
    def alerts(self) -> int:
        return self.groups * self.per_group


def am_alert(g: int, k: int, starts: str, ends: str | None) -> dict[str, Any]:
    alert = {
        "labels": {
            "alertname": Plan.name(g),
            "severity": "warning",
            "service": "records-service",
            "namespace": "factsway-prod",
            "instance": f"storm-{g:03d}-{k:03d}",
        },
        "annotations": {
            "summary": "Synthetic storm alert",
            "runbook_url": "https://runbooks.example/storm",
        },
        "startsAt": starts,
        "generatorURL": "http://prometheus.example/graph?g0.expr=storm",
    }
    if ends is not None:
        alert["endsAt"] = ends
    return alert


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# -- what each channel shows ------------------------------------------------------------------

HEADER = re.compile(r"^(Firing \[[^\]]*\]|Resolved[^:]*): (?P<name>\S+)$")
COUNTS = re.compile(r"(\d+) firing, (\d+) resolved")
DIGEST_HEAD = re.compile(r"Alert storm: (\d+) alert groups? .*\((\d+) firing, (\d+) resolved\)")
DIGEST_NAME = re.compile(r'alertname="(?P<name>[^"]+)"')
AM_TITLE = re.compile(r"^\[(?:FIRING:(?P<firing>\d+)|RESOLVED)\] (?P<name>\S+)")


def top_level(fake: BenchSlack) -> list[Any]:
    return [m for m in fake.messages.get(CHANNEL, []) if m.thread_ts in (None, m.ts)]


def bot_state(fake: BenchSlack, plan: Plan) -> dict[str, Any]:
    """Which groups the bot's channel shows in their final state, and what it posted twice."""
    parents: dict[str, list[tuple[int, int]]] = {}
    digests = []
    for m in top_level(fake):
        blocks = m.blocks or []
        first = blocks[0] if blocks else {}
        if first.get("type") == "header":
            match = HEADER.match(first["text"]["text"])
            if match is None:
                continue
            counts = (0, 0)
            for block in blocks[1:2]:
                for f in block.get("fields", []):
                    if f["text"].startswith("*Alerts*") and (c := COUNTS.search(f["text"])):
                        counts = (int(c[1]), int(c[2]))
            parents.setdefault(match["name"], []).append(counts)
        elif m.text.startswith(":rotating_light: Alert storm"):
            digests.append(m)
    want = {n: (f, plan.per_group - f) for n, f in plan.final_firing.items()}
    surely_resolved = {
        n: sum(1 for life in plan.lifetimes.get(n, []) if life > plan.notified_within) for n in want
    }

    def true(name: str, counts: tuple[int, int]) -> bool:
        firing, resolved = want[name]
        return counts[0] == firing and surely_resolved[name] <= counts[1] <= resolved

    threads_ok = {n for n, shown in parents.items() if n in want and true(n, shown[-1])}
    # Every group of the digest has its line, in one of the digest's messages.
    listed: dict[str, list[tuple[int, int]]] = {}
    head = None
    for d in digests:
        blocks = d.blocks or []
        if head is None and blocks:
            head = DIGEST_HEAD.search(blocks[0]["text"]["text"])
        for block in blocks[1:]:
            line = (block.get("text") or {}).get("text", "")
            name, counts = DIGEST_NAME.search(line), COUNTS.search(line)
            if line.startswith("•") and name and counts:
                listed.setdefault(name["name"], []).append((int(counts[1]), int(counts[2])))
    listed_ok = {
        n
        for n, shown in listed.items()
        if n in want and len(shown) == 1 and true(n, shown[0]) and n not in parents
    }
    members = [n for n in want if n not in parents]
    totals_ok = False
    if head is not None:
        total, firing, resolved = (int(x) for x in head.groups())
        firing_want = sum(1 for n in members if want[n][0] > 0)
        totals_ok = (total, firing, resolved) == (
            len(members),
            firing_want,
            len(members) - firing_want,
        )
    shown_ok = len(threads_ok) + len(listed_ok)
    outbox_ids = Counter(
        (m.metadata or {}).get("event_payload", {}).get("outbox_id")
        for m in fake.messages.get(CHANNEL, [])
        if m.metadata
    )
    return {
        "threads": len(parents),
        "threads_ok": len(threads_ok),
        "digest_listed_ok": len(listed_ok),
        "digest_totals_ok": totals_ok or not members,
        # Live in a thread and in the digest, or twice in the digest.
        "groups_in_two_places": sum(
            1 for n in want if len(listed.get(n, [])) + (1 if n in parents else 0) > 1
        ),
        "lost": plan.groups - shown_ok,
        "lost_groups": {
            n: {"want": want[n], "thread": parents.get(n), "digest": listed.get(n)}
            for n in want
            if n not in threads_ok and n not in listed_ok
        },
        "parents_posted_twice": sum(1 for shown in parents.values() if len(shown) > 1),
        "digests": len(digests),
        # Each digest message has its own text (the first, then "continued (k)").
        "digests_posted_twice": len(digests) - len({d.text for d in digests}),
        "rows_delivered_twice": sum(1 for i, n in outbox_ids.items() if i is not None and n > 1),
    }


def _true(state: dict[str, Any]) -> bool:
    """Every group shown in its final state, in one place, and the digest's totals right."""
    return bool(
        state["lost"] == 0 and state["groups_in_two_places"] == 0 and state["digest_totals_ok"]
    )


def am_state(fake: BenchSlack, plan: Plan) -> dict[str, Any]:
    posts: dict[str, list[str]] = {}
    for m in top_level(fake):
        title = ((m.attachments or [{}])[0] or {}).get("title", "")
        if match := AM_TITLE.match(title):
            posts.setdefault(match["name"], []).append(title)
    ok = 0
    for name, firing in plan.final_firing.items():
        shown = posts.get(name)
        if not shown:
            continue
        last = AM_TITLE.match(shown[-1])
        assert last is not None
        last_firing = int(last["firing"]) if last["firing"] else 0
        if last_firing == firing and (firing > 0) == (last["firing"] is not None):
            ok += 1
    repeats = sum(len(titles) - len(set(titles)) for titles in posts.values())
    return {
        "groups_shown": len(posts),
        "groups_ok": ok,
        "lost": plan.groups - ok,
        "messages": sum(len(t) for t in posts.values()),
        "groups_posted_more_than_once": sum(1 for t in posts.values() if len(t) > 1),
        "extra_posts": sum(len(t) - 1 for t in posts.values()),
        "repeats": repeats,
        "max_posts_per_group": max((len(t) for t in posts.values()), default=0),
    }


def slack_calls(fake: BenchSlack) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for call in fake.calls:
        entry = found.setdefault(call.method, {"calls": 0, "ok": 0, "429": 0, "other": 0})
        entry["calls"] += 1
        if call.status == 429:
            entry["429"] += 1
        elif call.status == 200 and call.response.get("ok", True) is not False:
            entry["ok"] += 1
        else:
            entry["other"] += 1
    return found


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += float(value)
    return total


async def get_text(http: aiohttp.ClientSession, url: str) -> str:
    try:
        async with http.get(url) as resp:
            return await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return ""


def stored_groups(database: Path, names: list[str]) -> dict[str, Any]:
    """Each named group as the bot's database holds it: versions and its alerts by status."""
    found: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        for name in names:
            like = f'%alertname="{name}"%'
            row = db.execute(
                "SELECT group_key, version, synced_version, digest_key FROM alert_groups"
                " WHERE group_key LIKE ?",
                [like],
            ).fetchone()
            if row is None:
                found[name] = None
                continue
            counts = db.execute(
                "SELECT status, posted_status, count(*) FROM alerts WHERE group_key = ?"
                " GROUP BY status, posted_status",
                [row[0]],
            ).fetchall()
            found[name] = {
                "version": row[1],
                "synced_version": row[2],
                "digest_key": row[3],
                "alerts": [list(c) for c in counts],
            }
    return found


# -- the run ----------------------------------------------------------------------------------


def alertmanager_bin() -> Path:
    script = REPO / "scripts" / "test-tools.sh"
    out = subprocess.run([str(script)], capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise SystemExit(f"storm: needs Alertmanager from scripts/test-tools.sh:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = Plan.make(args.groups, args.alerts // args.groups, args.seconds)
    interval = max(1, round(args.seconds / 12))
    plan.notified_within = interval + 1.0 + 2 * TICK  # group_interval, group_wait, send ticks
    am_opts = {
        "group_wait": "1s",
        "group_interval": f"{interval}s",
        "repeat_interval": "1h",
        "group_by": ("alertname",),
        "bin_dir": alertmanager_bin(),
    }
    with workdir("storm") as tmp_name:
        tmp = Path(tmp_name)
        async with (
            BenchSlack(
                bot_token=BOT_TOKEN, app_token=APP_TOKEN, enforce_post_rate=True, tier_limits=True
            ) as slack_bot,
            BenchSlack(
                bot_token=BOT_TOKEN, app_token=APP_TOKEN, enforce_post_rate=True
            ) as slack_am,
        ):
            bot = bot_server(tmp, env=slack_env(slack_bot.url, INCIDENT_BOT_API_TOKEN=API_TOKEN))
            await bot.start()
            am_bot = LocalAlertmanager(bot.url + "/webhooks/alertmanager", **am_opts)
            am_slack = SlackAlertmanager(slack_am.webhook_url, **am_opts)
            try:
                await asyncio.to_thread(am_bot.start)
                await asyncio.to_thread(am_slack.start)
                data = await storm(args, plan, interval, bot, am_bot, am_slack, slack_bot, slack_am)
                lost = data["bot"]["state"]["lost_groups"]
                # What the bot stored of each lost group: missed by the bot, or by its Slack side.
                data["bot"]["lost_stored"] = stored_groups(tmp / "incident-bot.db", list(lost))
                data["bot"]["log_errors"] = [
                    line for line in bot.log_tail(2000).splitlines() if "ERROR" in line
                ][-20:]
                return data
            finally:
                am_bot.stop()
                am_slack.stop()
                bot.stop()


async def storm(
    args: argparse.Namespace,
    plan: Plan,
    interval: int,
    bot: Any,
    am_bot: LocalAlertmanager,
    am_slack: LocalAlertmanager,
    slack_bot: BenchSlack,
    slack_am: BenchSlack,
) -> dict[str, Any]:
    await asyncio.sleep(1.0)
    rest = memory_kb(bot.pid)
    pids = {"bot": bot.pid, "am_bot": am_bot._proc.pid, "am_slack": am_slack._proc.pid}  # type: ignore[union-attr]
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    self0 = self_cpu_seconds()
    fired: dict[tuple[int, int], str] = {}
    post_errors = 0
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:

        async def post(url: str, batch: list[dict[str, Any]]) -> None:
            nonlocal post_errors
            try:
                async with http.post(url + "/api/v2/alerts", json=batch) as resp:
                    await resp.read()
                    if resp.status != 200:
                        post_errors += 1
            except (aiohttp.ClientError, TimeoutError):
                post_errors += 1

        began = time.monotonic()
        i = 0
        events = plan.events
        while i < len(events):
            elapsed = time.monotonic() - began
            batch = []
            while i < len(events) and events[i][0] <= elapsed:
                _, g, k, resolve = events[i]
                if resolve:
                    batch.append(am_alert(g, k, fired[(g, k)], iso_now()))
                else:
                    fired[(g, k)] = iso_now()
                    batch.append(am_alert(g, k, fired[(g, k)], None))
                i += 1
            if batch:
                await asyncio.gather(post(am_bot.url, batch), post(am_slack.url, batch))
            await asyncio.sleep(max(0.0, began + (elapsed // TICK + 1) * TICK - time.monotonic()))
        storm_end = time.monotonic()
        storm_s = storm_end - began

        converged: dict[str, float | None] = {"bot": None, "alertmanager": None}
        drained: float | None = None
        # Alertmanager flushes each group once per group_interval, so its last delivery to the
        # bot comes after the storm's last alert: the target counts from that delivery.
        delivered, last_delivery = -1.0, 0.0
        deadline = storm_end + args.converge_timeout
        while time.monotonic() < deadline:
            now = time.monotonic() - storm_end
            if converged["bot"] is None and _true(bot_state(slack_bot, plan)):
                converged["bot"] = now
            if converged["alertmanager"] is None and am_state(slack_am, plan)["lost"] == 0:
                converged["alertmanager"] = now
            text = await get_text(http, bot.url + "/metrics")
            webhooks = metric(text, "incident_bot_webhooks_total", source="alertmanager")
            if text and webhooks != delivered:
                delivered, last_delivery = webhooks, now
            depth = metric(text, "incident_bot_outbox_depth") if text else None
            if drained is None and depth == 0 and converged["bot"]:
                drained = time.monotonic() - storm_end
            if converged["bot"] is not None and converged["alertmanager"] is not None and drained:
                break
            await asyncio.sleep(TICK)
        waited = time.monotonic() - storm_end
        bot_metrics = await get_text(http, bot.url + "/metrics")
        am_bot_metrics = await get_text(http, am_bot.url + "/metrics")
        am_slack_metrics = await get_text(http, am_slack.url + "/metrics")
    cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
    cpu["bench"] = self_cpu_seconds() - self0
    after = memory_kb(bot.pid)

    def am_notifications(text: str, integration: str) -> dict[str, float]:
        return {
            "sent": metric(text, "alertmanager_notifications_total", integration=integration),
            "failed": metric(
                text, "alertmanager_notifications_failed_total", integration=integration
            ),
        }

    return {
        "plan": {
            "alerts": plan.alerts,
            "groups": plan.groups,
            "seconds": plan.seconds,
            "resolve_events": sum(1 for e in plan.events if e[3]),
            "final_firing_groups": sum(1 for f in plan.final_firing.values() if f),
            "group_wait": "1s",
            "group_interval": f"{interval}s",
        },
        "storm_s": storm_s,
        "post_errors": post_errors,
        "waited_s": waited,
        "converge_timeout_s": args.converge_timeout,
        "bot": {
            "converged_s": converged["bot"],
            "last_delivery_s": last_delivery,
            "converged_after_last_delivery_s": (
                converged["bot"] - last_delivery if converged["bot"] is not None else None
            ),
            # When each call reached the fake, from the storm's end: where the time went.
            "calls_timeline": [
                [
                    round(c.at - storm_end, 2),
                    c.method,
                    c.status,
                    "reply" if c.decoded.get("thread_ts") else "top",
                ]
                for c in slack_bot.calls
            ],
            "outbox_drained_s": drained,
            "state": bot_state(slack_bot, plan),
            "slack_calls": slack_calls(slack_bot),
            "webhooks_stored": metric(
                bot_metrics, "incident_bot_webhooks_total", source="alertmanager", outcome="stored"
            ),
            "webhooks_duplicate": metric(
                bot_metrics,
                "incident_bot_webhooks_total",
                source="alertmanager",
                outcome="duplicate",
            ),
            "outbox_depth_end": metric(bot_metrics, "incident_bot_outbox_depth"),
            "alertmanager": am_notifications(am_bot_metrics, "webhook"),
            "rss_rest_kb": rest.get("VmRSS"),
            "rss_after_kb": after.get("VmRSS"),
            "rss_peak_kb": after.get("VmHWM"),
        },
        "alertmanager": {
            "converged_s": converged["alertmanager"],
            "state": am_state(slack_am, plan),
            "slack_calls": slack_calls(slack_am),
            "alertmanager": am_notifications(am_slack_metrics, "slack"),
        },
        "cpu_s": cpu,
    }


def render(data: dict[str, Any]) -> str:
    plan, bot, am = data["plan"], data["bot"], data["alertmanager"]
    timeout = data["converge_timeout_s"]

    def conv(value: float | None, lost: int) -> str:
        return f"{value:.1f}" if value is not None else f"not within {timeout:.0f} s"

    def calls(found: dict[str, dict[str, int]]) -> tuple[int, int]:
        return sum(v["calls"] for v in found.values()), sum(v["429"] for v in found.values())

    bot_calls, bot_429 = calls(bot["slack_calls"])
    am_calls, am_429 = calls(am["slack_calls"])
    bs, ams = bot["state"], am["state"]
    bot_posts = bot["slack_calls"].get("chat.postMessage", {}).get("ok", 0)
    am_posts = am["slack_calls"].get(WEBHOOK, {}).get("ok", 0)
    rows = [
        ["Slack calls made", bot_calls, am_calls],
        ["  answered 429", bot_429, am_429],
        ["  messages posted", bot_posts, am_posts],
        [
            "  messages edited (chat.update)",
            bot["slack_calls"].get("chat.update", {}).get("ok", 0),
            0,
        ],
        [
            "groups shown in final state",
            f"{bs['threads_ok']} threads + {bs['digest_listed_ok']} listed"
            f" in the digest; {bs['groups_in_two_places']} live in two places",
            ams["groups_ok"],
        ],
        ["lost (target 0)", bs["lost"], ams["lost"]],
        [
            "duplicated (target 0)",
            bs["parents_posted_twice"] + bs["digests_posted_twice"] + bs["rows_delivered_twice"],
            f"{ams['extra_posts']} extra top-level posts"
            f" ({ams['groups_posted_more_than_once']} groups, up to"
            f" {ams['max_posts_per_group']} each), {ams['repeats']} identical repeats",
        ],
        [
            "s to converge after the storm",
            conv(bot["converged_s"], bs["lost"]),
            conv(am["converged_s"], ams["lost"]),
        ],
        [
            "  after its Alertmanager's last delivery (target 10)",
            conv(bot["converged_after_last_delivery_s"], bs["lost"]),
            "-",
        ],
        [
            "Alertmanager notification attempts / failed",
            f"{bot['alertmanager']['sent']:.0f} / {bot['alertmanager']['failed']:.0f}",
            f"{am['alertmanager']['sent']:.0f} / {am['alertmanager']['failed']:.0f}",
        ],
        ["CPU s (receiver side)", f"{data['cpu_s']['bot']:.1f} (bot)", "-"],
        [
            "CPU s (its Alertmanager)",
            f"{data['cpu_s']['am_bot']:.1f}",
            f"{data['cpu_s']['am_slack']:.1f}",
        ],
    ]
    drained = bot["outbox_drained_s"]
    lines = [
        table(["", "incident-bot", "Alertmanager slack_configs"], rows),
        "",
        f"{plan['alerts']:,} alerts ({plan['resolve_events']:,} of them resolved later) in "
        f"{data['storm_s']:.1f} s across {plan['groups']} groups; Alertmanager group_wait "
        f"{plan['group_wait']}, group_interval {plan['group_interval']}; one channel; fakes "
        "allow 1 post/s/channel, the bot's also Slack's tier limits (60 s window).",
        f"bot: {bs['threads']} threads and {bs['digests']} digest; webhooks stored "
        f"{bot['webhooks_stored']:.0f} (duplicates {bot['webhooks_duplicate']:.0f}); "
        f"parents posted twice {bs['parents_posted_twice']}, outbox rows delivered twice "
        f"{bs['rows_delivered_twice']}; outbox drained (every thread reply sent) "
        + (f"{drained:.1f} s after the storm" if drained is not None else "not by the end")
        + f" (depth at the end: {bot['outbox_depth_end']:.0f}).",
        "bot RSS: "
        f"{bot['rss_rest_kb'] / 1024:.0f} MB at rest before the storm, "
        f"{bot['rss_after_kb'] / 1024:.0f} MB after it (peak {bot['rss_peak_kb'] / 1024:.0f} MB).",
        "bot Slack calls by method: "
        + ", ".join(
            f"{m} {v['calls']} ({v['429']} x 429)" for m, v in sorted(bot["slack_calls"].items())
        ),
        f"bench process CPU (alert sender, both fakes): {data['cpu_s']['bench']:.1f} s; "
        f"alert posts that failed: {data['post_errors']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--converge-timeout", type=float, default=None)
    parser.add_argument("--quick", action="store_true", help="10 s and 2,000 alerts")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.alerts = 10.0, 2_000
    if args.converge_timeout is None:
        args.converge_timeout = max(30.0, 1.5 * args.seconds)
    data = asyncio.run(run(args))
    text = render(data)
    print(text)
    write_json(args.json, {**data, "table": text})


if __name__ == "__main__":
    main()
