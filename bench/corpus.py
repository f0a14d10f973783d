"""The corpora of bench.py, deterministic: v1 (a source tree), v2 (v1 with 2 % of its regular
files modified, 1 % deleted and 1 % added; random.Random(20261123)) and a big file (a tar of
v1 cut to N bytes) with a copy that has 21 bytes inserted at offset 4096.

v2 is applied to the v1 tree in place, by renames, so the tools back up the same path and every
file v2 does not touch keeps its inode, mtime and ctime (what the files caches of all three
tools compare). The delta is built once into <tree>-v2/new (the v2 versions of modified and
added files); applying moves the v1 versions of modified and deleted files into <tree>-v2/old
and the new ones into the tree, undoing does the reverse. Every rename first checks whether it
was done, so an undo at start finishes an interrupted apply or undo. The big file is swapped
the same way: a.tar or b.tar is renamed to data.tar, the path backed up.
"""
import json, os, random, shutil, subprocess

V2_VERSION = 1  # bump when the way v2 is made changes: the delta is then rebuilt
BIG_VERSION = 1
SEED = 20261123
INSERT = b"lifeboat-bench-insert"  # 21 bytes
DAY_NS = 86400 * 10**9


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _save(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.replace(path + ".tmp", path)


class V2:
    def __init__(self, tree):
        self.tree, self.dir = tree, tree + "-v2"
        self.manifest = os.path.join(self.dir, "manifest.json")

    def prepare(self):
        """Puts the tree back to v1 and builds the delta unless this version built it."""
        m = _load(self.manifest)
        if m:
            self._move(m, to_v2=False)
        if not m or m["version"] != V2_VERSION:
            shutil.rmtree(self.dir, ignore_errors=True)
            m = self._build()
        self.m = m

    def apply(self):
        self._move(self.m, to_v2=True)

    def undo(self):
        self._move(self.m, to_v2=False)

    def summary(self):
        c = self.m["counts"]
        return f"{c['modified']} modified, {c['deleted']} deleted, {c['added']} added of {c['files']} regular files"

    def _move(self, m, to_v2):
        for rel, v1, v2 in m["changes"]:
            cur, old, new = (os.path.join(d, rel) for d in (self.tree, self.dir + "/old", self.dir + "/new"))
            if to_v2:
                if v1 and not os.path.lexists(old):
                    os.makedirs(os.path.dirname(old), exist_ok=True)
                    os.rename(cur, old)
                if v2 and os.path.lexists(new):
                    os.rename(new, cur)
            else:
                if v2 and not os.path.lexists(new):
                    os.rename(cur, new)
                if v1 and os.path.lexists(old):
                    os.rename(old, cur)
        for d, mtime in m["dirs"].items():  # v1's directory mtimes, a day later in v2
            t = mtime + DAY_NS * to_v2
            os.utime(os.path.join(self.tree, d), ns=(t, t))

    def _build(self):
        files = []
        for root, dirs, names in os.walk(self.tree):
            files += [os.path.relpath(os.path.join(root, n), self.tree) for n in names
                      if os.path.isfile(os.path.join(root, n)) and not os.path.islink(os.path.join(root, n))]
        files.sort()
        rng = random.Random(SEED)
        count = lambda share: max(1, round(len(files) * share))
        picked = rng.sample(files, count(0.02) + count(0.01))
        modified, deleted = sorted(picked[:count(0.02)]), sorted(picked[count(0.02):])
        sources = sorted(set(files) - set(deleted))
        changes = []

        def write(rel, data, like):
            path = os.path.join(self.dir, "new", rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            st = os.stat(os.path.join(self.tree, like))
            os.chmod(path, st.st_mode & 0o7777)
            os.utime(path, ns=(st.st_mtime_ns + DAY_NS,) * 2)

        for rel in modified:  # overwrite or insert 100-500 random bytes at a random offset
            data = open(os.path.join(self.tree, rel), "rb").read()
            patch = rng.randbytes(rng.randint(100, 500))
            off = rng.randint(0, len(data))
            end = off + len(patch) if rng.random() < 0.5 else off
            write(rel, data[:off] + patch + data[end:], rel)
            changes.append((rel, True, True))
        changes += [(rel, True, False) for rel in deleted]
        taken = set()
        for i in range(count(0.01)):  # a copy of another file with 16-64 random bytes overwritten
            src = rng.choice(sources)
            stem, ext = os.path.splitext(src)
            rel = f"{stem}.bench{i}{ext}"
            assert rel not in taken and not os.path.lexists(os.path.join(self.tree, rel)), rel
            taken.add(rel)
            data = open(os.path.join(self.tree, src), "rb").read()
            patch = rng.randbytes(rng.randint(16, 64))
            off = rng.randint(0, len(data))
            write(rel, data[:off] + patch + data[off + len(patch):], src)
            changes.append((rel, False, True))
        changes.sort()
        dirs = {os.path.dirname(rel) or ".": None for rel, _, _ in changes}
        m = {"version": V2_VERSION, "seed": SEED, "changes": changes,
             "dirs": {d: os.stat(os.path.join(self.tree, d)).st_mtime_ns for d in sorted(dirs)},
             "counts": {"files": len(files), "modified": len(modified), "deleted": len(deleted), "added": len(taken)}}
        _save(self.manifest, m)
        return m


class Big:
    def __init__(self, work, tree, size):
        self.tree, self.size = tree, size
        self.dir = os.path.join(work, "big")
        self.path = os.path.join(self.dir, "data.tar")  # the path backed up
        self.stamp = os.path.join(self.dir, "stamp.json")

    def prepare(self):
        """Puts a.tar and b.tar back in place and builds them unless built for this tree and size."""
        self.put(None)
        stamp = {"version": BIG_VERSION, "tree": self.tree, "size": self.size, "insert": INSERT.decode()}
        if _load(self.stamp) == stamp:
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        a, b = (os.path.join(self.dir, n) for n in ("a.tar", "b.tar"))
        tar = subprocess.Popen(["tar", "-C", os.path.dirname(self.tree), "-cf", "-", "--sort=name", "--mtime=@0",
                                "--owner=0", "--group=0", "--numeric-owner", os.path.basename(self.tree)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        left = self.size
        with open(a, "wb") as f:
            while left and (buf := tar.stdout.read(min(left, 1 << 20))):
                f.write(buf)
                left -= len(buf)
        tar.stdout.close()
        tar.wait()
        if left:
            raise SystemExit(f"the tar of {self.tree} is shorter than {self.size} bytes: use a smaller --big-size")
        with open(a, "rb") as src, open(b, "wb") as dst:
            dst.write(src.read(4096) + INSERT)
            shutil.copyfileobj(src, dst, 1 << 20)
        _save(self.stamp, stamp)

    def put(self, which):
        """Renames data.tar back to a.tar or b.tar (by its size), then which ("a", "b") to data.tar."""
        if os.path.lexists(self.path):
            back = "a" if os.path.getsize(self.path) == self.size else "b"
            os.rename(self.path, os.path.join(self.dir, back + ".tar"))
        if which:
            os.rename(os.path.join(self.dir, which + ".tar"), self.path)
