# A throwaway PostgreSQL 15 cluster for tests: source this file, then
#   pg_start DIR [CONF_LINE...]   initdb + start as the postgres user, on a private socket
#                                 directory DIR/sock and port $PGPORT (default 54329); exports
#                                 PGHOST, PGPORT, PGUSER for the client programs
#   pg_stop DIR                   stop it (fast), waiting at most 60 s
#   pg_sql SQL                    one query through psql, values only
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
