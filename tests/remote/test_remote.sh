#!/usr/bin/env bash
# End to end on every remote, with the real executables: init, backup, restore (bit-exact),
# verify --read-data on S3 (s3rver), Azure (Azurite) and SFTP (a private sshd); rclone, an
# independent client, fetches what Lifeboat stored on S3 and SFTP and Lifeboat reads it, and
# Lifeboat reads a repository rclone copied onto the store; faults and bad input give their
# documented exit codes and messages. Run through tests/servers/with-servers.sh (ctest does).
source "$LIFEBOAT_SOURCE/tests/e2e/lib.sh"
: "${LIFEBOAT_TEST_SERVERS:?run through tests/servers/with-servers.sh}"
walk() { python3 "$LIFEBOAT_SOURCE/tests/e2e/walk.py" "$@"; }
unset AWS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE
export LIFEBOAT_RETRY_TIME=5

# Source data: the sample tree plus 24 MiB of incompressible data (several packs, one file
# larger than a pack) and an empty file.
mkdir -p "$T/src"
cp -a "$LIFEBOAT_SOURCE/examples/sample-data/." "$T/src/"
head -c $((24 << 20)) /dev/urandom >"$T/src/big.bin"
: >"$T/src/empty"
walk list "$T/src" >"$T/src.json"

s3_url="s3://$LIFEBOAT_TEST_S3_BUCKET/e2e-$$"
azure_url="azure://devstoreaccount1/$LIFEBOAT_TEST_AZURE_CONTAINER/e2e-$$"
sftp_url="$LIFEBOAT_TEST_SFTP_BASE/e2e-$$"
export LIFEBOAT_S3_ENDPOINT="$LIFEBOAT_TEST_S3_ENDPOINT" LIFEBOAT_AZURE_ENDPOINT="$LIFEBOAT_TEST_AZURE_ENDPOINT"

round_trip() {  # round_trip NAME URL
  local name=$1 url=$2
  export LIFEBOAT_REPOSITORY="$url"
  expect_exit 0 "$name: init" -- backup-create init
  expect_exit 0 "$name: backup" -- backup-create --connections 8 "$T/src"
  expect_exit 0 "$name: second backup (nothing new)" -- backup-create --json "$T/src"
  jcheck "$name: the second backup stored no file data again" "$T/stdout" 'd["bytes_added"] < 65536'
  expect_exit 0 "$name: restore" -- backup-restore latest --target "$T/restore-$name" --verify
  walk list "$T/restore-$name$T/src" >"$T/restore-$name.json"
  check "$name: restored bit-exact" walk diff "$T/src.json" "$T/restore-$name.json" --ignore atime
  expect_exit 0 "$name: verify --read-data" -- backup-verify --read-data
  expect_exit 0 "$name: two snapshots listed" -- backup-restore snapshots --json
  jcheck "$name: two snapshots" "$T/stdout" 'len(d) == 2'
}

round_trip s3 "$s3_url"
round_trip azure "$azure_url"
round_trip sftp "$sftp_url"

# --- rclone, an independent client, on S3 and SFTP -------------------------------------------
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_LBS3_TYPE=s3 RCLONE_CONFIG_LBS3_PROVIDER=Other \
  RCLONE_CONFIG_LBS3_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  RCLONE_CONFIG_LBS3_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
  RCLONE_CONFIG_LBS3_ENDPOINT="$LIFEBOAT_TEST_S3_ENDPOINT" RCLONE_CONFIG_LBS3_FORCE_PATH_STYLE=true
export RCLONE_CONFIG_LBSFTP_TYPE=sftp RCLONE_CONFIG_LBSFTP_HOST=127.0.0.1 \
  RCLONE_CONFIG_LBSFTP_PORT="$LIFEBOAT_TEST_SFTP_PORT" RCLONE_CONFIG_LBSFTP_USER="$LIFEBOAT_TEST_SFTP_USER" \
  RCLONE_CONFIG_LBSFTP_KEY_FILE="$LIFEBOAT_SFTP_KEY" RCLONE_CONFIG_LBSFTP_KNOWN_HOSTS_FILE="$LIFEBOAT_SFTP_KNOWN_HOSTS"
