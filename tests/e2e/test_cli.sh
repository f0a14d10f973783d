#!/usr/bin/env bash
# Command-line behaviour of backup-create / backup-restore / backup-verify: ids, JSON summary,
# snapshot selection (filters, latest, prefixes), ls, diff, dump, stdin, excludes, restore
# selection, overwrite modes, dry run, --help/--version and unknown flags.
source "$(dirname "$0")/lib.sh"

is_hex64() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }
# ls_paths: the path column (last field) of a text `ls`, from $T/stdout.
ls_paths() { awk '{print $NF}' "$T/stdout" | sort; }
# ls_json_paths FILE: paths of a `ls --json` output (a JSON array, or one object per line).
ls_json_paths() {
  python3 - "$1" <<'EOF'
import json, sys
text = open(sys.argv[1]).read().strip()
try:
    doc = json.loads(text)
    items = doc if isinstance(doc, list) else [doc]
except json.JSONDecodeError:
    items = [json.loads(l) for l in text.splitlines() if l.strip()]
for p in sorted(i["path"] for i in items):
    print(p)
EOF
}
same_lines() {  # same_lines DESCRIPTION EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then ok "$1"; else
    fail "$1"; diff <(echo "$2") <(echo "$3") | sed 's/^/    /' | head -20
  fi
}

# ---------------------------------------------------------------- init
expect_exit 0 "init" -- backup-create init
id=$(tr -d '\n' <"$T/stdout")
check "init prints a 64-hex repository id ($id)" is_hex64 "$id"
check "init creates the repository config and one key slot" test -f "$T/repo/config" -a "$(ls "$T/repo/keys" | wc -l)" -eq 1

# ---------------------------------------------------------------- a known tree
S=$T/src
mkdir -p "$S/sub/deep" "$S/empty"
printf 'alpha\n' >"$S/a.txt"                    # 6 bytes
printf 'bravo bravo\n' >"$S/sub/b.txt"          # 12 bytes
head -c 300000 /dev/urandom >"$S/sub/deep/c.bin" # 300000 bytes
: >"$S/sub/zero"                                 # 0 bytes
sleep 1.1  # the files cache only vouches for files unchanged for 1 s before they are read

expect_exit 0 "backup of a tree" -- backup-create "$S"
s_plain=$(tr -d '\n' <"$T/stdout")
check "backup prints a 64-hex snapshot id" is_hex64 "$s_plain"
check "the snapshot object exists" test -f "$T/repo/snapshots/$s_plain"

# The same tree, with a change, under other job/host/tag names: --json summary.
printf 'alpha v2\n' >"$S/a.txt"   # 9 bytes
printf 'new\n' >"$S/sub/new.txt"  # 4 bytes
rm "$S/sub/zero"
expect_exit 0 "backup --json" -- backup-create --json "$S"
cp "$T/stdout" "$T/summary.json"
jcheck "--json prints one object with exactly the documented keys" "$T/summary.json" \
  'isinstance(d, dict) and sorted(d) == sorted(["snapshot_id","files_new","files_changed","files_unchanged","dirs","bytes_read","bytes_added","bytes_stored","duration_seconds","errors"])'
jcheck "--json: files_new == 1 (sub/new.txt)" "$T/summary.json" 'd["files_new"] == 1'
jcheck "--json: files_changed == 1 (a.txt)" "$T/summary.json" 'd["files_changed"] == 1'
jcheck "--json: files_unchanged == 2 (b.txt, c.bin)" "$T/summary.json" 'd["files_unchanged"] == 2'
jcheck "--json: dirs == 4 (src, sub, deep, empty)" "$T/summary.json" 'd["dirs"] == 4'
jcheck "--json: bytes_read == 13 (only the new and changed files are read)" "$T/summary.json" 'd["bytes_read"] == 13'
jcheck "--json: errors == []" "$T/summary.json" 'd["errors"] == []'
jcheck "--json: snapshot_id is 64 hex digits and new" "$T/summary.json" \
  "len(d['snapshot_id']) == 64 and all(c in '0123456789abcdef' for c in d['snapshot_id']) and d['snapshot_id'] != '$s_plain'"
