#!/usr/bin/env bash
# The package as a user gets it, not the editable install the tests use: build the sdist
# and the wheel from the working tree, install the wheel into a fresh virtualenv, and run
# the CLI, the demo and a git push / git pull through hooks installed from it. Also checks
# that `pip install .` / `pip install -e .` leave `git status` as it was, and, on a commit
# tagged vX.Y.Z, that the tag, __version__ and CHANGELOG.md agree.
# Everything goes to a temporary directory; nothing is written into the repository but
# pip's own ignored build output. Run after scripts/setup.sh (.ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || { echo "check-release: no .venv; run bash scripts/setup.sh first" >&2; exit 1; }
SYSTEM_PATH=/usr/sbin:/usr/bin:/sbin:/bin
started=$SECONDS
step_started=$SECONDS
step() {
    echo "check-release: [$((SECONDS - step_started))s] done; $*"
    step_started=$SECONDS
}
fail() { echo "check-release: FAILED: $*" >&2; exit 1; }
# pip reads this machine's config, which names extra local indexes; their notes are noise.
quiet_pip() { "$@" 2>&1 | grep -v "^WARNING: Location" || true; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dvc-synced-release.XXXXXX")
# DVC makes objects read-only; make everything writable so the clean-up can remove it.
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' dvc_synced_plugin/__init__.py)
[ -n "$version" ] || fail "no __version__ = \"X.Y.Z\" line in dvc_synced_plugin/__init__.py"
status_before=$(git status --porcelain --untracked-files=all)

# A release commit: its tag, the version and the changelog must say the same.
# (git tag, not git describe: describe ignores lightweight tags, which must fail here.)
for tag in $(git tag --points-at HEAD --list 'v[0-9]*'); do
    [ "$tag" = "v$version" ] || fail "HEAD is tagged $tag but __version__ is $version"
    [ "$(git cat-file -t "$tag")" = tag ] || fail "$tag is a lightweight tag; use git tag -a"
    grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md ||
        fail "CHANGELOG.md has no '## [$version] - YYYY-MM-DD' heading for tag $tag"
    echo "check-release: HEAD is the release $tag"
done

echo "check-release: dvc-synced $version, in $tmp"
# Build from a copy of what git would commit (tracked and untracked-not-ignored files), so
# no stale build/ or egg-info of the checkout can leak into the artefacts.
mkdir "$tmp/src"
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$tmp/src"
# The default `python -m build`: the sdist first, then the wheel built from the sdist, each
# in an isolated environment (setuptools from PyPI, through pip's cache).
"$PY" -m build --outdir "$tmp/dist" "$tmp/src" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; fail "python -m build"; }
"$PY" scripts/check_wheel.py "$tmp/src" "$tmp/dist" "$version"
wheel=$tmp/dist/dvc_synced-$version-py3-none-any.whl
step "built $(cd "$tmp/dist" && echo *)"

# A fresh virtualenv with nothing but the wheel and its dependencies (pip's cache reused).
"$PY" -m venv "$tmp/venv"
quiet_pip "$tmp/venv/bin/python" -m pip install -q "$wheel"
step "installed the wheel into a fresh venv"

# From here on: the user's view. Only the new venv and the system on PATH, a working
# directory outside the checkout, so nothing of the source tree can be imported.
export PATH="$tmp/venv/bin:$SYSTEM_PATH"
unset PYTHONPATH VIRTUAL_ENV
mkdir "$tmp/work"
cd "$tmp/work"
where=$(python -c 'import dvc_synced_plugin; print(dvc_synced_plugin.__file__)')
case $where in "$tmp/venv/"*) ;; *) fail "dvc_synced_plugin imported from $where" ;; esac
[ "$(command -v dvc-synced)" = "$tmp/venv/bin/dvc-synced" ] || fail "dvc-synced not from the venv"
got=$(dvc-synced --version)
[ "$got" = "dvc-synced $version" ] || fail "dvc-synced --version says '$got', not $version"
echo "check-release: $got"
# The hooks' own entry point, on the fast path: it must import without DVC.
python -c 'import sys, dvc_synced_plugin.hooks.githooks, dvc_synced_plugin.cli
assert "dvc" not in sys.modules, "the hooks import dvc at start-up"'

