#!/usr/bin/env bash
# Scale (issue 7, point 5): a tree of 1,000,000 small files (1,000 directories of 1,000 files
# of 13-130 bytes, all different) and one directory of 1,000,000 empty files. Backs up each
# into a fresh repository, re-runs the backup unchanged, verifies, and restores the flat
# directory, reporting wall time and peak RSS (/usr/bin/time) of each. One run: it is about
# memory, not speed. Usage: bench/scale.sh [FILES] (default 1000000). Scratch: $BENCH_DIR
# (default /var/tmp/lifeboat-bench)/scale, about 6 GB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
files=${1:-1000000}
"$root/.ci/install-deps"
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
build="${LIFEBOAT_BENCH_BUILD_DIR:-$root/build-bench}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIFEBOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
bin="$build/apps"
dir="${BENCH_DIR:-/var/tmp/lifeboat-bench}/scale"
mkdir -p "$dir"
printf 'bench password\n' >"$dir/pw"
chmod 600 "$dir/pw"

# The trees, made once (a stamp names the file count).
python3 - "$dir" "$files" <<'PY'
import os, shutil, sys
dir, files = sys.argv[1], int(sys.argv[2])
for kind in ("many", "flat"):
    root = os.path.join(dir, kind)
    stamp = os.path.join(dir, kind + ".stamp")
    if os.path.isdir(root) and os.path.exists(stamp) and open(stamp).read() == str(files):
        continue
    print(f"making {root} ({files} files)", file=sys.stderr, flush=True)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    if kind == "many":
        for n in range(files):
            d = os.path.join(root, f"d{n // 1000:04d}")
            if n % 1000 == 0:
                os.makedirs(d)
            with open(os.path.join(d, f"f{n % 1000:04d}.txt"), "wb") as f:
                f.write((f"small file {n} " * (1 + n % 9)).encode())
    else:
        for n in range(files):
            os.close(os.open(os.path.join(root, f"entry-{n:07d}"), os.O_CREAT | os.O_WRONLY, 0o644))
    open(stamp, "w").write(str(files))
PY

# measure NAME COMMAND...: one run, prints a table row (wall, peak RSS).
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt" ||
    { cat "$dir/err.txt" >&2; exit 1; }
  read -r wall rss <"$dir/time.txt"
  printf '| %s | %s s | %d MB |\n' "$name" "$wall" $((rss / 1024))
}

echo "| operation | wall | peak RSS |"
echo "| --- | --- | --- |"
for kind in many flat; do
  rm -rf "$dir/repo" "$dir/state" "$dir/cache" "$dir/out"
  export LIFEBOAT_REPOSITORY="$dir/repo" LIFEBOAT_PASSWORD_FILE="$dir/pw" \
    LIFEBOAT_STATE_DIR="$dir/state" LIFEBOAT_CACHE_DIR="$dir/cache"
  "$bin/backup-create" init >/dev/null 2>&1
  label=$([ "$kind" = many ] && echo "$files small files" || echo "one directory of $files entries")
  measure "$label: initial backup" "$bin/backup-create" -q "$dir/$kind"
  measure "$label: unchanged re-run" "$bin/backup-create" -q "$dir/$kind"
  measure "$label: backup-verify" "$bin/backup-verify" -q
  measure "$label: full restore" "$bin/backup-restore" -q latest --target "$dir/out"
  restored=$(find "$dir/out$dir/$kind" -type f | wc -l)
  [ "$restored" -eq "$files" ] || { echo "restored $restored files of $files" >&2; exit 1; }
done
rm -rf "$dir/repo" "$dir/state" "$dir/cache" "$dir/out"