jcheck "--json: numbers are numbers" "$T/summary.json" \
  'all(isinstance(d[k], int) and d[k] >= 0 for k in ["bytes_added","bytes_stored","bytes_read"]) and isinstance(d["duration_seconds"], (int, float))'
stdout_lines=$(wc -l <"$T/stdout")
check "--json output is a single line/object (got $stdout_lines lines)" test "$stdout_lines" -le 1

# A first backup of a fresh tree: every file is new, bytes_read is the whole tree.
S2=$T/src2
mkdir -p "$S2/d1/d2"
head -c 70000 /dev/urandom >"$S2/x.bin"
printf 'y\n' >"$S2/d1/y.txt"
printf 'zz\n' >"$S2/d1/d2/z.txt"
expect_exit 0 "backup --json of a fresh tree" -- backup-create --json "$S2"
cp "$T/stdout" "$T/fresh.json"
jcheck "fresh tree: files_new 3, changed 0, unchanged 0, dirs 3" "$T/fresh.json" \
  'd["files_new"] == 3 and d["files_changed"] == 0 and d["files_unchanged"] == 0 and d["dirs"] == 3'
jcheck "fresh tree: bytes_read == 70005" "$T/fresh.json" 'd["bytes_read"] == 70005'
jcheck "fresh tree: bytes_added and bytes_stored are positive" "$T/fresh.json" 'd["bytes_added"] > 0 and d["bytes_stored"] > 0'

# ---------------------------------------------------------------- job/host/tag and selection
F=$T/sel
mkdir -p "$F"
printf 'one\n' >"$F/v"
expect_exit 0 "backup job=alpha host=h1 tag=x" -- backup-create --job alpha --host h1 --tag x "$F"
s1=$(tr -d '\n' <"$T/stdout")
printf 'two\n' >"$F/v"
expect_exit 0 "backup job=beta host=h2 tags=y,z" -- backup-create --job beta --host h2 --tag y --tag z "$F"
s2=$(tr -d '\n' <"$T/stdout")
printf 'three\n' >"$F/v"
expect_exit 0 "backup job=alpha host=h1 tag=y" -- backup-create --job alpha --host h1 --tag y "$F"
s3=$(tr -d '\n' <"$T/stdout")

expect_exit 0 "snapshots --json" -- backup-restore --json snapshots
cp "$T/stdout" "$T/all.json"
jcheck "snapshots --json lists all 6 snapshots, oldest first" "$T/all.json" \
  "len(d) == 6 and [s['id'] for s in d][-3:] == ['$s1', '$s2', '$s3']"
jcheck "job/host/tags are recorded (s1)" "$T/all.json" \
  "[(s['job'], s['host'], s['tags']) for s in d if s['id'] == '$s1'] == [('alpha', 'h1', ['x'])]"
jcheck "job/host/tags are recorded (s2, two tags)" "$T/all.json" \
  "[(s['job'], s['host'], sorted(s['tags'])) for s in d if s['id'] == '$s2'] == [('beta', 'h2', ['y', 'z'])]"
jcheck "paths are recorded as absolute paths" "$T/all.json" \
  "[s['paths'] for s in d if s['id'] == '$s1'] == [['$F']]"

filter_ids() {  # filter_ids ARGS...: ids listed by `backup-restore --json snapshots ARGS`, space-separated
  backup-restore --json snapshots "$@" 2>"$T/stderr" | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'
}
same_lines "snapshots --job alpha" "$s1 $s3" "$(filter_ids --job alpha)"
same_lines "snapshots --job beta" "$s2" "$(filter_ids --job beta)"
same_lines "snapshots --host h2" "$s2" "$(filter_ids --host h2)"
same_lines "snapshots --host h1" "$s1 $s3" "$(filter_ids --host h1)"
same_lines "snapshots --tag y" "$s2 $s3" "$(filter_ids --tag y)"
same_lines "snapshots --tag x" "$s1" "$(filter_ids --tag x)"
same_lines "snapshots --job alpha --tag y" "$s3" "$(filter_ids --job alpha --tag y)"
same_lines "snapshots --job nosuchjob lists nothing" "" "$(filter_ids --job nosuchjob)"

