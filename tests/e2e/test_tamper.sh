#!/usr/bin/env bash
# Tamper detection with the real executables (issue 6, part 3): objects moved to another kind's
# place (a pack or an index file among the snapshots, a snapshot among the index files, a tree
# pack where a data pack belongs and the reverse), a snapshot signed by a key the repository
# does not know, and one flipped byte in a data pack. backup-verify --read-data exits 20 and
# names the damaged object and the affected files; backup-restore restores every other file
# bit-exact, names what it could not restore (exit 3), and never writes a wrong byte.
# Covered elsewhere and not repeated: a flipped byte in a snapshot object (test_damage.sh), a
# rolled-back snapshot list (test_rollback.sh), --quick and a restore --include beside a
# damaged pack (test_errors.sh), a blob presented under another id (golden_test.cpp), every bit
# of a small repository and random bits of a larger one (tests/unit/repo/tamper_test.cpp).
source "$(dirname "$0")/lib.sh"

S=$T/src
mkdir -p "$S/a" "$S/b"
packs() { (cd "$T/repo" && find data -type f | sort); }
is_tree_pack() { [ "$(stat -c %s "$T/repo/$1")" -lt 32768 ]; }  # every data blob here is larger
added() { comm -13 <(printf '%s\n' "$1") <(printf '%s\n' "$2") | grep .; }

# Three backups, so that each data pack holds the blobs of known files only.
backup-create init >/dev/null 2>&1
head -c 200000 /dev/urandom >"$S/a/small.bin" # one chunk: written by the restore's writer threads
cp "$S/a/small.bin" "$S/b/small-copy.bin"     # the same blob (deduplicated)
expect_exit 0 "backup 1 (small.bin and its copy)" -- backup-create "$S"
snap1=$(cat "$T/stdout")
packs1=$(packs)
small_pack="" trees1=""
for p in $packs1; do if is_tree_pack "$p"; then trees1+=" $p"; else small_pack+="${small_pack:+ }$p"; fi; done
check "backup 1 wrote one data pack ($small_pack) and its tree packs ($trees1)" \
  test "$(wc -w <<<"$small_pack")" -eq 1 -a -n "$trees1"
head -c 5000000 /dev/urandom >"$S/a/big.bin" # > 4 MiB, several chunks: written by the walk
cp "$S/a/big.bin" "$S/b/big-copy.bin"
expect_exit 0 "backup 2 (adds big.bin and its copy)" -- backup-create "$S"
snap2=$(cat "$T/stdout")
# Its largest new pack (the saver's workers may share the chunks between two).
big_pack=$(cd "$T/repo" && for p in $(added "$packs1" "$(packs)"); do
  echo "$(stat -c %s "$p") $p"; done | sort -n | tail -n1 | cut -d' ' -f2)
check "backup 2 wrote a data pack for big.bin ($big_pack)" test -n "$big_pack"
mkdir "$S/c"  # only now: an empty c/ of backup 1 would be shared with snapshot 2
seq 1 100000 >"$S/c/text.txt"
head -c 150000 /dev/urandom >"$S/c/new.bin"
expect_exit 0 "backup 3 (adds text.txt and new.bin)" -- backup-create "$S"
snap3=$(cat "$T/stdout")
expect_exit 0 "the untouched repository verifies with --read-data" -- backup-verify --read-data
cp -a "$T/repo" "$T/pristine"
ALL="a/small.bin b/small-copy.bin a/big.bin b/big-copy.bin c/text.txt c/new.bin"

fresh() {  # a pristine copy of the repository, and no memory of snapshots seen
  rm -rf "$T/repo" "$T/state" "$T/out"
  cp -a "$T/pristine" "$T/repo"
}
flip() {  # flip PACK OFFSET: xor one byte of a stored object with 0x01
  python3 - "$T/repo/$1" "$2" <<'EOF'
import sys
p, at = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 1]))
EOF
}
blob_area_end() {  # the pack's blob area ends where its header envelope begins (packs.md)
  python3 -c 'import os, struct, sys
p = sys.argv[1]; size = os.path.getsize(p)
with open(p, "rb") as f:
    f.seek(size - 4); print(size - 4 - struct.unpack("<I", f.read(4))[0])' "$T/repo/$1"
}
same() {  # same DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "    got:  '$2'"; echo "    want: '$3'"; fi
}
affected() {  # affected SNAPSHOT: the files the last backup-verify named for it, sorted
  sed -n "s|^error: affected: snapshot ${1:0:8}: $S/||p" "$T/stderr" | sort | tr '\n' ' '
}

