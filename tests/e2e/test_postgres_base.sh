#!/usr/bin/env bash
# backup-create postgres --mode base against a real PostgreSQL 15: the base backup's archives
# streamed over the replication protocol into the repository with its LSNs, timeline, system
# identifier, version and manifest; restored with backup-restore --target into a data directory
# that pg_verifybackup accepts and that PostgreSQL starts on with the same rows; a second base
# backup is mostly deduplicated; a cluster with two more tablespaces is backed up and restored
# with --tablespace-mapping, never into the directories the running cluster uses.
# Every server command runs under a timeout.
source "$(dirname "$0")/lib.sh"
source "$LIFEBOAT_SOURCE/tests/servers/postgres.sh"
export PGPORT=54336
trap 'pg_stop "$T/pg"; pg_stop "$T/restored"; pg_stop "$T/r2"; rm -rf "$T"' EXIT
TO="timeout 300"

pg_start "$T/pg" "wal_level = replica" "max_wal_senders = 4" ||
  { echo "FAIL - PostgreSQL 15 did not start"; exit 1; }
backup-create init >/dev/null 2>&1
timeout 60 createdb bench && timeout 120 pgbench -i -s 2 -q bench >/dev/null 2>&1
PGDATABASE=bench pg_sql "CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 10000) g" >/dev/null
counts() { PGDATABASE=bench pg_sql "SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT md5(string_agg(body, ',' ORDER BY id)) FROM notes)"; }
counts >"$T/counts.before"

expect_exit 0 "a base backup" -- $TO backup-create postgres --mode base --job pg --json
jcheck "the archive and the manifest are read" "$T/stdout" 'd["files_new"] == 2 and d["bytes_read"] > 30000000'
backup-restore snapshots --json --job pg >"$T/snaps.json" 2>/dev/null
sysid=$(timeout 60 "$PG_BIN/pg_controldata" "$T/pg/data" | sed -n 's/^Database system identifier: *//p')
jcheck "a postgres-base snapshot of /base.tar and /backup_manifest" "$T/snaps.json" 'd[0]["kind"] == "postgres-base" and d[0]["paths"] == ["/base.tar", "/backup_manifest"]'
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
expect_exit 1 "an unreachable server" -- $TO backup-create postgres --mode base --pg-port 1
expect_stderr "cannot open a replication connection to the server at .* port 1: .*no snapshot was written" "says so, naming the server"
pg_sql "CREATE ROLE plain LOGIN" >/dev/null
expect_exit 1 "a role without REPLICATION" -- $TO backup-create postgres --mode base --pg-user plain
expect_stderr "replication" "gives the server's reason"
check "no snapshot from the failures" test "$(snapshot_count)" -eq "$n"