expect_exit 0 "snapshots --job beta (text)" -- backup-restore snapshots --job beta
check "text listing of --job beta shows exactly s2" test "$(grep -c . "$T/stdout")" -eq 1 -a "$(grep -c "^${s2:0:12}" "$T/stdout")" -eq 1
# Common options are documented as accepted before or after a subcommand.
got=$(backup-restore snapshots --tag y --json 2>"$T/stderr" | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))' 2>/dev/null)
same_lines "snapshots --tag y --json (--json after the subcommand) lists s2 and s3" "$s2 $s3" "$got"
[ "$got" == "$s2 $s3" ] || sed 's/^/    stderr: /' "$T/stderr"

dump_v() { backup-restore dump "$@" 2>"$T/stderr"; }
same_lines "latest resolves to the newest snapshot" "three" "$(dump_v latest "$F/v")"
same_lines "latest --job beta resolves to s2" "two" "$(dump_v latest "$F/v" --job beta)"
same_lines "latest --tag x resolves to s1" "one" "$(dump_v latest "$F/v" --tag x)"
same_lines "latest --host h2 resolves to s2" "two" "$(dump_v latest "$F/v" --host h2)"
same_lines "latest --job alpha resolves to s3" "three" "$(dump_v latest "$F/v" --job alpha)"
expect_exit 1 "latest --job nosuchjob fails (no such snapshot)" -- backup-restore dump latest "$F/v" --job nosuchjob

same_lines "an 8-hex-digit prefix resolves" "one" "$(dump_v "${s1:0:8}" "$F/v")"
same_lines "a full id resolves" "two" "$(dump_v "$s2" "$F/v")"
expect_exit 2 "a 7-hex-digit prefix is refused" -- backup-restore ls "${s1:0:7}"
expect_stderr '8' "the refusal says at least 8 hex digits"
# An unknown 8-digit prefix: flip the first digit of s1 until it matches no snapshot.
unknown=""
for c in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
  cand="$c${s1:1:7}"
  if ! grep -q "^$cand" <(ls "$T/repo/snapshots"); then unknown=$cand; break; fi
done
expect_exit 1 "an unknown 8-digit prefix fails" -- backup-restore ls "$unknown"
expect_exit 2 "a non-hex snapshot name is a usage error" -- backup-restore ls zzzzzzzz

# ---------------------------------------------------------------- ls
expect_exit 0 "ls SNAP" -- backup-restore ls "$s_plain"
got=$(ls_paths | grep "^$S")
want=$(printf '%s\n' "$S" "$S/a.txt" "$S/empty" "$S/sub" "$S/sub/b.txt" "$S/sub/deep" "$S/sub/deep/c.bin" "$S/sub/zero" | sort)
same_lines "ls lists the tree's paths" "$want" "$got"
check "ls shows c.bin with its size 300000" grep -Eq "[[:space:]]300000[[:space:]].*$S/sub/deep/c.bin\$" "$T/stdout"
expect_exit 0 "ls SNAP PATH" -- backup-restore ls "$s_plain" "$S/sub"
want=$(printf '%s\n' "$S/sub/b.txt" "$S/sub/deep" "$S/sub/deep/c.bin" "$S/sub/zero" | sort)
same_lines "ls SNAP $S/sub lists only below it" "$want" "$(ls_paths | grep -vx "$S/sub")"
check "ls SNAP PATH lists nothing outside PATH" test -z "$(ls_paths | grep -v "^$S/sub")"
expect_exit 0 "--json ls SNAP PATH" -- backup-restore --json ls "$s_plain" "$S/sub"
cp "$T/stdout" "$T/ls.json"
same_lines "ls --json lists the same paths" "$want" "$(ls_json_paths "$T/ls.json" | grep -vx "$S/sub")"
jcheck "ls --json gives type and size of c.bin" "$T/ls.json" \
  "[(e['type'], e['size']) for e in (d if isinstance(d, list) else [d]) if e['path'] == '$S/sub/deep/c.bin'] == [('file', 300000)]"
