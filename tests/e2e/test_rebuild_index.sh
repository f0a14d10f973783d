#!/usr/bin/env bash
# backup-prune rebuild-index: a damaged index file stops every run (exit 20) until the index is
# rebuilt from the packs' own headers; records of packs that are gone are dropped so that the
# next backup stores those files again. Afterwards verify --read-data passes and every snapshot
# restores bit-exact.
source "$(dirname "$0")/lib.sh"
walk() { python3 "$LIFEBOAT_SOURCE/tests/e2e/walk.py" "$@"; }
# Small packs and index files of 2 packs: several index files from a few megabytes.
export LIFEBOAT_TEST_PACK_SIZE=1000000 LIFEBOAT_TEST_PACKS_PER_INDEX=2

mkdir -p "$T/src"
cp -a "$LIFEBOAT_SOURCE/examples/sample-data/." "$T/src/"
head -c $((6 << 20)) /dev/urandom >"$T/src/noise.bin"
backup-create init >/dev/null 2>&1
expect_exit 0 "first backup" -- backup-create "$T/src"
first=$(cat "$T/stdout")
walk list "$T/src" >"$T/first.json"
head -c 300000 /dev/urandom >"$T/src/added.bin"
expect_exit 0 "second backup (the first's files and one more)" -- backup-create "$T/src"
second=$(cat "$T/stdout")
walk list "$T/src" >"$T/second.json"

index_files() { ls "$T/repo/index" | sort; }
# Every snapshot restores exactly what was backed up.
restores_exactly() {
  local id want
  for id in first second; do
    want=${!id}
    rm -rf "$T/r"
    expect_exit 0 "$1: the $id snapshot restores" -- backup-restore "$want" --target "$T/r"
    walk list "$T/r$T/src" >"$T/r.json"
    check "$1: the $id snapshot is bit-exact" walk diff "$T/$id.json" "$T/r.json" --ignore atime
  done
}
flip() {  # flip FILE OFFSET (negative: from the end)
  python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x20
open(p, "wb").write(bytes(b))
PY
}

check "several index files to work with" test "$(index_files | wc -l)" -ge 3
index_files >"$T/index.before"
expect_exit 0 "a whole index: rebuild-index has nothing to do" -- backup-prune rebuild-index
expect_stderr "the index is whole" "... and says so"
check "... and changed no index file" diff -q "$T/index.before" <(index_files)
expect_exit 2 "a garbage-collection setting is refused with rebuild-index" -- backup-prune --grace 2h rebuild-index
expect_stderr "--grace is a garbage-collection setting" "... naming it"

# One index file damaged: every run stops until the index is rebuilt.
victim=$(index_files | head -1)
flip "$T/repo/index/$victim" 60
expect_exit 20 "a damaged index file stops the next backup" -- backup-create "$T/src"
expect_exit 20 "... and verify" -- backup-verify
expect_exit 0 "rebuild-index --dry-run" -- backup-prune rebuild-index --dry-run
expect_stderr "would index [1-9][0-9]* pack\(s\) from their own headers" "... says what it would index"
check "... and changes nothing" test -f "$T/repo/index/$victim"
expect_exit 0 "rebuild-index replaces the damaged file" -- backup-prune --json rebuild-index
jcheck "... the JSON names the damaged file" "$T/stdout" \
  "d['index_files_damaged'] == ['${victim:0:12}'] and d['packs_indexed_from_headers'] >= 1 and d['ok'] and d['index_files_written'] >= 1"
check "... which is gone" test ! -e "$T/repo/index/$victim"
expect_exit 0 "verify --read-data passes after the rebuild" -- backup-verify --read-data
restores_exactly "after replacing a damaged index file"
expect_exit 0 "the next backup runs again" -- backup-create --json "$T/src"
jcheck "... and stores no file data again: the rebuilt index knows all of it" "$T/stdout" \
  "d['bytes_added'] < 65536"

# Every index file gone: all of it comes back from the packs.
rm -f "$T/repo/index/"*
expect_exit 0 "rebuild-index with no index file at all" -- backup-prune rebuild-index
expect_exit 0 "verify --read-data passes" -- backup-verify --read-data
restores_exactly "after losing every index file"

# A pack that is gone: its records are dropped and the next backup stores its data again.
lost=$(find "$T/repo/data" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
lost_id=$(basename "$lost")
rm "$lost"
expect_exit 20 "verify reports the missing pack" -- backup-verify
expect_exit 20 "rebuild-index with a pack gone: exit 20" -- backup-prune rebuild-index
expect_stderr "${lost_id:0:12}.*What they held is lost" "... naming the pack and what follows"
expect_exit 0 "rebuild-index again: the index is whole now" -- backup-prune rebuild-index
expect_exit 0 "the next backup stores the lost data again" -- backup-create "$T/src"
expect_exit 0 "verify --read-data passes: the snapshots that needed it are whole again" -- backup-verify --read-data
restores_exactly "after a pack was lost and the data stored again"

# A pack whose header does not open, in no index: left in place, reported, exit 20.
bad=$(find "$T/repo/data" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
rm -f "$T/repo/index/"*
flip "$bad" -10
expect_exit 20 "a pack whose header does not open: exit 20" -- backup-prune rebuild-index
expect_stderr "$(basename "$bad" | cut -c1-12).*cannot be indexed; the pack is left in place" "... naming it"
check "... and it is left in place" test -f "$bad"
expect_exit 20 "verify --read-data reports what is lost" -- backup-verify --read-data

finish
