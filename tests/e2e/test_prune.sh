#!/usr/bin/env bash
# backup-prune: forget by policy (dry run, JSON, refusals, future snapshots, configuration
# policies, tombstones vs. the rollback check), garbage collection with two-phase deletion
# (grace, a backup running across a prune, revival), append-only refusals, and kill points.
source "$(dirname "$0")/lib.sh"

data_dir() { du -sb "$T/repo/data" | cut -f1; }
pack_list() { (cd "$T/repo/data" && find . -type f | sort); }
mkdir -p "$T/src"
backup-create init >/dev/null 2>&1
# Ten daily snapshots; each has a file of its own (freed when it is forgotten) and a shared one.
head -c 200000 /dev/urandom >"$T/src/shared"
for d in 01 02 03 04 05 06 07 08 09 10; do
  rm -f "$T"/src/own-*
  head -c 300000 /dev/urandom >"$T/src/own-$d"
  backup-create -q --job files --time "2026-11-$d 12:00" "$T/src" >/dev/null
done
ids=$(backup-restore snapshots --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))')
newest=${ids##* }

# --- forget: decisions ---------------------------------------------------------------------
expect_exit 0 "forget --dry-run" -- backup-prune forget --keep-last 2 --keep-daily 4 --dry-run
check "dry run lists every snapshot" test "$(grep -cE '^  (keep|remove) ' "$T/stdout")" -eq 10
check "dry run names the rule" grep -q "keep    ${newest:0:12}  2026-11-10 12:00:00  last 1, daily 2026-11-10" "$T/stdout"
check "dry run forgets nothing" test "$(snapshot_count)" -eq 10
expect_exit 0 "forget --dry-run --json" -- backup-prune --json forget --keep-daily 3 --dry-run
jcheck "JSON: 3 kept, 7 to remove" "$T/stdout" 'd["kept"] == 3 and d["removed"] == 7 and d["dry_run"]'
jcheck "JSON: reasons per snapshot" "$T/stdout" 'd["groups"][0]["snapshots"][0]["reasons"] == ["daily 2026-11-10"]'
expect_exit 2 "no policy is refused" -- backup-prune forget
expect_stderr "no retention policy" "the message says what is missing"
expect_exit 2 "a policy that keeps nothing is refused" -- backup-prune forget --keep-last 0
expect_exit 2 "a policy that would remove a whole job is refused" -- backup-prune forget --keep-tag nosuch
expect_stderr "would forget every snapshot of host .*, job files" "the message names the group"
check "refusals change nothing" test "$(snapshot_count)" -eq 10
expect_exit 2 "bad duration" -- backup-prune forget --keep-within 3x
expect_stderr "unknown unit 'x'" "the duration error names the unit"
expect_exit 2 "bad --group-by" -- backup-prune forget --keep-last 1 --group-by hostname

# A snapshot dated in the future is kept, warned about, and does not push real ones out.
echo future >"$T/src/future"
backup-create -q --job files --time "2031-01-01 00:00" "$T/src" >/dev/null
rm "$T/src/future"
expect_exit 0 "future snapshot: forget --keep-last 1 --dry-run" -- backup-prune forget --keep-last 1 --dry-run
expect_stderr "dated in the future" "the future snapshot is warned about"
check "the newest real snapshot is still 'last 1'" grep -q "keep    ${newest:0:12}  2026-11-10 12:00:00  last 1" "$T/stdout"
check "the future snapshot is kept as future" grep -qE "keep .* 2031-01-01 00:00:00  future" "$T/stdout"
future=$(backup-restore snapshots --json | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin) if s["time"].startswith("2031")][0])')
expect_exit 0 "forget a snapshot by id" -- backup-prune forget "${future:0:12}"
check "it is gone" test "$(snapshot_count)" -eq 10

# A second host that has seen every snapshot (its own state directory).
LIFEBOAT_STATE_DIR="$T/state2" backup-restore snapshots >/dev/null 2>&1
expect_exit 0 "forget --keep-last 2 --keep-daily 4" -- backup-prune forget --keep-last 2 --keep-daily 4
check "4 snapshots left" test "$(snapshot_count)" -eq 4
check "a tombstone records them" test "$(ls "$T/repo/tombstones" | wc -l)" -eq 2
LIFEBOAT_STATE_DIR="$T/state2" expect_exit 0 "the other host accepts the forgotten snapshots" -- backup-restore snapshots
victim=$(ls "$T/repo/snapshots" | head -1)
mv "$T/repo/snapshots/$victim" "$T/victim"
LIFEBOAT_STATE_DIR="$T/state2" expect_exit 20 "a snapshot removed without a tombstone is still a rollback" -- backup-restore snapshots
mv "$T/victim" "$T/repo/snapshots/$victim"

