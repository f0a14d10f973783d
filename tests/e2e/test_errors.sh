#!/usr/bin/env bash
# Bad inputs end with the documented exit code (DESIGN §8) and a message that says what is wrong.
source "$(dirname "$0")/lib.sh"

# Counting snapshots with the common option before the subcommand (see the check of the other
# position below).
count() { backup-restore --json snapshots 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

expect_exit 0 "init" -- backup-create init
mkdir -p "$T/src"
printf 'hello\n' >"$T/src/hello.txt"
expect_exit 0 "first backup" -- backup-create "$T/src"
check "one snapshot" test "$(count)" = 1

# Common options are accepted after the subcommand too (man pages, "Common options"). The
# other tests put them first, so that they do not depend on this.
expect_exit 0 "'snapshots --json' (common option after the subcommand)" -- backup-restore snapshots --json
check "'snapshots --json' prints a JSON array of 1 snapshot" \
  python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 1' "$T/stdout" 2>/dev/null
expect_exit 0 "'snapshots --repo R --password-file F' (common options after the subcommand)" -- \
  backup-restore snapshots --repo "$T/repo" --password-file "$T/password"
expect_exit 0 "'ls latest --json' (common option after the subcommand)" -- backup-restore ls latest --json
expect_exit 0 "'dump latest PATH --password-file F' (common option after the subcommand)" -- \
  backup-restore dump latest "$T/src/hello.txt" --password-file "$T/password"
check "dump printed the file" test "$(cat "$T/stdout")" = hello

# --- Secrets and repositories -----------------------------------------------------------------
printf 'not the password\n' >"$T/wrong"
chmod 600 "$T/wrong"
expect_exit 12 "wrong password (restore snapshots)" -- backup-restore --password-file "$T/wrong" snapshots
expect_stderr 'password' "wrong password: message mentions the password"
expect_exit 12 "wrong password (backup)" -- backup-create --password-file "$T/wrong" "$T/src"
expect_exit 12 "wrong password (verify)" -- backup-verify --password-file "$T/wrong"
check "no snapshot written with the wrong password" test "$(count)" = 1

expect_exit 10 "missing repository (restore snapshots)" -- backup-restore --repo "$T/no-such-repo" snapshots
expect_stderr "no-such-repo" "missing repository: message names it"
expect_exit 10 "missing repository (backup)" -- backup-create --repo "$T/no-such-repo" "$T/src"
expect_exit 10 "missing repository (verify)" -- backup-verify --repo "$T/no-such-repo"
check "a backup into a missing repository does not create it" test ! -e "$T/no-such-repo"

expect_exit 1 "init on an existing repository" -- backup-create init
check "init on an existing repository keeps its snapshot" test "$(count)" = 1

expect_exit 1 "backup of a source path that does not exist" -- backup-create "$T/does-not-exist"
expect_stderr "does-not-exist" "missing source: message names the path"
check "no snapshot written for a missing source" test "$(count)" = 1

for tool in backup-create backup-restore backup-verify; do
  for arg in "--password x" "--password=x"; do
    # shellcheck disable=SC2086
    expect_exit 2 "$tool $arg (secret as an argument)" -- $tool $arg snapshots
    expect_stderr "--password-file" "$tool $arg: message points to --password-file"
  done
done
for arg in "--passphrase=x" "--secret=x" "--key=x"; do
  expect_exit 2 "backup-restore $arg (secret as an argument)" -- backup-restore $arg snapshots
done

# --- Restore target not writable ------------------------------------------------------------
printf 'a regular file\n' >"$T/file"
expect_exit 1 "restore below a regular file (--target $T/file/sub)" -- backup-restore latest --target "$T/file/sub"
expect_stderr "$T/file" "unwritable target: message names the target"
check "the regular file is untouched" test "$(cat "$T/file")" = "a regular file"

# --- Configuration errors ---------------------------------------------------------------------
cat >"$T/bad.yaml" <<EOF
repositories:
  local:
    url: $T/repo
jobs:
  web:
    paths: [$T/src]
    exlude: ["*.tmp"]
EOF
expect_exit 2 "unknown key in a job (backup-create --config)" -- backup-create --config "$T/bad.yaml" --job web
expect_stderr "$T/bad.yaml:7" "config error names file:line"
expect_stderr "exlude" "config error names the bad key"
expect_stderr "repository.*paths.*exclude.*exclude-file.*tags.*host.*one-file-system" "config error lists the valid keys"
check "no snapshot written with a bad configuration" test "$(count)" = 1
expect_exit 2 "unknown key in a job (backup-restore --config)" -- backup-restore --config "$T/bad.yaml" snapshots
expect_stderr "$T/bad.yaml:7" "config error names file:line (restore)"
printf 'cache-dir: %s\nrepositries: {}\n' "$T/cache" >"$T/bad2.yaml"
expect_exit 2 "unknown top-level key (backup-verify --config)" -- backup-verify --config "$T/bad2.yaml"
expect_stderr "$T/bad2.yaml:2" "top-level config error names file:line"
expect_stderr "cache-dir.*repositories.*jobs|repositories.*jobs.*cache-dir|jobs.*repositories.*cache-dir|cache-dir.*jobs.*repositories" \
  "top-level config error lists the valid keys"

# --- Unreadable file: partial backup (3) --------------------------------------------------------
# uid 65534 owns its repository, cache, password file and tree; one file is mode 000.
mkdir -p "$T/nob/src/sub"
printf 'readable\n' >"$T/nob/src/readable.txt"
printf 'secret\n' >"$T/nob/src/sub/unreadable.txt"
cp "$T/password" "$T/nob/password"
chown -R 65534:65534 "$T/nob"
chmod 600 "$T/nob/password"
chmod 000 "$T/nob/src/sub/unreadable.txt"
nob_env=(env LIFEBOAT_REPOSITORY="$T/nob/repo" LIFEBOAT_PASSWORD_FILE="$T/nob/password" LIFEBOAT_CACHE_DIR="$T/nob/cache" HOME="$T/nob")
expect_exit 0 "init as uid 65534" -- as_nobody "${nob_env[@]}" backup-create init
expect_exit 3 "backup with one unreadable file (uid 65534) is partial" -- as_nobody "${nob_env[@]}" backup-create "$T/nob/src"
expect_stderr "$T/nob/src/sub/unreadable.txt" "partial backup: stderr names the unreadable file"
nob_snap=$(grep -Eo '^[0-9a-f]{64}$' "$T/stdout" | head -n1)
check "partial backup still prints its snapshot id" test -n "$nob_snap"
expect_exit 0 "list the partial snapshot" -- as_nobody "${nob_env[@]}" backup-restore ls latest
check "partial snapshot holds the readable file" grep -q "$T/nob/src/readable.txt" "$T/stdout"
check "partial snapshot holds the directory of the unreadable file" grep -q "$T/nob/src/sub\$" "$T/stdout"
check "partial snapshot does not hold the unreadable file" bash -c '! grep -q unreadable.txt "$1"' _ "$T/stdout"
expect_exit 0 "restore the partial snapshot" -- as_nobody "${nob_env[@]}" backup-restore latest --target "$T/nob/out"
check "readable file restored from the partial snapshot" test "$(cat "$T/nob/out$T/nob/src/readable.txt")" = readable
check "unreadable file not restored" test ! -e "$T/nob/out$T/nob/src/sub/unreadable.txt"

# --- Write-only key ---------------------------------------------------------------------------
printf 'write only secret\n' >"$T/wo-password"
chmod 600 "$T/wo-password"
expect_exit 0 "key add --write-only" -- env LIFEBOAT_NEW_PASSWORD_FILE="$T/wo-password" backup-create key add --write-only --label e2e
printf 'more\n' >"$T/src/more.txt"
expect_exit 0 "backup with the write-only key" -- backup-create --password-file "$T/wo-password" "$T/src"
check "the write-only backup wrote a snapshot" test "$(count)" = 2
expect_exit 22 "restore with the write-only key is not permitted" -- \
  backup-restore latest --target "$T/wo-out" --password-file "$T/wo-password"
expect_stderr "write-only" "write-only refusal says write-only"
check "nothing restored with the write-only key" bash -c '! find "$1" -type f 2>/dev/null | grep -q .' _ "$T/wo-out"
expect_exit 22 "dump with the write-only key is not permitted" -- \
  backup-restore --password-file "$T/wo-password" dump latest "$T/src/hello.txt"
check "dump with the write-only key prints no content" test ! -s "$T/stdout"
expect_exit 0 "the full key restores the write-only key's snapshot" -- backup-restore latest --target "$T/full-out"
check "content of the write-only backup" test "$(cat "$T/full-out$T/src/more.txt")" = more

# --- Damaged pack: a flipped byte -------------------------------------------------------------
export LIFEBOAT_REPOSITORY="$T/crepo"
export LIFEBOAT_CACHE_DIR="$T/ccache"
expect_exit 0 "init (corruption repository)" -- backup-create init
mkdir -p "$T/c"
head -c 600000 /dev/urandom >"$T/c/big.bin"
expect_exit 0 "backup run 1 (big.bin)" -- backup-create "$T/c"
head -c 100000 /dev/urandom >"$T/c/small.bin"
expect_exit 0 "backup run 2 (adds small.bin)" -- backup-create "$T/c"
SNAP2=$(grep -Eo '^[0-9a-f]{64}$' "$T/stdout" | head -n1)
cp "$T/c/small.bin" "$T/small.orig"
pack=$(find "$T/crepo/data" -type f -printf '%s %P\n' | sort -n | tail -n1 | cut -d' ' -f2)
check "found the largest pack (data/$pack)" test -n "$pack"
python3 - "$T/crepo/data/$pack" <<'EOF'
import os, sys
p = sys.argv[1]
size = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0x01]))
EOF
pack_id=${pack#*/}
expect_exit 20 "verify --read-data finds the flipped byte" -- backup-verify --read-data
expect_stderr "data/$pack" "verify names the damaged pack (data/$pack)"
expect_stderr "$T/c/big.bin" "verify names the affected file"
check "verify does not blame the undamaged file" bash -c '! grep -q small.bin "$1"' _ "$T/stderr"
expect_exit 0 "restore --include of the undamaged file still works" -- \
  backup-restore "$SNAP2" --target "$T/cout" --include "$T/c/small.bin"
check "undamaged file restored with its content" cmp -s "$T/small.orig" "$T/cout$T/c/small.bin"
check "the damaged file is not restored by that --include" test ! -e "$T/cout$T/c/big.bin"
expect_exit 20 "verify --quick finds the flipped byte without any password" -- \
  env -u LIFEBOAT_PASSWORD_FILE backup-verify --quick
expect_stderr "$pack_id" "verify --quick names the damaged pack"

# --- Damaged pack: truncated ------------------------------------------------------------------
export LIFEBOAT_REPOSITORY="$T/trepo"
export LIFEBOAT_CACHE_DIR="$T/tcache"
expect_exit 0 "init (truncation repository)" -- backup-create init
expect_exit 0 "backup (truncation repository)" -- backup-create "$T/c"
expect_exit 0 "verify of the intact repository" -- backup-verify
tpack=$(find "$T/trepo/data" -type f -printf '%s %P\n' | sort -n | tail -n1 | cut -d' ' -f2)
truncate -s 1000 "$T/trepo/data/$tpack"
expect_exit 20 "verify (structure) finds the truncated pack" -- backup-verify
expect_stderr "${tpack#*/}" "verify names the truncated pack"

finish
