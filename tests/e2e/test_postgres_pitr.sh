#!/usr/bin/env bash
# Point-in-time recovery against a real PostgreSQL 15: a base backup and archived WAL (wal-push),
# then backup-restore --pitr to three times, a transaction id, a restore point and 'latest',
# each started with pg_ctl and checked for the rows that must be present and absent. A target
# outside the recoverable window is refused; a damaged archive stops recovery with an error.
# Every server command runs under a timeout.
source "$(dirname "$0")/lib.sh"
source "$LIFEBOAT_SOURCE/tests/servers/postgres.sh"
export PGPORT=54341
trap 'for d in "$T"/pg "$T"/r*; do pg_stop "$d"; done; rm -rf "$T"' EXIT

pg_lifeboat_env "$T"
as_pg backup-create init >/dev/null 2>&1
pg_start "$T/pg" "wal_level = replica" "archive_mode = on" "max_wal_senders = 4" \
  "archive_command = '. $T/env.sh && backup-create wal-push --job pg %p'" ||
  { echo "FAIL - PostgreSQL 15 did not start"; exit 1; }
archived() { pg_sql "SELECT archived_count FROM pg_stat_archiver"; }

# The database lives in a tablespace of its own: every restore below moves it with
# --tablespace-mapping, and the WAL replayed into it must follow.
mkdir -p "$T/ts" && chown postgres "$T/ts"
pg_sql "CREATE TABLESPACE ts LOCATION '$T/ts'" >/dev/null
timeout 60 createdb --tablespace=ts app
export PGDATABASE=app
pg_sql "CREATE TABLE t (phase int, at timestamptz DEFAULT now())" >/dev/null
expect_exit 0 "a base backup of the cluster" -- as_pg backup-create postgres --mode base --job pg
stamp() { sleep 1.2; date '+%Y-%m-%d %H:%M:%S'; sleep 1.2; }
pg_sql "INSERT INTO t (phase) SELECT 1 FROM generate_series(1, 100)" >/dev/null
t1=$(stamp)
xid2=$(pg_sql "BEGIN; INSERT INTO t (phase) SELECT 2 FROM generate_series(1, 100); SELECT txid_current(); COMMIT;" | grep -E '^[0-9]+$')
t2=$(stamp)
pg_sql "INSERT INTO t (phase) SELECT 3 FROM generate_series(1, 100)" >/dev/null
pg_sql "SELECT pg_create_restore_point('before-phase-4')" >/dev/null
t3=$(stamp)
pg_sql "INSERT INTO t (phase) SELECT 4 FROM generate_series(1, 100)" >/dev/null
n=$(pg_sql "SELECT count(*) FROM pg_ls_dir('pg_wal') f WHERE f ~ '^[0-9A-F]{24}$'")
pg_sql "SELECT pg_switch_wal()" >/dev/null
check "the WAL is archived" wait_archived "$(( $(archived) + 1 ))"
unset PGDATABASE

