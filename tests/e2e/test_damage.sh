#!/usr/bin/env bash
# Damage and edge cases found in review: one bad snapshot must not hide the others (nor make
# 'latest' silently an older one); --quick
# findings count with --read-data; --overwrite never leaves existing directories alone; a
# symlinked directory on the backup path is recorded as the directory it leads to; JSON output
# survives names that are not UTF-8.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/real/sub" && chmod 750 "$T/real" && echo data > "$T/real/sub/f"
ln -s real "$T/lnk"
backup-create init >/dev/null 2>&1
expect_exit 0 "backup through a symlinked directory" -- backup-create "$T/lnk/sub"
first=$(cat "$T/stdout")
expect_exit 0 "restore it" -- backup-restore "$first" --target "$T/out1"
check "the symlink on the path is restored as a directory with the mode of its target (0750)" \
  test "$(stat -c %a "$T/out1$T/lnk")" = 750
check "the file came back" cmp -s "$T/real/sub/f" "$T/out1$T/lnk/sub/f"

echo more > "$T/real/sub/g"
expect_exit 0 "a second backup" -- backup-create "$T/real"
second=$(cat "$T/stdout")

# One damaged snapshot object.
python3 - "$T/repo/snapshots/$first" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(bytes(b))
PY
expect_exit 20 "listing reports the damaged snapshot" -- backup-restore snapshots
expect_stderr "snapshot ${first:0:12} is damaged" "the damaged snapshot is named"
check "the healthy snapshot is still listed" grep -q "${second:0:12}" "$T/stdout"
expect_exit 0 "the healthy snapshot still restores" -- backup-restore "$second" --target "$T/out2"
check "its content is right" cmp -s "$T/real/sub/g" "$T/out2$T/real/sub/g"
expect_exit 20 "restoring the damaged one fails with 20" -- backup-restore "$first" --target "$T/out3"
# The damaged snapshot's time is unknown: it may be the newest, so 'latest' must not quietly
# mean the newest readable one.
expect_exit 20 "'latest' is refused while a snapshot is damaged" -- backup-restore latest --target "$T/out-latest"
expect_stderr "which snapshot is the latest is unknown" "... saying why, and to name one by id"
check "... and nothing was restored" test ! -e "$T/out-latest"

# --quick findings are not lost when --read-data runs too.
bogus="$T/repo/data/ab/ab$(printf '0%.0s' {1..62})"
mkdir -p "$T/repo/data/ab" && head -c 100 /dev/urandom > "$bogus"
expect_exit 20 "--quick --read-data reports a bad object" -- backup-verify --quick --read-data
rm -f "$bogus"  # only the planted object: a real pack may live in data/ab too

# --overwrite never leaves an existing directory's metadata alone.
mkdir -p "$T/out4$T/real" && chmod 700 "$T/out4$T/real" && touch -d '2001-01-01' "$T/out4$T/real"
expect_exit 0 "restore with --overwrite never" -- backup-restore "$second" --target "$T/out4" --overwrite never
check "the existing directory keeps its mode" test "$(stat -c %a "$T/out4$T/real")" = 700
check "and its mtime" test "$(stat -c %Y "$T/out4$T/real")" = "$(date -d 2001-01-01 +%s)"
check "new files are restored inside it" cmp -s "$T/real/sub/g" "$T/out4$T/real/sub/g"

# --overwrite always replaces a file standing where the snapshot has a directory.
mkdir -p "$T/out5$T/real" && echo in-the-way > "$T/out5$T/real/sub"
expect_exit 0 "restore with --overwrite always over a file in the way" -- \
  backup-restore "$second" --target "$T/out5" --overwrite always
check "the directory replaced the file" test -d "$T/out5$T/real/sub"

# JSON output with a target that is not UTF-8.
target=$(printf '%s/out\xff' "$T")
expect_exit 0 "restore --json into a non-UTF-8 target" -- backup-restore --json "$second" --target "$target"
check "the JSON is valid" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/stdout"
finish
