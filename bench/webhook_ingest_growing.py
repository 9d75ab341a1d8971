"""Webhook ingest under a storm's real shape: `webhook_ingest.py --mix growing` (2 new alerts per
delivery into 200 cycling groups, 32 connections), the bot against bare aiohttp in one run.

    .venv/bin/python bench/webhook_ingest_growing.py [--quick] [--json FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import webhook_ingest

if __name__ == "__main__":
    sys.argv[1:1] = ["--mix", "growing", "--concurrency", "32", "--requests", "5000"]
    webhook_ingest.main()
