#!/usr/bin/env bash
# A directory of 40,000 entries is stored in parts (docs/format/trees.md "Long directories"):
# it restores exactly, one more entry stores about one new part, prune keeps every part, and a
# copy to another repository splits it again.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "init" -- backup-create init
D="$T/src/long"
mkdir -p "$D"
python3 - "$D" <<'PY'
import os, sys
for n in range(40000):
    with open(os.path.join(sys.argv[1], f"entry-{n:06d}"), "w") as f:
        f.write(f"entry {n}\n" if n % 10 == 0 else "")
PY
expect_exit 0 "backup of a directory of 40,000 entries" -- backup-create --json "$T/src"
jcheck "all stored; the listing is about 4 MB" "$T/stdout" 'd["files_new"] == 40000 and d["bytes_added"] > 3000000'
listing=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_added"])' "$T/stdout")
first=$(backup-restore snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

touch "$D/entry-020000x"
expect_exit 0 "backup after one more entry" -- backup-create --json "$T/src"
jcheck "one more entry stores one part of the listing, not all of it" "$T/stdout" \
  "d['files_new'] + d['files_unchanged'] == 40001 and d['bytes_added'] < $listing / 2"
expect_exit 0 "verify --read-data" -- backup-verify --read-data
expect_exit 0 "verify --json (structure)" -- backup-verify --json
jcheck "verify saw every part's nodes: 4,000 content references in each of 2 snapshots" \
  "$T/stdout" 'd["references"] == 8000'

expect_exit 0 "restore" -- backup-restore latest --target "$T/out"
check "every entry is restored" test "$(ls "$T/out$D" | wc -l)" = 40001
check "contents are equal" diff -r "$D" "$T/out$D"
expect_exit 0 "ls shows the whole listing" -- backup-restore ls latest "$D"
check "ls lists 40,001 entries" test "$(grep -c "$D/entry-" "$T/stdout")" = 40001
expect_exit 0 "diff against the first snapshot" -- backup-restore diff "$first" latest
check "diff names the one added entry" grep -q "^+ .*entry-020000x$" "$T/stdout"

expect_exit 0 "forget the first snapshot" -- backup-prune forget --keep-last 1
expect_exit 0 "prune" -- backup-prune --grace 0
expect_exit 0 "prune again deletes what it condemned" -- backup-prune --grace 0
expect_exit 0 "verify --read-data after prune" -- backup-verify --read-data
rm -rf "$T/out"
expect_exit 0 "restore after prune" -- backup-restore latest --target "$T/out"
check "contents are equal after prune" diff -r "$D" "$T/out$D"

printf 'other password\n' >"$T/pw2"
chmod 600 "$T/pw2"
expect_exit 0 "init a second repository" -- env LIFEBOAT_REPOSITORY="$T/dst" LIFEBOAT_PASSWORD_FILE="$T/pw2" backup-create init
expect_exit 0 "copy" -- backup-create copy --to "$T/dst" --to-password-file "$T/pw2"
expect_exit 0 "verify the copy" -- env LIFEBOAT_REPOSITORY="$T/dst" LIFEBOAT_PASSWORD_FILE="$T/pw2" backup-verify --read-data
rm -rf "$T/out"
expect_exit 0 "restore the copy" -- env LIFEBOAT_REPOSITORY="$T/dst" LIFEBOAT_PASSWORD_FILE="$T/pw2" backup-restore latest --target "$T/out"
check "the copy restores exactly" diff -r "$D" "$T/out$D"
finish
