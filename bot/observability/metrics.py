"""The bot's own Prometheus metrics, in one registry the app exposes at /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "incident_bot_http_requests_total",
            "HTTP requests served",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "incident_bot_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.webhooks = Counter(
            "incident_bot_webhooks_total",
            "Webhook deliveries by source and outcome",
            ["source", "outcome"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "incident_bot_outbox_depth",
            "Slack writes waiting to be sent",
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "incident_bot_outbox_oldest_age_seconds",
            "Age of the oldest unsent Slack write",
            registry=r,
        )
        self.slack_calls = Counter(
            "incident_bot_slack_api_calls_total",
            "Slack Web API calls by method and result",
            ["method", "result"],
            registry=r,
        )
        self.outbox_awaiting_invite = Gauge(
            "incident_bot_outbox_awaiting_invite",
            "Slack writes waiting because the bot is not a member of their channel: invite it",
            ["channel"],
            registry=r,
        )
        self.slack_events_rate_limited = Counter(
            "incident_bot_slack_events_rate_limited_total",
            "app_rate_limited notices: Slack dropped Events API deliveries to the bot",
            registry=r,
        )
        self.outbox_sent_latency = Histogram(
            "incident_bot_outbox_delivery_seconds",
            "From outbox row written to Slack accepting it",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
        )
        self.leader = Gauge(
            "incident_bot_leader",
            "1 while this replica holds the lease for the work that must happen once",
            registry=r,
        )
        self.leadership_changes = Counter(
            "incident_bot_leadership_changes_total",
            "This replica gaining or losing the lease (a failover shows as a gain elsewhere)",
            ["change"],
            registry=r,
        )
