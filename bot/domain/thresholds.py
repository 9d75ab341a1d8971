"""An alert rule's threshold, for drawing it on the post-mortem's chart.

Prometheus sends the rule's query in each alert's generator URL (`/graph?g0.expr=…`); its
trailing comparison (`… > 0.05`) is the threshold. Only rules over what the chart plots (the
5xx share of requests, the p95 latency) are drawn; any other rule is skipped, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

_COMPARISON = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*\)?\s*$")


@dataclass(frozen=True)
class Threshold:
    preset: str  # the chart panel it belongs on: "error_rate" or "p95_latency"
    value: float  # in the rule's unit: a ratio, or seconds
    alert: str  # the alert's name, for the legend


def rule_query(generator_url: str) -> str:
    """The PromQL of the rule that fired, from Prometheus' generator URL ('' if none)."""
    try:
        query = parse_qs(urlsplit(generator_url).query)
    except ValueError:
        return ""
    found = query.get("g0.expr") or query.get("expr") or [""]
    return found[0]


def _preset(query: str) -> str | None:
    if "histogram_quantile" in query and "duration" in query:
        return "p95_latency"
    if "http_requests_total" in query and "5.." in query:
        return "error_rate"
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip().removesuffix("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        return None


def rule_threshold(
    alertname: str, generator_url: str, annotations: Mapping[str, str]
) -> Threshold | None:
    """The threshold of the rule behind an alert, or None when it has none the chart shows.

    A `threshold` annotation (or label) wins over the query's literal: a rule comparing to a
    recording rule or a vector has no number in its query.
    """
    query = " ".join(rule_query(generator_url).split())
    preset = _preset(query)
    if preset is None:
        return None
    value = _number(annotations.get("threshold"))
    if value is None:
        found = _COMPARISON.search(query)
        value = float(found.group(2)) if found else None
    return None if value is None else Threshold(preset, value, alertname)
