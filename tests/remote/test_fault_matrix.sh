#!/usr/bin/env bash
# Storage fault matrix (issue 6, part 2): every driver — memory is covered by the unit suite
# (tests/unit/storage/fault_matrix_test.cpp); here local, S3, Azure and SFTP — under every
# injected fault (LIFEBOAT_TEST_FAULTS, see docs/testing.md). A backup either succeeds
# (transient faults are retried) or fails with its documented exit code and writes no snapshot;
# afterwards the repository passes backup-verify --read-data and the newest snapshot restores
# bit-exact.
#
# "200 with a garbage body": a read that returns garbage is never taken for data. Garbage read
# as the config, the key slot or an index stops the backup with exit 20 (integrity; a key slot
# that reads as garbage is damage, not a wrong password) and nothing is written; garbage read
# from a pack during a restore is re-read or reported (exit 3), never restored; a verify fed
# garbage never passes. A garbage page while listing is refused by the drivers as "not a
# listing": retried, nothing delivered twice.
#
# A put the store acknowledges but keeps as garbage ("put:...:garbage"): metadata (index
# files, the snapshot) is read back after its put and written again, so the run succeeds, or
# after three tries fails with exit 21, the object removed and no snapshot written. Packs are
# not read back (it would double the traffic; S3 and Azure check the payload's SHA-256/MD5
# and SSH its MAC in transit, so only a store that breaks at rest gets here): the backup then
# succeeds and its snapshot is written. What the design guarantees instead, and what is
# tested: verify --read-data and the keyless verify --quick report the damage (exit 20,
# naming the pack), and restoring that snapshot writes no wrong byte (exit 3).
#
# fsync failures (local only: SFTP has no fsync through libcurl, S3 and Azure are durable when
# they answer; docs/storage.md): EIO is retried by writing the object anew, ENOSPC is not; a
# snapshot whose directory fsync fails after the rename is removed again, so a failed run
# leaves no snapshot.
# Run through tests/servers/with-servers.sh (ctest does).
source "$LIFEBOAT_SOURCE/tests/e2e/lib.sh"
: "${LIFEBOAT_TEST_SERVERS:?run through tests/servers/with-servers.sh}"
walk() { python3 "$LIFEBOAT_SOURCE/tests/e2e/walk.py" "$@"; }
# The next repository of the run (r1, r2, …) under $base, with a first backup of docs/.
fresh_repository() {
  n=$((n + 1))
  export LIFEBOAT_REPOSITORY="$base/r$n"
  backup-create init >/dev/null 2>&1 || { fail "$backend: init r$n"; return 1; }
  backup-create "$T/src/docs" >/dev/null 2>&1 || { fail "$backend: first backup r$n"; return 1; }
}
unset AWS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE
export LIFEBOAT_RETRY_TIME=3
export LIFEBOAT_S3_ENDPOINT="$LIFEBOAT_TEST_S3_ENDPOINT" LIFEBOAT_AZURE_ENDPOINT="$LIFEBOAT_TEST_AZURE_ENDPOINT"
started=$SECONDS

mkdir -p "$T/src"
cp -a "$LIFEBOAT_SOURCE/examples/sample-data/." "$T/src/"
head -c $((20 << 20)) /dev/urandom >"$T/src/big.bin"  # two packs
walk list "$T/src" >"$T/src.json"
walk list "$T/src/docs" >"$T/docs.json"

# fault spec | expected exit | what it stands for
faults=(
  "put:1:transient|0|a timeout or 503 on the first upload"
  "put:1+:transient|21|uploads failing until the retry budget ends (a 5xx burst)"
  "put:2:truncate|0|a connection reset in the middle of an upload"
  "get:1:transient|0|a dropped connection while reading"
  "list:1:transient|0|an error while listing"
  "put:2+:enospc|21|the storage is full (ENOSPC)"
  "put:2+:denied|22|permission denied on upload"
  "stat:1+:transient|21|the storage is unreachable"
  "get:1+:truncate|20|every read truncated and taken for whole (a broken driver): caught, never used"
  "list:2:empty|0|an empty page while listing (keys and index are re-listed)"
  "get@config:1:garbage|20|the config read as a 200 with a garbage body"
  "get@keys/:1:garbage|20|the key slot read as garbage: damage reported, not a wrong password"
  "get@index/:1:garbage|20|the index read as garbage: never taken for an index"
  "get:1+:garbage|20|every read a 200 with a garbage body"
  "list@keys/:1:garbage|0|a garbage page while listing the key slots (retried)"
  "list@index/:1:garbage|0|a garbage page while listing the index (retried)"
  "list:1+:garbage|21|every listing a garbage page until the retry budget ends"
  "put@index/:1:garbage|0|an index file kept as garbage: read back and written again"
  "put@index/:1+:garbage|21|every index file kept as garbage: removed, no snapshot"
  "put@snapshots/:1:garbage|0|the snapshot kept as garbage: read back and written again"
  "put@snapshots/:1+:garbage|21|the snapshot always kept as garbage: removed"
)
# Only the local driver fsyncs (fsync rules elsewhere are refused as usage errors).
local_faults=(
  "fsync:1:eio|0|an fsync fails once (EIO): the object is written anew"
  "fsync@snapshots:2:eio|0|the snapshots directory's fsync fails once, after the rename"
  "fsync@snapshots:1+:eio|21|the snapshot can never be made durable"
  "fsync@snapshots:2+:eio|21|the directory fsync after the snapshot's rename keeps failing: the snapshot is removed"
  "fsync@data/:1+:enospc|21|every fsync of a pack reports ENOSPC (delayed allocation): not retried"
  "fsync:3+:eio|21|every fsync fails after the lock's (a disk that stopped writing)"
)
# put garbage | exit restoring the new snapshot | what the store kept as garbage
put_garbage=(
  "put@data/:1:garbage|3|a pack"
)

