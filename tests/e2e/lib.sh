# Shared helpers for end-to-end tests: source this file first.
# Environment (set by ctest): LIFEBOAT_BIN (the tools), LIFEBOAT_TOOLS (test tools),
# LIFEBOAT_SOURCE (source tree). Each test gets a fresh $T directory removed at exit.
set -uo pipefail
: "${LIFEBOAT_BIN:?run through ctest, or set LIFEBOAT_BIN}"
PATH="$LIFEBOAT_BIN:$PATH"
T=$(mktemp -d /tmp/lifeboat-e2e.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
export LIFEBOAT_REPOSITORY="$T/repo"
export LIFEBOAT_CACHE_DIR="$T/cache"
export LIFEBOAT_STATE_DIR="$T/state"
printf 'correct horse battery staple\n' > "$T/password"
chmod 600 "$T/password"
export LIFEBOAT_PASSWORD_FILE="$T/password"
unset LIFEBOAT_PASSWORD LIFEBOAT_PASSWORD_COMMAND LIFEBOAT_KEY_FILE LIFEBOAT_CONFIG
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }

# expect_exit CODE DESCRIPTION -- COMMAND...: runs COMMAND, checks its exit code; its stderr is
# kept in $T/stderr and stdout in $T/stdout.
expect_exit() {
  local want=$1 what=$2
  shift 3
  "$@" >"$T/stdout" 2>"$T/stderr"
  local got=$?
  if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"; else
    fail "$what: exit $got, expected $want"; sed 's/^/    stderr: /' "$T/stderr" | head -20
  fi
}

# expect_stderr PATTERN DESCRIPTION: the last command's stderr matches the grep -E pattern.
expect_stderr() {
  if grep -Eq -- "$1" "$T/stderr"; then ok "$2"; else
    fail "$2: stderr does not match /$1/"; sed 's/^/    stderr: /' "$T/stderr" | head -20
  fi
}

check() {  # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

jcheck() {  # jcheck DESCRIPTION FILE EXPR: EXPR (Python, d = FILE's JSON) is true
  local what=$1 file=$2 expr=$3
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$file" "$expr" 2>/dev/null; then
    ok "$what"
  else
    fail "$what: not true: $expr"; echo "    json: $(head -c 800 "$file")"
  fi
}

# jget FILE EXPR: evaluates the Python expression EXPR with d = the JSON document in FILE.
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(json.dumps(r) if not isinstance(r, str) else r)' "$1" "$2"; }

snapshot_count() { backup-restore snapshots --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
