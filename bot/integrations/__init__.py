"""One small module per outside system, each behind a narrow async interface."""
