"""Readers of DVC's files: pointer files, objects and manifests, the repository's config."""
