"""Runs every bench, prints each table, and rewrites bench/RESULTS.md with the figures, the
date, the machine's cores (`nproc`) and the versions that matter.

    .venv/bin/python bench/run_all.py [--quick] [--only storm,startup] [--no-write]

`make bench` runs this (the full set takes about 5 minutes on 2 cores). A bench that fails is
reported in RESULTS.md with the end of its output, the others still run, and the exit status
is then 1. Targets are reported next to the figures, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"


def _ingest(d: dict[str, Any]) -> list[list[str]]:
    bot, bare = d["bot"], d["bare"]
    ratio = bot["rps"] / bare["rps"]
    n = max(1, bot["requests"])
    cpu_bot = bot["server_cpu_s"] * 1000 / n
    cpu_bare = bare["server_cpu_s"] * 1000 / max(1, bare["requests"])
    rows = [
        [
            "Webhook ingest, bot / bare aiohttp",
            f"{ratio:.1%} ({bot['rps']:.0f} vs {bare['rps']:.0f} req/s; first quarter"
            f" {bot['rps_by_quarter'][0] / bare['rps_by_quarter'][0]:.1%}, last"
            f" {bot['rps_by_quarter'][-1] / bare['rps_by_quarter'][-1]:.1%})",
            ">= 50%",
            _met(ratio >= 0.5),
        ],
        [
            "Webhook ingest latency p50 / p99 (bot; bare)",
            f"{bot['p50_ms']:.1f} / {bot['p99_ms']:.1f} ms;"
            f" {bare['p50_ms']:.1f} / {bare['p99_ms']:.1f} ms",
            "-",
            "",
        ],
        [
            "Server CPU per webhook (bot; bare)",
            f"{cpu_bot:.3f} ms; {cpu_bare:.3f} ms ({cpu_bot / max(cpu_bare, 1e-9):.0f}x)",
            "-",
            "",
        ],
    ]
    if bot.get("fsyncs") is not None:
        rows.append(
            [
                "SQLite commits per webhook (incl. the work it causes)",
                f"{bot['fsyncs'] / n:.2f}",
                "-",
                "",
            ]
        )
    return rows


def _ack(d: dict[str, Any]) -> list[list[str]]:
    loaded, idle = d["loaded"], d["idle"]
    rate = d["webhooks"]["rate"]
    return [
        [
            f"Slash-command ack p50 / p99 under {rate:.0f} webhooks/s",
            f"{loaded['p50_ms']:.1f} / {loaded['p99_ms']:.1f} ms"
            f" (idle: {idle['p50_ms']:.1f} / {idle['p99_ms']:.1f} ms)",
            "p99 <= 100 ms",
            _met(loaded["p99_ms"] <= 100),
        ]
    ]


def _alert(d: dict[str, Any]) -> list[list[str]]:
    s = d["from_send"]
    return [
        [
            "Alert -> first Slack call p50 / p99",
            f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms",
            "<= 250 ms",
            _met(s["p99_ms"] <= 250 and d["missing"] == 0),
        ]
    ]


def _storm(d: dict[str, Any]) -> list[list[str]]:
    bot, am = d["bot"], d["alertmanager"]
    bs, ams = bot["state"], am["state"]
    dup = bs["parents_posted_twice"] + bs["digests_posted_twice"] + bs["rows_delivered_twice"]
    timeout = d["converge_timeout_s"]

    def conv(v: float | None) -> str:
        return f"{v:.1f} s" if v is not None else f"not within {timeout:.0f} s"

    plan = d["plan"]
    label = f"Storm ({plan['alerts']:,} alerts, {plan['seconds']:.0f} s, {plan['groups']} groups)"
    return [
        [
            f"{label}: lost, bot (Alertmanager slack_configs)",
            f"{bs['lost']} ({ams['lost']})",
            "0",
            _met(bs["lost"] == 0),
        ],
        [
            f"{label}: duplicated, bot (Alertmanager: extra posts)",
            f"{dup} ({ams['extra_posts']})",
            "0",
            _met(dup == 0),
        ],
        [
            f"{label}: converged after the storm, bot (Alertmanager)",
            f"{conv(bot['converged_s'])} ({conv(am['converged_s'])})",
            "<= 10 s",
            _met(bot["converged_s"] is not None and bot["converged_s"] <= 10),
        ],
        [
            "RSS after the storm (peak)",
            f"{bot['rss_after_kb'] / 1024:.0f} MB ({bot['rss_peak_kb'] / 1024:.0f} MB)",
            "<= 150 MB",
            _met(bot["rss_peak_kb"] / 1024 <= 150),
        ],
    ]


def _startup(d: dict[str, Any]) -> list[list[str]]:
    starts = d["starts"]
    fresh = starts["fresh database, offline"]
    worst_ready = max(v["ready_p50_s"] for v in starts.values())
    return [
        [
            "Start-up to ready p50 (fresh; restart; Slack configured)",
            "; ".join(f"{v['ready_p50_s'] * 1000:.0f} ms" for v in starts.values()),
            "<= 1.5 s",
            _met(worst_ready <= 1.5),
        ],
        [
            "RSS at rest",
            f"{fresh['rss_p50_kb'] / 1024:.0f} MB",
            "<= 150 MB",
            _met(fresh["rss_p50_kb"] / 1024 <= 150),
        ],
    ]


def _postmortem(d: dict[str, Any]) -> list[list[str]]:
    row = d.get("10,000")
    if row is None:
        return []
    build, markdown, docx = (float(row[i].split()[0]) for i in (3, 4, 5))
    return [
        [
            "Post-mortem of 10,000 events: build + Markdown; Word",
            f"{build + markdown:.1f} ms; {docx:.0f} ms",
            "<= 0.5 s",
            _met(build + markdown <= 500) + (" (Word: " + _met(docx <= 500) + ")"),
        ]
    ]


def _ingest_growing(d: dict[str, Any]) -> list[list[str]]:
    bot, bare = d["bot"], d["bare"]
    ratio = bot["rps"] / bare["rps"]
    cpu_bot = bot["server_cpu_incl_after_s"] * 1000 / max(1, bot["requests"])
    cpu_bare = bare["server_cpu_s"] * 1000 / max(1, bare["requests"])
    return [
        [
            "Growing groups ingest, bot / bare aiohttp",
            f"{ratio:.1%} ({bot['rps']:.0f} vs {bare['rps']:.0f} req/s)",
            ">= 50%",
            _met(ratio >= 0.5),
        ],
        [
            "Growing groups p99 (bot)",
            f"{bot['p99_ms']:.1f} ms",
            "<= 20 ms",
            _met(bot["p99_ms"] <= 20),
        ],
        [
            "Growing groups: bot idle again after the load",
            f"{bot['after_s']:.1f} s",
            "<= 1 s",
            _met(bot["after_s"] <= 1.0),
        ],
        [
            "Growing groups CPU per webhook, incl. work after (bot; bare)",
            f"{cpu_bot:.3f} ms; {cpu_bare:.3f} ms",
            "-",
            "",
        ],
    ]


def _ingest_stages(d: dict[str, Any]) -> list[list[str]]:
    cost = {r["stage"]: r["cpu_us_per_delivery"] for r in d["stages"]}
    return [
        [
            "Ingest CPU per delivery by stage: parse / validate / identify / store / + commit",
            " / ".join(
                f"{cost[s]:.0f} µs"
                for s in ("parse", "validate", "identify", "store", "store + commit")
            ),
            "-",
            "",
        ]
    ]


def _group_size(d: dict[str, Any]) -> list[list[str]]:
    small, big = d["rows"][0], d["rows"][-1]
    ratio = big["cpu_ms"] / max(1e-9, small["cpu_ms"])
    return [
        [
            f"CPU of one change, group of {big['size']:,} / of {small['size']:,} alerts",
            f"{ratio:.1f}x ({big['cpu_ms']:.2f} vs {small['cpu_ms']:.2f} ms)",
            "<= 2x",
            _met(ratio <= 2),
        ]
    ]


def _digest_size(d: dict[str, Any]) -> list[list[str]]:
    small, large = d["small"], d["large"]
    return [
        [
            f"Sync of one group's change, digest of {large['size']} / of {small['size']} groups",
            f"{d['ratio']:.2f}x ({large['p50_ms']:.2f} vs {small['p50_ms']:.2f} ms p50)",
            "<= 2x",
            _met(d["ratio"] <= 2),
        ]
    ]


def _replicas(d: dict[str, Any]) -> list[list[str]]:
    rps = {r["server"]: r["rps"] for r in d["rows"]}
    bare = rps["bare-aiohttp"]
    one, three = rps["bot, 1 replica (PostgreSQL)"], rps["bot, 3 replicas (PostgreSQL)"]
    took = d["failover_s"]
    return [
        [
            "Ingest on PostgreSQL, 1 replica / 3 replicas / bare aiohttp",
            f"{one:.0f} / {three:.0f} / {bare:.0f} req/s ({one / bare:.1%}, {three / bare:.1%})",
            "3 replicas > 1",
            _met(three > one),
        ],
        [
            "Failover: leader SIGKILLed to the new leader's first Slack message",
            ", ".join(f"{t:.1f} s" for t in took),
            "<= 15 s",
            _met(bool(took) and max(took) <= 15),
        ],
    ]


def _status_page(d: dict[str, Any]) -> list[list[str]]:
    by = {(r["server"], r["route"]): r for r in d["rows"]}
    rows = []
    for route in d["bytes"]:
        bot, bare = by[("incident-bot", route)], by[("bare-aiohttp", route)]
        rows.append(
            [
                f"Status page `GET {route}` under {d['args']['concurrency']} readers, bot / bare",
                f"{bot['rps'] / max(bare['rps'], 1e-9):.1%} ({bot['rps']:.0f} vs"
                f" {bare['rps']:.0f} req/s); p99 {bot['p99_ms']:.1f} vs {bare['p99_ms']:.1f} ms",
                "-",
                "",
            ]
        )
    for route, status in d["missing"].items():
        rows.append([f"Status page `GET {route}`", f"not measured (HTTP {status})", "-", ""])
    return rows


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


# name, title, what it measures, summary rows
BENCHES: list[tuple[str, str, str, Callable[[dict[str, Any]], list[list[str]]]]] = [
    (
        "webhook_ingest",
        "Webhook ingest",
        "`POST /webhooks/alertmanager` on `incident-bot serve` (durable: stored in SQLite "
        "before 200) against a bare aiohttp handler answering 200 to the same body, both "
        "subprocesses driven by the same asyncio client in the same run.",
        _ingest,
    ),
    (
        "webhook_ingest_growing",
        "Webhook ingest, growing groups",
        "The same A/B under a storm's shape: every delivery 2 new alerts into one of 200 "
        "cycling groups, 32 connections; the bot's CPU includes its work after the last 200.",
        _ingest_growing,
    ),
    (
        "ingest_stages",
        "Webhook ingest, stage by stage",
        "In process, the growing-groups bodies through each stage of durable ingest alone: "
        "parse, validate, identify, the store's write without fsync, and the write through "
        "the store's writer with 32 callers and group commit.",
        _ingest_stages,
    ),
    (
        "group_size",
        "Cost of a change against the group's size",
        "Bot CPU (storing the delivery and syncing the thread) per change of one alert, in a "
        "group of 20 alerts and in one of 20,000.",
        _group_size,
    ),
    (
        "digest_size",
        "Cost of a change against the storm digest's size",
        "In process: the sync of one member group's change (its digest line and the message "
        "holding it), in a digest of 5 groups and in one of 500.",
        _digest_size,
    ),
    (
        "ack_latency",
        "Slash-command ack latency",
        "Signed `/incident help` requests, at rest and while webhooks arrive at a steady rate.",
        _ack,
    ),
    (
        "alert_to_slack",
        "Alert to first Slack call",
        "From a webhook landing on the bot to its first `chat.postMessage` for the group "
        "reaching the FakeSlack.",
        _alert,
    ),
    (
        "storm",
        "Alert storm: the bot against Alertmanager's own Slack integration",
        "The same alerts, at the same moments, through two real Alertmanagers: one delivering "
        "to the bot (webhook_configs), one with slack_configs, each to its own FakeSlack "
        "allowing 1 message/s/channel.",
        _storm,
    ),
    (
        "replicas",
        "Replicas on PostgreSQL",
        "Webhook ingest with one and with three `incident-bot serve` processes on one "
        "PostgreSQL (durable: fsync and synchronous commit on) against a bare aiohttp handler "
        "in the same run, the load spread evenly over the replicas; and the failover time.",
        _replicas,
    ),
    (
        "status_page",
        "Status page under load",
        "`GET /` and `GET /api/v2/summary.json` on `incident-bot serve` with a realistic page "
        "(20 components, 5 open incidents, 90 days of history) against a bare aiohttp server "
        "answering the same bytes, 64 readers each, in the same run; py-spy on the bot.",
        _status_page,
    ),
    (
        "startup",
        "Start-up and memory",
        "`incident-bot serve` from spawn to `/readyz` 200, and its RSS at rest.",
        _startup,
    ),
    (
        "postmortem_render",
        "Post-mortem render",
        "Build, Markdown and Word of a post-mortem draft from a long timeline (in process).",
        _postmortem,
    ),
]


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s() -> float:
    """CPU of this process and of every descendant that has exited and been waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def wait_quiet(limit_s: float, window_s: float = 5.0, busy_s: float = 0.5) -> float:
    """Waits (at most `limit_s`) until other processes use under `busy_s` CPU-s in a
    `window_s` window, so a bench does not start while a neighbour is busy; returns the wait."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        busy0 = machine_busy_s()
        time.sleep(window_s)
        if machine_busy_s() - busy0 < busy_s:
            break
    return time.monotonic() - began


def run_one(name: str, quick: bool, timeout: float) -> tuple[dict[str, Any] | None, str, float]:
    """Runs a bench, echoing its output; returns its figures, its printed text, its seconds.
    Also puts in the figures how much CPU other processes on the machine used meanwhile."""
    script = BENCH / f"{name}.py"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out_json = Path(tmp.name)
    argv = [sys.executable, str(script)]
    if name != "postmortem_render":
        argv += ["--json", str(out_json)] + (["--quick"] if quick else [])
    print(f"\n## {name}", flush=True)
    began = time.monotonic()
    busy0, ours0 = machine_busy_s(), tree_cpu_s()
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
            if time.monotonic() - began > timeout:
                proc.kill()
                lines.append(f"(killed after {timeout:.0f} s)")
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    seconds = time.monotonic() - began
    foreign = max(0.0, (machine_busy_s() - busy0) - (tree_cpu_s() - ours0))
    text = "\n".join(lines)
    data = None
    if proc.returncode == 0:
        if name == "postmortem_render":
            data = {"table": text}
            for line in lines:
                cells = re.split(r"\s{2,}", line.strip())
                if len(cells) == 7 and cells[0][:1].isdigit():
                    data[cells[0]] = cells
        else:
            data = json.loads(out_json.read_text())
    out_json.unlink(missing_ok=True)
    if data is not None:
        data["other_processes_cpu_s"] = foreign
    print(f"({name}: {seconds:.0f} s; other processes used {foreign:.1f} CPU-s meanwhile)")
    return data, text, seconds


def code_digest() -> str:
    """A digest of the code under test (bot/ and pyproject.toml): other people may edit the
    work tree while the benches run, and then the figures would mix two versions."""
    h = hashlib.sha256()
    for path in sorted([*(REPO / "bot").rglob("*"), REPO / "pyproject.toml"]):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def machine() -> list[tuple[str, str]]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    try:
        am = subprocess.run(
            [str(REPO / ".cache" / "test-tools" / "bin" / "alertmanager"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        alertmanager = (am.stdout or am.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        alertmanager = "not available"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except OSError:
        commit = "unknown"
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("aiohttp", metadata.version("aiohttp")),
        ("Alertmanager", alertmanager),
        ("commit", commit),
    ]


def md_section(text: str) -> str:
    """A bench's printed table and notes as Markdown: the table as is, notes as a list."""
    out, in_table = [], True
    for line in text.splitlines():
        if in_table and line.startswith("|"):
            out.append(line)
            continue
        in_table = False
        if line.strip():
            out.append(f"- {line.strip()}")
    return "\n".join(["", *out])


