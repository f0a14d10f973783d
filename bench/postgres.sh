#!/usr/bin/env bash
# Benchmarks the PostgreSQL sources on a pgbench cluster (scale SCALE, default 50: ~750 MB):
#   1. a base backup: `backup-create postgres --mode base` against `pg_basebackup -Ft` writing
#      its tar to disk, and the same tar piped into restic (--stdin) and borg (-);
#   2. a logical dump: `backup-create postgres --dbname bench` against `pg_dump -Fc` to a file,
#      and the uncompressed dump piped into restic and borg;
#   3. a second base backup and a second dump after a small change (1% of the accounts, a
#      contiguous range, updated): the data added, as a fraction of what was read, and the
#      repository growth (a change spread over every page would change every chunk);
#   4. wal-push: 40 segments left waiting for the archiver, then the time for PostgreSQL's own
#      archiver to drain them through `archive_command = 'backup-create wal-push ...'`.
# Medians of RUNS (default 3), wall time and peak RSS from /usr/bin/time -v; ratios are
# Lifeboat / other. Scratch: $BENCH_DIR (default /var/tmp/lifeboat-bench). Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
scale=${SCALE:-50}
"$root/.ci/install-deps" --tests
missing=()
for p in restic borgbackup time; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
build="${LIFEBOAT_BENCH_BUILD_DIR:-$root/build-bench}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIFEBOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
bin="$build/apps"
dir="${BENCH_DIR:-/var/tmp/lifeboat-bench}/postgres"
source "$root/tests/servers/postgres.sh"
[ -d "$dir/pg/data" ] && pg_stop "$dir/pg"
rm -rf "$dir"
mkdir -p "$dir"
chown postgres "$dir"
trap 'pg_stop "$dir/pg"' EXIT
printf 'bench password\n' >"$dir/pw"
chmod 600 "$dir/pw"
chown postgres "$dir/pw"
cat >"$dir/env.sh" <<ENV
export PATH="$bin:\$PATH" LIFEBOAT_PASSWORD_FILE="$dir/pw" LIFEBOAT_CACHE_DIR="$dir/cache"
export LIFEBOAT_STATE_DIR="$dir/state" RESTIC_PASSWORD="bench password" BORG_PASSPHRASE="bench password"
ENV
export PGPORT=54350
pg_start "$dir/pg" "wal_level = replica" "archive_mode = on" "archive_command = 'false'" \
  "max_wal_size = 4GB" "checkpoint_timeout = 30min" "shared_buffers = 256MB"
timeout 60 createdb bench
echo "pgbench -i -s $scale ..." >&2
timeout 1800 pgbench -i -s "$scale" -q bench >/dev/null 2>&1
as_pg() { runuser -u postgres -- bash -c '. "$1/env.sh"; shift; exec "$@"' _ "$dir" "$@"; }

# time_run FILE CMD...: runs CMD as postgres under /usr/bin/time; appends "wall rss" to FILE.
time_run() {
  local out=$1
  shift
  as_pg /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt" ||
    { cat "$dir/err.txt" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s}
              /Maximum resident set size/ {r=$2} END {print w, r}' "$dir/time.txt" >>"$out"
}
median() { python3 -c 'import statistics,sys; v=[l.split() for l in open(sys.argv[1])]; print(f"{statistics.median(float(x[0]) for x in v):.2f} {statistics.median(int(x[1]) for x in v)/1024:.0f}")' "$1"; }

rm -f "$dir"/t.* "$dir"/b.*
for run in $(seq "$runs"); do
  echo "dump run $run/$runs" >&2
  rm -rf "$dir/lb" "$dir/restic" "$dir/borg" "$dir/bench.dump" "$dir/cache" "$dir/state"
  as_pg backup-create init --repo "$dir/lb" >/dev/null 2>&1
  as_pg restic init --repo "$dir/restic" >/dev/null 2>&1
  as_pg borg init --encryption repokey-blake2 "$dir/borg" >/dev/null 2>&1
  rm -rf "$dir/basetar"
  pgb="pg_basebackup -h '$dir/pg/sock' -p $PGPORT -U postgres -X fetch -c fast"
  time_run "$dir/b.pgbasebackup" bash -c "$pgb -D '$dir/basetar' -Ft"
  time_run "$dir/b.lifeboat" backup-create postgres --mode base --repo "$dir/lb" --pg-host "$dir/pg/sock" --pg-port "$PGPORT" --pg-user postgres
  time_run "$dir/b.restic" bash -c "$pgb -D - -Ft | restic backup -q --repo '$dir/restic' --stdin --stdin-filename base.tar"
  time_run "$dir/b.borg" bash -c "$pgb -D - -Ft | borg create '$dir/borg::base$run' -"
  time_run "$dir/t.pgdump" pg_dump -h "$dir/pg/sock" -p "$PGPORT" -U postgres -Fc -f "$dir/bench.dump" bench
  time_run "$dir/t.lifeboat" backup-create postgres --repo "$dir/lb" --dbname bench --pg-host "$dir/pg/sock" --pg-port "$PGPORT" --pg-user postgres
  time_run "$dir/t.restic" bash -c "pg_dump -h '$dir/pg/sock' -p $PGPORT -U postgres -Fc -Z0 bench | restic backup -q --repo '$dir/restic' --stdin --stdin-filename bench.dump"
  time_run "$dir/t.borg" bash -c "pg_dump -h '$dir/pg/sock' -p $PGPORT -U postgres -Fc -Z0 bench | borg create '$dir/borg::r$run' -"
