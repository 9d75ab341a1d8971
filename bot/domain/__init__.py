"""The incident domain: pure data and rules, no Slack, HTTP or SQL."""