def write_results(
    results: dict[str, tuple[dict[str, Any] | None, str, float]], args: argparse.Namespace
) -> None:
    from bench._harness import table

    info = machine()
    code_end = code_digest()
    info.append(("bot/ digest", args.code_start))
    if code_end != args.code_start:
        info.append(
            ("WARNING", f"bot/ changed during the run (now {code_end}): figures mix versions")
        )
    summary = []
    for name, _, _, rows in BENCHES:
        data = results.get(name, (None, "", 0.0))[0]
        if data is not None:
            summary.extend(rows(data))
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run_all.py"
        + (" --quick" if args.quick else "")
        + (f" --quiet-wait {args.quiet_wait:.0f}" if args.quiet_wait > 0 else "")
        + "`); every figure below comes from that one run"
        + (
            " (a bench disturbed by other processes, over 0.1 CPU-s of theirs per second, was"
            " run again, and the least disturbed run is shown)"
            if args.quiet_wait > 0
            else ""
        )
        + ". All traffic stays on loopback; load generators, fakes and servers share the"
        " machine's cores.",
        "",
        table(["machine", ""], info),
        "",
        "## Summary",
        "",
        "Targets are the ones issue 8 aims for: reported here, not asserted anywhere.",
        "",
        table(["figure", "result", "target", "met"], summary),
    ]
    for name, title, what, _ in BENCHES:
        if name in results:
            parts += section(name, title, what, results[name])
    RESULTS.write_text("\n".join(parts) + "\n")
    print(f"\nwrote {RESULTS.relative_to(REPO)}")