backup-restore ls "$s_plain" "$S/sub" --json >"$T/stdout" 2>"$T/stderr"
got=$(ls_json_paths "$T/stdout" 2>/dev/null | grep -vx "$S/sub")
same_lines "ls SNAP PATH --json (--json after the subcommand) lists the same paths" "$want" "$got"
[ "$got" == "$want" ] || sed 's/^/    stderr: /' "$T/stderr"

# ---------------------------------------------------------------- diff
s_old=$s_plain
s_new=$(jget "$T/summary.json" 'd["snapshot_id"]')
expect_exit 0 "diff A B" -- backup-restore diff "$s_old" "$s_new"
check "diff shows + for the added file" grep -Eq "^\+[[:space:]]+$S/sub/new.txt\$" "$T/stdout"
check "diff shows - for the removed file" grep -Eq "^-[[:space:]]+$S/sub/zero\$" "$T/stdout"
check "diff shows M for the modified file" grep -Eq "^M[[:space:]]+$S/a.txt\$" "$T/stdout"
check "diff does not list the unchanged c.bin" test -z "$(grep "$S/sub/deep/c.bin" "$T/stdout")"
check "diff does not list the unchanged b.txt" test -z "$(grep "$S/sub/b.txt" "$T/stdout")"
expect_exit 0 "diff B A (reversed)" -- backup-restore diff "$s_new" "$s_old"
check "reversed diff shows - for new.txt" grep -Eq "^-[[:space:]]+$S/sub/new.txt\$" "$T/stdout"
check "reversed diff shows + for zero" grep -Eq "^\+[[:space:]]+$S/sub/zero\$" "$T/stdout"

# ---------------------------------------------------------------- dump
backup-restore dump "$s_plain" "$S/sub/deep/c.bin" >"$T/c.out" 2>"$T/stderr"
check "dump SNAP /abs/file exits 0" test $? -eq 0
check "dump writes the exact bytes" cmp -s "$T/c.out" "$S/sub/deep/c.bin"
same_lines "dump of the old a.txt gives the old content" "alpha" "$(dump_v "$s_old" "$S/a.txt")"
expect_exit 1 "dump of a path not in the snapshot fails" -- backup-restore dump "$s_plain" "$S/nonexistent"

mkdir -p "$T/untar"
backup-restore dump "$s_new" --tar 2>"$T/stderr" | tar -x -C "$T/untar"
check "dump --tar | tar -x exits 0" test "${PIPESTATUS[0]}${PIPESTATUS[1]}" = 00
check "dump --tar reproduces the tree (diff -r)" diff -r "$S" "$T/untar$S"
check "dump --tar reproduces the empty directory" test -d "$T/untar$S/empty"

# ---------------------------------------------------------------- stdin
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$T/db.bin"
backup-create --stdin --stdin-name db.sql <"$T/db.bin" >"$T/stdout" 2>"$T/stderr"
check "--stdin --stdin-name db.sql exits 0" test $? -eq 0
s_stdin=$(tr -d '\n' <"$T/stdout")
check "--stdin prints a snapshot id" is_hex64 "$s_stdin"
backup-restore dump "$s_stdin" /db.sql >"$T/db.out" 2>"$T/stderr"
check "dump SNAP /db.sql exits 0" test $? -eq 0
check "dump SNAP /db.sql gives stdin back byte for byte" cmp -s "$T/db.out" "$T/db.bin"
expect_exit 0 "ls of the stdin snapshot" -- backup-restore ls "$s_stdin"
check "ls of the stdin snapshot shows /db.sql with its size" grep -Eq "[[:space:]]$((3 * 1024 * 1024 + 12345))[[:space:]].*/db.sql\$" "$T/stdout"
# The man page's own example: --stdin-name /postgres/app.dump.
backup-create --stdin --stdin-name /postgres/app.dump <"$T/db.bin" >"$T/stdout" 2>"$T/stderr"
rc=$?
check "--stdin-name /postgres/app.dump (man page example) exits 0 (got $rc)" test $rc -eq 0
if [ $rc -eq 0 ]; then
  backup-restore dump "$(tr -d '\n' <"$T/stdout")" /postgres/app.dump 2>/dev/null | cmp -s - "$T/db.bin"
  check "dump /postgres/app.dump gives stdin back" test "${PIPESTATUS[1]}" -eq 0