dvc-synced demo >"$tmp/demo.log" 2>&1 || { cat "$tmp/demo.log" >&2; fail "dvc-synced demo"; }
step "dvc-synced --version and dvc-synced demo from the wheel"

# One team by hand: a bare git server, a local central, alice and bob with own HOMEs
# (own local storages), plain hooks from `dvc-synced install` of the wheel's install.
e2e=$tmp/e2e
mkdir -p "$e2e/central"
git init -q --bare -b main "$e2e/server.git"
as() {  # as NAME CMD...: run CMD in NAME's clone (before it exists: beside it), own HOME
    local name=$1 dir=$e2e
    shift
    [ -d "$e2e/$name" ] && dir=$e2e/$name
    (cd "$dir" && env HOME="$e2e/home-$name" XDG_CONFIG_HOME="$e2e/home-$name/.config" \
        XDG_CACHE_HOME="$e2e/home-$name/.cache" DVC_SITE_CACHE_DIR="$e2e/home-$name/.dvc-site" \
        GIT_CONFIG_NOSYSTEM=1 DVC_NO_ANALYTICS=1 "$@")
}
for name in alice bob; do
    mkdir "$e2e/home-$name"
    as "$name" git config --global user.name "$name"
    as "$name" git config --global user.email "$name@example.com"
    as "$name" git config --global pull.rebase false
done
as alice git clone -q server.git alice 2>/dev/null  # "an empty repository"
as alice dvc init -q
as alice dvc-synced init --central "$e2e/central" --no-pre-commit-config >/dev/null  # plain hooks
as alice dvc-synced install >/dev/null
as alice git add -A
as alice git commit -q -m "Share DVC data through dvc-synced"
as alice git push -q origin main
as bob git clone -q server.git bob
as bob dvc-synced install >/dev/null
grep -q "^INSTALL_PYTHON=.*$tmp/venv/bin/python" "$e2e/bob/.git/hooks/post-merge" ||
    fail "bob's post-merge hook does not run the wheel's install"

mkdir -p "$e2e/alice/data/sub"
head -c 300000 /dev/urandom >"$e2e/alice/data/big.bin"
echo "a small file" >"$e2e/alice/data/sub/small.txt"
as alice dvc add -q data
as alice git add data.dvc .gitignore
as alice git commit -q -m "data v1"
as alice git push -q origin main  # pre-push uploads what the pushed commit needs
for f in data/big.bin data/sub/small.txt; do
    md5=$(md5sum "$e2e/alice/$f" | cut -d' ' -f1)
    [ -f "$e2e/central/files/md5/${md5:0:2}/${md5:2}" ] || fail "git push left $f off central"
done
[ "$(git --git-dir "$e2e/server.git" rev-parse main)" = "$(as alice git rev-parse HEAD)" ] ||
    fail "the git server does not have alice's commit"
as bob git pull -q  # post-merge brings the data of the new HEAD
cmp "$e2e/alice/data/big.bin" "$e2e/bob/data/big.bin" || fail "bob's data/big.bin differs"
cmp "$e2e/alice/data/sub/small.txt" "$e2e/bob/data/sub/small.txt" ||
    fail "bob's data/sub/small.txt differs"
step "git push uploaded to central, bob's git pull brought the bytes (plain hooks, wheel)"

# The issue this started from: installing the checkout must not dirty git status.
cd "$REPO"
had_build=no
[ -e build ] && had_build=yes
quiet_pip "$tmp/venv/bin/python" -m pip install -q --no-deps --force-reinstall .
[ "$(git status --porcelain --untracked-files=all)" = "$status_before" ] ||
    { git status --short >&2; fail "pip install . changed git status"; }
quiet_pip "$tmp/venv/bin/python" -m pip install -q --no-deps -e .
[ "$(git status --porcelain --untracked-files=all)" = "$status_before" ] ||
    { git status --short >&2; fail "pip install -e . changed git status"; }
[ "$had_build" = yes ] || rm -rf build  # pip's in-tree build directory (ignored) was ours
step "git status unchanged by pip install . and pip install -e ."

echo "check-release: OK in $((SECONDS - started))s"
