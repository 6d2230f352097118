"""The fetch patterns: git-lfs's fetchinclude/fetchexclude rules over output paths."""

from __future__ import annotations

import pytest

from dvc_synced_plugin.selection import PatternError, Selection, split_patterns


@pytest.mark.parametrize(("pattern", "path", "selected"), [
    ("data", "data", True),
    ("data", "data/raw", True),            # a directory prefix selects what is below it
    ("data", "sub/data/x", True),          # no slash: a name at any depth
    ("data", "database", False),
    ("data/raw", "data/raw", True),
    ("data/raw", "data/raw2", False),
    ("data/raw", "x/data/raw", False),     # a slash anchors at the root
    ("/data/raw", "data/raw/part", True),
    ("data/raw/", "data/raw", True),       # a trailing slash: the directory itself
    ("./data/raw", "data/raw", True),
    ("*.bin", "models/m.bin", True),
    ("*.bin", "models/m.binx", False),
    ("data/*", "data/raw", True),
    ("data/*", "data", False),
    ("data/*.csv", "data/sub/a.csv", False),  # `*` does not cross a slash
    ("data/**/a.csv", "data/a.csv", True),    # `**/` is zero or more directories
    ("data/**/a.csv", "data/x/y/a.csv", True),
    ("**/raw", "a/b/raw", True),
    ("data/**", "data/x/y", True),
    ("data/r?w", "data/raw", True),
    ("data/[rx]aw", "data/raw", True),
    ("data/[!r]aw", "data/raw", False),
    ("data/raw/part1", "data/raw", False),    # inside an output: outputs go whole
    (r"data/a\*b", "data/a*b", True),
    (r"data/a\*b", "data/axb", False),
])
def test_include_pattern(pattern: str, path: str, selected: bool) -> None:
    assert Selection(include=(pattern,)).selects(path) is selected
    assert Selection(exclude=(pattern,)).selects(path) is not selected


def test_include_then_exclude() -> None:
    """As git-lfs: fetched when some include matches (or none is set) and no exclude does."""
    select = Selection(include=split_patterns("media, models"),
                       exclude=split_patterns("media/excessive"))
    assert [p for p in ("media/a", "media/excessive/b", "models/m", "raw")
            if select.selects(p)] == ["media/a", "models/m"]
    assert Selection().selects("anything") and not Selection().active


def test_named_outputs_override_the_patterns() -> None:
    select = Selection(exclude=("data",), only=("data/raw",))
    assert select.selects("data/raw") and not select.selects("data/features")


def test_split_and_fingerprint() -> None:
    assert split_patterns(" a , ,b/ ,,") == ("a", "b/")
    assert split_patterns("") == ()
    assert Selection().fingerprint == ""
    one, other = Selection(include=("a",)), Selection(exclude=("a",))
    assert one.fingerprint and one.fingerprint != other.fingerprint
    assert other.describe() == "exclude a"


def test_bad_wildcard_is_refused() -> None:
    with pytest.raises(PatternError, match="unclosed"):
        Selection(include=("data/[ab",)).check()
