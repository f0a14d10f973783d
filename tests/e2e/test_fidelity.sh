#!/usr/bin/env bash
# A backup and restore reproduce every kind of entry bit for bit: content, type, mode (incl.
# setuid/setgid/sticky), numeric owner, nanosecond mtimes (files, symlinks, directories), xattrs,
# hard links, devices, FIFOs, sparse files, odd names and paths longer than PATH_MAX.
source "$(dirname "$0")/lib.sh"
WALK="$(dirname "$0")/walk.py"

expect_exit 0 "init" -- backup-create init

# --- Build the source tree (python, bytes paths) ----------------------------------------------
SRC="$T/src"
python3 - "$SRC" >"$T/build.log" 2>&1 <<'EOF'
import os, sys
src = os.fsencode(sys.argv[1])
os.mkdir(src)
os.chdir(src)

def write(name, data, mode=0o644):
    with open(name, "wb") as f:
        f.write(data)
    os.chmod(name, mode)

rnd = os.urandom
write(b"regular", rnd(300000) + b"tail\n")
write(b"empty", b"")
os.mkdir(b"emptydir")
os.symlink(b"regular", b"link-relative")
os.symlink(b"/etc/hostname", b"link-absolute")
os.symlink(b"../no/such/file", b"link-dangling")
os.symlink(b"t\xffarget with\nnewline", b"link-odd-target")
# Hard links: three names of one inode, one in another directory.
write(b"hard-a", b"hard link content\n")
os.mkdir(b"sub")
os.link(b"hard-a", b"hard-b")
os.link(b"hard-a", b"sub/hard-c")
os.mkfifo(b"fifo", 0o640)
os.mknod(b"chardev", 0o620 | 0o020000, os.makedev(1, 3))
os.mknod(b"blockdev", 0o600 | 0o060000, os.makedev(7, 200))
# Sparse file: 64 MiB, two 1 MiB data extents.
sparse_a, sparse_b = rnd(1 << 20), rnd(1 << 20)
with open(b"sparse", "wb") as f:
    f.truncate(64 << 20)
    f.seek(3 << 20); f.write(sparse_a)
    f.seek(50 << 20); f.write(sparse_b)
# Permissions and owners (chown before chmod: chown clears setuid).
write(b"mode-0600", b"private\n", 0o600)
write(b"mode-0000", b"no access\n", 0o000)
write(b"setuid", b"#!/bin/true\n")
os.chown(b"setuid", 1234, 5678)
os.chmod(b"setuid", 0o4755)
write(b"setgid", b"#!/bin/true\n", 0o2755)
write(b"allbits", b"x\n", 0o7777)
os.mkdir(b"sticky-dir"); os.chmod(b"sticky-dir", 0o1777)
os.mkdir(b"setgid-dir"); os.chmod(b"setgid-dir", 0o2775)
os.mkdir(b"readonly-dir")
write(b"readonly-dir/inside", b"inside a 0555 directory\n", 0o444)
os.chmod(b"readonly-dir", 0o555)
write(b"owned", b"owned by 1234:5678\n")
os.chown(b"owned", 1234, 5678)
os.mkdir(b"owned-dir")
write(b"owned-dir/f", b"f\n")
os.chown(b"owned-dir", 1234, 5678)
os.symlink(b"owned", b"owned-link")
os.chown(b"owned-link", 1234, 5678, follow_symlinks=False)
# Extended attributes.
write(b"xattr-file", b"has xattrs\n")
os.setxattr(b"xattr-file", b"user.comment", b"hello")
os.setxattr(b"xattr-file", b"user.binary", b"\x00\x01\xff\n\x00")
os.setxattr(b"xattr-file", b"user.big", rnd(2000))
os.mkdir(b"xattr-dir")
os.setxattr(b"xattr-dir", b"user.dir", b"on a directory")
try:
    os.setxattr(b"xattr-file", b"security.lifeboat", b"security label")
    print("SECURITY_XATTR=yes")
except OSError as e:
    print("SECURITY_XATTR=no (%s)" % e)
# Names: not UTF-8, newlines, 255 bytes.
write(b"latin1-\xe9t\xe9\xff", b"latin1 name\n")
write(b"new\nline", b"newline name\n")
os.mkdir(b"dir-\xfe\nx")
write(b"dir-\xfe\nx/in\xffside\n", b"odd dir, odd name\n")
name255 = b"N" * 251 + b".dat"
assert len(name255) == 255
write(name255, b"255-byte name\n")
# A path longer than PATH_MAX: 21 nested directories of 200-byte names.
fd = os.open(b".", os.O_RDONLY | os.O_DIRECTORY)
depth = 0
for i in range(21):
    n = (b"%02d" % i) + b"L" * 198
    os.mkdir(n, dir_fd=fd)
    nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    depth += len(n) + 1
