"""Writing the workspace: a checkout of exactly what changed."""
