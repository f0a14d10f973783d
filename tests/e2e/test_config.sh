#!/usr/bin/env bash
# The YAML configuration file: running a job (paths, excludes, tags, host, repository and secret
# from the file), --config and LIFEBOAT_CONFIG, command-line overrides, and strict checking
# (unknown keys, undefined repositories, bad values, undefined jobs) with file:line messages.
source "$(dirname "$0")/lib.sh"

stderr_has() {  # stderr_has FIXED-STRING DESCRIPTION: the last command's stderr contains the string
  if grep -Fq -- "$1" "$T/stderr"; then ok "$2"; else
    fail "$2: stderr lacks '$1'"; sed 's/^/    stderr: /' "$T/stderr" | head -10
  fi
}
# Explicit repository access, independent of any configuration.
snaps_json() { backup-restore --repo "$T/repo" --password-file "$T/password" --json snapshots >"$T/snaps.json" 2>"$T/snaps.err"; }
nsnaps() { snaps_json; python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/snaps.json"; }
snap() {  # snap ID: that snapshot's JSON object in $T/snap.json
  snaps_json
  python3 -c 'import json,sys; print(json.dumps([s for s in json.load(open(sys.argv[1])) if s["id"] == sys.argv[2]][0]))' \
    "$T/snaps.json" "$1" >"$T/snap.json" 2>/dev/null || echo null >"$T/snap.json"
}

expect_exit 0 "init (from the environment)" -- backup-create init

S=$T/data
mkdir -p "$S/www/cache" "$S/www/static"
printf 'index\n' >"$S/www/index.html"
printf 'tmp\n' >"$S/www/upload.tmp"
printf 'cached\n' >"$S/www/cache/c1"
printf 'css\n' >"$S/www/static/site.css"
printf 'log\n' >"$S/www/static/debug.log"
printf 'etc\n' >"$S/nginx.conf"
printf '*.log\n' >"$T/web.exclude"

CFG=$T/lifeboat.yaml
cat >"$CFG" <<EOF
# test configuration
cache-dir: $T/cache-from-config

repositories:
  main:
    url: $T/repo
    password-file: $T/password

jobs:
  web:
    repository: main
    paths:
      - $S/www
      - $S/nginx.conf
    exclude:
      - "*.tmp"
      - $S/www/cache
    exclude-file: $T/web.exclude
    tags: [daily, web]
    host: web1
    one-file-system: false
EOF

# From here on nothing but the configuration names the repository or the secret.
unset LIFEBOAT_REPOSITORY LIFEBOAT_PASSWORD_FILE

expect_exit 0 "backup-create --config FILE --job web --json (no paths, no repository/secret env)" -- \
  backup-create --config "$CFG" --job web --json </dev/null
s1=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$T/stdout" 2>/dev/null)
jcheck "the job's summary counts its 3 files (excludes applied)" "$T/stdout" 'd["files_new"] == 3 and d["errors"] == []'
snap "$s1"
jcheck "the snapshot records job web" "$T/snap.json" 'd["job"] == "web"'
jcheck "the snapshot records host web1" "$T/snap.json" 'd["host"] == "web1"'
jcheck "the snapshot records tags daily, web" "$T/snap.json" 'sorted(d["tags"]) == ["daily", "web"]'
jcheck "the snapshot records the job's paths" "$T/snap.json" "sorted(d['paths']) == sorted(['$S/www', '$S/nginx.conf'])"
backup-restore --repo "$T/repo" --password-file "$T/password" ls "$s1" >"$T/ls.txt" 2>"$T/stderr"
got=$(awk '{print $NF}' "$T/ls.txt" | grep "^$S" | sort)
want=$(printf '%s\n' "$S" "$S/www" "$S/www/index.html" "$S/www/static" "$S/www/static/site.css" "$S/nginx.conf" | sort)
if [ "$got" == "$want" ]; then ok "the job's excludes (name, path, exclude-file) were applied"; else
  fail "the job's excludes (name, path, exclude-file) were applied"; diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
fi

# LIFEBOAT_CONFIG, and command-line options overriding the job.
printf 'index v2\n' >"$S/www/index.html"
LIFEBOAT_CONFIG=$CFG backup-create --job web --tag manual </dev/null >"$T/stdout" 2>"$T/stderr"
check "LIFEBOAT_CONFIG=FILE backup-create --job web --tag manual exits 0" test $? -eq 0
s2=$(tr -d '\n' <"$T/stdout")
snap "$s2"
jcheck "--tag on the command line overrides the job's tags" "$T/snap.json" 'd["tags"] == ["manual"]'
jcheck "... and job and host still come from the file" "$T/snap.json" 'd["job"] == "web" and d["host"] == "web1"'
LIFEBOAT_CONFIG=$CFG backup-create --job web --host override-host </dev/null >"$T/stdout" 2>"$T/stderr"
check "LIFEBOAT_CONFIG=FILE backup-create --job web --host override-host exits 0" test $? -eq 0
snap "$(tr -d '\n' <"$T/stdout")"
jcheck "--host on the command line overrides the job's host" "$T/snap.json" 'd["host"] == "override-host" and sorted(d["tags"]) == ["daily", "web"]'
check "--config wins over LIFEBOAT_CONFIG" env LIFEBOAT_CONFIG="$T/does-not-exist.yaml" \
  backup-create --config "$CFG" --job web -q </dev/null >/dev/null 2>&1

# The job's repository serves the other tools too.
expect_exit 0 "backup-restore --config FILE --job web snapshots --json" -- \
  backup-restore --config "$CFG" --job web --json snapshots
jcheck "backup-restore --job web lists the web snapshots (4)" "$T/stdout" 'len(d) == 4 and all(s["job"] == "web" for s in d)'
LIFEBOAT_CONFIG=$CFG backup-restore --job web dump latest "$S/www/index.html" >"$T/stdout" 2>"$T/stderr"
check "LIFEBOAT_CONFIG: dump latest --job web gives the newest content" test "$(cat "$T/stdout")" == "index v2"

# A repository given on the command line wins over the job's (an empty, second repository).
expect_exit 0 "init a second repository" -- backup-create --repo "$T/repo2" --password-file "$T/password" init
expect_exit 0 "--repo overrides the job's repository" -- \
  backup-create --config "$CFG" --job web --repo "$T/repo2" --password-file "$T/password"
s_other=$(tr -d '\n' <"$T/stdout")
check "the snapshot went to the --repo repository" test -n "$s_other" -a -f "$T/repo2/snapshots/$s_other"
check "... and not to the job's" test ! -e "$T/repo/snapshots/$s_other"

# ---------------------------------------------------------------- errors
n0=$(nsnaps)
bad() {  # bad NAME: writes $T/NAME.yaml from stdin
  cat >"$T/$1.yaml"
}
bad unknown-top <<EOF
repositories:
  main:
    url: $T/repo
    password-file: $T/password
jbos:
  web:
    repository: main
    paths: [$S/www]
EOF
expect_exit 2 "unknown top-level key" -- backup-create --config "$T/unknown-top.yaml" --job web
stderr_has "$T/unknown-top.yaml:5:" "the message names the file and line 5"
stderr_has "jbos" "the message names the unknown key"
check "the message lists the valid top-level keys" grep -q 'cache-dir.*repositories.*jobs\|jobs.*repositories\|repositories.*jobs' "$T/stderr"

bad unknown-job-key <<EOF
repositories:
  main:
    url: $T/repo
    password-file: $T/password
jobs:
  web:
    repository: main
    paths: [$S/www]
    exlude: ["*.tmp"]
EOF
expect_exit 2 "unknown job key" -- backup-create --config "$T/unknown-job-key.yaml" --job web
stderr_has "$T/unknown-job-key.yaml:9:" "the message names the file and line 9"
stderr_has "exlude" "the message names the unknown key"
check "the message lists the valid job keys" \
  grep -q 'repository.*paths.*exclude.*exclude-file.*tags.*host.*one-file-system' "$T/stderr"

bad undefined-repo <<EOF
repositories:
  main:
    url: $T/repo
    password-file: $T/password
jobs:
  web:
    paths: [$S/www]
    repository: offsite
EOF
expect_exit 2 "a job naming an undefined repository" -- backup-create --config "$T/undefined-repo.yaml" --job web
stderr_has "$T/undefined-repo.yaml:8:" "the message names the file and line 8"
stderr_has "offsite" "the message names the undefined repository"
stderr_has "main" "the message lists the defined repositories"

bad maybe <<EOF
repositories:
  main:
    url: $T/repo
    password-file: $T/password
jobs:
  web:
    repository: main
    paths: [$S/www]
    one-file-system: maybe
    tags: [x]
EOF
expect_exit 2 "one-file-system: maybe" -- backup-create --config "$T/maybe.yaml" --job web
stderr_has "$T/maybe.yaml:9:" "the message names the file and line 9"
stderr_has "one-file-system" "the message names the key"
check "the message lists the valid choices true and false" grep -q 'true.*false' "$T/stderr"

bad unknown-repo-key <<EOF
repositories:
  main:
    url: $T/repo
    pasword-file: $T/password
jobs:
  web:
    repository: main
    paths: [$S/www]
EOF
expect_exit 2 "unknown repository key" -- backup-create --config "$T/unknown-repo-key.yaml" --job web
stderr_has "$T/unknown-repo-key.yaml:4:" "the message names the file and line 4"
check "the message lists the valid repository keys" grep -q 'url.*password-file.*password-command.*key-file' "$T/stderr"

expect_exit 2 "an error in the file also stops backup-restore" -- \
  backup-restore --config "$T/unknown-job-key.yaml" --job web snapshots
stderr_has "$T/unknown-job-key.yaml:9:" "backup-restore names the file and line 9"
LIFEBOAT_CONFIG="$T/maybe.yaml" backup-create --job web </dev/null >"$T/stdout" 2>"$T/stderr"
check "LIFEBOAT_CONFIG pointing at a bad file exits 2" test $? -eq 2

expect_exit 2 "an undefined --job" -- backup-create --config "$CFG" --job nosuchjob
stderr_has "nosuchjob" "the message names the undefined job"
expect_exit 2 "--config naming a missing file" -- backup-create --config "$T/missing.yaml" --job web
stderr_has "$T/missing.yaml" "the message names the missing file"
expect_exit 2 "LIFEBOAT_CONFIG naming a missing file" -- env LIFEBOAT_CONFIG="$T/missing.yaml" backup-create --job web

check "no failed run wrote a snapshot" test "$(nsnaps)" -eq "$n0"

finish
