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

finish
