"""An Alertmanager group as its Slack thread shows it (state, worst severity, services, where
to look), and what changed since the thread last showed it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from bot.domain.alerts import Alert, GroupView, diff, silence_url, summarize

T0 = datetime(2026, 3, 2, 13, 58, tzinfo=UTC)
KNOWN = {"records": "records", "records-api": "records", "gateway": "gateway"}
COMMON = {"alertname": "HighErrorRate", "namespace": "prod", "severity": "critical"}
AM = "https://alertmanager.example/"


def alert(
    fingerprint: str,
    status: str = "firing",
    *,
    minutes: int = 0,
    ended: int | None = None,
    annotations: Mapping[str, str] | None = None,
    **labels: str,
) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        status=status,
        labels={"alertname": "HighErrorRate", "namespace": "prod", "severity": "critical"} | labels,
        annotations=annotations or {},
        starts_at=T0 + timedelta(minutes=minutes),
        ends_at=None if ended is None else T0 + timedelta(minutes=ended),
        generator_url=f"https://prometheus.example/graph?g0.expr=rate%28{fingerprint}%29",
    )


def view(
    alerts: Sequence[Alert],
    common_labels: Mapping[str, str] = COMMON,
    common_annotations: Mapping[str, str] | None = None,
    external_url: str = AM,
) -> GroupView:
    return summarize(
        '{}:{alertname="HighErrorRate"}',
        alerts,
        common_labels=common_labels,
        common_annotations=common_annotations or {},
        external_url=external_url,
        known_services=KNOWN,
    )


def test_a_firing_group_counts_its_alerts_and_names_its_services() -> None:
    group = view(
        [
            alert("a1", deployment="records-api", pod="records-api-7f9c"),
            alert("a2", minutes=2, service="gateway"),
            alert("a3", "resolved", minutes=-3, ended=5, app="records"),
        ]
    )
    assert group.status == "firing"
    assert (group.firing, group.resolved) == (2, 1)
    assert group.title == "HighErrorRate"
    assert group.services == ("records", "gateway")
    assert group.namespace == "prod"
    assert group.started_at == T0 - timedelta(minutes=3)
    assert group.resolved_at is None
    assert group.duration_seconds is None


def test_a_group_whose_alerts_all_resolved_has_ended_when_the_last_did() -> None:
    group = view([alert("a1", "resolved", ended=20), alert("a2", "resolved", minutes=4, ended=31)])
    assert group.status == "resolved"
    assert group.firing == 0
    assert group.resolved_at == T0 + timedelta(minutes=31)
    assert group.duration_seconds == 31 * 60


def test_a_group_of_different_alerts_is_titled_by_the_first_and_a_count() -> None:
    group = view(
        [
            alert("a1", alertname="PodCrashLooping"),
            alert("a2", alertname="HighErrorRate"),
            alert("a3", alertname="HighLatency"),
            alert("a4", alertname="HighErrorRate"),
        ]
    )
    assert group.title == "HighErrorRate and 2 more"


def test_the_severity_is_the_worst_of_what_still_fires() -> None:
    group = view(
        [
            alert("a1", "resolved", ended=3, severity="critical"),
            alert("a2", severity="warning"),
            alert("a3", severity="info"),
        ]
    )
    assert group.severity == "warning"


def test_once_everything_resolved_the_severity_is_the_worst_there_was() -> None:
    group = view(
        [
            alert("a1", "resolved", ended=3, severity="Critical"),
            alert("a2", "resolved", ended=4, severity="warning"),
        ]
    )
    assert group.severity == "critical"


def test_unknown_services_and_missing_namespaces_are_left_out() -> None:
    group = view(
        [
            alert("a1", service="billing", namespace=""),
            alert("a2", namespace="staging"),
            alert("a3"),
        ]
    )
    assert group.services == ()
    assert group.namespace == "prod, staging"


def test_common_annotations_win_over_each_alerts_own() -> None:
    group = view(
        [alert("a1", annotations={"summary": "5xx on records", "description": "one"})],
        common_annotations={"summary": "5xx across the API"},
    )
    assert group.summary == "5xx across the API"
    assert group.description == "one"


def test_without_common_annotations_the_first_alert_that_has_one_speaks() -> None:
    group = view(
        [
            alert("a1"),
            alert("a2", annotations={"summary": "5xx on gateway"}),
            alert("a3", annotations={"summary": "5xx on records"}),
        ]
    )
    assert group.summary == "5xx on gateway"
    assert group.description == ""


def test_links_lead_to_the_source_runbook_dashboard_and_a_silence() -> None:
    group = view(
        [alert("a1"), alert("a2", annotations={"dashboard_url": "https://grafana.example/d/rec"})],
        common_annotations={"runbook_url": "https://runbooks.example/high-error-rate"},
    )
    assert [link.label for link in group.links] == ["Source", "Runbook", "Dashboard", "Silence"]
    source, runbook, dashboard, silence = (link.url for link in group.links)
    assert source == "https://prometheus.example/graph?g0.expr=rate%28a1%29"
    assert runbook == "https://runbooks.example/high-error-rate"
    assert dashboard == "https://grafana.example/d/rec"
    assert silence.startswith("https://alertmanager.example/#/silences/new?filter=")


def test_without_an_alertmanager_address_there_is_no_silence_link() -> None:
    group = view([alert("a1")], external_url="")
    assert [link.label for link in group.links] == ["Source"]


def silence_filter(url: str) -> str:
    fragment = urlsplit(url).fragment
    assert fragment.startswith("/silences/new?")
    return parse_qs(fragment.split("?", 1)[1])["filter"][0]


def test_the_silence_form_is_prefilled_with_the_groups_labels() -> None:
    url = silence_url("https://alertmanager.example/", {"namespace": "prod", "alertname": "X"})
    assert url.startswith("https://alertmanager.example/#/silences/new?filter=")
    assert "//#" not in url
    assert silence_filter(url) == '{alertname="X",namespace="prod"}'


def test_label_values_with_spaces_and_quotes_survive_the_silence_link() -> None:
    url = silence_url("http://am:9093", {"summary": 'disk "/" full & more'})
    assert " " not in url
    assert silence_filter(url) == '{summary="disk "/" full & more"}'


def test_diff_reports_alerts_that_started_or_stopped_firing() -> None:
    posted = {"a1": "firing", "a2": "firing", "a3": "resolved"}
    now = [
        alert("a1"),  # still firing
        alert("a2", "resolved", ended=9),  # resolved since
        alert("a3"),  # fired again
        alert("a4"),  # new
        alert("a5", "resolved", ended=2),  # came and went before the thread saw it
    ]
    changes = diff(posted, now)
    assert [a.fingerprint for a in changes.newly_firing] == ["a3", "a4"]
    assert [a.fingerprint for a in changes.newly_resolved] == ["a2"]
    assert bool(changes) is True


def test_no_change_is_falsy() -> None:
    changes = diff({"a1": "firing", "a2": "resolved"}, [alert("a1"), alert("a2", "resolved")])
    assert not changes
    assert changes.newly_firing == changes.newly_resolved == ()


def test_an_alert_without_a_name_is_called_alert() -> None:
    assert Alert("f", "firing", {}, {}).name == "alert"
