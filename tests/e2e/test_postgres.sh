#!/usr/bin/env bash
# backup-create postgres --mode dump and backup-restore --to-postgres against a real
# PostgreSQL 15 started for this test (tests/servers/postgres.sh): a logical round trip with
# row counts and content checksums equal, jobs of type postgres, and the failures an operator
# meets (no pg_dump, no server, a database that is not there). Every command that talks to the
# server runs under a timeout.
source "$(dirname "$0")/lib.sh"
source "$LIFEBOAT_SOURCE/tests/servers/postgres.sh"
export PGPORT=54331
trap 'pg_stop "$T/pg"; rm -rf "$T"' EXIT
TO="timeout 300"

pg_start "$T/pg" || { echo "FAIL - PostgreSQL 15 did not start"; exit 1; }
backup-create init >/dev/null 2>&1

# --- data: pgbench tables, a table of awkward values, a role, a database with an awkward name --
timeout 120 createdb bench && timeout 120 pgbench -i -s 2 -q bench >/dev/null 2>&1
timeout 60 createdb shop
PGDATABASE=shop pg_sql "CREATE ROLE shop_owner LOGIN;
  CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric(10,2), photo bytea, tags text[], at timestamptz);
  INSERT INTO items (name, price, photo, tags, at)
    SELECT 'item ' || i || E' ünïcödé \\t tab', i * 1.25, decode(md5(i::text), 'hex'), ARRAY['a', i::text], '2026-01-01'::timestamptz + i * interval '1 minute'
    FROM generate_series(1, 5000) i;
  ALTER TABLE items OWNER TO shop_owner;" >/dev/null
timeout 60 psql -X -q -d postgres -c 'CREATE DATABASE "odd/name=db"' >/dev/null

# checksum DB: every table's rows, in a stable order, hashed; plus the row counts.
checksum() {
  local db=$1 t
  for t in $(PGDATABASE=$db pg_sql "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1"); do
    printf '%s %s ' "$t" "$(PGDATABASE=$db pg_sql "SELECT count(*) FROM $t")"
    timeout 60 psql -X -d "$db" -c "COPY (SELECT * FROM $t x ORDER BY x::text) TO STDOUT" | md5sum
  done
}
checksum bench >"$T/bench.sum"
checksum shop >"$T/shop.sum"
check "the test data is there" grep -q "pgbench_accounts 200000" "$T/bench.sum"

# --- dump ------------------------------------------------------------------------------------------
expect_exit 0 "backup-create postgres dumps every database and the globals" -- $TO backup-create postgres --json --tag nightly
jcheck "five files read: the globals and four databases" "$T/stdout" 'd["files_new"] == 5'
backup-restore snapshots --json >"$T/snaps.json" 2>/dev/null
jcheck "the snapshot lists the globals and each database" "$T/snaps.json" 'd[-1]["paths"] == ["/globals.sql", "/databases/bench.dump", "/databases/odd%2Fname=db.dump", "/databases/postgres.dump", "/databases/shop.dump"]'
jcheck "it is a postgres-dump snapshot recording the server version" "$T/snaps.json" 'd[-1]["kind"] == "postgres-dump" and d[-1]["meta"]["postgres.server_version"].startswith("15.")'
backup-restore dump latest /globals.sql >"$T/globals.sql" 2>/dev/null
check "the globals hold the role" grep -q "CREATE ROLE shop_owner" "$T/globals.sql"
backup-restore dump latest /databases/shop.dump >"$T/shop.dump" 2>/dev/null
check "each dump is a pg_dump custom archive pg_restore reads" bash -c "timeout 60 pg_restore -l '$T/shop.dump' | grep -q 'TABLE public items shop_owner'"

# A second dump after a small change stores little.
PGDATABASE=bench pg_sql "UPDATE pgbench_accounts SET abalance = 7 WHERE aid <= 10" >/dev/null
checksum bench >"$T/bench2.sum"
expect_exit 0 "a second dump after a small change" -- $TO backup-create postgres --json
jcheck "adds well under half of what it read" "$T/stdout" 'd["bytes_added"] < d["bytes_read"] / 2'