# --- garbage collection -----------------------------------------------------------------------
backup-restore latest --target "$T/before" >/dev/null 2>&1
size0=$(data_dir)
packs0=$(pack_list)
expect_exit 0 "prune --dry-run" -- backup-prune --dry-run
expect_stderr "would condemn [1-9][0-9]* unused pack" "the dry run says what it would condemn"
check "the dry run changed nothing" test "$(data_dir)" -eq "$size0"
expect_exit 0 "prune (condemns; default grace 1h)" -- backup-prune
expect_exit 0 "prune again inside the grace period" -- backup-prune
expect_stderr "wait: grace period until" "the packs wait for the grace period"
# (The condemning run may have added a pack: live blobs repacked out of a half-used one.)
check "nothing deleted inside the grace period" \
  test -z "$(comm -23 <(echo "$packs0") <(pack_list))"
expect_exit 0 "prune --grace 0 --json" -- backup-prune --grace 0 --json
jcheck "bytes freed reported" "$T/stdout" 'd["bytes_freed"] >= 6 * 300000 and d["packs_deleted"] >= 6'
size1=$(data_dir)
check "the repository shrank by the forgotten files (>= 1.8 MB)" test $((size0 - size1)) -ge 1800000
expect_exit 0 "verify --read-data after prune" -- backup-verify --read-data
backup-restore latest --target "$T/after" >/dev/null 2>&1
check "the kept snapshot restores bit-exact" diff -r "$T/before" "$T/after"
n=$(snapshot_count)
expect_exit 0 "forget --prune --dry-run --json: one document" -- backup-prune --json forget --keep-last 1 --prune --dry-run
jcheck "JSON: the forget part" "$T/stdout" 'd["forget"]["removed"] == 3 and d["forget"]["dry_run"]'
jcheck "JSON: the preview counts the snapshots the forget would remove as gone" "$T/stdout" 'd["prune"]["dry_run"] and d["prune"]["snapshots"] == 1 and d["prune"]["bytes_condemned"] >= 3 * 300000'
check "the dry run forgot nothing" test "$(snapshot_count)" -eq "$n"

