"""The public status page under an outage's readers: `GET /` and `GET /api/v2/summary.json` on
the bot against a bare aiohttp server answering the same bytes, in the same run, taking turns.

The bot serves a realistic page: 20 components, 5 open incidents and 90 days of resolved ones
(about two a week), every one published through the API by a person (public title, impact,
components, two or three public updates) beside internal updates the page must not show. The
history is written through the API of the bot's app in this process under a manual clock that
walks the 90 days, then `incident-bot serve` is started on that database. The bare server
(`_bare_server.py`) answers each route with the body the bot gave for it, so both send the
same bytes. Readers are a closed loop: N connections, each asking again once answered; the
two servers take turns in rounds of 2 s, so a busy neighbour on the machine slows both alike.

    .venv/bin/python bench/status_page.py [--seconds 10] [--concurrency 64] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import yaml
from aiohttp import web

from bench._harness import (
    API_TOKEN,
    LOOPBACK,
    Server,
    bare_server,
    bot_server,
    cpu_seconds,
    self_cpu_seconds,
    table,
    workdir,
    write_json,
)
from bench._load import get_loop, summary
from bot.app import create_app
from bot.config import DEFAULT_CONFIG, Service, Settings, load_platform_config
from bot.domain.clock import ManualClock

ROUTES = ("/", "/api/v2/summary.json")
ROUND_S = 2.0
RATE = 250  # py-spy samples per second
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
COMPONENTS = 20
OPEN_INCIDENTS = 5
HISTORY_DAYS = 90
EVERY_DAYS = 3.5  # about two incidents a week
IMPACTS = ("degraded_performance", "partial_outage", "major_outage")
EXTRA_SERVICES = [
    ("search", "Search", "Cases"),
    ("billing", "Billing", "Accounts"),
    ("accounts", "Sign-in and accounts", "Accounts"),
    ("notifications", "Email notifications", "Accounts"),
    ("calendar", "Court calendar", "Cases"),
    ("filing", "E-filing", "Documents"),
    ("templates", "Templates", "Documents"),
    ("audit", "Audit log", "Accounts"),
    ("sharing", "Sharing", "Documents"),
    ("webhooks", "Outgoing webhooks", "Integrations"),
    ("api", "Public API", "Integrations"),
    ("sso", "Single sign-on", "Accounts"),
    ("mobile", "Mobile app", "Integrations"),
    ("desktop", "Desktop app", "Integrations"),
    ("imports", "Imports", "Documents"),
    ("reports", "Reports", "Cases"),
]


def platform_config(tmp: Path) -> Path:
    """The bundled platform with 20 services, no playbooks (nothing to enrich)."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    services = data["services"]
    # Public names and groups where the config knows them (the status page's components).
    public = "display_name" in Service.model_fields
    port = 3100
    for name, display, group in EXTRA_SERVICES:
        if len(services) >= COMPONENTS:
            break
        port += 1
        entry: dict[str, Any] = {"name": name, "deployment": f"{name}-service", "port": port}
        if public:
            entry.update(display_name=display, group=group)
        services.append(entry)
    data["services"] = services[:COMPONENTS]
    (tmp / "no-playbooks").mkdir(exist_ok=True)
    data["playbooks_dir"] = str(tmp / "no-playbooks")
    data.pop("auto_declare", None)
    path = tmp / "platform.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Seeder:
    """Drives the bot's own API in this process under a manual clock."""

    def __init__(self, http: aiohttp.ClientSession, url: str, clock: ManualClock) -> None:
        self.http, self.url, self.clock = http, url, clock
        self.published = True  # False when the API has no public updates yet: all are shown
        self.incidents = 0
        self.updates = {"public": 0, "internal": 0}

    async def call(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.url + path, json=body, headers=AUTH) as resp:
            return resp.status, await resp.json()

    async def update(self, incident: int, text: str, **public: Any) -> None:
        body: dict[str, Any] = {"text": text}
        if public and self.published:
            body.update(public=True, **public)
        status, answer = await self.call(f"/api/incidents/{incident}/updates", body)
        if status == 400 and public and "public" in str(answer):
            self.published = False  # an API from before publication: every update is shown
            status, answer = await self.call(f"/api/incidents/{incident}/updates", {"text": text})
        if status != 200:
            raise RuntimeError(f"update refused ({status}): {answer}")
        self.updates["public" if public else "internal"] += 1

    async def incident(self, n: int, service: str, *, resolve: bool) -> None:
        status, declared = await self.call(
            "/api/incidents",
            {
                "title": f"{service}-service 5xx over 5% on db-primary.internal (#{n})",
                "severity": ("P1", "P2", "P3")[n % 3],
                "services": [service],
            },
        )
        if status != 201:
            raise RuntimeError(f"declare refused ({status}): {declared}")
        incident = declared["id"]
        self.incidents += 1
        self.clock.advance(600)
        await self.update(incident, "Pool exhausted on db-primary; restarting pgbouncer.")
        await self.update(
            incident,
            f"Some requests to {service} are failing; we are investigating.",
            public_title=f"Errors on {service.capitalize()}",
            impact=IMPACTS[n % len(IMPACTS)],
            components=[service],
            status="investigating",
        )
        self.clock.advance(1200)
        await self.update(
            incident, "We found the cause and are rolling out a fix.", status="identified"
        )
        if not resolve:
            return
        self.clock.advance(1800 + 600 * (n % 5))
        await self.update(incident, "A fix is out; we are watching.", status="monitoring")
        self.clock.advance(1800)
        status, answer = await self.call(
            f"/api/incidents/{incident}/resolve", {"summary": "Root cause: pgbouncer pool size."}
        )
        if status != 200:
            raise RuntimeError(f"resolve refused ({status}): {answer}")


