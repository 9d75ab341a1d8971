"""Step kinds, one module per integration; the registry lists them all in one table."""
