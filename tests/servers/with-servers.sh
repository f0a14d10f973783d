#!/usr/bin/env bash
# Starts the loopback servers the storage tests use — s3rver (S3), Azurite (Azure Blob) and a
# private OpenSSH sshd (SFTP) — on 127.0.0.1 with temporary directories, exports the
# variables that describe them, runs the given command, and stops everything afterwards.
# Installs the npm servers (pinned in tests/servers/package.json) into
# $LIFEBOAT_TEST_SERVERS_DIR (default /var/tmp/lifeboat-test-servers) when missing.
# Needs root for the sshd's test account. Usage: with-servers.sh COMMAND [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=${LIFEBOAT_TEST_SERVERS_DIR:-/var/tmp/lifeboat-test-servers}

if [ ! -x "$npm_dir/node_modules/.bin/s3rver" ] || [ ! -x "$npm_dir/node_modules/.bin/azurite-blob" ] \
   || ! cmp -s "$here/package.json" "$npm_dir/package.json"; then
  mkdir -p "$npm_dir"
  cp "$here/package.json" "$npm_dir/package.json"
  echo "with-servers: installing s3rver and azurite into $npm_dir" >&2
  (cd "$npm_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

T=$(mktemp -d /tmp/lifeboat-servers-XXXXXX)
chmod 755 "$T"
pids=()
user=lifeboat-test
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -f "$T/sshd.pid" ] && kill "$(cat "$T/sshd.pid")" 2>/dev/null || true
  pkill -u "$user" 2>/dev/null || true
  userdel "$user" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # PORT NAME LOG
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "with-servers: $2 did not start on port $1; its log:" >&2
  cat "$3" >&2 || true
  exit 1
}

# S3: s3rver with one bucket (path-style). It does not check signatures; the signer is proved
# by the AWS test vectors in the unit tests.
s3_port=$(free_port)
mkdir -p "$T/s3"
NODE_OPTIONS=--openssl-legacy-provider "$npm_dir/node_modules/.bin/s3rver" -d "$T/s3" \
  -a 127.0.0.1 -p "$s3_port" --configure-bucket testbkt --silent >"$T/s3rver.log" 2>&1 &
pids+=($!)

# Azure: Azurite checks SharedKey signatures.
az_port=$(free_port)
mkdir -p "$T/azure"
"$npm_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$az_port" \
  --location "$T/azure" --disableTelemetry --silent >"$T/azurite.log" 2>&1 &
pids+=($!)

# SFTP: a private sshd with a throwaway account, key-only.
ssh_port=$(free_port)
userdel "$user" 2>/dev/null || true
useradd -M -d "$T/home" -s /bin/sh "$user"
usermod -p '*' "$user"  # a new account is locked ('!'): sshd refuses keys for it
mkdir -p "$T/home/.ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$T/clientkey"
cp "$T/clientkey.pub" "$T/home/.ssh/authorized_keys"
chmod 600 "$T/home/.ssh/authorized_keys"
chown -R "$user" "$T/home"
cat >"$T/sshd_config" <<CONF
ListenAddress 127.0.0.1:$ssh_port
HostKey $T/hostkey
PidFile $T/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
AllowUsers $user
Subsystem sftp internal-sftp
CONF
/usr/sbin/sshd -t -f "$T/sshd_config"
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"
echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$T/hostkey.pub")" >"$T/known_hosts"

wait_port "$s3_port" s3rver "$T/s3rver.log"
wait_port "$az_port" azurite "$T/azurite.log"
wait_port "$ssh_port" sshd "$T/sshd.log"

az_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
LIFEBOAT_TEST_AZURE_SAS=$(python3 "$here/azure_container.py" "http://127.0.0.1:$az_port/devstoreaccount1" \
  devstoreaccount1 "$az_key" lifeboat-test)
export LIFEBOAT_TEST_AZURE_SAS

export LIFEBOAT_TEST_SERVERS=1
export LIFEBOAT_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" LIFEBOAT_TEST_S3_BUCKET=testbkt
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE
export LIFEBOAT_TEST_AZURE_ENDPOINT="http://127.0.0.1:$az_port/devstoreaccount1"
export LIFEBOAT_TEST_AZURE_CONTAINER=lifeboat-test
export AZURE_STORAGE_ACCOUNT=devstoreaccount1 AZURE_STORAGE_KEY="$az_key"
unset AZURE_STORAGE_SAS_TOKEN
export LIFEBOAT_TEST_SFTP_BASE="sftp://$user@127.0.0.1:$ssh_port$T/home"
export LIFEBOAT_TEST_SFTP_HOME="$T/home" LIFEBOAT_TEST_SFTP_USER="$user"
export LIFEBOAT_TEST_SFTP_PORT="$ssh_port" LIFEBOAT_TEST_SFTP_DIR="$T"
export LIFEBOAT_SFTP_KEY="$T/clientkey" LIFEBOAT_SFTP_KNOWN_HOSTS="$T/known_hosts"
LIFEBOAT_TEST_SFTP_FINGERPRINT=$(ssh-keygen -lf "$T/hostkey.pub" | cut -d' ' -f2)
export LIFEBOAT_TEST_SFTP_FINGERPRINT
"$@"