# damaged WHAT PACK "EXPECTED FILES" SNAPSHOTS: backup-verify --read-data exits 20 and names the
# pack, and exactly the expected files in each of the snapshots (and no file in the others);
# a restore of the latest snapshot exits 3 (0 when nothing is expected), names exactly those
# files, leaves none of them behind, restores every other file bit-exact and nothing else; dump
# of a damaged file exits 20 and writes no byte that is not the file's.
damaged() {
  local what=$1 pack=$2 expected=$3 in_snaps=$4 f s want
  expect_exit 20 "$what: backup-verify --read-data" -- backup-verify --read-data
  expect_stderr "^error: $pack: " "$what: verify names the damaged pack"
  for s in $snap1 $snap2 $snap3; do
    want=""
    [[ " $in_snaps " == *" $s "* ]] && want="$expected"
    same "$what: verify names the affected files of snapshot ${s:0:8}: '$want'" \
      "$(affected "$s")" "$want"
  done
  backup-restore latest --target "$T/out" >"$T/stdout" 2>"$T/stderr"
  local rc=$? not_restored
  not_restored=$(sed -n "s|^warning:   $S/\(.*\): not restored: .*|\1|p" "$T/stderr" | sort | tr '\n' ' ')
  same "$what: restore names exactly the damaged files as not restored: '$expected'" \
    "$not_restored" "$expected"
  check "$what: restore exits $([ -n "$expected" ] && echo 3 || echo 0) (exit $rc)" \
    test "$rc" -eq "$([ -n "$expected" ] && echo 3 || echo 0)"
  local wrong=0
  for f in $ALL; do
    if [[ " $expected " == *" $f "* ]]; then
      [ -e "$T/out$S/$f" ] && { wrong=1; echo "    $f: a damaged file was left in the target"; }
    else
      cmp -s "$S/$f" "$T/out$S/$f" || { wrong=1; echo "    $f: not restored identical"; }
    fi
  done
  check "$what: every other file is restored bit-exact, no damaged one is written" test $wrong -eq 0
  same "$what: the restore wrote nothing else" \
    "$(find "$T/out" ! -type d | sed "s|^$T/out$S/||" | sort | tr '\n' ' ')" \
    "$(for f in $ALL; do [[ " $expected " == *" $f "* ]] || echo "$f"; done | sort | tr '\n' ' ')"
  for f in $expected; do
    backup-restore dump latest "$S/$f" >"$T/dump" 2>"$T/stderr"
    rc=$?
    check "$what: dump of $f exits 20 (exit $rc) and writes only a prefix of the file" \
      test $rc -eq 20 -a "$(stat -c %s "$T/dump")" -lt "$(stat -c %s "$S/$f")" -a \
      "$(cmp -s -n "$(stat -c %s "$T/dump")" "$T/dump" "$S/$f" && echo same)" = same
  done
}

# ---------------------------------------------------------------- one flipped byte in a data pack
# At both ends, a third, the middle and two thirds of the blob area, in each of the two packs.
SMALL="a/small.bin b/small-copy.bin "
BIG="a/big.bin b/big-copy.bin "
for pack in "$small_pack" "$big_pack"; do
  end=$(blob_area_end "$pack")
  if [ "$pack" = "$small_pack" ]; then files=$SMALL snaps="$snap1 $snap2 $snap3"; else
    files=$BIG snaps="$snap2 $snap3"; fi
  for at in 0 $((end / 3)) $((end / 2)) $((end * 2 / 3)) $((end - 1)); do
    fresh
    flip "$pack" "$at"
    damaged "byte $at of ${pack:8:12}" "$pack" "$files" "$snaps"
  done
done
# In the pack header or its length: the blobs are intact (the index holds a copy of the header),
# so verify names the pack but no file, and the restore is complete.
fresh
end=$(blob_area_end "$big_pack")
flip "$big_pack" $(((end + $(stat -c %s "$T/repo/$big_pack")) / 2))
damaged "a byte of ${big_pack:8:12}'s header" "$big_pack" "" ""
fresh
flip "$big_pack" $(($(stat -c %s "$T/repo/$big_pack") - 1))
damaged "the top byte of ${big_pack:8:12}'s header length" "$big_pack" "" ""

# ---------------------------------------------------------------- a tree where data belongs
fresh
read -r tree_pack _ <<<"$trees1"
cp "$T/repo/$tree_pack" "$T/repo/$small_pack"
damaged "a tree pack in small.bin's data pack's place" "$small_pack" "$SMALL" "$snap1 $snap2 $snap3"
expect_exit 20 "... backup-verify (structure) sees its size differ from the index" -- backup-verify
expect_stderr "^error: $small_pack: pack has [0-9]+ bytes, the index says" "... and names it"