async def seed(database: Path, config_path: Path) -> dict[str, Any]:
    """90 days of resolved incidents and 5 open ones, through the app's API in this process."""
    now = datetime.now(UTC)
    clock = ManualClock(now - timedelta(days=HISTORY_DAYS))
    settings = Settings(INCIDENT_BOT_DATABASE=str(database), INCIDENT_BOT_API_TOKEN=API_TOKEN)
    config = load_platform_config(config_path)
    services = [s.name for s in config.services]
    runner = web.AppRunner(create_app(settings, config, clock=clock))
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    url = f"http://{LOOPBACK}:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession(trust_env=False) as http:
            seeder = Seeder(http, url, clock)
            n = 0
            step = timedelta(days=EVERY_DAYS)
            while clock.now() + step < now - timedelta(days=1):
                clock.advance(step.total_seconds())
                await seeder.incident(n, services[n % len(services)], resolve=True)
                n += 1
            clock.advance((now - timedelta(hours=6) - clock.now()).total_seconds())
            for k in range(OPEN_INCIDENTS):
                clock.advance(1800)
                await seeder.incident(n + k, services[(n + k) % len(services)], resolve=False)
    finally:
        await runner.cleanup()
    return {
        "components": len(services),
        "incidents": seeder.incidents,
        "open": OPEN_INCIDENTS,
        "updates": seeder.updates,
        "publication": seeder.published,
    }


async def fetch(server: Server, route: str) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession(trust_env=False) as http,
        http.get(server.url + route) as resp,
    ):
        return resp.status, await resp.read()


@dataclass
class Tally:
    """One server's share of an A/B on one route, summed over its rounds."""

    server: str
    route: str
    latencies: list[float] = field(default_factory=list)
    non_200: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def row(self) -> dict[str, Any]:
        done = len(self.latencies)
        return {
            "server": self.server,
            "route": self.route,
            "requests": done,
            "non_200": self.non_200,
            "rps": done / self.wall if self.wall else 0.0,
            **summary(self.latencies),
            "server_cpu_s": self.server_cpu,
            "client_cpu_s": self.client_cpu,
        }


async def ab(servers: list[Server], route: str, args: argparse.Namespace) -> list[Any]:
    """Rounds of ROUND_S each, taking turns (and turning the order round each time), so both
    servers meet the same neighbours on a shared machine."""
    for server in servers:  # warm-up
        await get_loop(server.url + route, concurrency=args.concurrency, seconds=1.0)
    tallies = [Tally(s.name, route) for s in servers]
    rounds = max(1, round(args.seconds / ROUND_S))
    for k in range(rounds):
        turn = list(zip(servers, tallies, strict=True))
        for server, tally in turn if k % 2 == 0 else reversed(turn):
            srv0, gen0 = cpu_seconds(server.pid), self_cpu_seconds()
            result = await get_loop(
                server.url + route, concurrency=args.concurrency, seconds=args.seconds / rounds
            )
            tally.server_cpu += cpu_seconds(server.pid) - srv0
            tally.client_cpu += self_cpu_seconds() - gen0
            tally.latencies += result.latencies
            tally.non_200 += len(result.latencies) - result.ok + result.errors
            tally.wall += result.wall
    return [t.row() for t in tallies]