ffd = os.open(b"deep-file", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
os.write(ffd, b"beyond PATH_MAX\n")
os.close(ffd)
os.close(fd)
print("DEEP_BYTES=%d" % (len(src) + depth + len(b"/deep-file")))
# Nanosecond mtimes on everything, children before their directory (bottom-up, no following).
i = 0
def settimes(dfd):
    global i
    for name in sorted(os.listdir(dfd)):
        name = os.fsencode(name)
        st = os.lstat(name, dir_fd=dfd)
        if (st.st_mode & 0o170000) == 0o040000:
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dfd)
            settimes(sub)
            os.close(sub)
        i += 1
        mt = 1234567890_123456789 + i * 1_000_003_007
        os.utime(name, ns=(1600000000_987654321, mt), dir_fd=dfd, follow_symlinks=False)
top = os.open(b".", os.O_RDONLY | os.O_DIRECTORY)
settimes(top)
os.close(top)
os.utime(src, ns=(1600000000_000000001, 1111111111_222222223))
print("ENTRIES=%d" % i)
EOF
rc=$?
cat "$T/build.log"
if [ $rc -ne 0 ]; then fail "building the source tree failed"; finish; fi
grep -q '^SECURITY_XATTR=yes' "$T/build.log" && have_security=1 || have_security=0
deep_bytes=$(sed -n 's/^DEEP_BYTES=//p' "$T/build.log")
check "source has a path longer than PATH_MAX ($deep_bytes bytes)" test "$deep_bytes" -gt 4096
src_blocks=$(stat -c %b "$SRC/sparse")
check "source sparse file really is sparse ($src_blocks blocks)" test "$src_blocks" -lt 16384

python3 "$WALK" list "$SRC" >"$T/src.json" || fail "listing the source"

# --- Back up and restore ----------------------------------------------------------------------
expect_exit 0 "backup of the full tree" -- timeout 300 backup-create "$SRC"
SNAP=$(head -n1 "$T/stdout")
check "backup printed a snapshot id ($SNAP)" grep -Eq '^[0-9a-f]{64}$' <<<"$SNAP"
python3 "$WALK" list "$SRC" >"$T/src-after.json" || fail "listing the source again"
check "the backup left the source unchanged" python3 "$WALK" diff "$T/src.json" "$T/src-after.json"

expect_exit 0 "restore" -- timeout 300 backup-restore "$SNAP" --target "$T/out"
OUT="$T/out$SRC"
python3 "$WALK" list "$OUT" >"$T/out.json" || fail "listing the restore"
check "restored tree equals the source, entry by entry (type, mode, owner, mtime ns, content, links, targets, rdev, xattrs)" \
  python3 "$WALK" diff "$T/src.json" "$T/out.json"

# On 2 cores the walk reads every file itself; the reader threads of larger machines are
# forced here (LIFEBOAT_TEST_READERS): reading every file again (--no-cache), they read as many
# bytes as the walk does and give the same tree.
expect_exit 0 "backup by the walk alone, every file read" -- \
  env LIFEBOAT_TEST_READERS=0 timeout 300 backup-create --no-cache --json "$SRC"
walk_bytes=$(jget "$T/stdout" 'd["bytes_read"]')
expect_exit 0 "backup through 3 reader threads, every file read" -- \
  env LIFEBOAT_TEST_READERS=3 timeout 300 backup-create --no-cache --json "$SRC"
cp "$T/stdout" "$T/readers.json"
jcheck "the reader threads read as many bytes as the walk ($walk_bytes), without errors" \
  "$T/readers.json" "d['bytes_read'] == $walk_bytes > 0 and d['errors'] == []"
SNAP_R=$(jget "$T/readers.json" 'd["snapshot_id"]')
expect_exit 0 "restore of the readers' backup" -- timeout 300 backup-restore "$SNAP_R" --target "$T/out-r"
python3 "$WALK" list "$T/out-r$SRC" >"$T/out-r.json" || fail "listing the readers' restore"
check "the readers' backup restores the same tree" python3 "$WALK" diff "$T/src.json" "$T/out-r.json"
expect_exit 2 "a test tuning out of range is refused" -- \
  env LIFEBOAT_TEST_READERS=99 backup-create "$SRC"

# The restore holds only the snapshot's paths: $T/out/<parents of src>/src.
check "nothing but the snapshot path was restored" \
  python3 -c 'import os,sys; t,src=sys.argv[1],sys.argv[2]
parts=[p for p in src.split("/") if p]
d=t
for p in parts:
    assert os.listdir(d)==[p], (d, os.listdir(d))
    d=os.path.join(d,p)' "$T/out" "$SRC"

