"""The desktop app's update channel on S3 behind CloudFront: list releases, plan and run a rollback.

The app's auto-updater (electron-updater) reads `latest.yml`, `latest-mac.yml`, … at the bucket
root through CloudFront. Every release also keeps its own copies under `v<version>/`. Rolling
back is what the runbook does by hand: copy a previous release's `latest*.yml` over the root
ones, then invalidate them in CloudFront so clients stop getting the cached newer files.

Everything goes through aioboto3, so no call blocks the event loop. Credentials and region come
from the standard AWS chain (environment, shared config, instance role); `AWS_ENDPOINT_URL`
(passed in as `endpoint_url`) points both S3 and CloudFront elsewhere, e.g. at moto in tests.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# No stubs are installed for these; `unused-ignore` keeps this quiet if some are added later.
import aioboto3
import aiohttp
import yaml
from aiobotocore.config import AioConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from bot.observability.redaction import scrub_text

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
# CloudFront only accepts `*` as the last character of a path, so "/latest*.yml" (as in the
# runbook) would not mean what it says; "/latest*" covers every latest*.yml.
INVALIDATION_PATH = "/latest*"
COMPLETED = "Completed"
# A person is waiting on the other end of every call: fail in seconds, not minutes. Standard
# retry mode counts max_attempts as retries after the first try.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
MAX_RETRIES = 2
# latest*.yml files are a few hundred bytes; anything this big is not one.
MAX_YAML_BYTES = 1 << 20
MAX_REASON = 300
SHOWN_VERSIONS = 15

VERSION = re.compile(r"^v?(\d{1,9}(?:\.\d{1,9}){0,5})$")
UPDATE_FILE = re.compile(r"^latest[^/]*\.yml$")
RELEASE_FILE = re.compile(r"^v(\d{1,9}(?:\.\d{1,9}){0,5})/(latest[^/]*\.yml)$")


class DesktopUpdatesError(Exception):
    """The update channel could not be read or changed; the message is for a person."""


@dataclass(frozen=True)
class UpdateFile:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class DesktopRollbackPlan:
    version: str
    # (source key v<version>/latest*.yml, destination key at the root), sorted by destination.
    files: list[tuple[str, str]]
    # Every root latest*.yml -> the version it announces now ("unknown" if unreadable), so the
    # confirmation can show before/after. A root file with no counterpart in `files` is left as
    # it is by the rollback.
    current: dict[str, str]


@dataclass(frozen=True)
class DesktopRollbackResult:
    copied: list[str]
    invalidation_id: str
    # "Completed", or the last status CloudFront reported when the wait ran out.
    status: str


def normalize_version(version: str) -> str:
    """ "v1.2.2" or "1.2.2" -> "1.2.2"; anything else is refused before it reaches S3."""
    match = VERSION.match(version.strip())
    if match is None:
        raise DesktopUpdatesError(
            f"{version[:40]!r} is not a version: expected digits and dots, like 1.2.2 or v1.2.2."
        )
    return match[1]


def _version_order(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _shortlist(versions: list[str]) -> str:
    # Newest first; a person picking a rollback target wants the recent ones, not hundreds.
    if not versions:
        return "none"
    shown = ", ".join(versions[:SHOWN_VERSIONS])
    more = len(versions) - SHOWN_VERSIONS
    return f"{shown} and {more} older" if more > 0 else shown


def _one_line(text: str) -> str:
    text = " ".join(scrub_text(text).split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = error.get("Code") or "error"
        message = error.get("Message") or ""
        return f"AWS answered {code}" + (f": {message}" if message else "")
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (environment, shared config or instance role)"
    if isinstance(exc, EndpointConnectionError):
        # botocore's text names the endpoint URL; scrubbing removes any user:password in it.
        return f"could not reach AWS: {exc}"
    if isinstance(exc, TimeoutError):
        return "AWS did not answer in time"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _aws_errors(action: str) -> Iterator[None]:
    """botocore's exceptions (and the aiohttp ones aiobotocore lets through) -> one line."""
    try:
        yield
    except DesktopUpdatesError:
        raise
    except (BotoCoreError, ClientError, aiohttp.ClientError, OSError) as exc:
        # OSError covers TimeoutError and raw socket errors; the original stays chained for logs.
        raise DesktopUpdatesError(_one_line(f"{action} failed: {_reason(exc)}")) from exc


