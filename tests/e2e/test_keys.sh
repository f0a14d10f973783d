#!/usr/bin/env bash
# Key management and secret sources: key files, key add/list/passwd/remove, retired signers,
# write-only keys, password commands, password-file mode checks, and no secret without a terminal.
source "$(dirname "$0")/lib.sh"

is_hex64() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }
secret() {  # secret FILE TEXT: a 0600 password file
  printf '%s\n' "$2" >"$1"
  chmod 600 "$1"
}
# Every command below names its secret explicitly; the environment gives none.
unset LIFEBOAT_PASSWORD_FILE
PA=$T/password  # from lib.sh: key A
secret "$T/pwB" 'password of key B'
secret "$T/pwB2" 'second password of key B'
secret "$T/pwC" 'password of key C'
secret "$T/wrong" 'not a password of this repository'

D=$T/data
mkdir -p "$D/sub"
printf 'hello\n' >"$D/hello.txt"
head -c 200000 /dev/urandom >"$D/sub/random.bin"

# ---------------------------------------------------------------- key generate
expect_exit 0 "key generate FILE" -- backup-create key generate "$T/k1.key"
check "key generate writes the file" test -s "$T/k1.key"
check "the key file has mode 0600" test "$(stat -c %a "$T/k1.key")" = 600
check "key generate prints nothing on stdout" test ! -s "$T/stdout"
cp "$T/k1.key" "$T/k1.copy"
expect_exit 1 "key generate refuses to overwrite an existing file" -- backup-create key generate "$T/k1.key"
check "the existing key file is unchanged" cmp -s "$T/k1.key" "$T/k1.copy"
echo "not a key" >"$T/other-file"
expect_exit 1 "key generate refuses to overwrite any existing file" -- backup-create key generate "$T/other-file"
check "two generated keys differ" sh -c "backup-create key generate '$T/k2.key' 2>/dev/null && ! cmp -s '$T/k1.key' '$T/k2.key'"

# ---------------------------------------------------------------- init --key-file
K=$T/keyrepo
expect_exit 0 "init --key-file" -- backup-create --repo "$K" --key-file "$T/k1.key" init
check "init --key-file prints a repository id" is_hex64 "$(tr -d '\n' <"$T/stdout")"
expect_exit 0 "backup with the key file" -- backup-create --repo "$K" --key-file "$T/k1.key" "$D"
expect_exit 0 "the key file opens the repository" -- backup-restore --repo "$K" --key-file "$T/k1.key" snapshots
expect_exit 12 "a password does not open a key-file repository" -- backup-restore --repo "$K" --password-file "$PA" snapshots
expect_exit 12 "another key file does not open it" -- backup-restore --repo "$K" --key-file "$T/k2.key" snapshots
expect_exit 0 "LIFEBOAT_KEY_FILE opens it" -- env LIFEBOAT_KEY_FILE="$T/k1.key" backup-restore --repo "$K" snapshots

# ---------------------------------------------------------------- password repository, key add
expect_exit 0 "init with password A" -- backup-create --password-file "$PA" init
expect_exit 0 "backup with key A" -- backup-create --password-file "$PA" --tag by-a "$D"
snapA=$(tr -d '\n' <"$T/stdout")
expect_exit 0 "key list --json (one slot)" -- backup-create --password-file "$PA" --json key list
jcheck "one slot after init" "$T/stdout" 'len(d) == 1'
idA=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' <"$T/stdout" 2>/dev/null)

expect_exit 0 "key add (new password from LIFEBOAT_NEW_PASSWORD_FILE)" -- \
  env LIFEBOAT_NEW_PASSWORD_FILE="$T/pwB" backup-create --password-file "$PA" key add --label key-b
idB=$(tr -d '\n' <"$T/stdout")
check "key add prints the new key's id" is_hex64 "$idB"
expect_exit 0 "key list --json" -- backup-create --password-file "$PA" --json key list
cp "$T/stdout" "$T/keys.json"
jcheck "key list shows 2 slots" "$T/keys.json" 'len(d) == 2'
jcheck "key list shows A and B by id" "$T/keys.json" "sorted(k['id'] for k in d) == sorted(['$idA', '$idB'])"
jcheck "key B has its label and full access" "$T/keys.json" "[(k['label'], k['access']) for k in d if k['id'] == '$idB'] == [('key-b', 'full')]"
expect_exit 0 "key list (text)" -- backup-create --password-file "$PA" key list
check "the text list has 2 lines" test "$(grep -c . "$T/stdout")" -eq 2
expect_exit 0 "the new password opens the repository" -- backup-restore --password-file "$T/pwB" snapshots
expect_exit 12 "a wrong password does not" -- backup-restore --password-file "$T/wrong" snapshots
expect_exit 0 "key add --new-password-file" -- backup-create --password-file "$PA" key add --new-password-file "$T/pwC"
idC=$(tr -d '\n' <"$T/stdout")
expect_exit 0 "key list after the third key" -- backup-create --password-file "$PA" --json key list
jcheck "key list shows 3 slots" "$T/stdout" 'len(d) == 3'
expect_exit 0 "password C opens the repository" -- backup-restore --password-file "$T/pwC" snapshots