async def profiled(server: Server, route: str, args: argparse.Namespace, out: Path) -> str:
    """py-spy on the bot for a few seconds of the same load: where its time goes."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return "py-spy is not installed: no profile"
    raw = out / "profile.txt"
    proc = await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        "--pid",
        str(server.pid),
        "--duration",
        str(max(1, round(args.profile_seconds))),
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--output",
        str(raw),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await get_loop(server.url + route, concurrency=args.concurrency, seconds=args.profile_seconds)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0 or not raw.exists():
        why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        return f"py-spy failed (exit {proc.returncode}, {why[0]}): no profile"
    return hot_spots(raw.read_text(), route, round(args.profile_seconds) * RATE)


# Under every sample of the serving thread: they say nothing about where the time goes.
ENTRY_FRAMES = {"cli.py:main", "cli.py:cmd_serve", "app.py:serve", "__main__.py:<module>"}


def _frame(frame: str) -> str:
    """`render (bot/web/status_page.py:120)` -> `status_page.py:render`."""
    name, _, where = frame.partition(" (")
    return f"{where.split(':')[0].rsplit('/', 1)[-1]}:{name}"


def hot_spots(raw: str, route: str, possible: int, top: int = 8) -> str:
    """From py-spy's raw stacks (`frame;frame;... count` a line): the share of samples each
    function is on the stack (inclusive, the bot's own modules) and on top (own time)."""
    total = 0
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if " (" in f]
        ours = {_frame(f) for f in frames if " (bot/" in f or "/bot/" in f}
        for frame in ours - ENTRY_FRAMES:
            inclusive[frame] = inclusive.get(frame, 0) + n
        if frames:
            top_frame = _frame(frames[-1])
            own[top_frame] = own.get(top_frame, 0) + n
    if not total:
        return "py-spy: no samples"

    def ranked(counts: dict[str, int]) -> str:
        best = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return "; ".join(f"{name} {n / total:.0%}" for name, n in best)

    return (
        f"py-spy on the bot under `GET {route}`: {total} samples of {possible} (the rest idle);"
        f" on the stack, the bot's code: {ranked(inclusive)}\n"
        f"py-spy, own time (top of the stack): {ranked(own)}"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("status-page") as tmp_name:
        tmp = Path(tmp_name)
        config = platform_config(tmp)
        seeded = await seed(tmp / "incident-bot.db", config)
        bot = bot_server(
            tmp, env={"INCIDENT_BOT_API_TOKEN": API_TOKEN, "INCIDENT_BOT_CONFIG": str(config)}
        )
        await bot.start()
        bare: Server | None = None
        try:
            bodies: dict[str, tuple[int, bytes]] = {r: await fetch(bot, r) for r in ROUTES}
            served = [r for r in ROUTES if bodies[r][0] == 200]
            pages = {}
            for route in served:
                pages[route] = tmp / f"page{len(pages)}"
                pages[route].write_bytes(bodies[route][1])
            bare = await bare_server(tmp, pages).start()
            rows = [row for route in served for row in await ab([bare, bot], route, args)]
            spots = await profiled(bot, "/", args, tmp) if args.profile_seconds > 0 else ""
        finally:
            bot.stop()
            if bare is not None:
                bare.stop()
    return {
        "seeded": seeded,
        "bytes": {r: len(b) for r, (status, b) in bodies.items() if status == 200},
        "missing": {r: status for r, (status, _) in bodies.items() if status != 200},
        "rows": rows,
        "profile": spots,
        "args": vars(args),
    }


def render(data: dict[str, Any]) -> str:
    args = data["args"]
    header = [
        "server",
        "route",
        "bytes",
        "requests",
        "non-200",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU ms/req",
        "client CPU ms/req",
    ]
    body = []
    for r in data["rows"]:
        n = max(1, r["requests"])
        body.append(
            [
                r["server"],
                f"`{r['route']}`",
                data["bytes"][r["route"]],
                r["requests"],
                r["non_200"],
                f"{r['rps']:.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
                f"{r['server_cpu_s'] * 1000 / n:.3f}",
                f"{r['client_cpu_s'] * 1000 / n:.3f}",
            ]
        )
    lines = [table(header, body), ""]
    by = {(r["server"], r["route"]): r for r in data["rows"]}
    for route in data["bytes"]:
        bot, bare = by[("incident-bot", route)], by[("bare-aiohttp", route)]
        lines.append(
            f"`GET {route}`: bot {bot['rps']:.0f} req/s, bare aiohttp {bare['rps']:.0f} req/s:"
            f" ratio {bot['rps'] / max(bare['rps'], 1e-9):.1%}; p99 {bot['p99_ms']:.1f} ms"
            f" against {bare['p99_ms']:.1f} ms"
        )
    for route, status in data["missing"].items():
        lines.append(f"`GET {route}`: {status} from the bot, not measured")
    s = data["seeded"]
    lines.append(
        f"page: {s['components']} components, {s['open']} open incidents and"
        f" {s['incidents'] - s['open']} resolved over {HISTORY_DAYS} days,"
        f" {s['updates']['public']} public and {s['updates']['internal']} internal updates"
        + ("" if s["publication"] else " (this API has no publication yet: all are shown)")
    )
    if data["profile"]:
        lines.extend(data["profile"].splitlines())
    lines.append(
        f"{args['concurrency']} connections, {args['seconds']:.0f} s per route and server (in"
        f" turns of {ROUND_S:.0f} s) after 1 s of warm-up, no caching by the client,"
        f" {os.cpu_count()} cores shared by client and servers"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile-seconds", type=float, default=5.0, help="0: no profile")
    parser.add_argument("--quick", action="store_true", help="3 s per route, no profile")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.profile_seconds = min(args.seconds, 3.0), 0.0
    data = asyncio.run(run(args))
    text = render(data)
    print(text)
    write_json(args.json, {**data, "table": text})


if __name__ == "__main__":
    main()
