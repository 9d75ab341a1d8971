"""Every step kind a playbook may use, in one explicit table."""

from __future__ import annotations

from typing import Any

from bot.playbooks.model import StepKind
from bot.playbooks.steps import http, postgres, prometheus, sentry
from bot.playbooks.steps import kubernetes as k8s

STEP_KINDS: dict[str, StepKind[Any]] = {
    kind.name: kind
    for kind in (
        StepKind("k8s.pods", k8s.NoParams, k8s.pods, "Pods: status, restarts, age, node"),
        StepKind("k8s.logs", k8s.LogsParams, k8s.logs, "Recent logs"),
        StepKind("k8s.events", k8s.EventsParams, k8s.events, "Kubernetes events"),
        StepKind("k8s.deployment", k8s.NoParams, k8s.deployment, "Deployment status"),
        StepKind("k8s.top", k8s.NoParams, k8s.top, "CPU and memory use"),
        StepKind(
            "k8s.recent_rollouts",
            k8s.RolloutsParams,
            k8s.recent_rollouts,
            "Rollouts in the last hours",
        ),
        StepKind(
            "pg.connectivity", postgres.NoParams, postgres.connectivity, "Database connectivity"
        ),
        StepKind("pg.activity", postgres.NoParams, postgres.activity, "Database activity"),
        StepKind(
            "pg.slow_queries",
            postgres.SlowQueriesParams,
            postgres.slow_queries,
            "Slowest queries (pg_stat_statements)",
        ),
        StepKind("prometheus.query", prometheus.QueryParams, prometheus.query, "Prometheus query"),
        StepKind("http.health", http.HealthParams, http.health, "Health endpoint"),
        StepKind("sentry.issues", sentry.IssuesParams, sentry.issues, "New Sentry issues"),
    )
}
