#!/usr/bin/env bash
# Paper keys and Shamir k-of-n shares: key paper (one LBK1 line, or N LBS1 shares of which K
# open the repository), --key-file holding a paper key or shares (case, dashes and spaces
# optional), typos caught by the checksum, too few or mixed shares, option checks, key list,
# write-only keys, and the file mode check.
source "$(dirname "$0")/lib.sh"

keyfile() {  # keyfile FILE: standard input into FILE, mode 0600
  cat >"$1"
  chmod 600 "$1"
}
share() {  # share FILE N...: lines N... (1-based) of the LBS1 lines of FILE
  local file=$1 n
  shift
  for n in "$@"; do grep '^LBS1-' "$file" | sed -n "${n}p"; done
}
heading_id() { sed -n 's/^Lifeboat paper key for repository [0-9a-f]* (key \([0-9a-f]*\), .*/\1/p' "$1"; }
slot_count() { backup-create --password-file "$PA" --json key list 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

PA=$T/password  # from lib.sh
D=$T/data
mkdir -p "$D/sub"
printf 'hello paper\n' >"$D/hello.txt"
head -c 150000 /dev/urandom >"$D/sub/random.bin"
printf '' >"$D/empty"

# ---------------------------------------------------------------- a repository with a password
expect_exit 0 "init with the password" -- backup-create init
expect_exit 0 "back up a small tree" -- backup-create "$D"
snap=$(tr -d '\n' <"$T/stdout")

# ---------------------------------------------------------------- key paper: one LBK1 line
expect_exit 0 "key paper" -- backup-create key paper --label paper-single
cp "$T/stdout" "$T/paper.out"
check "key paper prints exactly one LBK1 line" test "$(grep -c 'LBK1' "$T/paper.out")" -eq 1
check "... and no share" test "$(grep -c 'LBS1' "$T/paper.out")" -eq 0
grep '^LBK1-' "$T/paper.out" | keyfile "$T/paper.key"
check "the line is LBK1 and base32 groups of 4" \
  grep -Eq '^LBK1(-[A-Z2-7]{4})+(-[A-Z2-7]{1,4})?$' "$T/paper.key"
idP=$(heading_id "$T/paper.out")
check "the heading names the new key" test -n "$idP"
expect_exit 0 "a second key paper" -- backup-create key paper
check "two paper keys differ" sh -c "! grep -qxF -f '$T/paper.key' '$T/stdout'"

# From here on no secret comes from the environment: each command names its own.
unset LIFEBOAT_PASSWORD_FILE

expect_exit 0 "the paper key file opens the repository" -- backup-restore --key-file "$T/paper.key" snapshots
expect_exit 0 "restore with the paper key" -- backup-restore --key-file "$T/paper.key" "$snap" --target "$T/r1"
check "the restore is byte-exact (diff -r)" diff -r "$D" "$T/r1$D"
expect_exit 0 "LIFEBOAT_KEY_FILE holding the paper key opens it" -- \
  env LIFEBOAT_KEY_FILE="$T/paper.key" backup-restore snapshots
expect_exit 0 "a backup with the paper key" -- backup-create --key-file "$T/paper.key" "$D"
expect_exit 0 "backup-verify --read-data with the paper key" -- backup-verify --key-file "$T/paper.key" --read-data

tr -d '-' <"$T/paper.key" | tr '[:upper:]' '[:lower:]' | keyfile "$T/lower.key"
check "the lowercase copy has no dash and no capital" sh -c "! grep -q '[-A-Z]' '$T/lower.key'"
expect_exit 0 "a lowercase copy without dashes opens it" -- backup-restore --key-file "$T/lower.key" snapshots
sed 's/-/ /g' "$T/paper.key" | keyfile "$T/spaces.key"
expect_exit 0 "a copy with spaces instead of dashes opens it" -- backup-restore --key-file "$T/spaces.key" snapshots
keyfile "$T/whole.key" <"$T/paper.out"
expect_exit 0 "the whole output of key paper, saved as is, opens it" -- backup-restore --key-file "$T/whole.key" snapshots
sed 's/$/\r/' "$T/paper.key" | keyfile "$T/crlf.key"
expect_exit 0 "a copy with CRLF line ends opens it" -- backup-restore --key-file "$T/crlf.key" snapshots

# One character changed (to another valid base32 character) in the middle of the key.
python3 -c '
import sys
line = open(sys.argv[1]).read().strip()
i = 5 + 12  # well inside the payload
c = "B" if line[i] != "B" else "C"
print(line[:i] + c + line[i + 1:])' "$T/paper.key" | keyfile "$T/typo.key"
check "the typo copy differs from the paper key in one place" \
  test "$(cmp -l "$T/paper.key" "$T/typo.key" | wc -l)" -eq 1
expect_exit 2 "a paper key with one character changed is refused" -- backup-restore --key-file "$T/typo.key" snapshots
expect_stderr 'checksum' "the message mentions the checksum"
expect_stderr 'typo\.key' "the message names the file"
expect_stderr 'line 1' "the message names the line"

# ---------------------------------------------------------------- key paper --shares 5 --threshold 3
expect_exit 0 "key paper --shares 5 --threshold 3" -- backup-create --password-file "$PA" key paper --shares 5 --threshold 3 --label paper-split
cp "$T/stdout" "$T/split.out"
check "it prints 5 LBS1 lines" test "$(grep -c '^LBS1-' "$T/split.out")" -eq 5
check "... and no LBK1 line" test "$(grep -c 'LBK1' "$T/split.out")" -eq 0
check "the 5 shares differ" test "$(grep '^LBS1-' "$T/split.out" | sort -u | wc -l)" -eq 5
idS=$(heading_id "$T/split.out")

share "$T/split.out" 1 2 3 | keyfile "$T/s123"
expect_exit 0 "shares 1, 2, 3 open the repository" -- backup-restore --key-file "$T/s123" snapshots
share "$T/split.out" 5 2 4 | keyfile "$T/s524"
expect_exit 0 "shares 5, 2, 4 (another triple, out of order) open it" -- backup-restore --key-file "$T/s524" snapshots
backup-restore --key-file "$T/s524" dump "$snap" "$D/sub/random.bin" >"$T/dump.out" 2>"$T/stderr"
check "shares 5, 2, 4 read the exact bytes (dump)" cmp -s "$T/dump.out" "$D/sub/random.bin"
{
  echo "Shares held by the custodians:"
  share "$T/split.out" 1
  echo
  echo "# bob"
  share "$T/split.out" 3 | tr '[:upper:]' '[:lower:]' | tr -d '-'
  share "$T/split.out" 5 | sed 's/-/ /g'
} | keyfile "$T/s135mixed"
expect_exit 0 "3 shares among other lines, in mixed spellings, open it" -- backup-restore --key-file "$T/s135mixed" snapshots
keyfile "$T/s-all" <"$T/split.out"
expect_exit 0 "all 5 shares (the whole output) open it" -- backup-restore --key-file "$T/s-all" snapshots

share "$T/split.out" 1 4 | keyfile "$T/s14"
expect_exit 2 "2 shares of a 3-of-5 split are refused" -- backup-restore --key-file "$T/s14" snapshots
expect_stderr 'needs 3' "the message says the key needs 3"
expect_stderr 'holds 2 share' "the message says the file holds 2 shares"
share "$T/split.out" 2 2 2 | keyfile "$T/s222"
expect_exit 2 "the same share three times is refused" -- backup-restore --key-file "$T/s222" snapshots

share "$T/split.out" 4 | python3 -c '
import sys
line = sys.stdin.read().strip()
i = 5 + 20
c = "B" if line[i] != "B" else "C"
print(line[:i] + c + line[i + 1:])' >"$T/bad-share"
{ share "$T/split.out" 1 2; cat "$T/bad-share"; } | keyfile "$T/s12typo"
expect_exit 2 "a share with a typo is refused" -- backup-restore --key-file "$T/s12typo" snapshots
expect_stderr 'checksum' "the message mentions the checksum"
expect_stderr 's12typo line 3' "the message names the file and line 3"

# A second 3-of-5 split (same threshold) and a 2-of-3 split: shares of different splits do not mix.
expect_exit 0 "a second split, 3 of 5" -- backup-create --password-file "$PA" key paper --shares 5 --threshold 3 --label paper-split-2
cp "$T/stdout" "$T/split2.out"
{ share "$T/split.out" 1 2; share "$T/split2.out" 3; } | keyfile "$T/mix-same-k"
expect_exit 2 "shares 1, 2 of one 3-of-5 split and share 3 of another are refused" -- \
  backup-restore --key-file "$T/mix-same-k" snapshots
{ share "$T/split.out" 1; share "$T/split2.out" 2 3; } | keyfile "$T/mix-same-k2"
expect_exit 2 "share 1 of one 3-of-5 split and shares 2, 3 of another are refused" -- \
  backup-restore --key-file "$T/mix-same-k2" snapshots
expect_exit 0 "a 2-of-3 split" -- backup-create --password-file "$PA" key paper --shares 3 --threshold 2 --label paper-split-3
cp "$T/stdout" "$T/split3.out"
share "$T/split3.out" 3 1 | keyfile "$T/s3-31"
expect_exit 0 "2 shares of the 2-of-3 split open it" -- backup-restore --key-file "$T/s3-31" snapshots
{ share "$T/split.out" 1 2; share "$T/split3.out" 3; } | keyfile "$T/mix-other-k"
expect_exit 2 "shares of a 3-of-5 split mixed with one of a 2-of-3 split are refused" -- \
  backup-restore --key-file "$T/mix-other-k" snapshots

# ---------------------------------------------------------------- option checks
before=$(slot_count)
expect_exit 2 "--shares 5 without --threshold" -- backup-create --password-file "$PA" key paper --shares 5
expect_stderr 'threshold' "the message names --threshold"
expect_exit 2 "--threshold 3 without --shares" -- backup-create --password-file "$PA" key paper --threshold 3
expect_exit 2 "--threshold 4 of --shares 3" -- backup-create --password-file "$PA" key paper --shares 3 --threshold 4
expect_exit 2 "--threshold 1" -- backup-create --password-file "$PA" key paper --shares 3 --threshold 1
expect_exit 2 "--shares 256" -- backup-create --password-file "$PA" key paper --shares 256 --threshold 2
check "the refused commands added no key slot" test "$(slot_count)" = "$before"
check "... and printed no key" sh -c "! grep -q 'LB[KS]1' '$T/stdout'"

# ---------------------------------------------------------------- key list
expect_exit 0 "key list --json" -- backup-create --password-file "$PA" --json key list
cp "$T/stdout" "$T/keys.json"
jcheck "the paper key is a full key-file slot" "$T/keys.json" \
  "[(k['type'], k['access'], k['label']) for k in d if k['id'].startswith('$idP')] == [('key-file', 'full', 'paper-single')]"
jcheck "the 3-of-5 split is a full key-file slot" "$T/keys.json" \
  "[(k['type'], k['access'], k['label']) for k in d if k['id'].startswith('$idS')] == [('key-file', 'full', 'paper-split')]"
jcheck "every paper slot is a full key-file slot" "$T/keys.json" \
  "all(k['type'] == 'key-file' and k['access'] == 'full' for k in d if k['label'].startswith('paper'))"
jcheck "a paper key without --label is labelled 'paper key'" "$T/keys.json" \
  "len([k for k in d if k['label'] == 'paper key']) == 1"
jcheck "6 slots: the password and 5 paper keys" "$T/keys.json" 'len(d) == 6'

# ---------------------------------------------------------------- write-only key
printf 'password of a write-only key\n' >"$T/pwW"
chmod 600 "$T/pwW"
expect_exit 0 "key add --write-only" -- \
  env LIFEBOAT_NEW_PASSWORD_FILE="$T/pwW" backup-create --password-file "$PA" key add --write-only --label wo
before=$(slot_count)
expect_exit 22 "key paper with a write-only key is not permitted" -- backup-create --password-file "$T/pwW" key paper
check "... and prints no key" sh -c "! grep -q 'LB[KS]1' '$T/stdout'"
expect_exit 22 "key paper --shares with a write-only key is not permitted" -- \
  backup-create --password-file "$T/pwW" key paper --shares 3 --threshold 2
check "... and adds no slot" test "$(slot_count)" = "$before"
expect_exit 0 "a paper key can add a key (it is a full key)" -- backup-create --key-file "$T/paper.key" key paper --label by-paper

# ---------------------------------------------------------------- file mode
cp "$T/paper.key" "$T/world.key"
chmod 644 "$T/world.key"
expect_exit 2 "a world-readable paper key file (0644) is refused" -- backup-restore --key-file "$T/world.key" snapshots
expect_stderr 'chmod' "the message gives a chmod hint"
expect_stderr 'world\.key' "the message names the file"
cp "$T/s123" "$T/world-shares"
chmod 644 "$T/world-shares"
expect_exit 2 "a world-readable shares file (0644) is refused" -- backup-restore --key-file "$T/world-shares" snapshots
expect_exit 2 "... also from LIFEBOAT_KEY_FILE" -- env LIFEBOAT_KEY_FILE="$T/world.key" backup-restore snapshots

finish
