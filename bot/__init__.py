"""incident-bot: chat-ops incident response."""
