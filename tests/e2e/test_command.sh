#!/usr/bin/env bash
# backup-create --from-command: a command's standard output as one file of a snapshot; its
# failure (non-zero exit, death by signal, not found) means exit 1, no snapshot, and its
# standard error shown; Lifeboat's password never reaches its environment.
source "$(dirname "$0")/lib.sh"

backup-create init >/dev/null 2>&1

# --- round trip ---------------------------------------------------------------------------------
gen() { python3 -c "
import random, sys
r = random.Random($1)
for i in range(500000): sys.stdout.write('INSERT INTO t VALUES (%d, %r);\n' % (i, r.random()))"; }
gen 1 >"$T/dump1.sql"
expect_exit 0 "a command's output is backed up" -- backup-create --job db --json --from-command "python3 -c \"
import random, sys
r = random.Random(1)
for i in range(500000): sys.stdout.write('INSERT INTO t VALUES (%d, %r);\n' % (i, r.random()))\"; echo 'progress: done' >&2" --stdin-name db/all.sql
expect_stderr "progress: done" "the command's standard error is passed through"
jcheck "one file read" "$T/stdout" 'd["files_new"] == 1 and d["bytes_read"] > 1000000'
backup-restore dump latest --job db db/all.sql >"$T/back.sql" 2>/dev/null
check "it restores bit-exact" cmp "$T/dump1.sql" "$T/back.sql"
jcheck "the snapshot lists the stream's name" <(backup-restore snapshots --json --job db) 'd[0]["paths"] == ["/db/all.sql"]'

# A second run of nearly the same output is deduplicated.
expect_exit 0 "a second run with one line changed" -- backup-create --job db --json --from-command "sed 's/^INSERT INTO t VALUES (250000, .*/INSERT INTO t VALUES (250000, 0.5);/' '$T/dump1.sql'" --stdin-name db/all.sql
jcheck "little is added (< 20%)" "$T/stdout" 'd["bytes_added"] < d["bytes_read"] / 5'

# --- failures: exit 1, no snapshot, the command's error output in the message ------------------
n=$(snapshot_count)
expect_exit 1 "a command that fails" -- backup-create --job db --from-command "cat '$T/dump1.sql'; echo 'mysqldump: Got error: 1045: Access denied' >&2; exit 2" --stdin-name db/all.sql
expect_stderr "the command 'cat …' exited with status 2; no snapshot was written" "the message says what failed"
expect_stderr "Its last error output:" "the message carries the command's error output"
check "no snapshot after a failing command" test "$(snapshot_count)" -eq "$n"
expect_exit 1 "a command killed by a signal mid-stream" -- backup-create --job db --from-command "head -c 3000000 /dev/urandom; kill -9 \$\$" --stdin-name db/all.sql
expect_stderr "was killed by signal 9" "the message names the signal"
expect_exit 1 "a command that does not exist" -- backup-create --job db --from-command "no-such-dump-tool --password=hunter2" --stdin-name db/all.sql
expect_stderr "status 127 \\(command not found\\)" "the message says not found"
check "the command's arguments are not repeated in the message" bash -c "! grep -q hunter2 <(grep '^error' '$T/stderr')"
check "still no snapshot" test "$(snapshot_count)" -eq "$n"
expect_exit 0 "verify --read-data after the failures" -- backup-verify --read-data

# --- usage ----------------------------------------------------------------------------------------
expect_exit 2 "--from-command without --stdin-name" -- backup-create --from-command "echo x"
expect_stderr "needs --stdin-name" "the message names the missing option"
expect_exit 2 "--from-command with paths" -- backup-create --from-command "echo x" --stdin-name x "$T"
expect_exit 2 "--from-command with --stdin" -- backup-create --from-command "echo x" --stdin --stdin-name x
expect_exit 2 "an empty command" -- backup-create --from-command " " --stdin-name x

# --- the password stays out of the command's environment ----------------------------------------
pw=$(cat "$T/password")
LIFEBOAT_PASSWORD_FILE= LIFEBOAT_PASSWORD="$pw" expect_exit 0 "a backup with the password in the environment" -- backup-create --from-command "env" --stdin-name env.txt
backup-restore dump latest env.txt >"$T/env.txt" 2>/dev/null
check "the command saw an environment" grep -q "^PATH=" "$T/env.txt"
check "but not LIFEBOAT_PASSWORD" bash -c "! grep -q '^LIFEBOAT_PASSWORD=' '$T/env.txt'"
check "nor the password anywhere" bash -c "! grep -qF -- '$pw' '$T/env.txt'"

# --- restore commands ------------------------------------------------------------------------------
expect_exit 0 "--to-command feeds the stream into a command" -- backup-restore latest --job db --to-command "cat > '$T/fed.sql'"
check "what the command read equals the backed-up output" cmp <(sed 's/^INSERT INTO t VALUES (250000, .*/INSERT INTO t VALUES (250000, 0.5);/' "$T/dump1.sql") "$T/fed.sql"
expect_exit 1 "a restore command that fails" -- backup-restore latest --job db --to-command "cat >/dev/null; echo 'ERROR 1049: Unknown database' >&2; exit 1"
expect_stderr "the command 'cat …' exited with status 1; the restore is incomplete" "the message says the restore is incomplete"
expect_stderr "Unknown database" "and shows the command's error output"
expect_exit 1 "a restore command that stops reading early" -- backup-restore latest --job db --to-command "head -c 1000 >/dev/null"
expect_stderr "stopped reading .* after [0-9]+ of [0-9]+ bytes; the restore is incomplete" "the message says how far it read"
expect_exit 2 "--to-command on a files snapshot" -- bash -c "backup-create '$T/password' >/dev/null 2>&1 && backup-restore latest --to-command cat"
expect_stderr "is a files backup" "the message says what kind of snapshot it is"
expect_exit 2 "--to-command with --target" -- backup-restore latest --job db --to-command cat --target "$T/x"
expect_exit 2 "--run-restore-command for a job without a configuration" -- backup-restore latest --job db --run-restore-command
expect_stderr "no restore-command" "the message says there is no restore command"

# A command that leaves a background process holding its error output (a daemon it started)
# is not waited for once it has exited (one second of grace for its last words).
expect_exit 0 "a restore command that leaves a background process" -- timeout 20 backup-restore latest --job db --to-command "cat >/dev/null; sleep 31.5 >/dev/null &"
expect_exit 0 "a backup command that leaves a background process" -- timeout 20 backup-create --job bg --from-command "echo data; sleep 31.5 >/dev/null &" --stdin-name bg.txt
check "its output was stored" test "$(backup-restore dump latest --job bg bg.txt 2>/dev/null)" = data
pkill -f 'sleep 31.5' 2>/dev/null

# --- jobs of type command in the configuration ------------------------------------------------------
cat >"$T/lifeboat.yaml" <<YAML
repositories:
  main:
    url: $T/repo
    password-file: $T/password
jobs:
  numbers:
    type: command
    repository: main
    command: seq 1 200000
    stdin-name: numbers.txt
    restore-command: cat > '$T/restored-numbers.txt'
    tags: [db]
YAML
export LIFEBOAT_CONFIG="$T/lifeboat.yaml"
expect_exit 0 "a job of type command runs its command" -- backup-create --job numbers --json
jcheck "its output is one file" <(backup-restore snapshots --json --job numbers) 'd[0]["paths"] == ["/numbers.txt"] and d[0]["tags"] == ["db"] and d[0]["kind"] == "command"'
expect_exit 0 "--run-restore-command runs the job's restore-command" -- backup-restore latest --job numbers --run-restore-command
check "the restore command received the output" cmp <(seq 1 200000) "$T/restored-numbers.txt"
expect_exit 0 "a snapshot named by id finds its job's restore-command" -- backup-restore "$(backup-restore snapshots --json --job numbers | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --run-restore-command
cat >"$T/bad.yaml" <<YAML
jobs:
  x:
    type: command
    paths: [/etc]
    command: "true"
    stdin-name: x
YAML
expect_exit 2 "a command job with paths" -- backup-create --config "$T/bad.yaml" --job x
expect_stderr "bad.yaml:4: job 'x' is of type command: 'paths' belongs to jobs of type files" "the message names the line and the key's type"
printf 'jobs:\n  x:\n    type: command\n    stdin-name: x\n' >"$T/bad.yaml"
expect_exit 2 "a command job without a command" -- backup-create --config "$T/bad.yaml" --job x
expect_stderr "has no command" "the message says what is missing"
printf 'jobs:\n  x:\n    type: script\n' >"$T/bad.yaml"
expect_exit 2 "an unknown job type" -- backup-create --config "$T/bad.yaml" --job x
expect_stderr "type is 'script' \\(valid: files, command, postgres\\)" "the message lists the types"
unset LIFEBOAT_CONFIG

finish
