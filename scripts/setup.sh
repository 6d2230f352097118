#!/usr/bin/env bash
# Set up a fresh machine for dvc-synced: OS tools (as root), a virtualenv, the package.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# crontab: `dvc-synced schedule` falls back to cron where no systemd user session runs.
# mkfs.xfs: the disk-use tests make a loop XFS filesystem to check sharing by reflink.
for tool in git:git rsync:rsync ssh:openssh-client sshd:openssh-server rclone:rclone \
        crontab:cron mkfs.xfs:xfsprogs; do
    cmd=${tool%%:*} pkg=${tool##*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
        need+=("$pkg")
    fi
done
# GNU time: the benchmarks read peak memory from it (`time` alone is the shell keyword).
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "setup: please install ${need[*]} (e.g. sudo apt-get install ${need[*]})" >&2
        exit 1
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import dvc_synced_plugin, dvc, pytest, xdist, moto, dvc_ssh, dvc_s3, build" 2>/dev/null; then
    echo "setup: installing dvc-synced and its test tools into .venv"
    # This machine's pip config names extra local indexes; their "ignored" notes are noise.
    .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import dvc_synced_plugin, dvc, pytest, xdist, moto, dvc_ssh, dvc_s3, build"
fi