# --- Targeted checks (clearer messages than the whole-tree diff) -------------------------------
check "regular file content equal" cmp -s "$SRC/regular" "$OUT/regular"
check "empty file is empty" test -f "$OUT/empty" -a ! -s "$OUT/empty"
check "empty directory restored" test -d "$OUT/emptydir"
check "relative symlink target" test "$(readlink "$OUT/link-relative")" = "regular"
check "absolute symlink target" test "$(readlink "$OUT/link-absolute")" = "/etc/hostname"
check "dangling symlink restored as a symlink" test -L "$OUT/link-dangling" -a "$(readlink "$OUT/link-dangling")" = "../no/such/file"
check "hard links restored as one inode" python3 -c 'import os,sys; o=sys.argv[1]
s=[os.lstat(os.path.join(o,n)) for n in ("hard-a","hard-b","sub/hard-c")]
assert len({(x.st_dev,x.st_ino) for x in s})==1 and s[0].st_nlink==3, [(x.st_ino,x.st_nlink) for x in s]' "$OUT"
check "FIFO restored" test -p "$OUT/fifo"
check "character device 1:3 restored" test "$(stat -c '%F %t:%T' "$OUT/chardev")" = "character special file 1:3"
check "block device 7:200 restored" test "$(stat -c '%F %t:%T' "$OUT/blockdev")" = "block special file 7:c8"
check "sparse file content equal" cmp -s "$SRC/sparse" "$OUT/sparse"
check "sparse file size 64 MiB" test "$(stat -c %s "$OUT/sparse")" = 67108864
out_blocks=$(stat -c %b "$OUT/sparse")
check "sparse file keeps its holes ($out_blocks blocks of 512 B allocated for 2 MiB of data)" test "$out_blocks" -lt 16384
check "setuid file: mode 4755 owner 1234:5678" test "$(stat -c '%a %u:%g' "$OUT/setuid")" = "4755 1234:5678"
check "setgid file: mode 2755" test "$(stat -c %a "$OUT/setgid")" = 2755
check "all mode bits: 7777" test "$(stat -c %a "$OUT/allbits")" = 7777
check "sticky directory: 1777" test "$(stat -c %a "$OUT/sticky-dir")" = 1777
check "read-only directory: 555 with its file inside" test "$(stat -c %a "$OUT/readonly-dir")" = 555 -a -f "$OUT/readonly-dir/inside"
check "numeric owner of a file" test "$(stat -c %u:%g "$OUT/owned")" = 1234:5678
check "numeric owner of a directory" test "$(stat -c %u:%g "$OUT/owned-dir")" = 1234:5678
check "numeric owner of a symlink" test "$(stat -c %u:%g "$OUT/owned-link")" = 1234:5678
check "file mtime to the nanosecond" test "$(stat -c %.9Y "$OUT/regular")" = "$(stat -c %.9Y "$SRC/regular")"
check "symlink mtime to the nanosecond" test "$(stat -c %.9Y "$OUT/link-relative")" = "$(stat -c %.9Y "$SRC/link-relative")"
check "directory mtime to the nanosecond" test "$(stat -c %.9Y "$OUT/sub")" = "$(stat -c %.9Y "$SRC/sub")"
check "top directory mtime to the nanosecond" test "$(stat -c %.9Y "$OUT")" = "1111111111.222222223"
check "user.* xattr" test "$(getfattr --only-values -n user.comment "$OUT/xattr-file" 2>/dev/null)" = hello
check "user.* xattr on a directory" test "$(getfattr --only-values -n user.dir "$OUT/xattr-dir" 2>/dev/null)" = "on a directory"
if [ $have_security = 1 ]; then
  check "security.* xattr" test "$(getfattr --only-values -n security.lifeboat "$OUT/xattr-file" 2>/dev/null)" = "security label"
else
  echo "skip - security.* xattr: the file system refused it at source creation"
fi
check "non-UTF-8 and newline names" python3 -c 'import os,sys; o=os.fsencode(sys.argv[1])
for n in (b"latin1-\xe9t\xe9\xff", b"new\nline", b"dir-\xfe\nx/in\xffside\n"):
    assert open(os.path.join(o,n),"rb").read() == open(os.path.join(os.fsencode(sys.argv[2]),n),"rb").read(), n' "$OUT" "$SRC"
check "255-byte name" test "$(cat "$OUT/$(printf 'N%.0s' $(seq 251)).dat")" = "255-byte name"
check "file below a path longer than PATH_MAX" python3 -c 'import os,sys
fd=os.open(sys.argv[1], os.O_RDONLY|os.O_DIRECTORY)
for i in range(21):
    nfd=os.open((b"%02d" % i)+b"L"*198, os.O_RDONLY|os.O_DIRECTORY, dir_fd=fd); os.close(fd); fd=nfd
f=os.open(b"deep-file", os.O_RDONLY, dir_fd=fd)
assert os.read(f, 100) == b"beyond PATH_MAX\n"' "$OUT"

