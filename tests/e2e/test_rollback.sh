#!/usr/bin/env bash
# A snapshot list rolled back to an older state is detected by this host's high-water mark.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/src" && echo one > "$T/src/a"
backup-create init >/dev/null 2>&1
expect_exit 0 "first backup" -- backup-create "$T/src"
echo two > "$T/src/a"
expect_exit 0 "second backup" -- backup-create "$T/src"
second=$(cat "$T/stdout")
expect_exit 0 "listing records both snapshots as seen" -- backup-restore snapshots
check "the high-water mark holds two snapshots" test "$(cat "$T"/state/*/snapshots-seen | wc -l)" -eq 2

# Revert the storage to its state before the second backup.
mv "$T/repo/snapshots/$second" "$T/hidden"
expect_exit 20 "a rolled-back snapshot list is refused" -- backup-restore snapshots
expect_stderr "rolled back: 1 snapshot" "the message says what happened"
expect_stderr "snapshots-seen" "the message says how to accept the current list"
expect_exit 20 "restore of latest refuses too" -- backup-restore latest --target "$T/out"
check "nothing was restored" test ! -e "$T/out"
expect_exit 20 "backup-verify refuses too" -- backup-verify

mv "$T/hidden" "$T/repo/snapshots/$second"
expect_exit 0 "with the snapshot back, listing works again" -- backup-restore snapshots

# An operator who removed a snapshot on purpose accepts the new list explicitly.
mv "$T/repo/snapshots/$second" "$T/hidden"
rm "$T"/state/*/snapshots-seen
expect_exit 0 "after deleting the high-water mark, the shorter list is accepted" -- backup-restore snapshots
check "and the mark now holds one snapshot" test "$(cat "$T"/state/*/snapshots-seen | wc -l)" -eq 1
finish