sftp_dir="$LIFEBOAT_TEST_SFTP_HOME/e2e-$$"
for remote in "lbs3:$LIFEBOAT_TEST_S3_BUCKET/e2e-$$" "lbsftp:$sftp_dir"; do
  name=${remote%%:*}
  rm -rf "$T/fetched"
  # --fast-list: s3rver's delimiter listings hide nested directories from rclone's walk
  if rclone copy --fast-list --quiet "$remote" "$T/fetched" 2>"$T/stderr"; then ok "$name: rclone fetched the repository"; else
    fail "$name: rclone copy failed"; sed 's/^/    /' "$T/stderr" | head; fi
  check "$name: rclone sees config, keys, index, data and snapshots" \
    bash -c "rclone lsf -R '$remote' | grep -q '^config$' && rclone lsf -R '$remote' | grep -q '^keys/' &&
             rclone lsf -R '$remote' | grep -q '^index/' && rclone lsf -R '$remote' | grep -q '^data/..' &&
             rclone lsf -R '$remote' | grep -q '^snapshots/'"
  check "$name: no temporary upload files are left" bash -c "! rclone lsf -R '$remote' | grep -q '\.tmp-'"
  LIFEBOAT_REPOSITORY="$T/fetched" expect_exit 0 "$name: the fetched copy verifies with --read-data" -- backup-verify --read-data
done

# A repository written locally, copied onto the store by rclone, read by Lifeboat.
LIFEBOAT_REPOSITORY="$T/local-repo" expect_exit 0 "local: init" -- backup-create init
LIFEBOAT_REPOSITORY="$T/local-repo" expect_exit 0 "local: backup" -- backup-create "$T/src"
for pair in "lbs3:$LIFEBOAT_TEST_S3_BUCKET/from-rclone-$$ s3://$LIFEBOAT_TEST_S3_BUCKET/from-rclone-$$" \
            "lbsftp:$LIFEBOAT_TEST_SFTP_HOME/from-rclone-$$ $LIFEBOAT_TEST_SFTP_BASE/from-rclone-$$"; do
  set -- $pair
  name=${1%%:*}
  check "$name: rclone uploaded a local repository" rclone copy --quiet "$T/local-repo" "$1"
  export LIFEBOAT_REPOSITORY="$2"
  expect_exit 0 "$name: Lifeboat verifies what rclone uploaded" -- backup-verify --read-data
  expect_exit 0 "$name: and restores it" -- backup-restore latest --target "$T/from-rclone-$name"
  walk list "$T/from-rclone-$name$T/src" >"$T/from-rclone-$name.json"
  check "$name: restored bit-exact" walk diff "$T/src.json" "$T/from-rclone-$name.json" --ignore atime
done

# --- copies between remotes: S3 to SFTP, different keys --------------------------------------
printf 'another password\n' >"$T/pw2"
chmod 600 "$T/pw2"
LIFEBOAT_REPOSITORY="$sftp_url-copy" LIFEBOAT_PASSWORD_FILE="$T/pw2" \
  expect_exit 0 "sftp: init a copy destination" -- backup-create init
LIFEBOAT_REPOSITORY="$s3_url" \
  expect_exit 0 "copy S3 -> SFTP" -- backup-create copy --to "$sftp_url-copy" --to-password-file "$T/pw2" --json
jcheck "both snapshots copied" "$T/stdout" 'd["copied"] == 2'
LIFEBOAT_REPOSITORY="$sftp_url-copy" LIFEBOAT_PASSWORD_FILE="$T/pw2" \
  expect_exit 0 "restore the copy from SFTP" -- backup-restore latest --target "$T/restore-copy"
walk list "$T/restore-copy$T/src" >"$T/restore-copy.json"
check "the copy restores bit-exact" walk diff "$T/src.json" "$T/restore-copy.json" --ignore atime

# --- faults and bad input ----------------------------------------------------------------------
export LIFEBOAT_REPOSITORY="$s3_url"
expect_exit 0 "s3: one connection is enough (listing callbacks read keys)" -- backup-restore --connections 1 snapshots
LIFEBOAT_TEST_FAULTS="put:1:transient,put:3:transient,get:2:transient,list:1:transient" \
  expect_exit 0 "s3: transient faults are retried and the backup succeeds" -- backup-create "$T/src/docs"