# --- restore --verify, and the tar stream -----------------------------------------------------
expect_exit 0 "restore --verify" -- timeout 300 backup-restore "$SNAP" --target "$T/out2" --verify
python3 "$WALK" list "$T/out2$SRC" >"$T/out2.json" || fail "listing the second restore"
check "restore --verify also reproduces the tree" python3 "$WALK" diff "$T/src.json" "$T/out2.json"

expect_exit 0 "dump --tar" -- timeout 300 backup-restore dump "$SNAP" --tar
mv "$T/stdout" "$T/dump.tar"
tar -tf "$T/dump.tar" >"$T/tar.list" 2>"$T/tar.err"
tar_rc=$?
# GNU tar does not know the POSIX pax keyword hdrcharset (set for names that are not UTF-8)
# and says so; any other complaint is a defect.
grep -v "Ignoring unknown extended header keyword 'hdrcharset'" "$T/tar.err" > "$T/tar.err.other"
check "tar -t reads the dump (exit 0, no complaints but hdrcharset)" test $tar_rc -eq 0 -a ! -s "$T/tar.err.other"
rel=${SRC#/}
for f in regular empty emptydir/ link-dangling hard-b sub/hard-c fifo chardev sparse setuid xattr-file; do
  check "tar -t lists $rel/$f" grep -Fxq -- "$rel/$f" "$T/tar.list"
done
# Every entry of the source (odd names and the PATH_MAX path included) is in the tar stream.
check "tar stream holds every entry of the source, byte-exact names and content" python3 - "$T/dump.tar" "$rel" "$T/src.json" <<'EOF'
import ast, hashlib, json, sys, tarfile
tar, rel, listing = sys.argv[1], sys.argv[2].encode(), json.load(open(sys.argv[3]))
names = {}
with tarfile.open(tar, encoding="utf-8", errors="surrogateescape") as t:
    for m in t:
        n = m.name.encode("utf-8", "surrogateescape").rstrip(b"/")
        names[n] = (m, hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isreg() else None)
bad = 0
for k, e in listing.items():
    p = ast.literal_eval(k)
    full = rel + (b"/" + p if p else b"")
    if full not in names:
        print("    missing from tar:", repr(full)[:200]); bad += 1; continue
    m, h = names[full]
    if e["type"] == "file" and h is not None and h != e["sha256"]:
        print("    content differs in tar:", repr(full)[:200]); bad += 1
sys.exit(1 if bad else 0)
EOF

# --- Extended attributes through the files cache ---------------------------------------------
# An unchanged file's attributes come from the files cache, not listed again; setting or
# removing one changes the file's ctime, so the next backup lists them afresh.
sleep 1.1  # the cache only vouches for files unchanged for 1 s before they are read
expect_exit 0 "second backup (fills the files cache)" -- timeout 300 backup-create "$SRC"
expect_exit 0 "third backup, nothing changed" -- timeout 300 backup-create --json "$SRC"
cp "$T/stdout" "$T/third.json"
jcheck "third backup read nothing (every file from the cache)" "$T/third.json" \
  'd["files_new"] == 0 and d["files_changed"] == 0 and d["bytes_read"] == 0 and d["errors"] == []'
SNAP3=$(jget "$T/third.json" 'd["snapshot_id"]')
expect_exit 0 "restore of the third backup" -- timeout 300 backup-restore "$SNAP3" --target "$T/out3"
python3 "$WALK" list "$T/out3$SRC" >"$T/out3.json" || fail "listing the third restore"
check "the third backup (attributes from the cache) restores the same tree, xattrs and all" \
  python3 "$WALK" diff "$T/src.json" "$T/out3.json"

python3 -c 'import os,sys; f=sys.argv[1]+"/xattr-file"
os.setxattr(f, b"user.comment", b"changed"); os.removexattr(f, b"user.binary")' "$SRC" ||
  fail "changing the source's xattrs"
expect_exit 0 "backup after an xattr change" -- timeout 300 backup-create --json "$SRC"
cp "$T/stdout" "$T/fourth.json"
jcheck "the file whose xattrs changed is seen as changed" "$T/fourth.json" 'd["files_changed"] == 1'
SNAP4=$(jget "$T/fourth.json" 'd["snapshot_id"]')
expect_exit 0 "restore after an xattr change" -- timeout 300 backup-restore "$SNAP4" --target "$T/out4"
check "the changed xattr is restored" \
  test "$(getfattr --only-values -n user.comment "$T/out4$SRC/xattr-file" 2>/dev/null)" = changed
check "the removed xattr is not restored" \
  bash -c '! getfattr -n user.binary "$1" >/dev/null 2>&1' _ "$T/out4$SRC/xattr-file"
check "the other xattrs are kept" \
  test "$(getfattr --only-values -n user.dir "$T/out4$SRC/xattr-dir" 2>/dev/null)" = "on a directory"

finish