else
  sed 's/^/    stderr: /' "$T/stderr"
fi

# ---------------------------------------------------------------- excludes
E=$T/ex
mkdir -p "$E/keep" "$E/a/node_modules" "$E/a/b/skipme" "$E/logs"
printf 'k\n' >"$E/keep/k.txt"
printf 't\n' >"$E/keep/scratch.tmp"
printf 'm\n' >"$E/a/node_modules/m.js"
printf 's\n' >"$E/a/b/skipme/s.txt"
printf 'l\n' >"$E/logs/x.log"
printf 'c\n' >"$E/a/b/c.txt"
printf '# a comment\n\n*.log\nnode_modules\n' >"$T/excludes"
# '*.tmp': a name pattern; "$E/*/skipme": a path pattern whose * also matches '/'.
expect_exit 0 "backup with --exclude (name and path) and --exclude-file" -- \
  backup-create --exclude '*.tmp' --exclude "$E/*/skipme" --exclude-file "$T/excludes" "$E"
s_ex=$(tr -d '\n' <"$T/stdout")
expect_exit 0 "ls of the excluding snapshot" -- backup-restore ls "$s_ex"
got=$(ls_paths | grep "^$E")
want=$(printf '%s\n' "$E" "$E/a" "$E/a/b" "$E/a/b/c.txt" "$E/keep" "$E/keep/k.txt" "$E/logs" | sort)
same_lines "excluded files are kept out (only the expected paths)" "$want" "$got"

# ---------------------------------------------------------------- restore selection
expect_exit 0 "restore --include '*.txt'" -- backup-restore "$s_new" --target "$T/r_inc" --include '*.txt'
got=$(cd "$T/r_inc" && find . -type f | sort)
want=$(printf '%s\n' ".$S/a.txt" ".$S/sub/b.txt" ".$S/sub/new.txt" | sort)
same_lines "--include restores only the matching files" "$want" "$got"
check "--include: restored content is right" cmp -s "$T/r_inc$S/sub/b.txt" "$S/sub/b.txt"
expect_exit 0 "restore --include DIR" -- backup-restore "$s_new" --target "$T/r_dir" --include "$S/sub/deep"
got=$(cd "$T/r_dir" && find . -type f | sort)
same_lines "--include DIR restores the directory's content only" ".$S/sub/deep/c.bin" "$got"
expect_exit 0 "restore --exclude DIR" -- backup-restore "$s_new" --target "$T/r_exc" --exclude "$S/sub"
got=$(cd "$T/r_exc" && find . -type f | sort)
same_lines "--exclude DIR leaves out everything below it" ".$S/a.txt" "$got"
check "--exclude DIR: the excluded directory is not created" test ! -e "$T/r_exc$S/sub"
expect_exit 0 "restore --include '*.txt' --exclude 'new.txt'" -- \
  backup-restore "$s_new" --target "$T/r_both" --include '*.txt' --exclude 'new.txt'
got=$(cd "$T/r_both" && find . -type f | sort)
want=$(printf '%s\n' ".$S/a.txt" ".$S/sub/b.txt" | sort)
same_lines "excludes win over includes" "$want" "$got"

