"""The README a newcomer reads in five minutes, and the docs it links (issue #22, item 7).

What the README says must stay short and true: every command the CLI has is in its
commands table, every link from it and from docs/ reaches a file (and, for a heading, that
heading), and each fact has one home: the benchmarks' generated tables live only in
benchmarks/README.md, the fault table only in tests/RELIABILITY.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
# The pages this project's docs index must link (others' pages are linked when present).
PAGES = ("hooks", "offline", "imports", "disk", "macos", "performance", "reliability",
         "development", "releasing")


def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                             "*.md"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [REPO_ROOT / n for n in listed.stdout.split("\0") if n and (REPO_ROOT / n).is_file()]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_readme_is_short_and_in_a_newcomers_order() -> None:
    text = README.read_text()
    assert len(text.encode()) <= 20_000, f"README.md is {len(text.encode())} bytes"
    headings = re.findall(r"^## (.+)$", text, re.M)
    order = [h for h in headings if h in ("Install", "Quick start for a team", "Configuration",
                                          "Commands", "More")]
    assert order == ["Install", "Quick start for a team", "Configuration", "Commands", "More"]
    # Install first: a reader knows the package is not on PyPI before any other command.
    assert "not on PyPI" in text.split("## Install", 1)[1].split("\n## ", 1)[0]
    for page in PAGES:
        assert (DOCS / f"{page}.md").is_file(), page
        assert f"(docs/{page}.md)" in text, f"README.md does not link docs/{page}.md"
    for page in DOCS.glob("*.md"):  # pages others add (dvc-features, disk, ...) too
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"


def test_every_link_resolves() -> None:
    broken = []
    for page in markdown_files():
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, frag = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
            elif frag and dest.suffix == ".md" and frag not in anchors(dest):
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_commands_table_lists_every_command() -> None:
    """The table follows the CLI: a command added without a row fails here."""
    helptext = subprocess.run([sys.executable, "-m", "dvc_synced_plugin", "--help"],
                              capture_output=True, text=True, check=True).stdout
    listed = helptext.split("positional arguments:", 1)[1].split("\noptions:", 1)[0]
    commands = re.findall(r"^    ([a-z][a-z-]*)", listed, re.M)
    assert "init" in commands and "hook" in commands, helptext
    table = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `dvc-synced ([a-z-]+)", table, re.M)
    rows += re.findall(r" / `([a-z-]+)`", table)  # `install` / `uninstall`
    missing = [c for c in commands if c not in rows]
    assert not missing, f"README's commands table lacks {missing}"


def test_generated_tables_have_one_home() -> None:
    """Each benchmark block lives between its markers in benchmarks/README.md only."""
    markers = re.compile(r"<!-- ([a-z/ -]+): written by `python benchmarks/")
    homes: dict[str, list[str]] = {}
    for page in markdown_files():
        for name in markers.findall(page.read_text()):
            homes.setdefault(name, []).append(str(page.relative_to(REPO_ROOT)))
    assert homes, "no generated block found"
    assert all(pages == ["benchmarks/README.md"] for pages in homes.values()), homes
    from benchmarks import readme

    assert readme.PAGE == REPO_ROOT / "benchmarks" / "README.md"
    for script in ("run.py", "huge.py", "s3.py", "compare.py"):
        source = (REPO_ROOT / "benchmarks" / script).read_text()
        assert 'parent / "README.md"' not in source, f"{script} writes a second README"


def test_reliability_table_lives_in_one_place() -> None:
    rows = [line for line in (REPO_ROOT / "tests" / "RELIABILITY.md").read_text().splitlines()
            if line.startswith("| ") and "`" in line]
    assert len(rows) > 20
    for page in markdown_files():
        if page.name != "RELIABILITY.md":
            repeated = [r for r in rows if r in page.read_text()]
            assert not repeated, f"{page.relative_to(REPO_ROOT)} repeats {repeated[0][:60]}"


def test_no_stale_not_done_lines() -> None:
    """"Not done yet: the background schedule" outlived the schedule it promised."""
    assert (REPO_ROOT / "dvc_synced_plugin").is_dir()
    for page in markdown_files():
        assert "Not done yet: the background schedule" not in page.read_text(), page


def test_paths_the_docs_name_exist() -> None:
    """A file named in backticks (`tests/e2e/test_x.py`, `benchmarks/run.py`) is there: a
    move of modules or tests that leaves the docs behind fails here. The changelog is
    history and keeps the names of its time."""
    pages = [README, *DOCS.glob("*.md"), REPO_ROOT / "tests" / "RELIABILITY.md",
             REPO_ROOT / "benchmarks" / "README.md"]
    token = re.compile(r"`(?:[^`\s]*python )?((?:tests|dvc_synced_plugin|benchmarks|scripts|docs)"
                       r"/[\w./*-]*\.(?:py|sh|md))(?:::[^`]*)?[^`]*`")
    missing = []
    for page in pages:
        for path in token.findall(page.read_text()):
            if not any(REPO_ROOT.glob(path)):
                missing.append(f"{page.relative_to(REPO_ROOT)}: {path}")
    assert not missing, "\n".join(missing)
