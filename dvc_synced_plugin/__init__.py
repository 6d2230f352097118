"""dvc-synced: DVC data that follows plain git push and git pull."""

__version__ = "0.3.0"
