#!/usr/bin/env python3
"""Byte-exact tree listings for the end-to-end tests (stdlib only).

  walk.py list ROOT [--exclude REL]... > listing.json
      Walks ROOT without following symlinks, by directory file descriptors (so paths longer
      than PATH_MAX work), and prints one JSON object: relative path -> metadata. Relative
      paths are Python bytes reprs ("b'dir/n\\xffame'"); the root itself is "b''".
      An --exclude REL (relative bytes path as text) leaves out that entry and its subtree.
  walk.py diff A.json B.json [--ignore FIELD]...
      Prints every difference, exits 1 when there is one (0 when equal).
"""
import hashlib
import json
import os
import stat
import sys


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chardev"), (stat.S_ISBLK, "blockdev"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "unknown"


def sha256_fd(fd):
    h = hashlib.sha256()
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return h.hexdigest()
        h.update(b)


def xattrs(dfd, name):
    # /proc/self/fd/N/name keeps the path short whatever the depth; the last component is not followed.
    p = b"/proc/self/fd/%d/" % dfd + name
    out = {}
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return out
    for n in sorted(names):
        try:
            out[n] = os.getxattr(p, n, follow_symlinks=False).hex()
        except OSError as e:
            out[n] = "error:%d" % e.errno
    return out


def listing(root, excludes):
    entries = {}
    inodes = {}

    def record(dfd, name, rel, st):
        k = kind(st.st_mode)
        e = {"type": k, "mode": "%o" % st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
             "nlink": st.st_nlink, "mtime_ns": st.st_mtime_ns}
        if k != "dir":
            e["size"] = st.st_size
        if k == "symlink":
            e["target"] = repr(os.readlink(name, dir_fd=dfd))
        if k in ("chardev", "blockdev"):
            e["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        if k == "file":
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            try:
                e["sha256"] = sha256_fd(fd)
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
        e["xattrs"] = xattrs(dfd, name)
        entries[rel] = e

    def rec(dfd, rel):
        for name in sorted(os.fsencode(n) for n in os.listdir(dfd)):
            r = rel + b"/" + name if rel else name
            if r in excludes:
                continue
            st = os.lstat(name, dir_fd=dfd)
            record(dfd, name, r, st)
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
                try:
                    rec(sub, r)
                finally:
                    os.close(sub)

    root = os.fsencode(root)
    parent = os.open(os.path.dirname(root) or b".", os.O_RDONLY | os.O_DIRECTORY)
    base = os.path.basename(root)
    record(parent, base, b"", os.lstat(base, dir_fd=parent))
    top = os.open(base, os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent)
    rec(top, b"")
    # Hard links: every name of an inode lists the whole group (within the walked tree).
    for group in inodes.values():
        g = sorted(group)
        for r in g:
            entries[r]["hardlink_group"] = [repr(x) for x in g]
    return {repr(k): v for k, v in sorted(entries.items())}


def main(argv):
    if len(argv) >= 2 and argv[0] == "list":
        ex = set()
        i = 2
        while i < len(argv):
            if argv[i] == "--exclude":
                ex.add(os.fsencode(argv[i + 1]))
                i += 2
            else:
                sys.exit("bad argument " + argv[i])
        json.dump(listing(argv[1], ex), sys.stdout, indent=0, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if len(argv) >= 3 and argv[0] == "diff":
        ignore = set()
        i = 3
        while i < len(argv):
            if argv[i] == "--ignore":
                ignore.add(argv[i + 1])
                i += 2
            else:
                sys.exit("bad argument " + argv[i])
        with open(argv[1]) as f:
            a = json.load(f)
        with open(argv[2]) as f:
            b = json.load(f)
        diffs = []
        for p in sorted(set(a) | set(b)):
            if p not in b:
                diffs.append("only in %s: %s" % (argv[1], p))
            elif p not in a:
                diffs.append("only in %s: %s" % (argv[2], p))
            else:
                for k in sorted(set(a[p]) | set(b[p])):
                    if k in ignore:
                        continue
                    if a[p].get(k) != b[p].get(k):
                        diffs.append("%s: %s: %r != %r" % (p, k, a[p].get(k), b[p].get(k)))
        for d in diffs[:60]:
            print("    diff: " + d)
        if len(diffs) > 60:
            print("    diff: ... %d more" % (len(diffs) - 60))
        return 1 if diffs else 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
