#!/usr/bin/env bash
# WAL archiving against a real PostgreSQL 15 (tests/servers/postgres.sh):
# archive_command = 'backup-create wal-push --job pg %p' and
# restore_command = 'backup-restore wal-fetch --job pg %f %p'. Pushing a file again with the
# same content is 0, with other content refused; a segment of another cluster is refused; a
# push killed mid-write is retried; a damaged archive makes wal-fetch fail with a status that
# stops recovery (126), a file never archived is 1. Every server command runs under a timeout.
source "$(dirname "$0")/lib.sh"
source "$LIFEBOAT_SOURCE/tests/servers/postgres.sh"
export PGPORT=54333
trap 'pg_stop "$T/pg"; pg_stop "$T/other"; rm -rf "$T"' EXIT

# The server runs the tools as postgres: the repository, password, cache and state are its own.
pg_lifeboat_env "$T"
expect_exit 0 "a repository for the cluster" -- as_pg backup-create init
pg_start "$T/pg" "wal_level = replica" "archive_mode = on" \
  "archive_command = '. $T/env.sh && backup-create wal-push --job pg %p'" ||
  { echo "FAIL - PostgreSQL 15 did not start"; exit 1; }


timeout 60 createdb bench
timeout 120 pgbench -i -s 1 -q bench >/dev/null 2>&1
for i in 1 2 3 4 5; do
  PGDATABASE=bench pg_sql "INSERT INTO pgbench_history SELECT 1, 1, 1, $i, now() FROM generate_series(1, 20000); SELECT pg_switch_wal()" >/dev/null
done
check "the server archives its WAL through wal-push" wait_archived 5
check "without failures" test "$(pg_sql "SELECT failed_count FROM pg_stat_archiver")" = 0
as_pg backup-restore snapshots --json --job pg >"$T/snaps.json" 2>/dev/null
sysid=$(timeout 60 "$PG_BIN/pg_controldata" "$T/pg/data" | sed -n 's/^Database system identifier: *//p')
jcheck "postgres-wal snapshots record the cluster's system identifier" "$T/snaps.json" "len(d) >= 1 and all(s['kind'] == 'postgres-wal' and s['meta']['postgres.system_id'] == '$sysid' for s in d)"
first=$(python3 -c 'import json,sys; print(sorted(k[18:] for s in json.load(open(sys.argv[1])) for k in s["meta"] if k.startswith("postgres.wal.file."))[0])' "$T/snaps.json")
check "the first segment is archived" test "$first" = 000000010000000000000001

# --- wal-fetch --------------------------------------------------------------------------------------
mkdir -p "$T/fetch" && chown postgres "$T/fetch"
expect_exit 0 "wal-fetch writes an archived segment" -- as_pg backup-restore wal-fetch --job pg "$first" "$T/fetch/$first"
check "it is a full segment" test "$(stat -c %s "$T/fetch/$first")" -eq 16777216
check "pg_waldump reads it" bash -c "timeout 60 '$PG_BIN/pg_waldump' '$T/fetch/$first' 2>/dev/null | grep -q 'rmgr:'"
expect_exit 1 "wal-fetch of a segment never archived" -- as_pg backup-restore wal-fetch --job pg 0000000100000000000000FF "$T/fetch/x"
expect_stderr "not in the archive" "says so"
check "and writes nothing" test ! -e "$T/fetch/x"
expect_exit 1 "wal-fetch of a timeline history file never archived" -- as_pg backup-restore wal-fetch --job pg 00000002.history "$T/fetch/00000002.history"
expect_exit 126 "wal-fetch with a wrong password: a status that stops recovery" -- runuser -u postgres -- bash -c ". '$T/env.sh'; echo wrong >'$T/fetch/pw'; chmod 600 '$T/fetch/pw'; LIFEBOAT_PASSWORD_FILE='$T/fetch/pw' backup-restore wal-fetch --job pg $first '$T/fetch/y'"

