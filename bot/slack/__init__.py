"""Everything that speaks Slack: the Bolt app, commands, views and the outbox."""
