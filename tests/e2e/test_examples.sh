#!/usr/bin/env bash
# The database jobs of examples/databases.yaml, run as written (only their paths changed to
# this test's directory) against a real MariaDB and a real Redis started here: backup, damage,
# --run-restore-command, and the data is back. Also: every example configuration loads.
source "$(dirname "$0")/lib.sh"
trap 'stop_servers; rm -rf "$T"' EXIT
TO="timeout 300"
M="$T/mariadb"
R="$T/redis"
mkdir -p "$M" "$R"

stop_servers() {
  [ -f "$M/pid" ] && kill "$(cat "$M/pid")" 2>/dev/null
  [ -S "$R/redis.sock" ] && timeout 20 redis-cli -s "$R/redis.sock" shutdown nosave >/dev/null 2>&1
  sleep 0.5
  pkill -9 -f "$T/" 2>/dev/null
  true
}

# --- the example configurations load ----------------------------------------------------------------
backup-create init >/dev/null 2>&1
for f in "$LIFEBOAT_SOURCE"/examples/*.yaml; do
  expect_exit 0 "$(basename "$f") is a valid configuration" -- backup-restore snapshots --config "$f" --repo "$T/repo"
done

# --- the jobs, with this test's paths ---------------------------------------------------------------
sed -e "s|/srv/backup/db|$T/repo|; s|/etc/lifeboat/db.pass|$T/password|" \
    -e "s|/etc/lifeboat/mariadb.cnf|$M/client.cnf|g" \
    -e "s|/run/redis/redis-server.sock|$R/redis.sock|g" \
    -e "s|systemctl stop redis-server|redis-cli -s $R/redis.sock shutdown|" \
    -e "s|systemctl start redis-server|redis-server $R/redis.conf|" \
    -e "s|/var/lib/redis|$R/data|g" \
    "$LIFEBOAT_SOURCE/examples/databases.yaml" >"$T/lifeboat.yaml"
export LIFEBOAT_CONFIG="$T/lifeboat.yaml"
unset LIFEBOAT_REPOSITORY LIFEBOAT_PASSWORD_FILE

# --- MariaDB ------------------------------------------------------------------------------------------
timeout 120 mariadb-install-db --no-defaults --datadir="$M/data" --user=root \
  --auth-root-authentication-method=socket >"$M/install.log" 2>&1 ||
  { cat "$M/install.log"; echo "FAIL - mariadb-install-db"; exit 1; }
mariadbd --no-defaults --datadir="$M/data" --socket="$M/sock" --skip-networking --user=root \
  --pid-file="$M/pid" --log-error="$M/error.log" &
for _ in $(seq 1 120); do [ -S "$M/sock" ] && break; sleep 0.5; done
printf '[client]\nsocket=%s\nuser=root\n' "$M/sock" >"$M/client.cnf"
chmod 600 "$M/client.cnf"
my() { timeout 60 mariadb --defaults-extra-file="$M/client.cnf" -N -B -e "$1"; }
check "MariaDB is up" my "SELECT 1"
my "CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(100), price DECIMAL(10,2), note TEXT) ENGINE=InnoDB;
    CREATE TABLE shop.seq (n INT); INSERT INTO shop.seq VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);
    INSERT INTO shop.items SELECT a.n*1000+b.n*100+c.n*10+d.n, CONCAT('item ', a.n, b.n, c.n, d.n, ' – ünïcödé'), (a.n*1000+b.n*100+c.n*10+d.n)/4, REPEAT('x', d.n*10)
      FROM shop.seq a, shop.seq b, shop.seq c, shop.seq d;
    CREATE PROCEDURE shop.total() SELECT SUM(price) FROM shop.items;"
sum_mariadb() { my "SELECT COUNT(*), SUM(price), MD5(GROUP_CONCAT(id, name, price, note ORDER BY id)) FROM shop.items"; }
sum_mariadb >"$T/my.sum"
check "the test data is there" grep -q "^10000" "$T/my.sum"
expect_exit 0 "the mariadb job backs up" -- $TO backup-create --job mariadb --json
jcheck "its dump is stored" <(backup-restore snapshots --json --job mariadb) 'd[0]["paths"] == ["/mariadb/all-databases.sql"] and d[0]["summary"]["bytes_read"] > 100000'
my "DELETE FROM shop.items WHERE id % 2 = 0; UPDATE shop.items SET price = 0; DROP PROCEDURE shop.total"
expect_exit 0 "--run-restore-command loads it back" -- $TO backup-restore latest --job mariadb --run-restore-command
check "rows and content are as backed up" cmp "$T/my.sum" <(sum_mariadb)
check "the stored procedure is back" my "CALL shop.total()"
my "DROP DATABASE shop"
expect_exit 0 "a dropped database comes back" -- $TO backup-restore latest --job mariadb --run-restore-command
check "with its rows" cmp "$T/my.sum" <(sum_mariadb)
expect_exit 1 "the job against a stopped server" -- bash -c "kill \$(cat '$M/pid'); sleep 2; $TO backup-create --job mariadb"
expect_stderr "the command 'mariadb-dump …' exited with status 2; no snapshot was written" "the message names mariadb-dump"
expect_stderr "Can't connect" "and carries its reason"

# --- Redis --------------------------------------------------------------------------------------------
mkdir -p "$R/data"
chown redis:redis "$R/data" 2>/dev/null
printf 'port 0\nunixsocket %s\ndir %s\ndaemonize yes\npidfile %s\nlogfile %s\nsave ""\n' \
  "$R/redis.sock" "$R/data" "$R/pid" "$R/log" >"$R/redis.conf"
timeout 30 redis-server "$R/redis.conf"
for _ in $(seq 1 60); do [ -S "$R/redis.sock" ] && break; sleep 0.25; done
rc() { timeout 30 redis-cli -s "$R/redis.sock" "$@"; }
check "Redis is up" rc ping
for i in $(seq 1 300); do echo "SET key:$i value-$i-$(printf '%0200d' "$i")"; done | rc >/dev/null
rc HSET user:1 name "Ada" lang "en" >/dev/null
rc RPUSH queue a b c >/dev/null
sum_redis() { for k in $(rc --scan | sort); do printf '%s %s\n' "$k" "$(rc DUMP "$k" | md5sum)"; done; }
sum_redis >"$T/redis.sum"
check "the test data is there" test "$(wc -l <"$T/redis.sum")" -eq 302
expect_exit 0 "the redis job backs up" -- $TO backup-create --job redis --json
rc FLUSHALL >/dev/null
rc SET stray 1 >/dev/null
expect_exit 0 "--run-restore-command puts the RDB back and restarts Redis" -- $TO backup-restore latest --job redis --run-restore-command
for _ in $(seq 1 60); do rc ping >/dev/null 2>&1 && break; sleep 0.25; done
check "every key is back with its value" cmp "$T/redis.sum" <(sum_redis)
check "and the key written after the backup is gone" test -z "$(rc EXISTS stray | grep -v '^0$')"

finish