# --- wal-push twice -----------------------------------------------------------------------------------
mkdir -p "$T/again" && cp "$T/fetch/$first" "$T/again/$first" && chown -R postgres "$T/again"
expect_exit 0 "pushing an archived segment again with the same content" -- as_pg backup-create wal-push --job pg "$T/again/$first"
printf 'X' | dd of="$T/again/$first" bs=1 seek=200000 conv=notrunc 2>/dev/null
n=$(as_pg backup-restore snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_exit 1 "pushing it with different content" -- as_pg backup-create wal-push --job pg "$T/again/$first"
expect_stderr "already archived with different content .*refusing to overwrite it" "is refused"
check "and stores nothing" test "$(as_pg backup-restore snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -eq "$n"
expect_exit 0 "the archived copy is unchanged" -- as_pg backup-restore wal-fetch --job pg "$first" "$T/fetch/again"
check "(same bytes as before)" cmp "$T/fetch/$first" "$T/fetch/again"
mkdir -p "$T/bad" && head -c 16777216 /dev/zero >"$T/bad/000000010000000000000077" && chown -R postgres "$T/bad"
expect_exit 1 "a file that is not a WAL segment" -- as_pg backup-create wal-push --job pg "$T/bad/000000010000000000000077"
expect_stderr "is not a WAL segment" "is refused with the reason"
expect_exit 2 "a name that is not a WAL file" -- as_pg backup-create wal-push --job pg "$T/env.sh"

# --- a segment from another cluster ---------------------------------------------------------------------
PGPORT=54334 pg_start "$T/other" "wal_level = replica" || { echo "FAIL - second cluster"; exit 1; }
PGPORT=54334 PGHOST="$T/other/sock" pg_sql "CREATE TABLE t AS SELECT generate_series(1, 1000) i; SELECT pg_switch_wal()" >/dev/null
mkdir -p "$T/foreign" && cp "$T/other/data/pg_wal/000000010000000000000001" "$T/foreign/" && chown -R postgres "$T/foreign"
expect_exit 1 "a segment of another cluster pushed into the job" -- as_pg backup-create wal-push --job pg "$T/foreign/000000010000000000000001"
expect_stderr "system identifier .* refusing it" "is refused, naming the system identifiers"
expect_exit 0 "under its own job it is accepted" -- as_pg backup-create wal-push --job other "$T/foreign/000000010000000000000001"
export PGHOST="$T/pg/sock" PGPORT=54333

# --- killed mid-write, then retried -------------------------------------------------------------------
mkdir -p "$T/kill/archive_status" && cp "$T/other/data/pg_wal/000000010000000000000001" "$T/kill/000000010000000000000001"
chown -R postgres "$T/kill"
expect_exit 137 "wal-push killed before its second upload" -- as_pg env LIFEBOAT_TEST_FAULTS=put:2:kill backup-create wal-push --job killed "$T/kill/000000010000000000000001"
expect_exit 1 "the segment is not archived after the kill" -- as_pg backup-restore wal-fetch --job killed 000000010000000000000001 "$T/fetch/k"
expect_exit 0 "the archiver's retry stores it" -- as_pg backup-create wal-push --job killed "$T/kill/000000010000000000000001"
expect_exit 0 "and it can be fetched" -- as_pg backup-restore wal-fetch --job killed 000000010000000000000001 "$T/fetch/k"
check "intact" cmp "$T/kill/000000010000000000000001" "$T/fetch/k"

# --- files waiting for the archiver are stored ahead --------------------------------------------------
mkdir -p "$T/ahead/archive_status"
as_pg bash -c "for s in \$(backup-restore snapshots --json --job pg | python3 -c 'import json,sys; print(\"\\n\".join(sorted(k[18:] for s in json.load(sys.stdin) for k in s[\"meta\"] if k.startswith(\"postgres.wal.file.0\"))))' | head -4); do backup-restore wal-fetch --job pg \$s '$T/fetch/'\$s; done" 2>/dev/null
for s in $(cd "$T/fetch" && ls | grep -E '^[0-9A-F]{24}$' | sort | head -4); do
  cp "$T/fetch/$s" "$T/ahead/$s" && touch "$T/ahead/archive_status/$s.ready"
done
chown -R postgres "$T/ahead"
names=($(cd "$T/ahead" && ls | grep -E '^[0-9A-F]{24}$' | sort))
check "four segments wait for the archiver" test "${#names[@]}" -eq 4
expect_exit 0 "wal-push of the first stores the others too" -- as_pg backup-create wal-push --job ahead "$T/ahead/${names[0]}"
expect_stderr "archived 3 WAL file\\(s\\) ahead" "and says so"
jcheck "in one snapshot" <(as_pg backup-restore snapshots --json --job ahead) 'len(d) == 1 and len(d[0]["paths"]) == 4'
expect_exit 0 "the archiver's request for the next one" -- as_pg backup-create wal-push --job ahead "$T/ahead/${names[1]}" -v
expect_stderr "archived ahead of this request" "is answered from the marker"
printf 'Y' | dd of="$T/ahead/${names[2]}" bs=1 seek=300000 conv=notrunc 2>/dev/null
expect_exit 1 "a file changed since it was stored ahead" -- as_pg backup-create wal-push --job ahead "$T/ahead/${names[2]}"
expect_stderr "different content" "is checked against the repository and refused"

# --- retention never drops archived WAL ----------------------------------------------------------------
wal_count() { as_pg backup-restore snapshots --json --job pg | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
n=$(wal_count)
expect_exit 0 "forget --keep-last 1 over the WAL job" -- as_pg backup-prune forget --job pg --keep-last 1
check "forgets none of its $n WAL snapshots" test "$(wal_count)" -eq "$n"

# --- a damaged archive: wal-fetch fails loudly --------------------------------------------------------
expect_exit 0 "the repository verifies" -- as_pg backup-verify --read-data
for p in $(find "$T/repo/data" -type f -size +8k); do
  python3 - "$p" <<'PY'
import sys
p = sys.argv[1]
# A byte in every 4 KiB: whichever pack holds the first segment's blobs (wal-push batches
# segments, so which depends on the archiver's timing), they are damaged.
with open(p, 'r+b') as f:
    f.seek(0, 2); n = f.tell()
    for off in range(4096, n - 4096, 4096):
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x55]))
PY
done
rm -rf "$T/cache"
expect_exit 126 "wal-fetch from a damaged archive" -- as_pg backup-restore wal-fetch --job pg "$first" "$T/fetch/damaged"
expect_stderr "integrity|damaged|authentication|does not match" "says the archive is damaged"
check "and leaves no file behind" test ! -e "$T/fetch/damaged"

finish
