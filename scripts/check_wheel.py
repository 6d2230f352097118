"""Does a built wheel (and its sdist) carry everything dvc-synced needs at run time?

Run by scripts/check-release.sh with the source snapshot the wheel was built from:

    python scripts/check_wheel.py SRC_DIR DIST_DIR VERSION

Stdlib only, so any Python runs it. Every module of the package in the source must be in
the wheel (a hook that imports a module the wheel lacks fails only at the first push that
needs it), the console script must point at the CLI, the metadata must carry the version
and every dependency of pyproject.toml. Prints one line per problem; exit 1 if any.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

PACKAGE = "dvc_synced_plugin"
DIST = "dvc_synced"
ENTRY_POINT = "dvc-synced = dvc_synced_plugin.cli:main"


def _dependencies(pyproject: str) -> list[str]:
    """`[project] dependencies` without a TOML parser (tomllib is 3.11+)."""
    match = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    if not match:
        return []
    return re.findall(r'"([^"]+)"', match.group(1))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def check(src: Path, dist: Path, version: str) -> list[str]:
    problems: list[str] = []
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    want_wheel = f"{DIST}-{version}-py3-none-any.whl"
    if [w.name for w in wheels] != [want_wheel]:
        return [f"expected exactly {want_wheel} in {dist}, found {[w.name for w in wheels]}"]
    if [s.name for s in sdists] != [f"{DIST}-{version}.tar.gz"]:
        problems.append(f"expected exactly {DIST}-{version}.tar.gz, found "
                        f"{[s.name for s in sdists]}")

    modules = sorted(str(p.relative_to(src)) for p in (src / PACKAGE).rglob("*.py"))
    with zipfile.ZipFile(wheels[0]) as whl:
        names = set(whl.namelist())
        missing = [m for m in modules if m not in names]
        if missing:
            problems.append(f"wheel lacks modules: {', '.join(missing)}")
        info = f"{DIST}-{version}.dist-info"
        stray = sorted({n.split("/")[0] for n in names} - {PACKAGE, info})
        if stray:  # tests/, benchmarks/ ... would be installed as top-level packages
            problems.append(f"wheel installs more than the package: {', '.join(stray)}")
        try:
            entry_points = whl.read(f"{info}/entry_points.txt").decode()
            metadata = Parser().parsestr(whl.read(f"{info}/METADATA").decode())
        except KeyError as exc:
            return [*problems, f"wheel lacks {exc}"]
    if ENTRY_POINT not in entry_points.replace("  ", " "):
        problems.append(f"wheel's console script is not `{ENTRY_POINT}`: {entry_points!r}")
    if metadata["Version"] != version:
        problems.append(f"wheel's metadata says version {metadata['Version']}, not {version}")
    required = {_name(r) for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r}
    wanted = {_name(r) for r in _dependencies((src / "pyproject.toml").read_text())}
    if not wanted:
        problems.append("found no dependencies in pyproject.toml (has its layout changed?)")
    if wanted - required:
        problems.append(f"wheel's metadata lacks dependencies: {sorted(wanted - required)}")

    if sdists:  # the wheel was built from the sdist, but a user may `pip install` it too
        with tarfile.open(sdists[0]) as sdist:
            top = f"{DIST}-{version}/"
            have = {n[len(top):] for n in sdist.getnames() if n.startswith(top)}
        lacking = [n for n in [*modules, "pyproject.toml", "README.md"] if n not in have]
        if lacking:
            problems.append(f"sdist lacks: {', '.join(lacking)}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: check_wheel.py SRC_DIR DIST_DIR VERSION", file=sys.stderr)
        return 2
    src, dist, version = Path(argv[0]), Path(argv[1]), argv[2]
    problems = check(src, dist, version)
    for problem in problems:
        print(f"check-release: {problem}", file=sys.stderr)
    if not problems:
        print(f"check-release: the wheel carries all {len(list((src / PACKAGE).rglob('*.py')))} "
              "modules, the console script, the version and the dependencies")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
