#!/usr/bin/env bash
# Restoring a hostile snapshot (written by a holder of a valid key) names and skips each bad item,
# ends with exit 3, restores the good file, and never changes anything outside the target.
source "$(dirname "$0")/lib.sh"
WALK="$(dirname "$0")/walk.py"
FORGE="${LIFEBOAT_TOOLS:?set LIFEBOAT_TOOLS}/lifeboat-forge-for-testing"

if ! command -v /usr/bin/time >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
fi

printf 'forged content\n' >"$T/ok.expected"

# run_scenario SCENARIO STDERR_PATTERN... : one fresh repository and canary per scenario.
run_scenario() {
  local sc=$1
  shift
  local dir="$T/${sc%%:*}"
  mkdir -p "$dir/canary/target" "$dir/canary/outside/sub"
  printf 'must stay\n' >"$dir/canary/outside/file"
  printf 'deeper\n' >"$dir/canary/outside/sub/file"
  chmod 750 "$dir/canary/outside"
  printf 'beside the target\n' >"$dir/canary/neighbour"
  touch -d '2001-02-03 04:05:06.123456789' "$dir/canary/outside/file" "$dir/canary/outside/sub" \
    "$dir/canary/outside" "$dir/canary/neighbour"
  export LIFEBOAT_REPOSITORY="$dir/repo" LIFEBOAT_CACHE_DIR="$dir/cache"
  expect_exit 0 "[$sc] init" -- backup-create init
  local timer=()
  [ "${sc%%:*}" = deep ] && command -v /usr/bin/time >/dev/null && timer=(/usr/bin/time -v -o "$dir/forge.time")
  "${timer[@]}" "$FORGE" "$dir/repo" "$T/password" "$sc" "$dir/canary/outside" >"$dir/forge.out" 2>"$dir/forge.err"
  local rc=$? snap
  snap=$(head -n1 "$dir/forge.out")
  if [ $rc -ne 0 ] || ! grep -Eq '^[0-9a-f]{64}$' <<<"$snap"; then
    fail "[$sc] forge failed (exit $rc): $(head -c 300 "$dir/forge.err")"
    return
  fi
  [ -f "$dir/forge.time" ] && echo "info - [$sc] forge peak RSS: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/forge.time") KiB (not asserted)"

  local runner=()
  if [ "$sc" = special ]; then
    # Non-root restore: the repository, cache, password and canary belong to uid 65534.
    cp "$T/password" "$dir/password"
    chown -R 65534:65534 "$dir"
    chmod 600 "$dir/password"
    runner=(setpriv --reuid=65534 --regid=65534 --clear-groups env LIFEBOAT_PASSWORD_FILE="$dir/password" HOME="$dir")
  fi
  python3 "$WALK" list "$dir/canary" --exclude target >"$dir/before.json" || fail "[$sc] listing the canary"

  local rtimer=()
  [ "${sc%%:*}" = deep ] && command -v /usr/bin/time >/dev/null && rtimer=(/usr/bin/time -v -o "$dir/restore.time")
  expect_exit 3 "[$sc] restore of the hostile snapshot is partial" -- \
    timeout 300 "${runner[@]}" "${rtimer[@]}" backup-restore "$snap" --target "$dir/canary/target"
  [ -f "$dir/restore.time" ] && echo "info - [$sc] restore peak RSS: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/restore.time") KiB (not asserted)"
  cp "$T/stderr" "$dir/restore.err"
  local pat
  for pat in "$@"; do
    cp "$dir/restore.err" "$T/stderr"
    expect_stderr "$pat" "[$sc] stderr names the bad item /$pat/"
  done
  check "[$sc] ok.txt restored with its content" cmp -s "$T/ok.expected" "$dir/canary/target/ok.txt"

  python3 "$WALK" list "$dir/canary" --exclude target >"$dir/after.json" || fail "[$sc] listing the canary again"
  check "[$sc] nothing outside the target changed (paths, modes, owners, mtimes, sizes, links, content, xattrs)" \
    python3 "$WALK" diff "$dir/before.json" "$dir/after.json"
  check "[$sc] the outside file keeps its content and has one link" \
    test "$(cat "$dir/canary/outside/file")" = "must stay" -a "$(stat -c %h "$dir/canary/outside/file")" = 1
  check "[$sc] nothing in the target is a symlink leading outside that was followed (no 'pwned' anywhere)" \
    bash -c '! find "$1" -name pwned -print -quit | grep -q .' _ "$dir/canary"
  # find, not a recursive walker: the deep scenario leaves thousands of nested directories.
  check "[$sc] nothing in the target shares an inode with the outside" bash -c '
    ! grep -Fxf <(find "$1" -printf "%D %i\n") <(find "$2" ! -type d -printf "%D %i\n") >/dev/null' _ \
    "$dir/canary/outside" "$dir/canary/target"
}

run_scenario names '/\.\.(:|$| )' '/a/b' 'NUL|\\x00|\\0' "$T/names/canary/outside"
run_scenario symlink-file '/escape'
check "[symlink-file] the outside directory holds no 'pwned'" test ! -e "$T/symlink-file/canary/outside/pwned"
run_scenario symlink-dir '/escape'
check "[symlink-dir] the outside directory keeps mode 750" test "$(stat -c %a "$T/symlink-dir/canary/outside")" = 750
run_scenario hardlink "(^|[ '\"])/s([: '\"]|$)"
check "[hardlink] no 'f' created in the outside directory" test ! -e "$T/hardlink/canary/outside/f"
run_scenario duplicates '/same'
run_scenario split-duplicates '/same: name out of order across the parts'
check "[split-duplicates] /same keeps the first part's content" \
  cmp -s "$T/ok.expected" "$T/split-duplicates/canary/target/same"
run_scenario special '/device' '/setuid'
check "[special] no device restored by a non-root user" \
  bash -c '! find "$1" \( -type c -o -type b \) -print -quit | grep -q .' _ "$T/special/canary/target"
check "[special] no setuid/setgid file restored by a non-root user" \
  bash -c '! find "$1" -perm /6000 -print -quit | grep -q .' _ "$T/special/canary/target"
run_scenario long-symlink '/long'
run_scenario huge-size '/huge'
huge="$T/huge-size/canary/target/huge"
if [ -e "$huge" ]; then
  check "[huge-size] the restored file is not a 1 PiB file (size $(stat -c %s "$huge") <= 4096)" test "$(stat -c %s "$huge")" -le 4096
else
  ok "[huge-size] the huge file was not restored at all"
fi
run_scenario bad-tree-id '/cycle'
run_scenario deep:100000 '/deep(/d){8}'
check "[deep] the restore stopped at a bounded depth (< 100000 levels)" python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY); n = 0
while True:
    try: nfd = os.open("d" if n else "deep", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError: break
    os.close(fd); fd = nfd; n += 1
print("    depth restored:", n); assert n < 100000' "$T/deep/canary/target"
expect_exit 20 "[deep] backup-verify does not pass a tree it cannot follow" -- backup-verify
expect_stderr "directory '/deep(/d)+' is nested [0-9]+ levels deep: not checked below" "[deep] and names it"

finish
