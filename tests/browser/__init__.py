"""The bot's pages as a person's browser shows them: headless Chromium against a running bot."""