# no_wrong_bytes DIR: every regular file restored under DIR is its source's, byte for byte
# (files a restore reported and skipped are absent).
no_wrong_bytes() {
  local f rel bad=0
  [ -d "$1" ] || return 0
  while IFS= read -r -d '' f; do
    rel=${f#"$1$T/src"}
    cmp -s "$f" "$T/src$rel" || { echo "    wrong bytes: $f"; bad=1; }
  done < <(find "$1" -type f -print0)
  return $bad
}
regular_files() { find "$1" -type f 2>/dev/null | wc -l; }

n=0
for backend in local s3 azure sftp; do
  case $backend in
    local) base="$T/repos" ;;
    s3) base="s3://$LIFEBOAT_TEST_S3_BUCKET/matrix-$$" ;;
    azure) base="azure://devstoreaccount1/$LIFEBOAT_TEST_AZURE_CONTAINER/matrix-$$" ;;
    sftp) base="$LIFEBOAT_TEST_SFTP_BASE/matrix-$$" ;;
  esac
  rows=("${faults[@]}")
  [ "$backend" = local ] && rows+=("${local_faults[@]}")
  for entry in "${rows[@]}"; do
    IFS='|' read -r spec want what <<<"$entry"
    fresh_repository || continue
    before=$(snapshot_count)
    LIFEBOAT_TEST_FAULTS="$spec" expect_exit "$want" "$backend: $what ($spec)" -- backup-create "$T/src"
    after=$(snapshot_count)
    if [ "$want" -eq 0 ]; then
      check "$backend: $spec: the snapshot was written" test "$after" -eq $((before + 1))
    else
      check "$backend: $spec: no snapshot was written" test "$after" -eq "$before"
    fi
    expect_exit 0 "$backend: $spec: the repository passes verify --read-data" -- backup-verify --read-data
    rm -rf "$T/r"
    expect_exit 0 "$backend: $spec: the newest snapshot restores" -- backup-restore latest --target "$T/r"
    walk list "$T/r$T/src$([ "$want" -eq 0 ] || echo /docs)" >"$T/r.json"
    check "$backend: $spec: bit-exact" walk diff "$T/$([ "$want" -eq 0 ] && echo src || echo docs).json" "$T/r.json" --ignore atime
  done

  # A store that keeps garbage and says yes: found by verify, never restored as data.
  for entry in "${put_garbage[@]}"; do
    IFS='|' read -r spec restore_want what <<<"$entry"
    fresh_repository || continue
    LIFEBOAT_TEST_FAULTS="$spec" expect_exit 0 "$backend: $what kept as garbage ($spec): the writer cannot tell" -- backup-create "$T/src"
    id=$(cat "$T/stdout")
    check "$backend: $spec: its snapshot was written" test "$(snapshot_count)" -eq 2
    kind=${spec#put@}
    kind=${kind%%:*}
    expect_exit 20 "$backend: $spec: verify --read-data reports the damage" -- backup-verify --read-data
    expect_stderr "$kind" "$backend: $spec: verify names the damaged object ($kind...)"
    expect_exit 20 "$backend: $spec: verify --quick (no key needed) reports it too" -- backup-verify --quick
    rm -rf "$T/r"
    expect_exit "$restore_want" "$backend: $spec: restoring that snapshot fails or reports what it skipped" -- backup-restore "$id" --target "$T/r"
    check "$backend: $spec: no wrong byte restored" no_wrong_bytes "$T/r"
  done

  # Reads of packs that return garbage, during a restore and a verify.
  n=$((n + 1))
  export LIFEBOAT_REPOSITORY="$base/r$n"
  backup-create init >/dev/null 2>&1 && backup-create "$T/src" >/dev/null 2>&1 || { fail "$backend: set-up r$n"; continue; }
  rm -rf "$T/r"
  LIFEBOAT_TEST_FAULTS="get@data/:1+:garbage" expect_exit 3 "$backend: every read of a pack garbage: the restore reports it" -- backup-restore latest --target "$T/r"
  check "$backend: get@data/:1+:garbage: no file restored" test "$(regular_files "$T/r")" -eq 0
  for nth in 1 2 3; do
    spec="get@data/:$nth:garbage"
    rm -rf "$T/r"
    LIFEBOAT_TEST_FAULTS="$spec" backup-restore latest --target "$T/r" >"$T/stdout" 2>"$T/stderr"
    got=$?
    if [ "$got" -eq 0 ]; then
      walk list "$T/r$T/src" >"$T/r.json"
      check "$backend: $spec: read again, restored bit-exact (exit 0)" walk diff "$T/src.json" "$T/r.json" --ignore atime
    elif [ "$got" -eq 3 ]; then
      check "$backend: $spec: reported (exit 3), no wrong byte restored" no_wrong_bytes "$T/r"
    else
      fail "$backend: $spec: restore exit $got, expected 0 or 3"
      sed 's/^/    stderr: /' "$T/stderr" | head -20
    fi
  done
  LIFEBOAT_TEST_FAULTS="get@data/:1+:garbage" expect_exit 20 "$backend: verify --read-data fed garbage never passes" -- backup-verify --read-data
  expect_exit 0 "$backend: then it passes" -- backup-verify --read-data
done
echo "fault matrix: $n repositories in $((SECONDS - started)) s"
finish
