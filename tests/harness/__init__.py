"""Real, throwaway external services for integration tests.

``postgres`` starts a private PostgreSQL cluster (with ``pg_stat_statements``),
``alertmanager`` runs the real Prometheus Alertmanager binary pointed at a
webhook, and ``plugin`` exposes both as pytest fixtures. Nothing here mocks a
service: if a service cannot be started, the fixtures fail the test loudly.
"""
