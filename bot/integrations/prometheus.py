"""PromQL queries (instant and range) through prometheus-api-client, plus the runbook's presets.

prometheus-api-client is synchronous (requests), so each query runs in a worker thread with
its own client: a requests.Session is not meant to be shared between threads, and a query
per playbook step does not need connection reuse. A thread cannot be cancelled, so every
request carries a client timeout and Prometheus' own ``timeout`` parameter.

The presets select a service by ``job``: the service's deployment name (e.g.
``records-service``) is the Prometheus ``job`` label its targets are scraped under.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from bot.observability.redaction import scrub_text

# Templates for str.format(job=...); PromQL's own braces are doubled.
PRESETS: dict[str, str] = {
    # One ratio for the whole service: summing before dividing. The runbook divided the
    # per-series rates, which gives one ratio per status/instance series and no total.
    "error_rate": (
        'sum(rate(http_requests_total{{job="{job}",status=~"5.."}}[5m]))'
        ' / sum(rate(http_requests_total{{job="{job}"}}[5m]))'
    ),
    "p95_latency": (
        "histogram_quantile(0.95,"
        ' sum by (le) (rate(http_request_duration_seconds_bucket{{job="{job}"}}[5m])))'
    ),
    "request_rate": 'sum(rate(http_requests_total{{job="{job}"}}[5m]))',
}

Sample = tuple[dict[str, str], float]
# One series of a range query: its labels and its (unix time, value) points.
Series = tuple[dict[str, str], list[tuple[float, float]]]


class PrometheusError(Exception):
    """Prometheus could not answer the query; the message is one line."""


def preset_query(name: str, job: str) -> str:
    """The preset's PromQL for one job; the job is escaped as a PromQL string."""
    escaped = job.replace("\\", "\\\\").replace('"', '\\"')
    return PRESETS[name].format(job=escaped)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _api_error(exc: PrometheusApiClientException) -> str:
    """Prometheus' own error text (bad_data, timeout…) out of the client's exception."""
    text = str(exc)
    # The client formats it as: HTTP Status Code 400 (b'{"status":"error",...}')
    found = re.match(r"HTTP Status Code (\d+) \((.*)\)$", text, re.S)
    if found is None:
        return text
    status, raw = found.groups()
    start, end = raw.find("{"), raw.rfind("}")
    try:
        body = json.loads(raw[start : end + 1].encode().decode("unicode_escape"))
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and body.get("error"):
        return f"HTTP {status}: {body.get('errorType', 'error')}: {body['error']}"
    # Not Prometheus' JSON error: a proxy, or a URL that is not the Prometheus API.
    return f"HTTP {status} (not a Prometheus API answer?): {raw}"


def _connection_reason(exc: requests.RequestException) -> str:
    """The OS error under requests' wrapping (pool, URL, retries), e.g. Connection refused."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))
    return found.group(0).strip() if found else str(exc)


def _samples(result: Any) -> list[Sample]:
    """The result's (labels, value) pairs, for both vector and scalar results."""
    if not isinstance(result, list):
        raise TypeError(f"unexpected result {type(result).__name__}")
    # A scalar (or string) result is [timestamp, "value"] rather than a list of series.
    if len(result) == 2 and not isinstance(result[0], dict):
        return [({}, float(result[1]))]
    samples: list[Sample] = []
    for series in result:
        labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
        if "value" not in series:  # a range vector: the query should be instant
            raise TypeError("range vector result; expected an instant vector")
        samples.append((labels, float(series["value"][1])))
    return samples


def _series(result: Any) -> list[Series]:
    """The (labels, points) of a matrix result, as /api/v1/query_range answers."""
    if not isinstance(result, list):
        raise TypeError(f"unexpected result {type(result).__name__}")
    found: list[Series] = []
    for series in result:
        labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
        points = [(float(at), float(value)) for at, value in series["values"]]
        found.append((labels, points))
    return found


class PrometheusQueries:
    """Asks one Prometheus server for instant values and ranges."""

    def __init__(self, url: str, *, timeout: int = 10) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        parts = urlsplit(self._url)
        # For messages: host and port only, never a user:password@ from the URL.
        self._where = parts.hostname or self._url
        if parts.port:
            self._where += f":{parts.port}"
        self._secrets = tuple(s for s in (parts.password,) if s)

    def __repr__(self) -> str:
        return f"<PrometheusQueries {self._where}>"

    def _client(self) -> PrometheusConnect:
        return PrometheusConnect(
            url=self._url,
            # The client's default retries 5xx three times with back-off (seconds of
            # waiting inside a step's budget); one retry of a refused connection is enough,
            # and a slow query is never run twice.
            retry=Retry(total=1, connect=1, read=0, status=0, redirect=1),
            timeout=self._timeout,
        )

    def _query(self, query: str) -> Any:
        client = self._client()
        try:
            return client.custom_query(query, params={"timeout": f"{self._timeout}s"})
        finally:
            client.close()

    def _query_range(self, query: str, start: datetime, end: datetime, step: float) -> Any:
        client = self._client()
        try:
            params = {"timeout": f"{self._timeout}s"}
            return client.custom_query_range(query, start, end, str(step), params=params)
        finally:
            client.close()

    async def instant(self, query: str) -> list[Sample]:
        with self._answers():
            return _samples(await asyncio.to_thread(self._query, query))

    async def range(self, query: str, start: datetime, end: datetime, step: float) -> list[Series]:
        """The query evaluated every `step` seconds from start to end (aware datetimes)."""
        with self._answers():
            return _series(await asyncio.to_thread(self._query_range, query, start, end, step))

    @contextmanager
    def _answers(self) -> Iterator[None]:
        """Turns the client's and requests' exceptions into one-line PrometheusErrors."""
        try:
            yield
        except PrometheusApiClientException as exc:
            raise self._error(_api_error(exc)) from None
        except requests.Timeout:
            raise self._error(f"no answer within {self._timeout} s") from None
        except requests.JSONDecodeError:
            raise self._error("unexpected answer: not JSON (is this the Prometheus URL?)") from None
        except requests.ConnectionError as exc:
            raise self._error(
                f"cannot connect ({type(exc).__name__}): {_connection_reason(exc)}"
            ) from None
        except requests.RequestException as exc:
            raise self._error(f"{type(exc).__name__}: {exc}") from None
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            # A 200 that is not Prometheus' JSON: the URL points at something else.
            raise self._error(f"unexpected answer: {type(exc).__name__}: {exc}") from None

    def _error(self, text: str) -> PrometheusError:
        return PrometheusError(
            scrub_text(_one_line(f"Prometheus at {self._where}: {text}"), self._secrets)
        )


def is_number(value: float) -> bool:
    """False for NaN and infinities: what 0/0 (no traffic) or an empty histogram give."""
    return not (math.isnan(value) or math.isinf(value))
