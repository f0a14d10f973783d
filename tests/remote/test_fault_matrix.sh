#!/usr/bin/env bash
# Storage fault matrix (issue 6, part 2): every driver — memory is covered by the unit suite;
# here local, S3, Azure and SFTP — under every injected fault (LIFEBOAT_TEST_FAULTS, see
# docs/testing.md). A backup either succeeds (transient faults are retried) or fails with its
# documented exit code and writes no snapshot; afterwards the repository passes
# backup-verify --read-data and the earlier snapshot still restores bit-exact.
# Run through tests/servers/with-servers.sh (ctest does).
source "$LIFEBOAT_SOURCE/tests/e2e/lib.sh"
: "${LIFEBOAT_TEST_SERVERS:?run through tests/servers/with-servers.sh}"
walk() { python3 "$LIFEBOAT_SOURCE/tests/e2e/walk.py" "$@"; }
unset AWS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE
export LIFEBOAT_RETRY_TIME=3
export LIFEBOAT_S3_ENDPOINT="$LIFEBOAT_TEST_S3_ENDPOINT" LIFEBOAT_AZURE_ENDPOINT="$LIFEBOAT_TEST_AZURE_ENDPOINT"

mkdir -p "$T/src"
cp -a "$LIFEBOAT_SOURCE/examples/sample-data/." "$T/src/"
head -c $((20 << 20)) /dev/urandom >"$T/src/big.bin"  # two packs
walk list "$T/src" >"$T/src.json"

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
)

n=0
for backend in local s3 azure sftp; do
  case $backend in
    local) base="$T/repos" ;;
    s3) base="s3://$LIFEBOAT_TEST_S3_BUCKET/matrix-$$" ;;
    azure) base="azure://devstoreaccount1/$LIFEBOAT_TEST_AZURE_CONTAINER/matrix-$$" ;;
    sftp) base="$LIFEBOAT_TEST_SFTP_BASE/matrix-$$" ;;
  esac
  for entry in "${faults[@]}"; do
    IFS='|' read -r spec want what <<<"$entry"
    n=$((n + 1))
    export LIFEBOAT_REPOSITORY="$base/r$n"
    backup-create init >/dev/null 2>&1 || { fail "$backend: init r$n"; continue; }
    backup-create "$T/src/docs" >/dev/null 2>&1 || { fail "$backend: first backup r$n"; continue; }
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
    if [ "$want" -eq 0 ]; then
      walk list "$T/r$T/src" >"$T/r.json"
      check "$backend: $spec: bit-exact" walk diff "$T/src.json" "$T/r.json" --ignore atime
    fi
  done
done
finish