# --- restore -----------------------------------------------------------------------------------------
# Damage: rows changed in one database, another dropped.
PGDATABASE=bench pg_sql "DELETE FROM pgbench_accounts WHERE aid % 3 = 0; UPDATE pgbench_branches SET bbalance = 99" >/dev/null
timeout 60 dropdb shop
expect_exit 1 "restoring into a database that does not exist (no --create)" -- $TO backup-restore latest --to-postgres --dbname shop
expect_stderr "pg_restore" "the message names pg_restore"
expect_exit 1 "restoring over existing objects without --clean" -- $TO backup-restore latest --to-postgres --dbname bench
expect_stderr "was left as it was .*--clean" "the message says nothing changed and suggests --clean"
check "the failed restore changed nothing (one transaction)" test "$(PGDATABASE=bench pg_sql 'SELECT bbalance FROM pgbench_branches LIMIT 1')" = 99
expect_exit 0 "--create brings back the dropped database" -- $TO backup-restore latest --to-postgres --dbname shop --create
checksum shop >"$T/shop.after"
check "its rows and content are equal" cmp "$T/shop.sum" "$T/shop.after"
check "its owner role is kept" test "$(PGDATABASE=shop pg_sql "SELECT tableowner FROM pg_tables WHERE tablename = 'items'")" = shop_owner
expect_exit 0 "--clean replaces the damaged database's objects" -- $TO backup-restore latest --to-postgres --dbname bench --clean --json
jcheck "the JSON names the database restored" "$T/stdout" 'd["databases"] == ["bench"]'
checksum bench >"$T/bench.after"
check "its rows and content equal the second dump's" cmp "$T/bench2.sum" "$T/bench.after"
first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["id"])' "$T/snaps.json")
expect_exit 0 "--create --clean from the first snapshot" -- $TO backup-restore "$first" --to-postgres --dbname bench --create --clean
checksum bench >"$T/bench.after"
check "the database is as at the first dump" cmp "$T/bench.sum" "$T/bench.after"
timeout 60 psql -X -q -d postgres -c 'DROP DATABASE "odd/name=db"' >/dev/null
expect_exit 0 "a database whose name holds '/' and '='" -- $TO backup-restore latest --to-postgres --dbname "odd/name=db" --create
check "is back under its own name" test "$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = 'odd/name=db'")" = 1

expect_exit 2 "a database the snapshot does not hold" -- backup-restore latest --to-postgres --dbname nope
expect_stderr "holds no dump of database 'nope' \\(it holds: bench, odd/name=db, postgres, shop\\)" "the message lists what it holds"
expect_exit 2 "--create without --to-postgres" -- backup-restore latest --create --target "$T/x"
backup-create "$T/password" >/dev/null 2>&1
expect_exit 2 "--to-postgres on a files snapshot" -- backup-restore latest --to-postgres
expect_stderr "is a files backup, not a PostgreSQL dump" "the message says what the snapshot is"

# --- jobs of type postgres -----------------------------------------------------------------------------
cat >"$T/lifeboat.yaml" <<YAML
repositories:
  main:
    url: $T/repo
    password-file: $T/password
jobs:
  pg:
    type: postgres
    repository: main
    mode: dump
    databases: [shop]
    pg-host: $T/pg/sock
    pg-port: $PGPORT
    pg-user: postgres
YAML
expect_exit 0 "a job of type postgres" -- env -u PGHOST -u PGPORT -u PGUSER $TO backup-create --config "$T/lifeboat.yaml" --job pg --json
jcheck "dumps only its databases, with the globals" <(backup-restore snapshots --json --job pg) 'd[0]["paths"] == ["/globals.sql", "/databases/shop.dump"] and d[0]["job"] == "pg"'
printf 'jobs:\n  pg:\n    type: postgres\n    mode: incremental\n' >"$T/bad.yaml"
expect_exit 2 "an unknown mode in the configuration" -- backup-create --config "$T/bad.yaml" --job pg
expect_stderr "bad.yaml:4: job 'pg' mode is 'incremental' \\(valid: dump, base\\)" "the message names the line and the valid modes"

# --- failures: exit 1, a clear message, no snapshot --------------------------------------------------
n=$(snapshot_count)
expect_exit 1 "an unreachable server" -- $TO backup-create postgres --pg-port 1
expect_stderr "the command 'psql' exited with status 2; no snapshot was written" "the message names psql and says nothing was written"
expect_stderr "connection to server on socket .* failed" "and carries psql's reason"
mkdir -p "$T/bin" && ln -s "$(command -v psql)" "$T/bin/psql"
expect_exit 1 "pg_dump and pg_dumpall missing from PATH" -- env PATH="$T/bin" "$LIFEBOAT_BIN/backup-create" postgres
expect_stderr "'pg_dumpall' was not found: is it installed and on PATH\\?" "the message names the missing program"
expect_exit 1 "a database that does not exist" -- $TO backup-create postgres --dbname shop --dbname nope
expect_stderr "the command 'pg_dump' exited with status 1; no snapshot was written" "the message names pg_dump"
expect_stderr 'database "nope" does not exist' "and carries its reason"
check "none of the failures left a snapshot" test "$(snapshot_count)" -eq "$n"
expect_exit 0 "the repository verifies after the failures" -- backup-verify --read-data

finish
