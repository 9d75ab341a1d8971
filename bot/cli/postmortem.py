"""`incident-bot postmortem ID`: the post-mortem draft as Markdown, Word, the chart or a zip."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.runtime import known_id, load_settings, with_store
from bot.cli.terminal import Failed, UsageError, say
from bot.domain.clock import SystemClock
from bot.store.base import Store


def postmortem(args: argparse.Namespace) -> int:
    from bot.services.platform import other_integrations
    from bot.services.postmortems.drafts import PostMortems

    settings, config = load_settings(args.config)
    to_stdout = args.output in (None, "-")
    if to_stdout and args.format != "md":
        raise UsageError(f"a {args.format} file needs a name: -o FILE")

    async def work(store: Store) -> int:
        prometheus = other_integrations(settings).get("prometheus")
        drafts = PostMortems(store, config, SystemClock(), prometheus)
        # Markdown on stdout has nowhere to put its chart beside it.
        draft = await drafts.draft(known_id(args.id), chart=not to_stdout)
        if draft is None:
            raise Failed(f"no incident #{args.id}")
        if args.format == "png" and draft.chart is None:
            raise Failed("no metrics chart: Prometheus is not configured or had no data")
        body = draft.render(args.format)
        if to_stdout:
            # The document itself, Markdown as written: not terminal text to strip.
            sys.stdout.write(body.decode())
            return 0
        output = Path(args.output)
        await asyncio.to_thread(output.write_bytes, body)
        say(f"wrote {output} ({len(body)} bytes)", to=sys.stderr)
        if args.format == "md" and draft.chart is not None:
            # Beside the Markdown, under the name it refers to.
            chart = output.parent / draft.filename("png")
            await asyncio.to_thread(chart.write_bytes, draft.chart)
            say(f"wrote {chart} ({len(draft.chart)} bytes)", to=sys.stderr)
        return 0

    return asyncio.run(with_store(settings, work))