# --- a backup running across two prunes: the lock holds deletion back, the data is revived ----
# The only snapshot with 'revenant' is forgotten; a backup that loaded the index before the
# prune condemned it then stores the same content (deduplicated against the condemned pack).
head -c 400000 /dev/urandom >"$T/revenant"
backup-create -q --job rev --time "2026-11-11 12:00" "$T/revenant" >/dev/null
rev=$(backup-restore snapshots --json --job rev | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
backup-prune forget "$rev" >/dev/null 2>&1
mkfifo "$T/fifo"
backup-create --job running --stdin --stdin-name revenant <"$T/fifo" >"$T/running.out" 2>&1 &
running=$!
exec 7>"$T/fifo"
for _ in $(seq 50); do [ -n "$(ls "$T/repo/locks")" ] && break; sleep 0.1; done
sleep 0.5  # the backup has loaded the index and waits for its input
expect_exit 0 "prune while a backup runs: condemns" -- backup-prune --grace 0
expect_exit 0 "prune while the backup runs: does not delete" -- backup-prune --grace 0
expect_stderr "wait: backup by .* running since" "the packs wait for the running backup"
cat "$T/revenant" >&7
exec 7>&-
wait $running
check "the backup that ran across two prunes succeeded" test $? -eq 0
expect_exit 0 "prune after the backup: revives what it used" -- backup-prune --grace 0 -v
expect_stderr "revive [1-9]" "the condemned pack is revived"
expect_exit 0 "verify --read-data after the revival" -- backup-verify --read-data
backup-restore dump latest --job running revenant >"$T/revenant.back" 2>/dev/null
check "the running backup's data restores bit-exact" cmp "$T/revenant" "$T/revenant.back"

# --- directory data revived: a backup frozen after it loaded the index reuses only trees ----
# Its every tree and file is already stored (by a snapshot that is then forgotten), so what the
# frozen backup goes on to write references directory data that only condemned packs hold.
mkdir -p "$T/tree-src/sub/deeper"
head -c 50000 /dev/urandom >"$T/tree-src/sub/deeper/file"
echo top >"$T/tree-src/top"
backup-create -q --job trees --time "2026-11-12 12:00" "$T/tree-src" >/dev/null
old=$(backup-restore snapshots --json --job trees | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
backup-prune forget "$old" >/dev/null 2>&1
# The backup's first upload is its lock; it stops (SIGSTOP) before its second one.
LIFEBOAT_TEST_FAULTS=put:2:stop backup-create --job trees2 "$T/tree-src" >"$T/frozen.out" 2>&1 &
frozen=$!
for _ in $(seq 100); do [ "$(ps -o stat= -p $frozen | cut -c1)" = T ] && break; sleep 0.1; done
check "the backup is frozen after loading the index" test "$(ps -o stat= -p $frozen | cut -c1)" = T
expect_exit 0 "prune while the frozen backup holds its lock: condemns its trees" -- backup-prune --grace 0 --json
jcheck "the forgotten snapshot's packs are condemned" "$T/stdout" 'd["packs_condemned"] >= 2'
expect_exit 0 "prune again: waits for the frozen backup" -- backup-prune --grace 0
expect_stderr "wait: backup by .* running since" "the condemned packs wait for the frozen backup"
kill -CONT $frozen
wait $frozen
check "the frozen backup finished after SIGCONT" test $? -eq 0
expect_exit 0 "prune: revives the packs with the reused directory data" -- backup-prune --grace 0 -v
expect_stderr "revive [1-9]" "the condemned tree pack is revived"
expect_exit 0 "verify --read-data after the tree revival" -- backup-verify --read-data
backup-restore latest --job trees2 --target "$T/trees-back" >/dev/null 2>&1
check "the frozen backup's tree restores bit-exact" diff -r "$T/tree-src" "$T/trees-back${T}/tree-src"

# --- refusals ---------------------------------------------------------------------------------
cat >"$T/lifeboat.yaml" <<YAML
repositories:
  main:
    url: $T/repo
    password-file: $T/password
    append-only: true
YAML
n=$(snapshot_count)
expect_exit 22 "append-only repository: forget refused" -- backup-prune --config "$T/lifeboat.yaml" --repo main forget --keep-last 1
expect_stderr "marked append-only" "the message says why"
expect_exit 22 "append-only repository: prune refused" -- backup-prune --config "$T/lifeboat.yaml" --repo main
sed -i "s|password-file: .*|password-file: $T/no-such-password|" "$T/lifeboat.yaml"
LIFEBOAT_PASSWORD_FILE= expect_exit 22 "append-only is refused before the repository is opened (no secret needed)" -- backup-prune --config "$T/lifeboat.yaml" --repo main
LIFEBOAT_TEST_FAULTS=remove:1+:denied expect_exit 22 "storage that refuses deletes: forget refused" -- backup-prune forget --keep-last 1
expect_stderr "refuses deletes" "the message says the storage refuses deletes"
check "nothing was forgotten" test "$(snapshot_count)" -eq "$n"
printf 'write only\n' >"$T/wo-password"
chmod 600 "$T/wo-password"
backup-create key add --write-only --new-password-file "$T/wo-password" --label wo >/dev/null 2>&1
LIFEBOAT_PASSWORD_FILE="$T/wo-password" expect_exit 22 "a write-only key may not forget" -- backup-prune forget --keep-last 1
expect_stderr "write-only" "the message says the key is write-only"
LIFEBOAT_PASSWORD_FILE="$T/wo-password" expect_exit 22 "a write-only key may not prune" -- backup-prune --grace 0

# --- policies from the configuration ----------------------------------------------------------
cat >"$T/policy.yaml" <<YAML
repositories:
  main:
    url: $T/repo
    password-file: $T/password
    retention:
      keep-last: 5
jobs:
  files:
    repository: main
    paths: [$T/src]
    retention:
      keep-last: 1
YAML
expect_exit 0 "forget by the job's policy from the configuration" -- backup-prune --config "$T/policy.yaml" --repo main forget --dry-run
check "job files: keep-last 1 from the configuration" grep -q "job files: policy last 1 (job files)" "$T/stdout"
check "job running: the repository's default policy" grep -q "job running: policy last 5 (repository's retention)" "$T/stdout"
sed -i 's/keep-last: 1/keep-lats: 1/' "$T/policy.yaml"
expect_exit 2 "an unknown retention key is an error" -- backup-prune --config "$T/policy.yaml" --repo main forget
expect_stderr "policy.yaml:[0-9]+: unknown key 'keep-lats'" "it names the file, line and key"

# --- a damaged snapshot stops prune before it changes anything --------------------------------
victim=$(ls "$T/repo/snapshots" | head -1)
cp "$T/repo/snapshots/$victim" "$T/victim"
printf 'x' | dd of="$T/repo/snapshots/$victim" bs=1 seek=60 conv=notrunc 2>/dev/null
expect_exit 20 "prune refuses a repository with a damaged snapshot" -- backup-prune --grace 0
expect_stderr "forget it by id" "the message says what to do"
cp "$T/victim" "$T/repo/snapshots/$victim"

# --- kill points: SIGKILL at every storage operation of forget+prune, then rerun ---------------
# Each day's backup has a file forgotten with it and one that stays: forgetting leaves packs
# partly used, so the run repacks as well as condemns and deletes.
for d in 12 13 14 15; do
  rm -f "$T"/src/own-*
  for k in 1 2 3 4 5 6; do  # small files: both kinds land in each pack a worker writes
    head -c 40000 /dev/urandom >"$T/src/own-$d-$k"
    head -c 10000 /dev/urandom >"$T/src/stay-$d-$k"
  done
  backup-create -q --job files --time "2026-11-$d 12:00" "$T/src" >/dev/null
done
backup-restore latest --job files --target "$T/keep" >/dev/null 2>&1
keep=$(backup-restore snapshots --json --job files | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
cp -a "$T/repo" "$T/pristine"
fresh_copy() {
  rm -rf "$T/repo" "$T/state"
  cp -a "$T/pristine" "$T/repo"
  backup-prune --grace 0 >/dev/null 2>&1  # condemn first, so the killed run also deletes
}
# One uninterrupted run, with its storage operations logged, gives the kill points.
fresh_copy
backup-prune -vv --grace 0 forget --keep-last 1 --job files --prune >/dev/null 2>"$T/ops.log"
check "the uninterrupted run repacks" grep -q "repack [1-9][0-9]* mostly unused pack" "$T/ops.log"
puts=$(grep -c "storage: put " "$T/ops.log")
removes=$(grep -c "storage: remove " "$T/ops.log")
check "the run has kill points ($puts puts, $removes removes)" test "$puts" -ge 5 -a "$removes" -ge 5
specs=""
for i in $(seq "$puts"); do specs="$specs put:$i:kill"; [ $((i % 2)) -eq 1 ] && specs="$specs put:$i:killafter"; done
for i in $(seq "$removes"); do specs="$specs remove:$i:kill"; [ $((i % 2)) -eq 1 ] && specs="$specs remove:$i:killafter"; done
killed=0 survived=0 total=0
for spec in $specs; do
  total=$((total + 1))
  fresh_copy
  (LIFEBOAT_TEST_FAULTS=$spec exec backup-prune --grace 0 forget --keep-last 1 --job files --prune) >/dev/null 2>&1
  rc=$?
  [ $rc -eq 137 ] && killed=$((killed + 1))
  if ! backup-verify --read-data >"$T/v.out" 2>&1; then
    fail "after SIGKILL at $spec: verify --read-data"; sed 's/^/    /' "$T/v.out" | head -5
    continue
  fi
  rm -rf "$T/k"
  backup-restore "$keep" --target "$T/k" >/dev/null 2>&1 && diff -r "$T/keep" "$T/k" >/dev/null ||
    { fail "after SIGKILL at $spec: the kept snapshot does not restore bit-exact"; continue; }
  backup-prune --grace 0 forget --keep-last 1 --job files --prune >/dev/null 2>&1 &&
    backup-prune --grace 0 >/dev/null 2>&1 && backup-verify --read-data >/dev/null 2>&1 ||
    { fail "after SIGKILL at $spec: rerunning forget+prune does not finish cleanly"; continue; }
  survived=$((survived + 1))
done
check "every kill point left a verified repository that restores and reruns ($survived of $total)" test "$survived" -eq "$total"
check "the kill points did kill ($killed of $total)" test "$killed" -eq "$total"

# --- what killed uploads leave: temporary files, removed once old enough ------------------------
# A put writes KEY.tmp-PID-N and renames it; a SIGKILL mid-write leaves it (found by the crash
# driver). One like it from two hours ago goes; one from now (an upload under way) stays.
pack=$(find "$T/repo/data" -type f | head -1)
head -c 50000 /dev/urandom >"$pack.tmp-4242-1"
touch -d '2 hours ago' "$pack.tmp-4242-1"
head -c 30000 /dev/urandom >"$pack.tmp-4243-2"
expect_exit 0 "a dry run counts the old leftover" -- backup-prune --json --dry-run --grace 0
jcheck "one stale upload of 50000 bytes, not removed" "$T/stdout" 'd["stale_uploads"] == 1 and d["stale_upload_bytes"] == 50000'
check "the dry run left it" test -f "$pack.tmp-4242-1"
expect_exit 0 "the garbage collection removes it" -- backup-prune --grace 0
expect_stderr "remove 1 unfinished upload" "and says so"
check "the old leftover is gone" test ! -e "$pack.tmp-4242-1"
check "the fresh one (an upload under way) stays" test -f "$pack.tmp-4243-2"
check "the pack itself stays" test -f "$pack"
expect_exit 0 "verify --read-data afterwards" -- backup-verify --read-data

finish