def section(
    name: str, title: str, what: str, result: tuple[dict[str, Any] | None, str, float]
) -> list[str]:
    """One bench's part of RESULTS.md: its heading, what it measures, its table and notes."""
    data, text, seconds = result
    parts = ["", f"## {title}", "", f"`bench/{name}.py`, {seconds:.0f} s. {what}"]
    if data is not None:
        parts[-1] += (
            f" Other processes on the machine used {data['other_processes_cpu_s']:.1f}"
            " CPU-s while it ran"
        )
        others = data.get("other_tries_cpu_s") or []
        if others:
            parts[-1] += (
                f" (the least disturbed of {len(others) + 1} runs; in the others: "
                + ", ".join(f"{v:.1f}" for v in others)
                + " CPU-s)"
            )
        parts[-1] += "."
    if data is None:
        tail = text[-3000:].replace(str(REPO), "<repo>")
        tail = tail.replace(tempfile.gettempdir(), "<tmp>").replace(str(Path.home()), "~")
        parts += ["", "**Failed.** The end of its output:", "", "```", tail, "```"]
    elif name == "postmortem_render":
        parts += ["", "```", text.strip(), "```"]
    else:
        parts.append(md_section(data.get("table", text)))
    return parts


def splice_results(results: dict[str, tuple[dict[str, Any] | None, str, float]]) -> None:
    """Puts the benches just run into RESULTS.md in place of their earlier figures (their
    section and their rows of the summary), leaving every other bench's figures as they were;
    each spliced section says when and at which commit it ran."""
    text = RESULTS.read_text()
    info = dict(machine())
    for name, title, what, rows in BENCHES:
        if name not in results:
            continue
        data = results[name][0]
        new_rows = rows(data) if data is not None else []
        text = _splice_summary(text, new_rows)
        lines = section(name, title, what, results[name])
        lines[3] += f" Run alone on {info['date']} at commit {info['commit']} (`--splice`)."
        body = "\n".join(lines[1:])
        start = text.find(f"\n## {title}\n")
        if start < 0:
            text = text.rstrip("\n") + "\n\n" + body
        else:
            end = text.find("\n## ", start + 1)
            end = len(text) if end < 0 else end
            text = text[: start + 1] + body + text[end:]
    RESULTS.write_text(text.rstrip("\n") + "\n")
    print(f"\nspliced {', '.join(results)} into {RESULTS.relative_to(REPO)}")


