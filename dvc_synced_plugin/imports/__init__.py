"""`import-url` and `update`: data someone else updates upstream, versioned by DVC and git."""
