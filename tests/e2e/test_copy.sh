#!/usr/bin/env bash
# backup-create copy: snapshots and only the missing data go to another repository with its
# own key; copies restore bit-exact, are not repeated, honour filters and --dry-run; a job's
# configured copies receive every new snapshot.
source "$(dirname "$0")/lib.sh"
walk() { python3 "$LIFEBOAT_SOURCE/tests/e2e/walk.py" "$@"; }

mkdir -p "$T/src/sub"
cp -a "$LIFEBOAT_SOURCE/examples/sample-data/." "$T/src/"
head -c $((5 << 20)) /dev/urandom >"$T/src/sub/random.bin"
walk list "$T/src" >"$T/src.json"
printf 'another password\n' >"$T/pw2"
chmod 600 "$T/pw2"

expect_exit 0 "init the source" -- backup-create init
expect_exit 0 "backup as host alpha" -- backup-create --host alpha "$T/src"
expect_exit 0 "backup as host beta" -- backup-create --host beta --tag weekly "$T/src"
LIFEBOAT_PASSWORD_FILE="$T/pw2" LIFEBOAT_REPOSITORY="$T/dst" expect_exit 0 "init the destination" -- backup-create init

expect_exit 0 "dry run" -- backup-create copy --to "$T/dst" --to-password-file "$T/pw2" --dry-run --json
jcheck "dry run lists two snapshots to copy" "$T/stdout" 'len(d["snapshots"]) == 2 and all(s["status"] == "would copy" for s in d["snapshots"])'
check "dry run wrote no snapshot" test "$(find "$T/dst" -path '*/snapshots/*' -type f | wc -l)" -eq 0

expect_exit 0 "copy only host alpha" -- backup-create copy --to "$T/dst" --to-password-file "$T/pw2" --host alpha --json
jcheck "one snapshot copied" "$T/stdout" 'd["copied"] == 1'
expect_exit 0 "copy everything" -- backup-create copy --to "$T/dst" --to-password-file "$T/pw2" --json
jcheck "only the missing snapshot is copied" "$T/stdout" 'd["copied"] == 1 and sum(s["status"] == "present" for s in d["snapshots"]) == 1'
# (only the directory entries above the source differ: the test writes into $T between runs)
jcheck "and no file data is stored twice" "$T/stdout" 'd["bytes_added"] < 4096'
expect_exit 0 "copy again" -- backup-create copy --to "$T/dst" --to-password-file "$T/pw2" --json
jcheck "nothing is copied twice" "$T/stdout" 'd["copied"] == 0'

export LIFEBOAT_PASSWORD_FILE="$T/pw2" LIFEBOAT_REPOSITORY="$T/dst"
expect_exit 0 "the destination lists two snapshots" -- backup-restore snapshots --json
jcheck "with hosts and tags kept" "$T/stdout" 'sorted(s["host"] for s in d) == ["alpha", "beta"] and any("weekly" in s["tags"] for s in d)'
jcheck "copies are signed by the destination's key" "$T/stdout" 'all(s["trusted"] for s in d)'
expect_exit 0 "restore from the destination" -- backup-restore latest --host beta --target "$T/r"
walk list "$T/r$T/src" >"$T/r.json"
check "the copy restores bit-exact" walk diff "$T/src.json" "$T/r.json" --ignore atime
expect_exit 0 "the destination verifies with --read-data" -- backup-verify --read-data
export LIFEBOAT_PASSWORD_FILE="$T/password" LIFEBOAT_REPOSITORY="$T/repo"

expect_exit 12 "a wrong destination password is exit 12" -- backup-create copy --to "$T/dst" --to-password-file "$T/password"
expect_exit 10 "a missing destination is exit 10" -- backup-create copy --to "$T/nowhere" --to-password-file "$T/pw2"
expect_exit 2 "--to is required" -- backup-create copy
expect_exit 2 "copying a repository onto itself is refused" -- backup-create copy --to "$T/repo" --to-password-file "$T/password"

# A job with copies: every new snapshot lands in the job's repository and in each copy.
LIFEBOAT_PASSWORD_FILE="$T/pw2" LIFEBOAT_REPOSITORY="$T/cold" expect_exit 0 "init a cold repository" -- backup-create init
cat >"$T/lifeboat.yaml" <<YAML
repositories:
  main: {url: $T/repo, password-file: $T/password}
  cold: {url: $T/cold, password-file: $T/pw2}
jobs:
  docs:
    repository: main
    paths: [$T/src]
    copies: [cold]
YAML
unset LIFEBOAT_REPOSITORY LIFEBOAT_PASSWORD_FILE
expect_exit 0 "backup a job with copies" -- backup-create --config "$T/lifeboat.yaml" --job docs
expect_exit 0 "the cold copy has the job's snapshot" -- backup-restore --config "$T/lifeboat.yaml" --repo cold snapshots --json
jcheck "one snapshot of job docs in the cold repository" "$T/stdout" 'len(d) == 1 and d[0]["job"] == "docs"'
cat >"$T/bad.yaml" <<YAML
repositories:
  main: {url: $T/repo, password-file: $T/password}
jobs:
  docs: {repository: main, paths: [$T/src], copies: [nowhere]}
YAML
expect_exit 2 "copies to an unknown repository is a configuration error" -- backup-create --config "$T/bad.yaml" --job docs
expect_stderr "bad.yaml:4: .*unknown repository 'nowhere'" "the message names the file, the line and the repository"
finish