def _splice_summary(text: str, rows: list[list[str]]) -> str:
    """The summary's rows of a bench are those whose figure starts as its new rows do; they
    are replaced where they stood (or the new rows go at the table's end)."""
    if not rows:
        return text
    prefix = os.path.commonprefix([r[0] for r in rows])  # noqa: RUF071 - text, not paths
    lines = text.split("\n")
    head = lines.index("## Summary")
    table_at = next(i for i in range(head, len(lines)) if lines[i].startswith("| figure"))
    end = next((i for i in range(table_at, len(lines)) if not lines[i].startswith("|")), len(lines))
    old = [i for i in range(table_at + 2, end) if lines[i].startswith(f"| {prefix}")]
    at = old[0] if old else end
    kept = [line for i, line in enumerate(lines) if i not in old]
    new = ["| " + " | ".join(r) + " |" for r in rows]
    kept[at:at] = new
    return "\n".join(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter variants (about 2 min)")
    parser.add_argument("--only", help="comma-separated bench names")
    parser.add_argument(
        "--no-write", action="store_true", help="leave RESULTS.md alone (implied by --only)"
    )
    parser.add_argument(
        "--splice",
        action="store_true",
        help="with --only: put those benches' figures into RESULTS.md, keeping the others'",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per bench")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each bench, wait up to this long for other processes to go quiet",
    )
    args = parser.parse_args()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    wanted = set(args.only.split(",")) if args.only else {b[0] for b in BENCHES}
    unknown = wanted - {b[0] for b in BENCHES}
    if unknown:
        parser.error(f"unknown bench: {', '.join(sorted(unknown))}")
    results = {}
    args.code_start = code_digest()
    began = time.monotonic()
    for name, *_ in BENCHES:
        if name not in wanted:
            continue
        tries: list[tuple[dict[str, Any] | None, str, float]] = []
        # With --quiet-wait, a run disturbed by other processes (over 0.1 CPU-s of theirs per
        # second) is tried again, twice at most, and the least disturbed run is kept.
        while True:
            if args.quiet_wait > 0:
                waited = wait_quiet(args.quiet_wait)
                print(f"(waited {waited:.0f} s for the machine to be quiet)", flush=True)
            tries.append(run_one(name, args.quick, args.timeout))
            data, _, seconds = tries[-1]
            if data is None or args.quiet_wait <= 0 or len(tries) == 3:
                break
            if data["other_processes_cpu_s"] <= 0.1 * seconds:
                break
            print("(other processes were busy meanwhile: running it again)", flush=True)
        best = min(tries, key=lambda t: t[0]["other_processes_cpu_s"] if t[0] is not None else 1e9)
        if best[0] is not None:
            best[0]["other_tries_cpu_s"] = [
                t[0]["other_processes_cpu_s"] for t in tries if t is not best and t[0]
            ]
        results[name] = best
    print(f"\nall benches: {time.monotonic() - began:.0f} s")
    if code_digest() != args.code_start:
        print("WARNING: bot/ or pyproject.toml changed while the benches ran")
    if args.splice and args.only and not args.no_write:
        splice_results({k: v for k, v in results.items() if v[0] is not None})
    elif not (args.no_write or args.only):
        write_results(results, args)
    return 0 if all(r[0] is not None for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