# ---------------------------------------------------------------- key passwd
expect_exit 0 "key passwd (as B, to B2)" -- backup-create --password-file "$T/pwB" key passwd --new-password-file "$T/pwB2"
expect_exit 12 "B's old password no longer opens the repository" -- backup-restore --password-file "$T/pwB" snapshots
expect_exit 0 "B's new password opens it" -- backup-restore --password-file "$T/pwB2" snapshots
expect_exit 0 "A still opens it" -- backup-restore --password-file "$PA" snapshots
expect_exit 0 "key list after passwd" -- backup-create --password-file "$PA" --json key list
jcheck "passwd changed no slot count (3)" "$T/stdout" 'len([k for k in d if not k.get("retired")]) == 3'
expect_exit 0 "key passwd via LIFEBOAT_NEW_PASSWORD_FILE (C to B's old password)" -- \
  env LIFEBOAT_NEW_PASSWORD_FILE="$T/pwB" backup-create --password-file "$T/pwC" key passwd
expect_exit 12 "C's old password no longer opens it" -- backup-restore --password-file "$T/pwC" snapshots
expect_exit 0 "C's new password opens it" -- backup-restore --password-file "$T/pwB" snapshots

# ---------------------------------------------------------------- key remove
expect_exit 0 "backup signed by key B" -- backup-create --password-file "$T/pwB2" --tag by-b "$D"
snapB=$(tr -d '\n' <"$T/stdout")
expect_exit 0 "key remove B (8-digit prefix, as A)" -- backup-create --password-file "$PA" key remove "${idB:0:8}"
expect_exit 12 "the removed key no longer opens the repository" -- backup-restore --password-file "$T/pwB2" snapshots
expect_exit 0 "key list after remove" -- backup-create --password-file "$PA" --json key list
jcheck "B is no longer an active slot" "$T/stdout" "not [k for k in d if k['id'] == '$idB' and not k.get('retired')]"
expect_exit 0 "backup-verify passes with B's snapshot (retired signer)" -- backup-verify --password-file "$PA"
expect_exit 0 "backup-restore snapshots --json" -- backup-restore --password-file "$PA" --json snapshots
jcheck "B's snapshot is listed as trusted" "$T/stdout" "[s['trusted'] for s in d if s['id'] == '$snapB'] == [True]"
jcheck "A's snapshot is listed as trusted" "$T/stdout" "[s['trusted'] for s in d if s['id'] == '$snapA'] == [True]"
backup-restore --password-file "$PA" dump "$snapB" "$D/hello.txt" >"$T/out" 2>"$T/stderr"
check "B's snapshot can still be read (dump exits 0, right bytes)" cmp -s "$T/out" "$D/hello.txt"
expect_exit 1 "removing the key in use is refused" -- backup-create --password-file "$PA" key remove "$idA"
expect_exit 0 "the key in use still opens the repository" -- backup-restore --password-file "$PA" snapshots
expect_exit 0 "key remove C (full id)" -- backup-create --password-file "$PA" key remove "$idC"
expect_exit 12 "removed key C no longer opens it" -- backup-restore --password-file "$T/pwB" snapshots

# ---------------------------------------------------------------- write-only key
expect_exit 0 "key generate for a write-only key" -- backup-create key generate "$T/wo.key"
expect_exit 0 "key add --write-only --new-key-file" -- \
  backup-create --password-file "$PA" key add --write-only --new-key-file "$T/wo.key" --label web1