def _check_plan(plan: DesktopRollbackPlan) -> str:
    """A plan may have round-tripped through a Slack button; copy only what plan() would make."""
    version = normalize_version(plan.version)
    if not plan.files:
        raise DesktopUpdatesError("The rollback plan has no files to copy.")
    for source, destination in plan.files:
        if not UPDATE_FILE.match(destination) or source != f"v{version}/{destination}":
            raise DesktopUpdatesError(
                f"The rollback plan is not valid: {source[:80]!r} -> {destination[:80]!r}."
            )
    return version


def _announced(body: bytes) -> str | None:
    """The `version:` of an electron-updater YAML, as text."""
    try:
        # BaseLoader keeps every scalar a string: `version: 1.10` must not become 1.1.
        data = yaml.load(body.decode("utf-8"), Loader=yaml.BaseLoader)
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    version = data.get("version")
    return version.strip() if isinstance(version, str) and version.strip() else None


class DesktopUpdates:
    """One update channel: a bucket and the CloudFront distribution in front of it."""

    def __init__(
        self,
        bucket: str,
        distribution_id: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        if not bucket or not distribution_id:
            raise ValueError("bucket and distribution_id are required")
        self.bucket = bucket
        self.distribution_id = distribution_id
        if endpoint_url:
            parsed = urlsplit(endpoint_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                # botocore would only say so with a bare ValueError on the first call; a bad
                # setting should fail where the settings are read. Not echoed: it may hold a
                # password.
                raise ValueError("AWS_ENDPOINT_URL must be an http:// or https:// URL")
        self._endpoint_url = endpoint_url or None
        self._session: Any = aioboto3.Session(region_name=region)
        # The session has resolved AWS_DEFAULT_REGION/profile by now; CloudFront is global and
        # the bucket's region is found by S3's redirects, so any region works as a default.
        self._region: str = region or self._session.region_name or DEFAULT_REGION

    def _config(self) -> Any:
        options: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "retries": {"mode": "standard", "max_attempts": MAX_RETRIES},
        }
        if self._endpoint_url:
            # S3 look-alikes (moto, MinIO, LocalStack) serve buckets by path, not by host name.
            options["s3"] = {"addressing_style": "path"}
        return AioConfig(**options)

    @asynccontextmanager
    async def _client(self, service: str) -> AsyncIterator[Any]:
        kwargs: dict[str, Any] = {"region_name": self._region, "config": self._config()}
        if self._endpoint_url:
            kwargs["endpoint_url"] = self._endpoint_url
        async with self._session.client(service, **kwargs) as client:
            yield client

    async def _list(
        self, s3: Any, prefix: str, *, delimiter: str | None = None
    ) -> list[UpdateFile]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        files: list[UpdateFile] = []
        async for page in s3.get_paginator("list_objects_v2").paginate(**params):
            for item in page.get("Contents", []):
                files.append(UpdateFile(item["Key"], int(item["Size"]), item["ETag"].strip('"')))
        return files

    async def _versions(self, s3: Any) -> list[str]:
        # One paginated listing of v*/ instead of a request per release prefix.
        found = set()
        for file in await self._list(s3, "v"):
            match = RELEASE_FILE.match(file.key)
            if match:
                found.add(match[1])
        return sorted(found, key=_version_order, reverse=True)

    async def _read_version(self, s3: Any, file: UpdateFile) -> str | None:
        if file.size > MAX_YAML_BYTES:
            return None
        response = await s3.get_object(Bucket=self.bucket, Key=file.key)
        async with response["Body"] as body:
            data: bytes = await body.read()
        return _announced(data)

    async def versions(self) -> list[str]:
        """Releases that can be rolled back to (a v<digits.and.dots>/ prefix holding a
        latest*.yml), newest first."""
        with _aws_errors(f"Listing s3://{self.bucket}/v*/"):
            async with self._client("s3") as s3:
                return await self._versions(s3)

    async def plan(self, version: str) -> DesktopRollbackPlan:
        """What a rollback to `version` would copy, and what the root files announce now.

        Refuses a version whose files are missing or announce another version: rolling back
        to them would not put that release in front of users.
        """
        version = normalize_version(version)
        prefix = f"v{version}/"
        with _aws_errors(f"Reading s3://{self.bucket}/{prefix}"):
            async with self._client("s3") as s3:
                sources = [
                    file
                    for file in await self._list(s3, prefix, delimiter="/")
                    if UPDATE_FILE.match(file.key[len(prefix) :])
                ]
                if not sources:
                    available = await self._versions(s3)
                    raise DesktopUpdatesError(
                        f"No update files (latest*.yml) for {version} in "
                        f"s3://{self.bucket}/{prefix}. Available versions: "
                        f"{_shortlist(available)}."
                    )
                for file in sources:
                    announced = await self._read_version(s3, file)
                    if announced is None or announced.removeprefix("v") != version:
                        raise DesktopUpdatesError(
                            f"s3://{self.bucket}/{file.key} announces "
                            f"{announced or 'no readable version'}, not {version}; "
                            "fix that file before rolling back to it."
                        )
                current: dict[str, str] = {}
                for file in await self._list(s3, "latest", delimiter="/"):
                    if UPDATE_FILE.match(file.key):
                        current[file.key] = await self._read_version(s3, file) or "unknown"
        files = sorted(((f.key, f.key[len(prefix) :]) for f in sources), key=lambda p: p[1])
        return DesktopRollbackPlan(version=version, files=files, current=current)

    async def rollback(
        self,
        plan: DesktopRollbackPlan,
        *,
        wait_seconds: float = 120,
        poll_seconds: float = 2,
    ) -> DesktopRollbackResult:
        """Copies the plan's files over the root ones, invalidates /latest* in CloudFront and
        waits up to `wait_seconds` for the invalidation; a slow one is reported by its status,
        not as an error, because the rollback itself has happened by then."""
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        version = _check_plan(plan)
        copied: list[str] = []
        try:
            async with self._client("s3") as s3:
                for source, destination in plan.files:
                    # Server-side copy; MetadataDirective COPY keeps Content-Type and
                    # Cache-Control of the release's file, as `aws s3 cp` would set them.
                    await s3.copy_object(
                        Bucket=self.bucket,
                        Key=destination,
                        CopySource={"Bucket": self.bucket, "Key": source},
                        MetadataDirective="COPY",
                    )
                    copied.append(destination)
        except (BotoCoreError, ClientError, aiohttp.ClientError, OSError) as exc:
            done = ", ".join(copied) if copied else "nothing"
            raise DesktopUpdatesError(
                _one_line(
                    f"Rollback to {version} stopped: copying {len(copied) + 1} of "
                    f"{len(plan.files)} failed: {_reason(exc)}. Already copied: {done}. "
                    "CloudFront was not invalidated; run the rollback again."
                )
            ) from exc

        with _aws_errors(
            f"Copied {', '.join(copied)} from {version}, but invalidating {INVALIDATION_PATH} "
            f"on CloudFront {self.distribution_id}"
        ):
            async with self._client("cloudfront") as cloudfront:
                response = await cloudfront.create_invalidation(
                    DistributionId=self.distribution_id,
                    InvalidationBatch={
                        "Paths": {"Quantity": 1, "Items": [INVALIDATION_PATH]},
                        # CloudFront dedupes by CallerReference; a repeated rollback must
                        # invalidate again, so every request gets its own.
                        "CallerReference": f"incident-bot-{version}-{uuid.uuid4().hex}",
                    },
                )
                invalidation_id: str = response["Invalidation"]["Id"]
                status = _status(response["Invalidation"]["Status"])
                status = await self._wait(
                    cloudfront, invalidation_id, status, wait_seconds, poll_seconds
                )
        return DesktopRollbackResult(copied=copied, invalidation_id=invalidation_id, status=status)

    async def _wait(
        self,
        cloudfront: Any,
        invalidation_id: str,
        status: str,
        wait_seconds: float,
        poll_seconds: float,
    ) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while status != COMPLETED:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(poll_seconds, remaining))
            try:
                # Bounded by the deadline (with a second's grace for the last look), so a
                # slow answer cannot stretch the wait past what the caller allowed.
                async with asyncio.timeout(max(deadline - loop.time(), 1.0)):
                    response = await cloudfront.get_invalidation(
                        DistributionId=self.distribution_id, Id=invalidation_id
                    )
                status = _status(response["Invalidation"]["Status"])
            except (BotoCoreError, ClientError, aiohttp.ClientError, OSError) as exc:
                # The files are copied and the invalidation accepted: a failed look at its
                # progress is not a failed rollback. Keep the last known status.
                log.warning("Checking invalidation %s failed: %s", invalidation_id, _reason(exc))
        return status


def _status(value: Any) -> str:
    # CloudFront says "Completed"; moto says "COMPLETED". Callers compare with COMPLETED.
    text = str(value)
    return COMPLETED if text.lower() == COMPLETED.lower() else text