done
dump_size=$(stat -c %s "$dir/bench.dump")

base_size=$(du -sb "$dir/basetar" | cut -f1)

# The second base backup and dump after a small change, into the last run's repositories.
PGDATABASE=bench pg_sql "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $scale * 1000" >/dev/null
pg_sql "CHECKPOINT" >/dev/null
b_before=$(du -sb "$dir/lb" | cut -f1)
as_pg backup-create postgres --mode base --repo "$dir/lb" --pg-host "$dir/pg/sock" --pg-port "$PGPORT" --pg-user postgres --json >"$dir/second-base.json" 2>/dev/null
b_after=$(du -sb "$dir/lb" | cut -f1)
before=$(du -sb "$dir/lb" | cut -f1)
as_pg backup-create postgres --repo "$dir/lb" --dbname bench --pg-host "$dir/pg/sock" --pg-port "$PGPORT" --pg-user postgres --json >"$dir/second.json" 2>/dev/null
after=$(du -sb "$dir/lb" | cut -f1)
rb=$(du -sb "$dir/restic" | cut -f1)
as_pg bash -c "pg_dump -h '$dir/pg/sock' -p $PGPORT -U postgres -Fc -Z0 bench | restic backup -q --repo '$dir/restic' --stdin --stdin-filename bench.dump" >/dev/null 2>&1
ra=$(du -sb "$dir/restic" | cut -f1)
bb=$(du -sb "$dir/borg" | cut -f1)
as_pg bash -c "pg_dump -h '$dir/pg/sock' -p $PGPORT -U postgres -Fc -Z0 bench | borg create '$dir/borg::second' -" >/dev/null 2>&1
ba=$(du -sb "$dir/borg" | cut -f1)

# wal-push: 40 segments wait (archive_command = 'false'), then the archiver drains them.
echo "wal-push" >&2
as_pg backup-create init --repo "$dir/wal" >/dev/null 2>&1
for i in $(seq 40); do
  PGDATABASE=bench pg_sql "INSERT INTO pgbench_history SELECT 1, 1, 1, $i, now() FROM generate_series(1, 50000); SELECT pg_switch_wal()" >/dev/null
done
a0=$(pg_sql "SELECT archived_count FROM pg_stat_archiver")
start=$(date +%s.%N)
pg_sql "ALTER SYSTEM SET archive_command = '. $dir/env.sh && backup-create wal-push --repo $dir/wal --job pg %p'" >/dev/null
pg_sql "SELECT pg_reload_conf()" >/dev/null
until [ "$(pg_sql "SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready'")" = 0 ]; do sleep 0.05; done
end=$(date +%s.%N)
a1=$(pg_sql "SELECT archived_count FROM pg_stat_archiver")

read -r gw gr < <(median "$dir/b.pgbasebackup")
read -r blw blr < <(median "$dir/b.lifeboat")
read -r brw brr < <(median "$dir/b.restic")
read -r bbw bbr < <(median "$dir/b.borg")
read -r pw pr < <(median "$dir/t.pgdump")
read -r lw lr < <(median "$dir/t.lifeboat")
read -r rw rr < <(median "$dir/t.restic")
read -r bw br < <(median "$dir/t.borg")
python3 - <<PY
pw, lw, rw, bw = $pw, $lw, $rw, $bw
print(f"pgbench scale $scale; pg_dump -Fc file {$dump_size/1e6:.0f} MB; medians of $runs runs (wall / peak RSS)")
print()
print("| operation | lifeboat | PostgreSQL's tool to a file | restic (\\\\| --stdin) | borg (\\\\| -) | lifeboat/tool | lifeboat/restic | lifeboat/borg |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
print(f"| base backup (pg_basebackup -Ft: {$base_size/1e6:.0f} MB) | {$blw:.2f} s / $blr MB | {$gw:.2f} s / $gr MB | {$brw:.2f} s / $brr MB | {$bbw:.2f} s / $bbr MB | {$blw/$gw:.2f} | {$blw/$brw:.2f} | {$blw/$bbw:.2f} |")
print(f"| logical dump (pg_dump -Fc; restic, borg: -Fc -Z0) | {lw:.2f} s / $lr MB | {pw:.2f} s / $pr MB | {rw:.2f} s / $rr MB | {bw:.2f} s / $br MB | {lw/pw:.2f} | {lw/rw:.2f} | {lw/bw:.2f} |")
import json
b = json.load(open("$dir/second-base.json"))
print()
print(f"second base backup after 1% of the accounts changed: read {b['bytes_read']/1e6:.0f} MB, new data {b['bytes_added']/1e6:.1f} MB "
      f"({100*b['bytes_added']/b['bytes_read']:.1f}% of the backup); repository grew {($b_after-$b_before)/1e6:.1f} MB")
d = json.load(open("$dir/second.json"))
print()
print(f"second dump after 1% of the accounts changed: read {d['bytes_read']/1e6:.0f} MB, new data {d['bytes_added']/1e6:.1f} MB "
      f"({100*d['bytes_added']/d['bytes_read']:.1f}% of the dump); repository grew {($after-$before)/1e6:.1f} MB "
      f"(restic {($ra-$rb)/1e6:.1f} MB, borg {($ba-$bb)/1e6:.1f} MB)")
n = $a1 - $a0
secs = $end - $start
print(f"wal-push: {n} segments of 16 MiB drained by the archiver in {secs:.1f} s: {n/secs:.1f} segments/s ({16*n/secs:.0f} MiB/s)")
PY