# ---------------------------------------------------------------- data where a tree belongs
# Backup 1's directory listings are used by snapshot 1 alone.
fresh
for p in $trees1; do cp "$T/repo/$small_pack" "$T/repo/$p"; done
expect_exit 20 "a data pack in the tree packs' place: backup-verify --read-data" -- backup-verify --read-data
for p in $trees1; do expect_stderr "^error: $p: " "... names the tree pack $p"; done
expect_stderr "^error: affected: snapshot ${snap1:0:8}: directory /$" "... and snapshot 1's root directory as affected"
check "... and nothing in the other snapshots" \
  bash -c '! grep -Eq "^error: affected: snapshot ($1|$2)" "$3"' _ "${snap2:0:8}" "${snap3:0:8}" "$T/stderr"
# Its root directory is one item that cannot be restored: partial (exit 3), with nothing in it.
expect_exit 3 "restoring snapshot 1" -- backup-restore "$snap1" --target "$T/out"
expect_stderr "^warning:   /: pack 'data/[0-9a-f/]+': blob [0-9a-f]+ failed authentication" \
  "... names its root directory and the pack"
check "... and writes nothing" test -z "$(find "$T/out" ! -type d 2>/dev/null)"
expect_exit 0 "the latest snapshot still restores" -- backup-restore latest --target "$T/out3"
check "... bit-exact" bash -c 'for f in $1; do cmp -s "$2/$f" "$3$2/$f" || exit 1; done' _ "$ALL" "$S" "$T/out3"
rm -rf "$T/out3"

