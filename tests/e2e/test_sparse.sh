#!/usr/bin/env bash
# A 10 GiB sparse file with three data extents backs up small and restores with its holes.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "init" -- backup-create init
mkdir -p "$T/src"
F="$T/src/sparse.img"
truncate -s 10G "$F"
# Three extents of random data: 3 MiB at 1 GiB + 12345 (unaligned), 2 MiB at 5 GiB, and the last
# 1 MiB of the file. Their offsets, lengths and sha256 go to extents.txt.
python3 - "$F" >"$T/extents.txt" <<'EOF'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
size = 10 << 30
for off, length in ((1 << 30) + 12345, 3 << 20), (5 << 30, 2 << 20), (size - (1 << 20), 1 << 20):
    data = os.urandom(length)
    os.pwrite(fd, data, off)
    print(off, length, hashlib.sha256(data).hexdigest())
os.close(fd)
EOF
check "source is 10 GiB" test "$(stat -c %s "$F")" = 10737418240
check "source is sparse" test $(($(stat -c %b "$F") * 512)) -lt $((64 << 20))

expect_exit 0 "backup of the 10 GiB sparse file" -- timeout 600 backup-create "$T/src"
SNAP=$(grep -Eo '^[0-9a-f]{64}$' "$T/stdout" | head -n1)
repo_bytes=$(du -sb "$T/repo" | cut -f1)
check "repository is far smaller than 1 GiB ($repo_bytes bytes < 64 MiB)" test "$repo_bytes" -lt $((64 << 20))

expect_exit 0 "restore" -- timeout 600 backup-restore "$SNAP" --target "$T/out"
R="$T/out$F"
check "restored size is 10 GiB" test "$(stat -c %s "$R" 2>/dev/null)" = 10737418240
check "restored data extents are equal (sha256 at each offset)" python3 - "$R" "$T/extents.txt" <<'EOF'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
bad = 0
for line in open(sys.argv[2]):
    off, length, digest = line.split()
    off, length = int(off), int(length)
    if hashlib.sha256(os.pread(fd, length, off)).hexdigest() != digest:
        print("    extent at", off, "differs"); bad += 1
sys.exit(1 if bad else 0)
EOF
check "restored holes read as zeros (samples)" python3 - "$R" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for off in (0, 1 << 20, (1 << 30) - 4096, (1 << 30) + 12345 + (3 << 20), 3 << 30, (5 << 30) + (2 << 20), (10 << 30) - (1 << 20) - 4096):
    b = os.pread(fd, 4096, off)
    assert b == bytes(4096), off
EOF
blocks=$(stat -c %b "$R" 2>/dev/null || echo 99999999999)
check "restored file keeps its holes ($((blocks * 512)) bytes allocated < 64 MiB)" test $((blocks * 512)) -lt $((64 << 20))
check "restored file starts with a hole (SEEK_DATA from 0 finds data beyond 512 MiB)" python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
assert os.lseek(fd, 0, os.SEEK_DATA) >= (512 << 20)' "$R"

finish
