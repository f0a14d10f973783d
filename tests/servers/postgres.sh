# A throwaway PostgreSQL 15 cluster for tests: source this file, then
#   pg_start DIR [CONF_LINE...]   initdb + start as the postgres user, on a private socket
#                                 directory DIR/sock and port $PGPORT (default 54329); exports
#                                 PGHOST, PGPORT, PGUSER for the client programs
#   pg_stop DIR                   stop it (fast), waiting at most 60 s
#   pg_sql SQL                    one query through psql, values only
#   pg_lifeboat_env DIR           for WAL archiving, where the server runs the tools as postgres:
#                                 DIR and DIR/password become postgres's, DIR/env.sh exports the
#                                 repository DIR/repo, its password, cache and state
#   as_pg CMD...                  CMD as postgres with DIR/env.sh (under a timeout)
#   wait_archived N               until the server has archived N files (at most 120 s)
# Every server command runs under `timeout` so that a hung server fails the test instead of
# hanging it. Root cannot run the server: everything under DIR belongs to postgres.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_start() {
  local dir=$1
  shift
  mkdir -p "$dir/sock"
  chown -R postgres: "$dir"
  chmod 755 "$dir"
  export PGHOST="$dir/sock" PGPORT=${PGPORT:-54329} PGUSER=postgres
  timeout 120 runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
  {
    echo "port = $PGPORT"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir/sock'"
    echo "fsync = off"
    for line in "$@"; do echo "$line"; done
  } >>"$dir/data/postgresql.conf"
  timeout 120 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start \
    >/dev/null || { cat "$dir/log"; return 1; }
}

pg_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  timeout 90 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop \
    >/dev/null 2>&1 || {
    # Whatever happens, no server outlives its test.
    local pid
    pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null) && kill -9 "$pid" 2>/dev/null
  }
}

pg_sql() { timeout 60 psql -X -A -t -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}" -c "$1"; }

pg_lifeboat_env() {
  PG_ENV_DIR=$1
  chown postgres "$1" "$1/password"
  cat >"$1/env.sh" <<ENV
export PATH="$LIFEBOAT_BIN:\$PATH" LIFEBOAT_REPOSITORY="$1/repo" LIFEBOAT_PASSWORD_FILE="$1/password"
export LIFEBOAT_CACHE_DIR="$1/cache" LIFEBOAT_STATE_DIR="$1/state"
ENV
}

as_pg() { timeout 300 runuser -u postgres -- bash -c '. "$1/env.sh"; shift; exec "$@"' _ "$PG_ENV_DIR" "$@"; }

wait_archived() {
  for _ in $(seq 1 600); do
    [ "$(pg_sql "SELECT archived_count FROM pg_stat_archiver")" -ge "$1" ] && return 0
    sleep 0.2
  done
  return 1
}
