"""HTTP routes: health, metrics, webhooks, Slack events, the JSON API and the status page."""