# ---------------------------------------------------------------- a pack among the snapshots
fresh
pack_id=${small_pack##*/}
cp "$T/repo/$small_pack" "$T/repo/snapshots/$pack_id"  # under its own name: the hash matches
expect_exit 20 "a pack under its own name in snapshots/: listing reports it" -- backup-restore snapshots
expect_stderr "snapshot ${pack_id:0:12} is damaged" "... names it as a damaged snapshot"
check "... and still lists the three real snapshots" \
  test "$(grep -cE "^(${snap1:0:12}|${snap2:0:12}|${snap3:0:12}) " "$T/stdout")" -eq 3
expect_exit 20 "... backup-verify" -- backup-verify
expect_stderr "^error: snapshots/$pack_id: " "... names snapshots/$pack_id"
expect_exit 20 "... restoring it by id" -- backup-restore "$pack_id" --target "$T/out"
check "... restores nothing" test ! -e "$T/out"
# Its time is unknown, so it might be the newest: 'latest' is refused, an id still works.
expect_exit 20 "... 'latest' is refused" -- backup-restore latest --target "$T/out"
expect_stderr "which snapshot is the latest is unknown" "... saying why"
expect_exit 0 "... the newest snapshot, named by id, still restores" -- backup-restore "$snap3" --target "$T/out"
check "... bit-exact" bash -c 'for f in $1; do cmp -s "$2/$f" "$3$2/$f" || exit 1; done' _ "$ALL" "$S" "$T/out"

fresh
cp "$T/repo/$small_pack" "$T/repo/snapshots/$snap1"  # over a snapshot: the hash differs
expect_exit 20 "a pack over snapshot 1: listing reports it" -- backup-restore snapshots
expect_stderr "snapshot ${snap1:0:12} is damaged" "... names snapshot 1 as damaged"
expect_exit 20 "... restoring snapshot 1" -- backup-restore "$snap1" --target "$T/out"
check "... restores nothing" test ! -e "$T/out"
expect_exit 20 "... backup-verify" -- backup-verify
expect_stderr "^error: snapshots/$snap1: " "... names snapshots/$snap1"

# ---------------------------------------------------------------- an index file among the snapshots
# Sealed under the same metadata key as a snapshot: only the kind tells them apart.
fresh
index=$(ls "$T/repo/index" | head -n1)
cp "$T/repo/index/$index" "$T/repo/snapshots/$index"
expect_exit 20 "an index file in snapshots/: listing reports it" -- backup-restore snapshots
expect_stderr "snapshot ${index:0:12} is damaged: .*not an object of kind snapshot" "... as not a snapshot object"
expect_exit 20 "... backup-verify" -- backup-verify
expect_stderr "^error: snapshots/$index: " "... names snapshots/$index"
# Its kind byte rewritten to a snapshot's, stored under the new hash: the kind is authenticated.
fresh
relabelled=$(python3 - "$T/repo/index/$index" "$T/repo/snapshots" <<'EOF'
import hashlib, sys
b = bytearray(open(sys.argv[1], "rb").read())
assert b[1] == 6  # docs/format/README.md §6: kind 6 = index, 7 = snapshot
b[1] = 7
name = hashlib.sha256(b).hexdigest()
open(sys.argv[2] + "/" + name, "wb").write(b)
print(name)
EOF
)
expect_exit 20 "an index file relabelled as a snapshot: listing reports it" -- backup-restore snapshots
expect_stderr "snapshot ${relabelled:0:12} is damaged: .*failed authentication" "... it fails authentication"
expect_exit 20 "... backup-verify" -- backup-verify
expect_stderr "^error: snapshots/$relabelled: " "... names it"

# ---------------------------------------------------------------- a snapshot among the index files
fresh
cp "$T/repo/snapshots/$snap1" "$T/repo/index/$snap1"
expect_exit 20 "a snapshot in index/: backup-verify" -- backup-verify
expect_stderr "index/$snap1.*not an object of kind index" "... names index/$snap1 as not an index object"
expect_exit 20 "... restore refuses" -- backup-restore latest --target "$T/out"
check "... and restores nothing" test -z "$(find "$T/out" -type f 2>/dev/null)"
expect_exit 20 "... backup-create refuses to add to it" -- backup-create "$S"
check "... and writes no snapshot" test "$(ls "$T/repo/snapshots" | wc -l)" -eq 3

# ---------------------------------------------------------------- a snapshot by an unknown key
# Key B is added and backs up, then its slot disappears from keys/: the repository no longer
# knows the signer (a removed key stays known as retired: test_keys.sh).
fresh
printf 'password of key B\n' >"$T/pwB" && chmod 600 "$T/pwB"
expect_exit 0 "key add B" -- env LIFEBOAT_NEW_PASSWORD_FILE="$T/pwB" backup-create key add --label b
idB=$(cat "$T/stdout")
mkdir -p "$S/d" && echo "written by key B" >"$S/d/by-b.txt"
expect_exit 0 "a backup signed by key B" -- backup-create --password-file "$T/pwB" "$S"
snapB=$(cat "$T/stdout")
expect_exit 0 "listed as trusted (and so recorded as seen)" -- backup-restore snapshots
rm "$T/repo/keys/$idB"
expect_exit 0 "without B's slot: listing still exits 0" -- backup-restore snapshots
check "... and flags the snapshot 'signed by unknown key ${idB:0:8}'" \
  grep -q "^${snapB:0:12} .*\[signed by unknown key ${idB:0:8}\]" "$T/stdout"
expect_exit 0 "... --json" -- backup-restore --json snapshots
jcheck "... says it is not trusted" "$T/stdout" \
  "[(s['trusted'], s['signer_status']) for s in d if s['id'] == '$snapB'] == [(False, 'signed by unknown key ${idB:0:8}')]"
expect_exit 20 "backup-verify refuses it" -- backup-verify
expect_stderr "^error: snapshots/$snapB: signed by unknown key ${idB:0:8}" "... and names it and the signer"
expect_exit 0 "backup-verify --allow-unknown-signer" -- backup-verify --allow-unknown-signer
expect_exit 20 "restoring it" -- backup-restore "$snapB" --target "$T/out"
expect_stderr "snapshot ${snapB:0:8} is not trusted: signed by unknown key ${idB:0:8}" "... says why"
check "... restores nothing" test ! -e "$T/out"
expect_exit 20 "dump refuses it" -- backup-restore dump "$snapB" "$S/d/by-b.txt"
check "... and writes nothing" test ! -s "$T/stdout"
expect_exit 0 "'latest' is the newest trusted snapshot" -- backup-restore latest --target "$T/out"
expect_stderr "snapshot ${snap3:0:8} of" "... snapshot 3"
check "... without B's file" test ! -e "$T/out$S/d/by-b.txt"
rm -rf "$T/out"
expect_exit 0 "--allow-unknown-signer restores it" -- backup-restore "$snapB" --target "$T/out" --allow-unknown-signer
expect_stderr "not trusted \(signed by unknown key ${idB:0:8}\)" "... with a warning naming the signer"
check "... with B's file" cmp -s "$S/d/by-b.txt" "$T/out$S/d/by-b.txt"
expect_exit 12 "key B no longer opens the repository" -- backup-restore --password-file "$T/pwB" snapshots
finish