port=54350
# recover NAME DESCRIPTION PITR-OPTIONS... : restores into $T/NAME, starts PostgreSQL on it,
# waits for the end of recovery, prints the phases found.
recover() {
  local name=$1 what=$2
  shift 2
  port=$((port + 1))
  expect_exit 0 "--pitr $what: restore" -- timeout 300 backup-restore --job pg --target "$T/$name/data" --pg-port "$port" --tablespace-mapping "$T/ts=$T/$name/ts" "$@"
  mkdir -p "$T/$name/sock" && chown postgres "$T/$name" "$T/$name/sock"
  echo "unix_socket_directories = '$T/$name/sock'" >>"$T/$name/data/postgresql.auto.conf"
  timeout 180 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/$name/data" -l "$T/$name/log" -w -t 150 -s start ||
    { fail "--pitr $what: PostgreSQL did not start"; tail -5 "$T/$name/log"; return; }
  for _ in $(seq 1 300); do
    [ "$(PGHOST="$T/$name/sock" PGPORT=$port PGDATABASE=app pg_sql "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break
    sleep 0.2
  done
  PGHOST="$T/$name/sock" PGPORT=$port PGDATABASE=app pg_sql "SELECT string_agg(DISTINCT phase::text, ',' ORDER BY phase::text) FROM t" >"$T/$name/phases"
  pg_stop "$T/$name"
}

recover r1 "to the first time" --pitr "$t1"
expect_stderr "base backup [0-9a-f]{8} of .*PostgreSQL 15" "says which base backup it chose"
expect_stderr "archived WAL: 0000000100000000000000[0-9A-F]{2} to " "says which WAL range"
expect_stderr "timeline: starts on 1" "says the timeline"
check "recovered to the first time: phase 1 only" test "$(cat "$T/r1/phases")" = 1
check "recovery.signal was consumed (the cluster was promoted)" test ! -e "$T/r1/data/recovery.signal"
expect_stderr "tablespace [0-9]+ restored into $T/r1/ts" "says where the tablespace went"
check "the tablespace's link points to its new place" bash -c "readlink '$T/r1/data/pg_tblspc/'* | grep -qx '$T/r1/ts'"
check "which holds the replayed database" test -n "$(ls "$T/r1/ts"/PG_15_*/)"
recover r2 "to the second time" --pitr "$t2"
check "recovered to the second time: phases 1 and 2" test "$(cat "$T/r2/phases")" = 1,2
recover r3 "to the third time" --pitr "$t3"
check "recovered to the third time: phases 1 to 3" test "$(cat "$T/r3/phases")" = 1,2,3
recover r4 "to a transaction id" --pitr-xid "$xid2"
check "recovered to the transaction: phases 1 and 2" test "$(cat "$T/r4/phases")" = 1,2
recover r5 "to a restore point" --pitr-name before-phase-4
check "recovered to the restore point: phases 1 to 3" test "$(cat "$T/r5/phases")" = 1,2,3
recover r6 "to the end of the archive" --pitr latest
check "recovered to the end: phases 1 to 4" test "$(cat "$T/r6/phases")" = 1,2,3,4

# --- refusals -----------------------------------------------------------------------------------------
expect_exit 1 "a time before the oldest base backup" -- backup-restore --job pg --target "$T/x" --pitr "2001-01-01 00:00"
expect_stderr "outside the recoverable window of job 'pg': " "is refused with the window shown"
check "and nothing is written" test ! -e "$T/x"
expect_exit 2 "--pitr without --job" -- backup-restore --target "$T/x" --pitr latest
expect_exit 2 "two targets" -- backup-restore --job pg --target "$T/x" --pitr latest --pitr-xid 5
expect_exit 2 "--pitr with --to-postgres" -- backup-restore --job pg --target "$T/x" --pitr latest --to-postgres

# --- the recoverable window, and retention that knows WAL ------------------------------------------------
as_pg backup-restore snapshots --json --job pg >"$T/snaps.json" 2>/dev/null
jcheck "snapshots --json shows the job's recoverable window on its base and WAL snapshots" "$T/snaps.json" 'all(s["recoverable_window"]["from_ns"] <= s["recoverable_window"]["to_ns"] for s in d) and len({(s["recoverable_window"]["from"], s["recoverable_window"]["to"]) for s in d}) == 1'
export PGDATABASE=app
pg_sql "INSERT INTO t (phase) SELECT 5 FROM generate_series(1, 100)" >/dev/null
expect_exit 0 "a second base backup" -- as_pg backup-create postgres --mode base --job pg
pg_sql "INSERT INTO t (phase) SELECT 6 FROM generate_series(1, 100)" >/dev/null
pg_sql "SELECT pg_switch_wal()" >/dev/null
check "its WAL is archived" wait_archived "$(( $(archived) + 1 ))"
unset PGDATABASE
expect_exit 0 "forget --keep-last 1 over the job" -- as_pg backup-prune forget --job pg --keep-last 1 --json
jcheck "forgets the first base backup" "$T/stdout" 'sum(1 for g in d["groups"] for s in g["snapshots"] if s["action"] == "remove" and "last 1" not in s["reasons"] and not any("WAL" in r for r in s["reasons"])) == 1'
jcheck "and the WAL only it needed" "$T/stdout" 'any(s["action"] == "remove" and s["reasons"] == ["WAL older than every kept base backup"] for g in d["groups"] for s in g["snapshots"])'
jcheck "but keeps the WAL the second one needs" "$T/stdout" 'any(s["action"] == "keep" and s["reasons"][0].startswith("WAL needed by base backup") for g in d["groups"] for s in g["snapshots"])'
expect_exit 1 "--pitr to a time only the forgotten base backup covered" -- backup-restore --job pg --target "$T/x" --pitr "$t2"
expect_stderr "outside the recoverable window" "is now outside the window"
recover r8 "latest, after forget" --pitr latest
check "recovered from the second base backup and its WAL: phases 1 to 6" test "$(cat "$T/r8/phases")" = 1,2,3,4,5,6

# --- a damaged archive stops recovery -------------------------------------------------------------------
expect_exit 0 "--pitr latest, before the damage" -- backup-restore --job pg --target "$T/r7/data" --pg-port 54360 --tablespace-mapping "$T/ts=$T/r7/ts" --pitr latest
for p in $(find "$T/repo/data" -type f); do
  python3 -c 'import sys
p = sys.argv[1]
f = open(p, "r+b"); f.seek(0, 2); n = f.tell(); f.seek(n // 2); b = f.read(1); f.seek(n // 2); f.write(bytes([b[0] ^ 0x55]))' "$p"
done
rm -rf "$T/cache" /var/lib/postgresql/.cache/lifeboat
mkdir -p "$T/r7/sock" && chown postgres "$T/r7" "$T/r7/sock"
echo "unix_socket_directories = '$T/r7/sock'" >>"$T/r7/data/postgresql.auto.conf"
timeout 180 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/r7/data" -l "$T/r7/log" -w -t 60 -s start >/dev/null 2>&1
sleep 2
check "PostgreSQL does not come up on damaged WAL" bash -c "! PGHOST='$T/r7/sock' PGPORT=54360 timeout 10 psql -X -At -c 'SELECT 1' postgres >/dev/null 2>&1"
# (PostgreSQL words wal-fetch's status 126 as "command not executable"; our own message, in the
# same log, says what happened.)
check "its log shows the restore_command failure, not a silent end of recovery" grep -Eq "FATAL: +could not restore file .* from archive" "$T/r7/log"
check "and wal-fetch's own message says the archive is damaged" grep -Eq "error: .*(damaged|integrity|authentication|does not match)" "$T/r7/log"
check "it never promoted" bash -c "! grep -q 'database system is ready to accept connections' '$T/r7/log'"

finish
