"""Errors the user can act on: str() is one line that names the fix."""

from __future__ import annotations


class SyncError(Exception):
    """A failure with a one-line message that says what to do."""

    exit_code = 1


class ConfigError(SyncError):
    """Settings, repository or environment are not usable as they are."""

    exit_code = 2


class MissingObjectsError(SyncError):
    """Objects a revision needs are not where they must be."""


class CorruptObjectError(SyncError):
    """An object's bytes do not match its name."""


class MissingCentralError(ConfigError):
    """Central's directory (or bucket) is not there; only `init --create` makes it."""
