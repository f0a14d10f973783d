#!/usr/bin/env bash
# Crash consistency, the CI slice: tests/crash/crash.py with a few SIGKILL injections per
# command (backup-create, backup-prune forget+gc and gc, backup-restore), each followed by
# the invariant checks (verify --read-data, bit-exact restores, the next run succeeds and
# reuses what was uploaded). The long mode (>= 200 injections per command) is crash.py run
# by hand; see its docstring.
#
# Environment: LIFEBOAT_BIN (the tools; set by ctest). Optional: LIFEBOAT_CRASH_INJECTIONS
# (default 8 per command: about 90 s on 2 cores busy with other jobs, ~50 s idle) and
# LIFEBOAT_CRASH_SEED (default random; the seed is always printed, and every failure prints
# the command that replays it).
set -uo pipefail
: "${LIFEBOAT_BIN:?run through ctest, or set LIFEBOAT_BIN}"
here=$(cd "$(dirname "$0")" && pwd)
args=(--bin "$LIFEBOAT_BIN" --injections "${LIFEBOAT_CRASH_INJECTIONS:-8}")
[ -n "${LIFEBOAT_CRASH_SEED:-}" ] && args+=(--seed "$LIFEBOAT_CRASH_SEED")
exec python3 "$here/crash.py" "${args[@]}"
