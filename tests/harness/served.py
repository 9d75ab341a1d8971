"""`incident-bot serve` as a real process on a free loopback port, with the JSON API enabled,
for tests and scripts that reach the bot only as its users do: over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.harness.bot import CONTRACT_ENV
from tests.harness.ports import free_tcp_port, tail

SCRIPT = Path(sys.executable).parent / "incident-bot"
API_TOKEN = "served-api-token"


class ServedBot:
    """A serve process with its own SQLite file in `workdir`; use `async with`."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        # The developer's own credentials must not reach the bot under test.
        self.env = {k: v for k, v in os.environ.items() if k not in CONTRACT_ENV}
        self.env.update(
            INCIDENT_BOT_DATABASE=str(workdir / "bot.db"), INCIDENT_BOT_API_TOKEN=API_TOKEN
        )
        self.env.update(env or {})
        self.proc: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ServedBot:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                str(SCRIPT),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.session = aiohttp.ClientSession(trust_env=False)
        try:
            async with asyncio.timeout(30):
                while not await self._ready():
                    if self.proc.returncode is not None:
                        raise RuntimeError(f"incident-bot serve exited:\n{tail(self.log)}")
                    await asyncio.sleep(0.05)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _ready(self) -> bool:
        assert self.session is not None
        try:
            async with self.session.get(self.url + "/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.session is not None:
            await self.session.close()
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 5)

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call to the JSON API with the token; a refusal fails with the bot's answer."""
        assert self.session is not None
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with self.session.request(
            method, self.url + path, json=body, headers=headers
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise AssertionError(f"{method} {path} -> {resp.status}: {text}")
            return await resp.json()