# ---------------------------------------------------------------- overwrite modes
R=$T/r_full
expect_exit 0 "full restore" -- backup-restore "$s_new" --target "$R"
check "full restore is identical (diff -r)" diff -r "$S" "$R$S"
tgt=$R$S/sub/b.txt
printf 'locally modified, longer\n' >"$tgt"
expect_exit 0 "restore --overwrite never" -- backup-restore "$s_new" --target "$R" --overwrite never
same_lines "--overwrite never leaves the modified file alone" "locally modified, longer" "$(cat "$tgt")"
expect_exit 0 "restore --overwrite always" -- backup-restore "$s_new" --target "$R" --overwrite always
check "--overwrite always replaces it" cmp -s "$tgt" "$S/sub/b.txt"
# if-changed: size differs -> replaced.
printf 'different size\n' >"$tgt"
expect_exit 0 "restore --overwrite if-changed (size differs)" -- backup-restore "$s_new" --target "$R" --overwrite if-changed
check "if-changed replaces a file whose size differs" cmp -s "$tgt" "$S/sub/b.txt"
# if-changed: same size, mtime differs -> replaced.
printf 'BRAVO BRAVO\n' >"$tgt"
touch -d '2001-02-03 04:05:06' "$tgt"
expect_exit 0 "restore --overwrite if-changed (mtime differs)" -- backup-restore "$s_new" --target "$R" --overwrite if-changed
check "if-changed replaces a same-size file whose mtime differs" cmp -s "$tgt" "$S/sub/b.txt"
# if-changed: same size and mtime -> left alone (the cheap size/mtime test).
printf 'BRAVO BRAVO\n' >"$tgt"
touch -r "$S/sub/b.txt" "$tgt"
expect_exit 0 "restore --overwrite if-changed (same size and mtime)" -- backup-restore "$s_new" --target "$R" --overwrite if-changed
same_lines "if-changed leaves a same-size same-mtime file alone" "BRAVO BRAVO" "$(cat "$tgt")"
expect_exit 0 "restore with the default overwrite mode" -- backup-restore "$s_new" --target "$R"
same_lines "the default mode is if-changed" "BRAVO BRAVO" "$(cat "$tgt")"
expect_exit 2 "--overwrite sometimes is a usage error" -- backup-restore "$s_new" --target "$R" --overwrite sometimes

# ---------------------------------------------------------------- dry run
expect_exit 0 "restore --dry-run into a new directory" -- backup-restore "$s_new" --target "$T/r_dry" --dry-run
check "--dry-run creates nothing" test ! -e "$T/r_dry"
printf 'dry\n' >"$tgt"
expect_exit 0 "restore --dry-run --overwrite always over an existing tree" -- \
  backup-restore "$s_new" --target "$R" --dry-run --overwrite always
same_lines "--dry-run leaves existing files alone" "dry" "$(cat "$tgt")"
rm "$R$S/a.txt"
expect_exit 0 "restore --dry-run with a file missing from the target" -- backup-restore "$s_new" --target "$R" --dry-run
check "--dry-run does not recreate the missing file" test ! -e "$R$S/a.txt"

# ---------------------------------------------------------------- --help, --version, unknown flags
for tool in backup-create backup-restore backup-verify; do
  expect_exit 0 "$tool --version" -- "$tool" --version
  check "$tool --version prints a version" grep -Eq '[0-9]+\.[0-9]+' "$T/stdout"
  expect_exit 0 "$tool --help" -- "$tool" --help
  check "$tool --help prints usage" grep -q "Usage" "$T/stdout"
  expect_exit 2 "$tool --no-such-flag" -- "$tool" --no-such-flag
done
expect_exit 0 "backup-restore ls --help" -- backup-restore ls --help
expect_exit 0 "backup-create init --help" -- backup-create init --help
expect_exit 2 "backup-restore ls --no-such-flag" -- backup-restore ls latest --no-such-flag
check "nothing above left a lock behind" test -z "$(ls "$T/repo/locks")"

finish
