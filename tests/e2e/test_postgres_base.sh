#!/usr/bin/env bash
# backup-create postgres --mode base against a real PostgreSQL 15: pg_basebackup's tar streamed
# into the repository with its LSNs, timeline, system identifier and version recorded; restored
# with backup-restore --target into a data directory that pg_verifybackup accepts and that
# PostgreSQL starts on with the same rows; a second base backup is mostly deduplicated.
# Every server command runs under a timeout.
source "$(dirname "$0")/lib.sh"
source "$LIFEBOAT_SOURCE/tests/servers/postgres.sh"
export PGPORT=54336
trap 'pg_stop "$T/pg"; pg_stop "$T/restored"; rm -rf "$T"' EXIT
TO="timeout 300"

pg_start "$T/pg" "wal_level = replica" "max_wal_senders = 4" ||
  { echo "FAIL - PostgreSQL 15 did not start"; exit 1; }
backup-create init >/dev/null 2>&1
timeout 60 createdb bench && timeout 120 pgbench -i -s 2 -q bench >/dev/null 2>&1
PGDATABASE=bench pg_sql "CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 10000) g" >/dev/null
counts() { PGDATABASE=bench pg_sql "SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT md5(string_agg(body, ',' ORDER BY id)) FROM notes)"; }
counts >"$T/counts.before"

expect_exit 0 "a base backup" -- $TO backup-create postgres --mode base --job pg --json
jcheck "the tar is read" "$T/stdout" 'd["files_new"] == 1 and d["bytes_read"] > 30000000'
backup-restore snapshots --json --job pg >"$T/snaps.json" 2>/dev/null
sysid=$(timeout 60 "$PG_BIN/pg_controldata" "$T/pg/data" | sed -n 's/^Database system identifier: *//p')
jcheck "a postgres-base snapshot of /base.tar" "$T/snaps.json" 'd[0]["kind"] == "postgres-base" and d[0]["paths"] == ["/base.tar"]'
jcheck "recording the cluster's system identifier and version" "$T/snaps.json" "d[0]['meta']['postgres.system_id'] == '$sysid' and d[0]['meta']['postgres.server_version'] == '15'"
jcheck "its start and stop LSN and timeline" "$T/snaps.json" 'all("/" in d[0]["meta"][k] for k in ("postgres.start_lsn", "postgres.stop_lsn")) and d[0]["meta"]["postgres.timeline"] == "1" and len(d[0]["meta"]["postgres.start_wal_file"]) == 24'

# --- restore, pg_verifybackup, start ---------------------------------------------------------------
expect_exit 0 "restoring the base backup into a data directory" -- $TO backup-restore latest --job pg --target "$T/restored/data"
expect_stderr "restored base backup .* PostgreSQL 15, system identifier $sysid, timeline 1" "says what it restored"
check "the files belong to postgres" test "$(stat -c %U "$T/restored/data/PG_VERSION")" = postgres
check "the directory is private" test "$(stat -c %a "$T/restored/data")" = 700
check "pg_verifybackup accepts it" timeout 120 runuser -u postgres -- "$PG_BIN/pg_verifybackup" -q "$T/restored/data"
mkdir -p "$T/restored/sock" && chown postgres "$T/restored" "$T/restored/sock"
printf "port = 54337\nunix_socket_directories = '%s'\n" "$T/restored/sock" >>"$T/restored/data/postgresql.auto.conf"
check "PostgreSQL starts on it" timeout 120 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/restored/data" -l "$T/restored/log" -w -t 60 -s start
check "with the same rows" cmp "$T/counts.before" <(PGHOST="$T/restored/sock" PGPORT=54337 counts)
pg_stop "$T/restored"

# --- a second base backup is deduplicated ------------------------------------------------------------
PGDATABASE=bench pg_sql "UPDATE pgbench_accounts SET abalance = 1 WHERE aid <= 100" >/dev/null
expect_exit 0 "a second base backup after a small change" -- $TO backup-create postgres --mode base --job pg --json
jcheck "stores under a third of what it read" "$T/stdout" 'd["bytes_added"] < d["bytes_read"] / 3'

# --- refusals and failures -------------------------------------------------------------------------
expect_exit 2 "--dbname with --mode base" -- backup-create postgres --mode base --dbname bench
expect_stderr "goes with --mode dump" "says a base backup copies the whole cluster"
printf 'jobs:\n  pg:\n    type: postgres\n    mode: base\n    databases: [bench]\n' >"$T/bad.yaml"
expect_exit 2 "a job of mode base that lists databases" -- backup-create --config "$T/bad.yaml" --job pg
expect_stderr "bad.yaml:5: job 'pg' has mode base, which copies the whole cluster" "is a configuration error naming the line"
expect_exit 2 "restoring into a directory that is not empty" -- backup-restore latest --job pg --target "$T/restored/data"
expect_stderr "is not empty" "says so"
expect_exit 2 "--include with a base backup" -- backup-restore latest --job pg --target "$T/x" --include '/base/*'
n=$(snapshot_count)
mkdir -p "$T/bin" && ln -s "$(command -v psql)" "$T/bin/psql"
expect_exit 1 "pg_basebackup missing from PATH" -- env PATH="$T/bin" "$LIFEBOAT_BIN/backup-create" postgres --mode base
expect_stderr "'pg_basebackup' was not found" "names the missing program"
expect_exit 1 "an unreachable server" -- $TO backup-create postgres --mode base --pg-port 1
expect_stderr "the command 'pg_basebackup' exited with status 1; no snapshot was written" "names pg_basebackup"
check "no snapshot from the failures" test "$(snapshot_count)" -eq "$n"

finish
