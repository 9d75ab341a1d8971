"""A throwaway PostgreSQL cluster for integration tests.

``ThrowawayPostgres`` runs ``initdb`` into a fresh temporary directory and starts a
private ``postgres`` on a free loopback port with ``pg_stat_statements`` preloaded
and created in the ``postgres`` database. Durability is switched off because the
cluster is deleted on ``stop()``.

PostgreSQL refuses to run as root, so when the tests run as root (CI containers)
the cluster is owned by and run as the ``postgres`` OS user, which is created with
``useradd`` if it does not exist. Otherwise the cluster runs as the current user.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.harness.ports import free_tcp_port, tail

__all__ = ["PostgresError", "ThrowawayPostgres", "find_pg_bindir"]

PG_OS_USER = "postgres"
PG_SUPERUSER = "postgres"
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")


class PostgresError(RuntimeError):
    """The throwaway cluster could not be created, started or queried."""


def _has_binaries(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in _REQUIRED_BINARIES)


def _pg_version_key(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in path.parent.name.split("."))
    except ValueError:
        return (0,)


def find_pg_bindir() -> Path:
    """Locate a directory holding initdb, pg_ctl, postgres and psql.

    ``$PG_BINDIR`` wins; then ``pg_config --bindir``; then wherever ``initdb`` on
    PATH really lives (Debian puts only symlinks or wrappers on PATH); then
    ``/usr/lib/postgresql/15/bin`` and other Debian versions, newest first.
    """
    candidates: list[Path] = []
    if env_dir := os.environ.get("PG_BINDIR"):
        candidates.append(Path(env_dir))
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    candidates.append(Path("/usr/lib/postgresql/15/bin"))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_pg_version_key, reverse=True)
    )
    for candidate in candidates:
        if _has_binaries(candidate):
            return candidate
    tried = ", ".join(dict.fromkeys(str(c) for c in candidates))
    raise PostgresError(
        f"PostgreSQL server binaries ({', '.join(_REQUIRED_BINARIES)}) not found; tried: "
        f"{tried}. Install postgresql-15 or set PG_BINDIR."
    )


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/sh", name],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # 9 = "username already in use": another process created it concurrently.
    if result.returncode not in (0, 9):
        raise PostgresError(
            f"could not create OS user {name!r} to run PostgreSQL as: {result.stderr.strip()}"
        )
    return pwd.getpwnam(name)


class ThrowawayPostgres:
    """A private PostgreSQL cluster living in a temp dir for the duration of a test run."""

    def __init__(
        self,
        *,
        bindir: Path | None = None,
        base_dir: Path | None = None,
        timeout: float = 60.0,
        extensions: Sequence[str] = ("pg_stat_statements",),
        durable: bool = False,
    ) -> None:
        """`durable` keeps PostgreSQL's fsync and synchronous commit, for benchmarks that
        compare it with a store that syncs every commit."""
        self._durable = durable
        self._bindir_override = bindir
        self._base_dir = base_dir
        self._timeout = timeout
        self._extensions = tuple(extensions)
        self._bindir: Path | None = None
        self._tmpdir: Path | None = None
        self._port: int | None = None
        self._run_as: str | None = None
        self.startup_seconds: float | None = None

    # -- properties ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._port is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("ThrowawayPostgres is not started")
        return self._port

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def user(self) -> str:
        return PG_SUPERUSER

    @property
    def database(self) -> str:
        return "postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = self._bindir_override or find_pg_bindir()
        return self._bindir

    @property
    def data_dir(self) -> Path:
        if self._tmpdir is None:
            raise PostgresError("ThrowawayPostgres is not started")
        return self._tmpdir / "data"

    @property
    def socket_dir(self) -> Path:
        if self._tmpdir is None:
            raise PostgresError("ThrowawayPostgres is not started")
        return self._tmpdir

    @property
    def log_file(self) -> Path:
        if self._tmpdir is None:
            raise PostgresError("ThrowawayPostgres is not started")
        return self._tmpdir / "postgres.log"

    # -- process helpers ------------------------------------------------------------

    def _cmd(self, argv: list[str]) -> list[str]:
        if self._run_as is None:
            return argv
        if runuser := shutil.which("runuser"):
            return [runuser, "-u", self._run_as, "--", *argv]
        # su needs an explicit shell: a user made by useradd may have a nologin shell.
        return ["su", self._run_as, "-s", "/bin/sh", "-c", shlex.join(argv)]

    def _run_server_tool(
        self, argv: list[str], *, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "LD_PRELOAD"}
        # Locale settings inherited from the host may name locales that are not
        # installed, which makes initdb and the postmaster abort.
        env.update(LC_ALL="C", LANG="C")
        try:
            return subprocess.run(
                self._cmd(argv),
                capture_output=True,
                text=True,
                timeout=timeout or self._timeout,
                check=False,
                env=env,
                # The server user may not be allowed into our cwd (e.g. /root).
                cwd=self._tmpdir,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{argv[0]} timed out after {exc.timeout}s") from exc

    def psql(self, sql: str, *, database: str = "postgres", timeout: float = 30.0) -> str:
        """Run SQL through the ``psql`` binary over TCP and return unaligned output."""
        argv = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            PG_SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"psql timed out after {timeout}s running {sql!r}") from exc
        if result.returncode != 0:
            raise PostgresError(f"psql failed running {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> ThrowawayPostgres:
        if self.started:
            return self
        began = time.monotonic()
        bindir = self.bindir
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            owner = _ensure_os_user(PG_OS_USER)
            self._run_as = PG_OS_USER
        self._tmpdir = Path(tempfile.mkdtemp(prefix="incident-bot-pg-", dir=self._base_dir))
        # From here on any failure must not leak the directory or a running server.
        atexit.register(self.stop)
        try:
            if owner is not None:
                os.chown(self._tmpdir, owner.pw_uid, owner.pw_gid)
            self._initdb(bindir)
            self._start_server(bindir)
            for ext in self._extensions:
                self.psql(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _initdb(self, bindir: Path) -> None:
        result = self._run_server_tool(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed (exit {result.returncode}) for {self.data_dir}:\n"
                f"{result.stdout}\n{result.stderr}"
            )

    def _start_server(self, bindir: Path) -> None:
        # The free port may be grabbed between probing and binding; retry on a new one.
        last_error = ""
        for _attempt in range(3):
            port = free_tcp_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {port}",
                    f"-c unix_socket_directories={shlex.quote(str(self.socket_dir))}",
                    "-c shared_preload_libraries=pg_stat_statements",
                    *(
                        []
                        if self._durable
                        else [
                            "-c fsync=off",
                            "-c synchronous_commit=off",
                            "-c full_page_writes=off",
                        ]
                    ),
                ]
            )
            result = self._run_server_tool(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(int(self._timeout)),
                    "start",
                ],
                timeout=self._timeout + 10,
            )
            if result.returncode == 0:
                self._port = port
                return
            log = tail(self.log_file)
            last_error = f"{result.stdout}\n{result.stderr}\n--- postgres.log ---\n{log}"
            if "already in use" not in log:
                break
        raise PostgresError(f"pg_ctl start failed:\n{last_error}")

    def stop(self) -> None:
        """Stop the server (fast shutdown, SIGKILL as a last resort) and delete its files."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        tmpdir, self._tmpdir = self._tmpdir, None
        self._port = None
        if tmpdir is None:
            return
        data_dir = tmpdir / "data"
        pid_file = data_dir / "postmaster.pid"
        if pid_file.exists():
            self._tmpdir = tmpdir  # _run_server_tool uses it as cwd
            try:
                result = self._run_server_tool(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(data_dir),
                        "stop",
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                    ],
                    timeout=40,
                )
                stopped = result.returncode == 0
            except PostgresError:
                stopped = False
            finally:
                self._tmpdir = None
            if not stopped:
                self._kill_postmaster(pid_file)
        shutil.rmtree(tmpdir, ignore_errors=True)

    @staticmethod
    def _kill_postmaster(pid_file: Path) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            # Killing the postmaster's process group takes its backends with it.
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port else "stopped"
        return f"<ThrowawayPostgres {state}>"
