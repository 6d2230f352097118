"""How each transport reads the central URL (pure parsing, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.transports import rclone, rsync


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/srv/cache", (None, None, "/srv/cache")),
        ("file:///srv/cache", (None, None, "/srv/cache")),
        ("rel/cache", (None, None, "/repo/rel/cache")),
        ("dvc-server:/srv/cache", ("dvc-server", None, "/srv/cache")),
        ("user@host:cache", ("user@host", None, "cache")),
        ("ssh://user@host:2222/srv/cache", ("user@host", 2222, "/srv/cache")),
    ],
)
def test_rsync_urls(url: str, expected: tuple) -> None:
    assert rsync.parse_url(url, Path("/repo")) == expected


@pytest.mark.parametrize("url", ["-oProxyCommand=x:/p", "a@-x:/p", "ssh://-x/p", "ssh://host"])
def test_rsync_refuses_option_like_or_pathless_hosts(url: str) -> None:
    with pytest.raises(ConfigError):
        rsync.parse_url(url, Path("/repo"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3remote:bucket/cache", "s3remote:bucket/cache"),
        ("file:///srv/cache", "/srv/cache"),  # a local path, not a remote named "file"
        ("/srv/cache", "/srv/cache"),
        ("rel", "/repo/rel"),
    ],
)
def test_rclone_urls(url: str, expected: str) -> None:
    assert rclone.parse_url(url, Path("/repo")) == expected


@pytest.mark.parametrize("url", ["-x:bucket", "name,opt=1:bucket"])
def test_rclone_refuses_option_overrides(url: str) -> None:
    with pytest.raises(ConfigError):
        rclone.parse_url(url, Path("/repo"))