before=$(snapshot_count)
head -c $((3 << 20)) /dev/urandom >"$T/src/new.bin"
LIFEBOAT_TEST_FAULTS="put:2+:permanent" \
  expect_exit 21 "s3: a storage that refuses uploads fails the backup with exit 21" -- backup-create "$T/src"
check "s3: no snapshot was written by the failed backup" test "$(snapshot_count)" -eq "$before"
expect_exit 0 "s3: the repository still verifies with --read-data" -- backup-verify --read-data
LIFEBOAT_REPOSITORY="s3://no-such-bucket-$$/x" \
  expect_exit 10 "s3: a missing bucket is exit 10" -- backup-restore snapshots
expect_stderr "bucket 'no-such-bucket-$$' does not exist" "s3: the message names the bucket"
LIFEBOAT_S3_ENDPOINT="http://127.0.0.1:9" LIFEBOAT_RETRY_TIME=2 \
  expect_exit 21 "s3: an unreachable endpoint is exit 21 after bounded retries" -- backup-restore snapshots
expect_stderr "gave up after" "s3: the message says it gave up"
AWS_ACCESS_KEY_ID= AWS_SHARED_CREDENTIALS_FILE= HOME=/nonexistent \
  expect_exit 2 "s3: no credentials is a usage error" -- backup-restore snapshots
expect_stderr "AWS_ACCESS_KEY_ID" "s3: the message says where credentials come from"

export LIFEBOAT_REPOSITORY="$azure_url"
AZURE_STORAGE_KEY="d3JvbmcgYnV0IHdlbGwtZm9ybWVkIGtleQ==" \
  expect_exit 22 "azure: a wrong key is exit 22" -- backup-restore snapshots
expect_stderr "azure://devstoreaccount1/$LIFEBOAT_TEST_AZURE_CONTAINER/e2e-$$" "azure: the message names the URL"
expect_stderr "AuthorizationFailure|403" "azure: the message says what the server said"
check "azure: the message holds no key" bash -c "! grep -q 'd3Jvbmcg\|Eby8vdM02' '$T/stderr'"
AZURE_STORAGE_KEY= AZURE_STORAGE_SAS_TOKEN="$LIFEBOAT_TEST_AZURE_SAS" \
  expect_exit 0 "azure: a SAS token works" -- backup-restore -vv snapshots --json
jcheck "azure: the SAS lists both snapshots" "$T/stdout" 'len(d) == 2'
sig=${LIFEBOAT_TEST_AZURE_SAS##*sig=}
check "azure: -vv output holds no SAS signature" bash -c "! grep -qF -- '$sig' '$T/stderr'"
check "azure: -vv logs the storage operations" grep -q "storage: list snapshots/" "$T/stderr"
AZURE_STORAGE_KEY= AZURE_STORAGE_SAS_TOKEN="${LIFEBOAT_TEST_AZURE_SAS%%sig=*}sig=AAAA$sig" \
  expect_exit 22 "azure: a bad SAS is exit 22" -- backup-restore snapshots
check "azure: the message holds no SAS signature" bash -c "! grep -qF -- '$sig' '$T/stderr'"
LIFEBOAT_REPOSITORY="azure://devstoreaccount1/no-such-container/x" \
  expect_exit 10 "azure: a missing container is exit 10" -- backup-restore snapshots

export LIFEBOAT_REPOSITORY="$LIFEBOAT_TEST_SFTP_BASE/no-such-dir-$$"
expect_exit 10 "sftp: a missing directory is exit 10" -- backup-restore snapshots
export LIFEBOAT_REPOSITORY="$sftp_url"
LIFEBOAT_SFTP_KNOWN_HOSTS= LIFEBOAT_SFTP_HOST_KEY_SHA256="SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
  expect_exit 21 "sftp: a wrong host key is refused" -- backup-restore snapshots
LIFEBOAT_SFTP_KNOWN_HOSTS= HOME=/nonexistent \
  expect_exit 2 "sftp: an unpinned host key is refused" -- backup-restore snapshots
expect_stderr "not pinned" "sftp: the message says how to pin it"
LIFEBOAT_SFTP_KNOWN_HOSTS= LIFEBOAT_SFTP_HOST_KEY_SHA256="$LIFEBOAT_TEST_SFTP_FINGERPRINT" \
  expect_exit 0 "sftp: a pinned fingerprint works" -- backup-restore snapshots
finish
