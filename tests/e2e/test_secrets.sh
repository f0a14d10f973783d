#!/usr/bin/env bash
# Secret hygiene: a canary password and a canary key file are used for everything a session
# does — init, key add, backups (files and a command source), snapshots --json, verify,
# restore, forget and prune, wrong secrets, a damaged repository, --verbose — and must never
# appear in any output, log, JSON, the repository, the cache and state directories, the
# temporary directory, a child process's environment or a process's command line; a process
# holding the keys is not dumpable and may not write a core file.
source "$(dirname "$0")/lib.sh"
pw="canary-pw-$RANDOM-7f3a9c51"
printf '%s\n' "$pw" >"$T/password"
key_hex_of() { tail -1 "$1"; }
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR" "$T/data/sub" "$T/out"
head -c 300000 /dev/urandom >"$T/data/blob"
echo "notes" >"$T/data/sub/notes.txt"
: >"$T/all-output"
# run DESC WANT CMD...: runs CMD, keeps everything it printed for the final search.
run() {
  local what=$1 want=$2
  shift 2
  expect_exit "$want" "$what" -- "$@"
  cat "$T/stdout" "$T/stderr" >>"$T/all-output"
}

run "init with the canary password" 0 backup-create init --verbose
run "a key file: generate" 0 backup-create key generate "$T/canary.key"
keyhex=$(key_hex_of "$T/canary.key")
check "the key file holds a 64-digit key" test ${#keyhex} -eq 64
run "a key file: add it" 0 backup-create key add --new-key-file "$T/canary.key" --label canary
run "a backup, verbose" 0 backup-create "$T/data" --verbose --job files
run "a backup with --json" 0 backup-create "$T/data" --json --job files
run "a backup with the key file" 0 env -u LIFEBOAT_PASSWORD_FILE backup-create "$T/data" --key-file "$T/canary.key" --job files
run "a backup with the password in the environment" 0 env -u LIFEBOAT_PASSWORD_FILE LIFEBOAT_PASSWORD="$pw" backup-create "$T/data" --job files
# A command source sees neither secret in its environment or on its parent's command line.
run "a command source that prints its environment" 0 env LIFEBOAT_PASSWORD="$pw" LIFEBOAT_KEY_FILE="$T/canary.key" backup-create --from-command 'env; tr "\0" " " </proc/$PPID/cmdline' --stdin-name env.txt --job cmd
run "its output restored" 0 backup-restore dump latest --job cmd /env.txt
check "the command ran (its output was stored)" grep -q '^PATH=' "$T/stdout"
check "LIFEBOAT_PASSWORD is not in a child's environment" bash -c "! grep -q '^LIFEBOAT_PASSWORD=' '$T/stdout'"
run "snapshots --json" 0 backup-restore snapshots --json
run "key list --json" 0 backup-create key list --json
run "verify --read-data, verbose" 0 backup-verify --read-data --verbose
run "a restore" 0 backup-restore latest --job files --target "$T/out/r1"
run "forget and prune" 0 backup-prune forget --keep-last 1 --prune --verbose
run "a wrong password" 12 env -u LIFEBOAT_PASSWORD_FILE LIFEBOAT_PASSWORD="$pw-wrong" backup-restore snapshots
run "a password command" 0 env -u LIFEBOAT_PASSWORD_FILE backup-restore snapshots --password-command "cat $T/password"
run "a failing password command" 1 env -u LIFEBOAT_PASSWORD_FILE backup-restore snapshots --password-command "cat $T/password; exit 3"
# The command line of a process holding the keys, its core limit and its dumpability, while it
# is frozen in the middle of a backup. It runs as nobody, with a repository of its own: the
# /proc files of a process that is not dumpable belong to root instead of its user.
mkdir -p "$T/nobody" && cp "$T/password" "$T/nobody/password" && chown -R nobody "$T/nobody"
as_nobody() {
  # exec, and setpriv execs the command itself: the process started in the background is the
  # tool (runuser would stay in between, and stop along with it).
  exec setpriv --reuid=nobody --regid=nogroup --clear-groups env LIFEBOAT_REPOSITORY="$T/nobody/repo" LIFEBOAT_PASSWORD_FILE="$T/nobody/password" \
    LIFEBOAT_CACHE_DIR="$T/nobody/cache" LIFEBOAT_STATE_DIR="$T/nobody/state" TMPDIR="$T/nobody" "$@"
}
(as_nobody "$LIFEBOAT_BIN/backup-create" init >/dev/null 2>>"$T/all-output")
LIFEBOAT_TEST_FAULTS=put:1:stop as_nobody "$LIFEBOAT_BIN/backup-create" "$T/data/sub" --job frozen >/dev/null 2>>"$T/all-output" &
pid=$!
for _ in $(seq 1 100); do
  [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = T ] && break
  sleep 0.1
done
check "the backup is frozen mid-way" test "$(ps -o stat= -p "$pid" | cut -c1)" = T
tr '\0' ' ' </proc/"$pid"/cmdline >"$T/cmdline"
check "its command line has no secret" bash -c "! grep -qF -e '$pw' -e '$keyhex' '$T/cmdline'"
check "it may not write a core file" grep -Eq '^Max core file size +0 +' /proc/"$pid"/limits
check "and is not dumpable (its /proc files belong to root, not nobody)" test "$(stat -c %U /proc/"$pid"/environ)" = root
kill -CONT "$pid"
wait "$pid"
check "and finishes when continued" test $? -eq 0
# Damage: an error naming a damaged object must not carry key material either.
for f in $(find "$T/repo/snapshots" -type f | head -1); do printf 'x' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null; done
run "a damaged snapshot" 20 backup-verify --read-data

printf 'x%sx' "$pw" >"$T/probe" && printf '%s' "$keyhex" >"$T/probe2"
check "the search finds a planted secret (it can fail)" bash -c "grep -qaF -e '$pw' '$T/probe' && grep -qaF -e '$keyhex' '$T/probe2'"
found=0
for where in "$T/all-output" "$T/repo" "$T/cache" "$T/state" "$TMPDIR" "$T/out" "$T/nobody"; do
  if grep -rqaF -e "$pw" -e "$keyhex" --exclude=password "$where" 2>/dev/null; then
    fail "a secret appears in $where: $(grep -rlaF -e "$pw" -e "$keyhex" --exclude=password "$where" | head -3 | tr '\n' ' ')"
    found=1
  fi
done
[ $found -eq 0 ] && ok "neither secret appears in any output, the repository, cache, state, temporary or restored files"
check "the temporary directory is left empty" test -z "$(ls -A "$TMPDIR")"
finish