idW=$(tr -d '\n' <"$T/stdout")
expect_exit 0 "key list" -- backup-create --password-file "$PA" --json key list
jcheck "the new key is write-only" "$T/stdout" "[k['access'] for k in d if k['id'] == '$idW'] == ['write-only']"
printf 'written by the write-only key\n' >"$D/wo.txt"
expect_exit 0 "a write-only key backs up" -- backup-create --key-file "$T/wo.key" --tag by-wo "$D"
snapW=$(tr -d '\n' <"$T/stdout")
check "... and prints the snapshot id" is_hex64 "$snapW"
expect_exit 0 "snapshots with a full key" -- backup-restore --password-file "$PA" --json snapshots
jcheck "the write-only key's snapshot is listed, trusted, with its tag" "$T/stdout" \
  "[(s['trusted'], s['tags']) for s in d if s['id'] == '$snapW'] == [(True, ['by-wo'])]"
expect_exit 0 "snapshots with the write-only key" -- backup-restore --key-file "$T/wo.key" --json snapshots
jcheck "the write-only key lists its snapshot" "$T/stdout" "'$snapW' in [s['id'] for s in d]"
expect_exit 0 "backup-verify with a full key passes" -- backup-verify --password-file "$PA"
expect_exit 0 "backup-verify --read-data with a full key passes" -- backup-verify --password-file "$PA" --read-data
backup-restore --password-file "$PA" dump "$snapW" "$D/wo.txt" >"$T/out" 2>"$T/stderr"
check "a full key reads the write-only key's snapshot" cmp -s "$T/out" "$D/wo.txt"
expect_exit 22 "restore with the write-only key is not permitted" -- \
  backup-restore --key-file "$T/wo.key" "$snapW" --target "$T/r_wo"
check "... and restores nothing" test -z "$(find "$T/r_wo" -type f 2>/dev/null)"
expect_exit 22 "ls with the write-only key is not permitted" -- backup-restore --key-file "$T/wo.key" ls "$snapW"
expect_exit 22 "dump with the write-only key is not permitted" -- backup-restore --key-file "$T/wo.key" dump "$snapW" "$D/wo.txt"
check "... and writes no content" test ! -s "$T/stdout"
expect_exit 22 "dump --tar with the write-only key is not permitted" -- backup-restore --key-file "$T/wo.key" dump "$snapW" --tar
expect_exit 22 "diff with the write-only key is not permitted" -- backup-restore --key-file "$T/wo.key" diff "$snapA" "$snapW"
# backup-verify(1): "a write-only key is refused with exit status 22" (structure check needs trees).
expect_exit 22 "backup-verify with the write-only key is not permitted" -- backup-verify --key-file "$T/wo.key"
expect_exit 0 "backup-verify --quick needs no key" -- backup-verify --quick

# ---------------------------------------------------------------- password commands
expect_exit 0 "--password-command" -- backup-restore --password-command "cat $PA" snapshots
expect_exit 12 "--password-command printing a wrong password" -- backup-restore --password-command "cat $T/wrong" snapshots
expect_exit 0 "LIFEBOAT_PASSWORD_COMMAND" -- env LIFEBOAT_PASSWORD_COMMAND="cat $PA" backup-restore snapshots
expect_exit 12 "LIFEBOAT_PASSWORD_COMMAND printing a wrong password" -- \
  env LIFEBOAT_PASSWORD_COMMAND="cat $T/wrong" backup-restore snapshots
expect_exit 0 "backup with --password-command" -- backup-create --password-command "cat $PA" "$D"
expect_exit 0 "LIFEBOAT_PASSWORD" -- env LIFEBOAT_PASSWORD="$(cat "$PA")" backup-restore snapshots
expect_exit 2 "a password given as an option value is refused" -- backup-restore --password "$(cat "$PA")" snapshots

# ---------------------------------------------------------------- password file mode
cp "$PA" "$T/world-readable"
chmod 644 "$T/world-readable"
expect_exit 2 "a world-readable password file (0644) is refused" -- backup-restore --password-file "$T/world-readable" snapshots
expect_stderr 'chmod' "the message gives a chmod hint"
expect_stderr 'world-readable' "the message names the file"
expect_exit 2 "... also from LIFEBOAT_PASSWORD_FILE" -- env LIFEBOAT_PASSWORD_FILE="$T/world-readable" backup-create "$D"
expect_stderr 'chmod' "the message gives a chmod hint"

# ---------------------------------------------------------------- no secret, no terminal
for tool in "backup-restore snapshots" "backup-create $D" "backup-verify" "backup-create key list"; do
  # shellcheck disable=SC2086
  expect_exit 2 "no secret and no terminal: $tool" -- timeout 20 $tool </dev/null
  expect_stderr '--password-file' "the message names --password-file ($tool)"
done

finish