# --- a cluster with more tablespaces ----------------------------------------------------------------
mkdir -p "$T/ts1" "$T/ts2" && chown postgres "$T/ts1" "$T/ts2"
pg_sql "CREATE TABLESPACE ts1 LOCATION '$T/ts1'" >/dev/null
pg_sql "CREATE TABLESPACE ts2 LOCATION '$T/ts2/'" >/dev/null
PGDATABASE=bench pg_sql "CREATE TABLE spaced TABLESPACE ts1 AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g" >/dev/null
timeout 60 createdb --tablespace=ts2 other
PGDATABASE=other pg_sql "CREATE TABLE t AS SELECT g FROM generate_series(1, 3000) g" >/dev/null
spaced() { PGDATABASE=bench pg_sql "SELECT md5(string_agg(body, ',' ORDER BY id)) FROM spaced" && PGDATABASE=other pg_sql "SELECT sum(g) FROM t"; }
spaced >"$T/spaced.before"
oid1=$(pg_sql "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")
oid2=$(pg_sql "SELECT oid FROM pg_tablespace WHERE spcname = 'ts2'")
expect_exit 0 "a base backup of a cluster with three tablespaces" -- $TO backup-create postgres --mode base --job pg
expect_stderr "2 tablespace\\(s\\) besides the main one" "says it found them"
backup-restore snapshots --json --job pg >"$T/snaps.json" 2>/dev/null
jcheck "each tablespace an archive of its own, before the main one" "$T/snaps.json" "d[-1]['paths'] == ['/tablespaces/$oid1.tar', '/tablespaces/$oid2.tar', '/base.tar', '/backup_manifest']"
jcheck "with their locations on the server" "$T/snaps.json" "d[-1]['meta']['postgres.tablespace.$oid1'] == '$T/ts1' and d[-1]['meta']['postgres.tablespace.$oid2'] == '$T/ts2'"
# What a restore into them would change: names, inodes (files are replaced), owners, modes.
# (Vacuumed first, so that autovacuum adds no map files meanwhile; the server rewrites its
# relation cache file whenever it likes.)
PGDATABASE=bench pg_sql "VACUUM spaced" >/dev/null && PGDATABASE=other pg_sql "VACUUM t" >/dev/null
in_use() { find "$T/ts1" "$T/ts2" ! -name pg_internal.init -printf '%i %p %U %m\n' | sort; }
in_use >"$T/ts.before"
expect_exit 2 "restoring where the running cluster's tablespaces are" -- backup-restore latest --job pg --target "$T/r2/data"
expect_stderr "tablespace $oid1 \\(at '$T/ts1' on the server\\) would be restored into '$T/ts1', which is not empty: give --tablespace-mapping $T/ts1=NEWDIR" "is refused, saying what to do"
check "and writes nothing" test ! -e "$T/r2"
expect_exit 2 "a mapping that names no tablespace" -- backup-restore latest --job pg --target "$T/r2/data" --tablespace-mapping /nowhere=/x
expect_stderr "has no tablespace at '/nowhere' \\(its tablespaces: $T/ts1, $T/ts2\\)" "lists the tablespaces"
expect_exit 2 "a mapping that is not OLD=NEW" -- backup-restore latest --job pg --target "$T/r2/data" --tablespace-mapping "$T/ts1"
expect_exit 2 "a mapping without --target" -- backup-restore latest --job pg --to-command cat --tablespace-mapping "$T/ts1=/x"
expect_stderr "goes with --target" "says where it belongs"
expect_exit 0 "restoring with both tablespaces moved" -- $TO backup-restore latest --job pg --target "$T/r2/data" --tablespace-mapping "$T/ts1=$T/r2/ts1" --tablespace-mapping "$T/ts2/=$T/r2/ts2" --json
jcheck "reports them" "$T/stdout" "d['tablespaces'] == {'$oid1': '$T/r2/ts1', '$oid2': '$T/r2/ts2'}"
check "pg_tblspc links to the new places" test "$(readlink "$T/r2/data/pg_tblspc/$oid1") $(readlink "$T/r2/data/pg_tblspc/$oid2")" = "$T/r2/ts1 $T/r2/ts2"
check "the tablespace directories belong to postgres" test "$(stat -c %U:%a "$T/r2/ts1")" = postgres:700
check "the running cluster's tablespaces were not touched" cmp "$T/ts.before" <(in_use)
check "pg_verifybackup accepts it (manifest beside the data)" timeout 120 runuser -u postgres -- "$PG_BIN/pg_verifybackup" -q "$T/r2/data"
mkdir -p "$T/r2/sock" && chown postgres "$T/r2" "$T/r2/sock"
printf "port = 54338\nunix_socket_directories = '%s'\n" "$T/r2/sock" >>"$T/r2/data/postgresql.auto.conf"
check "PostgreSQL starts on it" timeout 120 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/r2/data" -l "$T/r2/log" -w -t 60 -s start
check "with the same rows in both tablespaces" cmp "$T/spaced.before" <(PGHOST="$T/r2/sock" PGPORT=54338 spaced)
check "and its tablespaces where they were restored" test "$(PGHOST="$T/r2/sock" PGPORT=54338 pg_sql "SELECT string_agg(pg_tablespace_location(oid), ' ' ORDER BY spcname) FROM pg_tablespace WHERE spcname LIKE 'ts%'")" = "$T/r2/ts1 $T/r2/ts2"
pg_stop "$T/r2"

finish
