#!/usr/bin/env python3
"""Crash-consistency driver for Lifeboat (issue 6, point 1).

Kills backup-create, backup-prune (forget+gc, gc alone, and rebuild-index) and backup-restore
with SIGKILL at randomised points, then checks the invariants:

  * after every injection `backup-verify --read-data` passes (unreferenced leftovers are
    allowed), so no snapshot references missing or damaged data;
  * every snapshot that is left restores bit-exact (content, modes, mtimes, symlink targets);
  * a run that finished by itself (exit 0) did all of its work;
  * the next run succeeds, and a rerun backup reuses the data the killed one indexed.

Kill points come in two kinds:

  * by storage-operation count, through the fault-injecting storage wrapper
    (LIFEBOAT_TEST_FAULTS=OP:N:kill|killafter, docs/testing.md). One uninterrupted run of
    each command, logged with -vv ("storage: OP KEY: outcome"), gives the operations and
    their order; the kill points are drawn from it, weighted by class (operation and object
    kind, e.g. "put index", "remove data") so that every class and the last few puts are
    hit, and without replacement inside a class so that distinct points are covered;
  * by time: SIGKILL after a random delay in [0, 1.2 x the uninterrupted run's duration].

LIFEBOAT_TEST_PACK_SIZE and LIFEBOAT_TEST_PACKS_PER_INDEX make packs small and index files
frequent, so that a backup of a few megabytes goes through every phase of a large one.

Each injection starts from a fresh copy of a pristine repository (with its state directory;
see Scenario.clone for the cache). The phase a kill hit is read from the killed run's own -vv
log (plus the objects the storage diff shows it completed without logging them), aligned
with the uninterrupted run's sequence of storage operations.

Standard library only. Usage:

  python3 tests/crash/crash.py [--bin DIR] [--injections N] [--seed S]
                               [--commands create,forget,gc,rebuild,restore] [--workdir DIR]
                               [--keep-failures]

Replay one injection (printed with every failure; a kill by op count replays exactly as long
as the tool does the same operations in the same order, a kill by time only roughly):

  python3 tests/crash/crash.py --bin DIR --commands create --spec put:7:killafter --cache warm

Other options: --cache warm|cold|both (the cache the killed run starts with), --password (a
password file instead of a key file), --show-profile (print the uninterrupted runs' storage
operations, numbered as the fault wrapper counts them, with their phases).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# --- constants --------------------------------------------------------------------------------

PACK_SIZE = 262144     # LIFEBOAT_TEST_PACK_SIZE: 256 KiB packs (the default is 16 MiB)
PACKS_PER_INDEX = 2    # LIFEBOAT_TEST_PACKS_PER_INDEX: an index file every two packs
TREE_SEED = 20261112   # the source trees are always the same; --seed only drives the kills
TOOL_TIMEOUT = 300     # seconds: a tool that takes longer is reported as hung
TIME_SHARE = 0.25      # share of the injections that kill by time rather than by op count
OUTPUT_LINES = 15      # lines of a failing tool's output shown in a failure report

ALL_COMMANDS = ("create", "forget", "gc", "rebuild", "restore")
# The phase a prune is in after each kind of storage operation: (label when it is the last
# operation of its kind in the run, label otherwise).
PRUNE_LABELS = {
    ("put", "tombstones"): ("tombstone written, no snapshot removed yet",) * 2,
    ("remove", "snapshots"): ("all snapshots removed", "between snapshot removes"),
    ("remove", "data"): ("after the last delete of a condemned pack",
                         "between deletes of condemned packs"),
    ("put", "data"): ("mid-repack: pack(s) stored, not yet indexed",) * 2,
    ("put", "index"): ("all new index files written, superseded ones still there",
                       "mid-repack: after a new index file"),
    ("remove", "index"): ("superseded index files removed",
                          "between removes of superseded index files"),
    ("put", "condemned"): ("condemnation record written",) * 2,
    ("remove", "condemned"): ("settled condemnation record removed",) * 2,
}
OPENING = "opening (before any tracked operation)"   # the phase before the first tracked op
STORAGE_OPS = ("put", "get", "stat", "list", "remove")
LOG_LINE = re.compile(r"^storage: (put|get|stat|list|remove) (\S*): (.*)$")

V1_TIME, V2_TIME, V3_TIME = "2026-11-01 12:00", "2026-11-02 12:00", "2026-11-03 12:00"
PRUNE_DAYS = ("01", "02", "03", "04", "05", "06")


# --- running the tools ------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One finished (or killed) tool run."""

    argv: list[str]
    rc: int                 # -9 when SIGKILLed (by the fault wrapper or by us)
    out: str
    err: str
    seconds: float
    hung: bool = False

    @property
    def killed(self) -> bool:
        return self.rc == -signal.SIGKILL

    def command_line(self) -> str:
        return " ".join([Path(self.argv[0]).name, *self.argv[1:]])

    def last_ops(self, n: int = 5) -> str:
        """The last storage operations the -vv log shows: where the run died."""
        ops = [l for l in self.err.splitlines() if l.startswith("storage: ")][-n:]
        return "\n".join("      | " + l for l in ops) or "      | (no storage operation logged)"

    def head(self, n: int = OUTPUT_LINES) -> str:
        """The first lines of the output, without the -vv storage log."""
        lines = [l for l in (self.err + self.out).splitlines() if not l.startswith("storage: ")]
        shown = lines[:n] + ([f"... ({len(lines) - n} more lines)"] if len(lines) > n else [])
        return "\n".join("      | " + l for l in shown) or "      | (no output)"


@dataclasses.dataclass
class Area:
    """A repository with this host's cache and state directories, all below one root."""

    root: Path

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def clone(self, dest: Path, cache: bool) -> "Area":
        """A fresh copy (cp -a) of the repository and state, and of the cache or an empty one."""
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        names = ["repo", "state"] + (["cache"] if cache else [])
        subprocess.run(["cp", "-a", *[str(self.root / n) for n in names], str(dest)], check=True)
        (dest / "cache").mkdir(exist_ok=True)
        return Area(dest)


class Tools:
    """Runs the frozen binaries with a clean environment pointing at one Area."""

    def __init__(self, bindir: Path, secret: dict[str, str]):
        self.bindir = bindir
        self.secret = secret
        for tool in ("backup-create", "backup-restore", "backup-verify", "backup-prune"):
            if not os.access(bindir / tool, os.X_OK):
                sys.exit(f"crash.py: {bindir / tool} is not an executable (see --bin)")

    def env(self, area: Area, faults: str | None) -> dict[str, str]:
        # Nothing of the caller's LIFEBOAT_* may leak in (a configuration, faults, a password).
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_")}
        env.update(self.secret)
        env.update(
            LIFEBOAT_REPOSITORY=str(area.repo),
            LIFEBOAT_CACHE_DIR=str(area.cache),
            LIFEBOAT_STATE_DIR=str(area.state),
            LIFEBOAT_TEST_PACK_SIZE=str(PACK_SIZE),
            LIFEBOAT_TEST_PACKS_PER_INDEX=str(PACKS_PER_INDEX),
        )
        if faults:
            env["LIFEBOAT_TEST_FAULTS"] = faults
        return env

    def run(self, tool: str, args: list[str], area: Area, faults: str | None = None,
            kill_after: float | None = None) -> Result:
        """Runs a tool to its end, or SIGKILLs it after kill_after seconds (Popen.kill)."""
        argv = [str(self.bindir / tool), *map(str, args)]
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=self.env(area, faults), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        hung = False
        try:
            out, err = proc.communicate(timeout=kill_after if kill_after is not None
                                        else TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            hung = kill_after is None
            proc.kill()
            out, err = proc.communicate()
        return Result(argv, proc.returncode, out.decode(errors="replace"),
                      err.decode(errors="replace"), time.monotonic() - start, hung)


# --- trees: generation, manifests and comparison ----------------------------------------------


def write_file(path: Path, data: bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mode is not None:
        path.chmod(mode)


def text_bytes(rng: random.Random, size: int) -> bytes:
    """Compressible text of about size bytes (log-like lines)."""
    words = ["backup", "restore", "pack", "index", "snapshot", "chunk", "lock", "prune",
             "verify", "tree", "blob", "repository", "storage", "key", "ok"]
    lines, n = [], 0
    while n < size:
        line = f"{rng.randrange(10**9):09d} " + " ".join(rng.choice(words) for _ in range(8))
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


def small_files(rng: random.Random, root: Path, count: int, low: int, high: int,
                prefix: str) -> None:
    """count files of low..high bytes, half random, half text, spread over nested dirs."""
    for i in range(count):
        sub = root / f"d{i % 4}" / f"s{(i // 4) % 3}"
        if i % 7 == 0:
            sub = sub / "deeper" / "deepest"
        size = rng.randint(low, high)
        data = rng.randbytes(size) if i % 2 else text_bytes(rng, size)
        write_file(sub / f"{prefix}{i:03d}.{'bin' if i % 2 else 'txt'}", data)


def build_v1(src: Path, rng: random.Random) -> None:
    """Several multi-chunk files, many small ones, duplicates, links, modes, empties."""
    write_file(src / "big/movie.bin", rng.randbytes(4 << 20))       # ~4 chunks
    write_file(src / "big/log.txt", text_bytes(rng, 5 << 19))       # 2.5 MiB, compressible
    small_files(rng, src / "docs", 180, 0, 24000, "f")
    dup = rng.randbytes(600_000)
    for p in ("dup/a.bin", "dup/b.bin", "docs/d0/copy-of-a.bin"):  # deduplicated
        write_file(src / p, dup)
    for p in ("dup/small-1", "dup/small-2"):
        write_file(src / p, b"the same small file\n" * 50)
    write_file(src / "empty.txt", b"")
    (src / "emptydir").mkdir()
    write_file(src / "bin/tool.sh", b"#!/bin/sh\necho tool\n", 0o755)
    write_file(src / "secret.txt", b"not for others\n", 0o600)
    write_file(src / "private/notes.txt", text_bytes(rng, 3000))
    (src / "private").chmod(0o700)
    (src / "links").mkdir()
    os.symlink("../big/movie.bin", src / "links/rel")
    os.symlink("/etc/hostname", src / "links/abs")
    os.symlink("nowhere/at/all", src / "links/dangling")
    os.symlink("../docs", src / "links/dir")


def build_v2(src: Path, rng: random.Random) -> None:
    """Changes inside a big file, an append, deletions, edits, additions, a new link target."""
    with open(src / "big/movie.bin", "r+b") as f:  # one chunk of the 4 changes
        f.seek(2 << 20)
        f.write(rng.randbytes(65536))
    with open(src / "big/log.txt", "ab") as f:
        f.write(text_bytes(rng, 300_000))
    docs = sorted(p for p in (src / "docs").rglob("f*") if p.is_file())
    for p in docs[:10]:
        p.unlink()
    for p in docs[10:20]:
        p.write_bytes(rng.randbytes(rng.randint(100, 20000)))
    small_files(rng, src / "docs/new", 20, 100, 20000, "n")
    os.unlink(src / "links/rel")
    os.symlink("../big/log.txt", src / "links/rel")
    (src / "secret.txt").chmod(0o640)
    write_file(src / "big/v2.bin", rng.randbytes(1_500_000))


def build_v3(src: Path, rng: random.Random) -> None:
    """v2 plus changes and a new large file: what the create injections back up."""
    write_file(src / "big/huge.bin", rng.randbytes(6 << 20))        # ~6 new chunks
    small_files(rng, src / "v3", 60, 10_000, 60_000, "g")          # ~2 MB in small packs
    for p in sorted(p for p in (src / "docs").rglob("f*") if p.is_file())[20:25]:
        p.write_bytes(text_bytes(rng, rng.randint(1000, 30000)))
    shutil.rmtree(src / "docs/d3/s2")
    (src / "docs/d1").rename(src / "docs/d1-renamed")                # same data, new tree
    shutil.copyfile(src / "dup/a.bin", src / "v3/another-copy-of-a.bin")
    (src / "bin/tool.sh").chmod(0o700)
    os.unlink(src / "big/v2.bin")


Manifest = dict[str, tuple]


def manifest(root: Path) -> Manifest:
    """relative path -> (type, mode, uid, gid, mtime_ns, size, sha256) or ("symlink", target).
    Empty when root does not exist (then every expected entry shows as missing)."""
    out: Manifest = {}
    if not os.path.lexists(root):
        return out

    def visit(path: Path, rel: str) -> None:
        st = os.lstat(path)
        meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("symlink", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", *meta)
            for entry in sorted(os.listdir(path)):
                visit(path / entry, entry if rel == "." else f"{rel}/{entry}")
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[rel] = ("file", *meta, st.st_size, h.hexdigest()[:16])
        else:
            out[rel] = ("other", stat.S_IFMT(st.st_mode))

    visit(root, ".")
    return out


FIELDS = {"dir": ("type", "mode", "uid", "gid", "mtime_ns"),
          "file": ("type", "mode", "uid", "gid", "mtime_ns", "size", "sha256"),
          "symlink": ("type", "target")}


def diff_manifests(want: Manifest, got: Manifest, limit: int = 6) -> list[str]:
    """Human-readable differences, at most limit of them (and a count of the rest)."""
    diffs = []
    for rel in sorted(set(want) | set(got)):
        w, g = want.get(rel), got.get(rel)
        if w == g:
            continue
        if g is None:
            diffs.append(f"{rel}: missing")
        elif w is None:
            diffs.append(f"{rel}: unexpected {g[0]}")
        elif w[0] != g[0]:
            diffs.append(f"{rel}: a {g[0]}, expected a {w[0]}")
        else:
            names = FIELDS.get(w[0], ())
            bad = [f"{names[i] if i < len(names) else i} {g[i]!r} (expected {w[i]!r})"
                   for i in range(len(w)) if w[i] != g[i]]
            diffs.append(f"{rel}: " + ", ".join(bad))
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more difference(s)"]
    return diffs


def is_temp(key: str) -> bool:
    """A local-storage temporary file (KEY.tmp-PID-N): a put writes one, fsyncs it and renames
    it into place, so a put killed midway leaves it behind. Listings skip them."""
    return ".tmp-" in key.rsplit("/", 1)[-1]


def listing(repo: Path) -> set[str]:
    """Every object key of a local repository (not the temporary files)."""
    return {k for k in (str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
            if not is_temp(k)}


def temp_files(repo: Path) -> dict[str, int]:
    """The temporary files of interrupted puts: key -> size."""
    return {str(p.relative_to(repo)): p.stat().st_size for p in repo.rglob("*.tmp-*")
            if p.is_file()}


def repo_digest(repo: Path) -> dict[str, str]:
    """key -> sha256 of every object but the locks (for "the restore changed nothing")."""
    return {key: hashlib.sha256((repo / key).read_bytes()).hexdigest()
            for key in listing(repo) if not key.startswith("locks/")}


# --- storage-operation logs, profiles and phases ----------------------------------------------


def parse_ops(stderr: str) -> list[tuple[str, str]]:
    """(op, key) of every storage operation the -vv log shows as completed, in order."""
    ops = []
    for line in stderr.splitlines():
        m = LOG_LINE.match(line)
        if m and not m.group(3).startswith("failed"):
            ops.append((m.group(1), m.group(2)))
    return ops


def kind_of(key: str) -> str:
    """The object kind of a storage key: data, index, snapshots, locks, tombstones, ..."""
    return key.split("/", 1)[0]


@dataclasses.dataclass
class Profile:
    """One uninterrupted run's storage operations: what the kill points are drawn from."""

    ops: list[tuple[str, str]]
    seconds: float
    tracked: list[tuple[str, str]]   # (op, kind) of the operations that mark the phases
    labels: list[str]                # the phase after each tracked operation

    def counts(self) -> collections.Counter:
        return collections.Counter(op for op, _ in self.ops)

    def nth(self, op: str, n: int) -> tuple[str, str] | None:
        """The n-th (1-based) operation of type op, as (op, kind)."""
        hits = [(o, kind_of(k)) for o, k in self.ops if o == op]
        return hits[n - 1] if 0 < n <= len(hits) else None


@dataclasses.dataclass
class Spec:
    """How one injection kills: at the n-th storage op (kill = before it, killafter = after
    it), after a delay, or not at all (the control run)."""

    how: str                 # "op", "time" or "none"
    cache: str               # "warm" (the pristine cache copied) or "cold" (an empty one)
    op: str = ""
    n: int = 0
    mode: str = ""
    delay: float = 0.0

    def __str__(self) -> str:
        if self.how == "op":
            return f"{self.op}:{self.n}:{self.mode}"
        return f"time {self.delay:.3f}s" if self.how == "time" else "none"

    def cli(self) -> str:
        """The --spec value that replays it."""
        return f"time:{self.delay:.3f}" if self.how == "time" else str(self)

    @property
    def faults(self) -> str | None:
        return str(self) if self.how == "op" else None

    @staticmethod
    def parse(text: str, cache: str) -> "Spec":
        parts = text.split(":")
        if text == "none":
            return Spec("none", cache)
        if len(parts) == 2 and parts[0] == "time":
            return Spec("time", cache, delay=float(parts[1]))
        if len(parts) == 3 and parts[0] in STORAGE_OPS and parts[2] in ("kill", "killafter"):
            return Spec("op", cache, op=parts[0], n=int(parts[1]), mode=parts[2])
        raise argparse.ArgumentTypeError(f"bad --spec '{text}': OP:N:kill|killafter, "
                                         "time:SECONDS or none")


class SpecDrawer:
    """Draws kill specs for one command from its profiles (one per cache mode).

    The points of a profile are grouped in classes, "OP KIND" (e.g. "put index", "get
    data"; "open" for the config and key slots), plus "tail": the last three puts and the
    last remove (the index files, the snapshot, the unlock). A class is chosen with weight
    (1 + log2(its size)) x its boost, so that small classes are hit often and big ones
    more; the classes that change the repository (puts, removes, "tail") weigh double, and
    a scenario may boost others (restore: "get data"). Inside a class the points are drawn
    without replacement (a shuffled pool, refilled when empty), which maximises distinct
    points."""

    def __init__(self, rng: random.Random, profiles: dict[str, Profile], caches: list[str],
                 boost: dict[str, float] | None = None):
        self.rng, self.profiles, self.caches = rng, profiles, caches
        self.boost = boost or {}
        self.classes: dict[str, dict[str, list[tuple[str, int, str]]]] = {}
        self.pools: dict[tuple[str, str], list] = {}
        for cache, prof in profiles.items():
            classes = collections.defaultdict(list)
            seen = collections.Counter()
            for op, key in prof.ops:
                seen[op] += 1
                kind = kind_of(key)
                # Opening the repository (config, key slots) is one class, not four.
                cls = "open" if kind in ("config", "keys") else f"{op} {kind}"
                for mode in ("kill", "killafter"):
                    classes[cls].append((op, seen[op], mode))
            puts = seen["put"]
            tail = [("put", n, m) for n in range(max(1, puts - 2), puts + 1)
                    for m in ("kill", "killafter")]
            if seen["remove"]:
                tail += [("remove", seen["remove"], m) for m in ("kill", "killafter")]
            classes["tail"] = tail
            self.classes[cache] = dict(classes)

    def draw(self) -> Spec:
        cache = self.rng.choice(self.caches)
        if self.rng.random() < TIME_SHARE:
            window = 1.2 * self.profiles[cache].seconds
            return Spec("time", cache, delay=self.rng.uniform(0, window))
        classes = self.classes[cache]
        names = sorted(classes)
        weights = [(1 + math.log2(max(1, len(classes[c]) // 2))) * self.weight(c) for c in names]
        cls = self.rng.choices(names, weights)[0]
        pool = self.pools.setdefault((cache, cls), [])
        if not pool:
            pool.extend(classes[cls])
            self.rng.shuffle(pool)
        op, n, mode = pool.pop()
        return Spec("op", cache, op=op, n=n, mode=mode)

    def weight(self, cls: str) -> float:
        if cls in self.boost:
            return self.boost[cls]
        return 2.0 if cls == "tail" or cls.split()[0] in ("put", "remove") else 1.0


# --- injections -------------------------------------------------------------------------------


@dataclasses.dataclass
class Injection:
    """One kill and what its checks found."""

    command: str
    index: int
    spec: Spec
    area: Area
    result: Result | None = None
    phase: str = ""
    failures: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    facts: dict = dataclasses.field(default_factory=dict)   # per-command counters

    def fail(self, message: str, res: Result | None = None) -> None:
        if res is not None:
            message += f"\n    {res.command_line()} (exit {res.rc}):\n{res.head()}"
        self.failures.append(message)

    @property
    def outcome(self) -> str:
        rc = self.result.rc if self.result else None
        if rc is not None and rc == -signal.SIGKILL:
            return "killed"
        return "finished" if rc == 0 else f"exit {rc}"


class Scenario:
    """One command under test: its pristine repository, the command, and its checks."""

    name = ""
    tool = ""
    boost: dict[str, float] = {}   # SpecDrawer weight of some classes of kill points

    def __init__(self, driver: "Driver"):
        self.d = driver
        self.tools = driver.tools
        self.pristine: Area | None = None
        self.pristine_listing: set[str] = set()

    # What each scenario provides.
    def build(self) -> None: ...
    def args(self, area: Area) -> list[str]: ...
    def tracked(self, op: str, kind: str) -> bool: ...
    def label(self, seq: list[tuple[str, str]]) -> list[str]: ...
    def check(self, inj: Injection) -> None: ...

    # Shared machinery.
    def init_repo(self, area: Area) -> None:
        area.cache.mkdir(parents=True)
        area.state.mkdir()
        res = self.tools.run("backup-create", ["init", "-q"], area)
        if res.rc != 0:
            raise SetupError(f"backup-create init failed (exit {res.rc}):\n{res.head()}")

    def expect(self, src: Path, name: str) -> Manifest:
        """The expected content of a snapshot just taken of src: a copy on disk (cp -a, for
        diff -r when a failure is kept) and its manifest, which the checks compare with."""
        dest = self.d.work / "expect" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
        return manifest(src)

    def clone(self, dest: Path, cache: str) -> Area:
        """The copy an injection runs on. The state directory is always copied: this host
        has listed the pristine snapshots, so the rollback check is exercised. The cache is
        copied ("warm") or left empty ("cold"): only backup-create reads it (its files
        cache), so the two differ only for create; the other commands run with it warm."""
        return self.pristine.clone(dest, cache == "warm")

    def profile(self, cache: str) -> tuple[Profile, Injection]:
        """The uninterrupted run, checked like an injection, and its operation profile."""
        inj = self.inject(0, Spec("none", cache))
        res = inj.result
        if inj.failures:
            raise SetupError(f"{self.name}: the uninterrupted run fails its own checks:\n"
                             + "\n".join(inj.failures))
        ops = parse_ops(res.err)
        tracked = [(op, kind_of(k)) for op, k in ops if self.tracked(op, kind_of(k))]
        return Profile(ops, res.seconds, tracked, self.label(tracked)), inj

    def inject(self, index: int, spec: Spec) -> Injection:
        area = self.clone(self.d.scratch / self.name, spec.cache)
        inj = Injection(self.name, index, spec, area)
        kill_after = spec.delay if spec.how == "time" else None
        inj.result = self.tools.run(self.tool, ["-vv", *self.args(area)], area, spec.faults,
                                    kill_after)
        inj.phase = self.phase_of(inj)
        if self.d.opts.keep_failures:  # as the kill left it, before the checks change it
            area.clone(area.root / "after-kill", cache=True)
        temps = temp_files(area.repo)
        inj.facts["temp_files"] = len(temps)
        inj.facts["temp_bytes"] = sum(temps.values())
        res = inj.result
        if res.hung:
            inj.fail(f"{self.tool} hung (killed after {TOOL_TIMEOUT} s)", res)
        elif res.rc not in (0, -signal.SIGKILL):
            inj.fail(f"{self.tool} exited with status {res.rc}, neither 0 nor killed (only "
                     "kills are injected)", res)
        try:
            self.check(inj)
        except Exception as e:  # a bug of the driver must not pass as a pass
            inj.fail(f"the driver's check raised {type(e).__name__}: {e}")
        return inj

    def phase_of(self, inj: Injection) -> str:
        """The phase the run was in when it died: the label, in the uninterrupted run, of the
        last tracked operation the killed run completed. Completed = logged by -vv, plus the
        puts and removes the storage shows done but not logged (killafter, or a kill between
        an operation and its log line), plus the op of a get/stat/list killafter."""
        res = inj.result
        if not res.killed:
            return "finished" if res.rc == 0 else f"exit {res.rc}"
        prof = self.d.profiles.get(self.name, {}).get(inj.spec.cache)
        if prof is None:
            return "?"
        logged = parse_ops(res.err)
        done = sum(1 for op, k in logged if self.tracked(op, kind_of(k)))
        after = listing(inj.area.repo)
        put_logged = {k for op, k in logged if op == "put"}
        removed_logged = {k for op, k in logged if op == "remove"}
        # Present now, but neither there before nor logged as put: put, then killed.
        done += sum(1 for k in after - self.pristine_listing - put_logged
                    if self.tracked("put", kind_of(k)))
        # There before (or put by the run), gone now, not logged as removed: ditto.
        done += sum(1 for k in (self.pristine_listing | put_logged) - after - removed_logged
                    if self.tracked("remove", kind_of(k)))
        spec = inj.spec
        if spec.how == "op" and spec.mode == "killafter" and spec.op not in ("put", "remove"):
            hit = prof.nth(spec.op, spec.n)
            if hit and self.tracked(*hit):
                done += 1
        if done == 0:
            return OPENING
        return prof.labels[min(done, len(prof.labels)) - 1]

    # Helpers for the checks.
    def ok(self, inj: Injection, what: str, tool: str, args: list, area: Area | None = None,
           ) -> Result:
        """Runs a tool that must exit 0; records a failure otherwise."""
        res = self.tools.run(tool, args, area or inj.area)
        if res.rc != 0:
            inj.fail(f"{what}: exit {res.rc}, expected 0", res)
        return res

    def leftovers_after(self, inj: Injection) -> None:
        """What the follow-up runs left of the killed run: lock objects and temp files."""
        self.locks_after(inj)
        inj.facts["temp_files_after"] = len(temp_files(inj.area.repo))

    def locks_after(self, inj: Injection) -> None:
        """Lock objects still there after the follow-up runs (each of which removes the stale
        locks of dead processes of this host that it sees): noted, not an invariant."""
        locks = sorted(k for k in listing(inj.area.repo) if k.startswith("locks/"))
        inj.facts["locks_after"] = len(locks)
        if locks:
            inj.notes.append(f"lock object(s) left after the follow-up runs: "
                             f"{[k[6:14] for k in locks]}")

    def verify(self, inj: Injection, when: str) -> bool:
        return self.ok(inj, f"backup-verify --read-data {when}", "backup-verify",
                       ["--read-data"]).rc == 0

    def snapshots(self, inj: Injection) -> list[dict] | None:
        res = self.ok(inj, "backup-restore snapshots --json", "backup-restore",
                      ["snapshots", "--json"])
        if res.rc != 0:
            return None
        try:
            return json.loads(res.out)
        except ValueError:
            inj.fail("backup-restore snapshots --json printed no JSON", res)
            return None

    def restore_matches(self, inj: Injection, snap: str, want: Manifest, src: Path,
                        what: str, target: Path | None = None) -> bool:
        """Restores snap into a fresh target and compares it with the expected tree."""
        target = target or inj.area.root / f"restore-{snap[:8]}"
        if target.exists():
            shutil.rmtree(target)
        res = self.ok(inj, f"restore of {what} ({snap[:12]})", "backup-restore",
                      [snap, "--target", target])
        if res.rc != 0:
            return False
        diffs = diff_manifests(want, manifest(target / src.relative_to("/")))
        shutil.rmtree(target, ignore_errors=True)
        if diffs:
            inj.fail(f"{what} ({snap[:12]}) does not restore bit-exact:\n      "
                     + "\n      ".join(diffs))
        return not diffs


class SetupError(Exception):
    pass


# --- backup-create ----------------------------------------------------------------------------


class CreateScenario(Scenario):
    """Kills the backup of v3 into a repository holding v1 and v2."""

    name, tool = "create", "backup-create"

    def build(self) -> None:
        d = self.d
        src, rng = d.src, random.Random(TREE_SEED)
        area = Area(d.work / "pristine-create")
        area.root.mkdir()
        self.init_repo(area)
        self.ids: dict[str, str] = {}
        self.want: dict[str, Manifest] = {}
        for version, builder, when in (("v1", build_v1, V1_TIME), ("v2", build_v2, V2_TIME)):
            builder(src, rng)
            res = self.tools.run("backup-create", ["-q", "--json", "--job", "files", "--time",
                                                   when, src], area)
            if res.rc != 0:
                raise SetupError(f"backup of {version} failed (exit {res.rc}):\n{res.head()}")
            self.ids[version] = json.loads(res.out)["snapshot_id"]
            self.want[version] = self.expect(src, version)
        build_v3(src, rng)
        self.want["v3"] = self.expect(src, "v3")
        self.pristine = area
        self.pristine_listing = listing(area.repo)
        self.baseline: dict[str, int] = {}   # cache mode -> bytes_added of an uninterrupted run

    def args(self, area: Area) -> list[str]:
        return ["--json", "--job", "files", "--time", V3_TIME, self.d.src]

    def tracked(self, op: str, kind: str) -> bool:
        return op == "put" or (op, kind) == ("remove", "locks")

    def label(self, seq: list[tuple[str, str]]) -> list[str]:
        total_index = sum(1 for t in seq if t == ("put", "index"))
        labels, indexes = [], 0
        for op, kind in seq:
            if (op, kind) == ("put", "locks"):
                labels.append("locked, before the first pack")
            elif (op, kind) == ("put", "data"):
                labels.append("after a pack, before its index" if indexes
                              else "packs stored, no index file yet")
            elif (op, kind) == ("put", "index"):
                indexes += 1
                labels.append("after the last index, before the snapshot"
                              if indexes == total_index else "after an index file")
            elif (op, kind) == ("put", "snapshots"):
                labels.append("after the snapshot put, before the unlock")
            elif (op, kind) == ("remove", "locks"):
                labels.append("after the unlock (saving the files cache)")
            else:
                labels.append(f"after {op} {kind}")
        return labels

    def check(self, inj: Injection) -> None:
        res, src = inj.result, self.d.src
        before_index = {k for k in self.pristine_listing if k.startswith("index/")}
        after = listing(inj.area.repo)
        new_index = {k for k in after if k.startswith("index/")} - before_index
        inj.facts["new_index"] = len(new_index)
        inj.facts["lock_left"] = any(k.startswith("locks/") for k in after)

        self.verify(inj, "after the kill")
        snaps = self.snapshots(inj)
        if snaps is None:
            return
        ids = {s["id"] for s in snaps}
        old = set(self.ids.values())
        new = ids - old
        if not old <= ids:
            inj.fail(f"earlier snapshots disappeared: {sorted(x[:12] for x in old - ids)}")
        if len(new) > 1:
            inj.fail(f"{len(new)} new snapshots after one backup: {sorted(x[:12] for x in new)}")
        inj.facts["snapshot_written"] = bool(new)
        if res.rc == 0:
            reported = self.json_of(inj, res, "the backup that finished")
            if reported is not None and reported.get("snapshot_id") not in new:
                inj.fail("the backup exited 0 but its snapshot "
                         f"{str(reported.get('snapshot_id'))[:12]} is not in the repository")
            if reported is not None and inj.spec.how == "none":
                self.baseline[inj.spec.cache] = reported["bytes_added"]
        for snap in new:
            self.restore_matches(inj, snap, self.want["v3"], src, "the killed run's snapshot")
        for version in ("v1", "v2"):
            self.restore_matches(inj, self.ids[version], self.want[version], src,
                                 f"earlier snapshot {version}")

        # The next run: succeeds, is exact, and reuses what the killed run indexed.
        rerun = self.ok(inj, "the rerun backup", "backup-create", ["-q", *self.args(inj.area)])
        if rerun.rc != 0:
            return
        stats = self.json_of(inj, rerun, "the rerun backup")
        if stats is None:
            return
        self.restore_matches(inj, stats["snapshot_id"], self.want["v3"], src,
                             "the rerun's snapshot")
        self.verify(inj, "after the rerun")
        self.leftovers_after(inj)
        added = stats["bytes_added"]
        inj.facts["rerun_added"] = added
        if inj.spec.how == "none":
            return
        base = self.baseline[inj.spec.cache]
        inj.facts["reused"] = added < base and not new
        if added > base:
            inj.fail(f"the rerun added {added} bytes, more than an uninterrupted backup "
                     f"({base})")
        elif new_index and added >= base:
            inj.fail(f"no reuse: the killed run stored {len(new_index)} index file(s), yet "
                     f"the rerun added {added} bytes, as much as an uninterrupted backup")

    def json_of(self, inj: Injection, res: Result, what: str) -> dict | None:
        try:
            return json.loads(res.out)
        except ValueError:
            inj.fail(f"{what} printed no JSON", res)
            return None


# --- backup-prune -----------------------------------------------------------------------------


class PruneBase(Scenario):
    """Shared pristine for forget+gc and gc: job "files" with six daily snapshots, each with
    files of its own (freed when it is forgotten) and files that stay (so forgetting leaves
    packs partly used and the run repacks), and job "other" sharing a file with them. Days 01
    and 02 are already forgotten and their packs condemned, so a run also deletes."""

    tool = "backup-prune"

    def build_common(self) -> tuple[Area, dict[str, Manifest]]:
        """Built once for both scenarios: the repository, and snapshot id -> expected tree."""
        d = self.d
        if d.prune_common is not None:
            return d.prune_common
        rng = random.Random(TREE_SEED + 1)
        area = Area(d.work / "pristine-prune")
        area.root.mkdir()
        self.init_repo(area)
        psrc, osrc = d.work / "psrc", d.work / "osrc"
        shared = rng.randbytes(200_000)
        write_file(psrc / "shared", shared)
        ids: dict[str, Manifest] = {}   # snapshot id -> expected content

        def backup(src: Path, job: str, when: str) -> str:
            res = self.tools.run("backup-create", ["-q", "--json", "--job", job, "--time", when,
                                                   src], area)
            if res.rc != 0:
                raise SetupError(f"prune setup: backup failed (exit {res.rc}):\n{res.head()}")
            return json.loads(res.out)["snapshot_id"]

        write_file(osrc / "shared-copy", shared)
        write_file(osrc / "own", rng.randbytes(300_000))
        os.symlink("shared-copy", osrc / "link")
        ids[backup(osrc, "other", "2026-11-01 08:00")] = self.expect(osrc, "other")
        for day in PRUNE_DAYS:
            for old in psrc.glob("own-*"):
                old.unlink()
            for k in range(8):
                write_file(psrc / f"own-{day}-{k}", rng.randbytes(40_000))
                write_file(psrc / f"stay/{day}/stay-{k}", rng.randbytes(10_000))
            if day in ("02", "04"):
                write_file(psrc / f"own-{day}-big", rng.randbytes(1_200_000))
            ids[backup(psrc, "files", f"2026-11-{day} 12:00")] = self.expect(psrc, f"day-{day}")
        res = self.tools.run("backup-prune", ["-q", "--grace", "0", "forget", "--keep-last", "4",
                                              "--job", "files", "--prune"], area)
        if res.rc != 0:
            raise SetupError(f"prune setup: forget --prune failed:\n{res.head()}")
        d.prune_common = (area, ids)
        return d.prune_common

    def tracked(self, op: str, kind: str) -> bool:
        return op in ("put", "remove")

    def label(self, seq: list[tuple[str, str]]) -> list[str]:
        totals = collections.Counter(seq)
        seen = collections.Counter()
        stage = "gc" if self.name == "gc" else "forget"
        labels = []
        for i, (op, kind) in enumerate(seq):
            seen[(op, kind)] += 1
            last = seen[(op, kind)] == totals[(op, kind)]
            nxt = seq[i + 1] if i + 1 < len(seq) else None
            prev = seq[i - 1] if i else None
            if (op, kind) == ("put", "locks"):
                if nxt == ("remove", "locks"):
                    label = "the delete probe written"
                else:
                    if stage == "forget" and seen[("put", "tombstones")]:
                        stage = "gc"
                    label = "locked, before any change"
            elif (op, kind) == ("remove", "locks"):
                label = ("after the delete probe" if prev == ("put", "locks")
                         else "unlocked (the end of this stage)")
            elif (op, kind) in PRUNE_LABELS:
                when_last, otherwise = PRUNE_LABELS[(op, kind)]
                label = when_last if last else otherwise
            else:
                label = f"after {op} {kind}"
            labels.append(f"{stage}: {label}")
        return labels

    def check_after(self, inj: Injection, keep: set[str], may_have: set[str],
                    reruns: list[list[str]]) -> None:
        """The checks of both: verify; snapshots between keep and may_have, each exact; the
        reruns succeed; verify; exactly keep is left and still restores."""
        res = inj.result
        inj.facts["lock_left"] = any(k.startswith("locks/") for k in listing(inj.area.repo))
        self.verify(inj, "after the kill")
        snaps = self.snapshots(inj)
        if snaps is None:
            return
        ids = {s["id"] for s in snaps}
        if not keep <= ids:
            inj.fail(f"kept snapshot(s) lost: {sorted(x[:12] for x in keep - ids)}")
        if not ids <= may_have:
            inj.fail(f"unknown snapshot(s) appeared: {sorted(x[:12] for x in ids - may_have)}")
        if res.rc == 0 and ids != keep:
            inj.fail(f"exit 0, but {len(ids)} snapshots are left instead of {len(keep)}")
        for snap in sorted(ids & may_have):
            self.restore_matches(inj, snap, self.want[snap], self.src_of(snap),
                                 "a remaining snapshot")
        for args in reruns:
            if self.ok(inj, f"rerun: backup-prune {' '.join(args)}", "backup-prune",
                       args).rc != 0:
                return
        if not self.verify(inj, "after the reruns"):
            return
        snaps = self.snapshots(inj)
        if snaps is not None and {s["id"] for s in snaps} != keep:
            inj.fail("after the reruns the snapshots are "
                     f"{sorted(s['id'][:12] for s in snaps)}, expected "
                     f"{sorted(x[:12] for x in keep)}")
        newest = self.files_kept
        self.restore_matches(inj, newest, self.want[newest], self.src_of(newest),
                             "the kept snapshot, after the reruns")
        self.leftovers_after(inj)

    def src_of(self, snap: str) -> Path:
        return self.d.work / ("osrc" if snap == self.other else "psrc")

    def setup_ids(self, area: Area, ids: dict[str, Manifest]) -> None:
        res = self.tools.run("backup-restore", ["snapshots", "--json"], area)
        snaps = json.loads(res.out)
        self.want = ids
        self.other = next(s["id"] for s in snaps if s["job"] == "other")
        self.files_kept = max((s for s in snaps if s["job"] == "files"),
                              key=lambda s: s["time_ns"])["id"]
        self.present = {s["id"] for s in snaps}


class ForgetScenario(PruneBase):
    """Kills `backup-prune --grace 0 forget --keep-last 1 --job files --prune`."""

    name = "forget"
    ARGS = ["--grace", "0", "forget", "--keep-last", "1", "--job", "files", "--prune"]

    def build(self) -> None:
        common, ids = self.build_common()
        self.pristine = common.clone(self.d.work / "pristine-forget", cache=True)
        self.pristine_listing = listing(self.pristine.repo)
        self.setup_ids(self.pristine, ids)

    def args(self, area: Area) -> list[str]:
        return self.ARGS

    def check(self, inj: Injection) -> None:
        self.check_after(inj, keep={self.files_kept, self.other}, may_have=self.present,
                         reruns=[self.ARGS, ["--grace", "0"]])


class GcScenario(PruneBase):
    """Kills `backup-prune --grace 0` after a forget without --prune: it deletes the packs
    condemned before, condemns the forgotten snapshots' packs and repacks."""

    name = "gc"
    ARGS = ["--grace", "0"]

    def build(self) -> None:
        common, ids = self.build_common()
        self.pristine = common.clone(self.d.work / "pristine-gc", cache=True)
        res = self.tools.run("backup-prune", ["-q", "forget", "--keep-last", "2", "--job",
                                              "files"], self.pristine)
        if res.rc != 0:
            raise SetupError(f"gc setup: forget failed:\n{res.head()}")
        self.pristine_listing = listing(self.pristine.repo)
        self.setup_ids(self.pristine, ids)

    def args(self, area: Area) -> list[str]:
        return self.ARGS

    def check(self, inj: Injection) -> None:
        self.check_after(inj, keep=self.present, may_have=self.present,
                         reruns=[self.ARGS, self.ARGS])


class RebuildScenario(PruneBase):
    """Kills `backup-prune rebuild-index` repairing the prune pristine (after its forget
    --prune: one consolidated index file, condemned packs in no index) whose index file was
    damaged. It must never remove a pack; a rerun finishes the repair, after which verify
    passes, every snapshot restores exactly and a garbage collection still works."""

    name = "rebuild"
    ARGS = ["rebuild-index"]
    boost = {"get data": 2.0}   # reading the packs that no intact index file names

    def build(self) -> None:
        common, ids = self.build_common()
        self.pristine = common.clone(self.d.work / "pristine-rebuild", cache=True)
        index = sorted(k for k in listing(self.pristine.repo) if k.startswith("index/"))
        if not index:
            raise SetupError("rebuild setup: the prune pristine has no index file")
        victim = self.pristine.repo / index[0]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x10
        victim.write_bytes(bytes(data))
        self.pristine_listing = listing(self.pristine.repo)
        self.setup_ids(self.pristine, ids)

    def args(self, area: Area) -> list[str]:
        return self.ARGS

    def tracked(self, op: str, kind: str) -> bool:
        return op in ("put", "remove") or (op, kind) == ("get", "data")

    def label(self, seq: list[tuple[str, str]]) -> list[str]:
        labels = []
        for i, (op, kind) in enumerate(seq):
            nxt = seq[i + 1] if i + 1 < len(seq) else None
            prev = seq[i - 1] if i else None
            if (op, kind) == ("put", "locks"):
                label = ("the delete probe written" if nxt == ("remove", "locks")
                         else "locked, before any change")
            elif (op, kind) == ("remove", "locks"):
                label = ("after the delete probe" if prev == ("put", "locks")
                         else "unlocked (the end)")
            elif (op, kind) == ("get", "data"):
                label = "reading packs that no intact index file names"
            elif (op, kind) == ("put", "index"):
                label = "new index file written, the damaged one still there"
            elif (op, kind) == ("remove", "index"):
                label = "the damaged index file removed"
            else:
                label = f"after {op} {kind}"
            labels.append(label)
        return labels

    def check(self, inj: Injection) -> None:
        packs = {k for k in self.pristine_listing if k.startswith("data/")}
        gone = packs - listing(inj.area.repo)
        if gone:
            inj.fail(f"rebuild-index removed pack(s): {sorted(k[5:17] for k in gone)}")
        if inj.result.rc == 0 and not self.verify(inj, "after a rebuild that exited 0"):
            return
        if self.ok(inj, "rerun: backup-prune rebuild-index", "backup-prune", self.ARGS).rc:
            return
        if not self.verify(inj, "after the rerun"):
            return
        snaps = self.snapshots(inj)
        if snaps is None:
            return
        if {s["id"] for s in snaps} != self.present:
            inj.fail("the snapshots changed: "
                     f"{sorted(s['id'][:12] for s in snaps)}")
        for snap in sorted(self.present):
            self.restore_matches(inj, snap, self.want[snap], self.src_of(snap),
                                 "a snapshot, after the rerun")
        # The packs indexed again that nothing needs (condemned before) do not trouble the
        # garbage collection: it condemns them anew.
        if self.ok(inj, "then backup-prune --grace 0", "backup-prune", ["--grace", "0"]).rc:
            return
        if self.verify(inj, "after the garbage collection"):
            self.restore_matches(inj, self.files_kept, self.want[self.files_kept],
                                 self.src_of(self.files_kept),
                                 "the newest snapshot, after the garbage collection")
        self.leftovers_after(inj)


# --- backup-restore ---------------------------------------------------------------------------


class RestoreScenario(Scenario):
    """Kills `backup-restore V3 --target DIR` (the create pristine plus a v3 backup)."""

    name, tool = "restore", "backup-restore"
    boost = {"get data": 4.0}   # the restore's own work: kill mostly while it writes files

    def build(self) -> None:
        create = self.d.scenario("create")
        self.pristine = create.pristine.clone(self.d.work / "pristine-restore", cache=True)
        res = self.tools.run("backup-create", ["-q", *create.args(self.pristine)],
                             self.pristine)
        if res.rc != 0:
            raise SetupError(f"restore setup: backup of v3 failed:\n{res.head()}")
        self.snap = json.loads(res.out)["snapshot_id"]
        self.want = create.want["v3"]
        self.pristine_listing = listing(self.pristine.repo)
        self.pristine_digest = repo_digest(self.pristine.repo)

    def args(self, area: Area) -> list[str]:
        return [self.snap, "--target", area.root / "target"]

    def tracked(self, op: str, kind: str) -> bool:
        return (op, kind) in (("put", "locks"), ("remove", "locks"), ("get", "data"))

    def label(self, seq: list[tuple[str, str]]) -> list[str]:
        reads = sum(1 for t in seq if t == ("get", "data"))
        labels, done = [], 0
        for op, _kind in seq:
            if op == "put":
                labels.append("locked, before reading data")
            elif op == "remove":
                labels.append("after the unlock")
            else:
                done += 1
                labels.append("after the last read (finishing)" if done == reads else
                              f"reading data, quarter {min(4, 1 + 4 * (done - 1) // reads)} of 4")
        return labels

    def check(self, inj: Injection) -> None:
        res, src = inj.result, self.d.src
        target = inj.area.root / "target"
        partial = target / src.relative_to("/")
        if res.rc == 0:
            diffs = diff_manifests(self.want, manifest(partial))
            if diffs:
                inj.fail("the restore exited 0 but its target is wrong:\n      "
                         + "\n      ".join(diffs))
        # The repository is untouched: nothing changed but (stale) locks.
        now = repo_digest(inj.area.repo)
        if now != self.pristine_digest:
            changed = sorted(set(now.items()) ^ set(self.pristine_digest.items()))
            inj.fail(f"the restore changed the repository: {[k for k, _ in changed][:6]}")
        locks = [k for k in listing(inj.area.repo) if k.startswith("locks/")]
        inj.facts["lock_left"] = bool(locks)
        stray = [k for k in temp_files(inj.area.repo) if not k.startswith("locks/")]
        if stray:
            inj.fail(f"the restore left temporary files outside locks/: {stray[:4]}")
        self.verify(inj, "after the kill")
        self.restore_matches(inj, self.snap, self.want, src, "the snapshot, into a fresh target")
        # Again into the partly written target, with the default --overwrite if-changed: a
        # file whose size and mtime match the snapshot is left alone, any other replaced.
        again = self.tools.run("backup-restore", ["--json", self.snap, "--target", target],
                               inj.area)
        diffs = diff_manifests(self.want, manifest(partial))
        if again.rc == 0 and diffs:
            inj.fail("the restore into the partly written target exited 0 with wrong "
                     "content:\n      " + "\n      ".join(diffs), again)
        inj.facts["same_target"] = ("exact, exit 0" if again.rc == 0 else
                                    f"exit {again.rc}, " + ("exact" if not diffs else "not exact"))
        try:
            stats = json.loads(again.out)
            inj.facts["same_target_written"] = stats["files"]
            inj.facts["same_target_left_alone"] = stats["skipped_existing"]
        except (ValueError, KeyError):
            pass
        self.leftovers_after(inj)


# --- the driver -------------------------------------------------------------------------------


SCENARIOS = {"create": CreateScenario, "forget": ForgetScenario, "gc": GcScenario,
             "rebuild": RebuildScenario, "restore": RestoreScenario}


class Driver:
    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        parent = Path(opts.workdir) if opts.workdir else None
        if parent:
            parent.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="lifeboat-crash.", dir=parent)).resolve()
        self.work.chmod(0o755)
        self.src = self.work / "src"
        self.scratch = self.work / "run"
        self.failures_dir = self.work / "failures"
        self.tools = Tools(Path(opts.bin).resolve(), self.make_secret())
        self.prune_common = None
        self.scenarios: dict[str, Scenario] = {}
        self.profiles: dict[str, dict[str, Profile]] = {}
        self.failures: list[Injection] = []
        self.setup_failed = False

    def make_secret(self) -> dict[str, str]:
        """A key file (default: opening it costs no key derivation, which makes every tool
        run ~0.3 s faster) or a password file (mode 600) with --password."""
        secret = self.work / "secret"
        if self.opts.password:
            secret.write_text("correct horse battery staple\n")
            secret.chmod(0o600)
            return {"LIFEBOAT_PASSWORD_FILE": str(secret)}
        subprocess.run([str(Path(self.opts.bin) / "backup-create"), "key", "generate",
                        str(secret)], check=True, capture_output=True)
        return {"LIFEBOAT_KEY_FILE": str(secret)}

    def scenario(self, name: str) -> Scenario:
        if name not in self.scenarios:
            scn = SCENARIOS[name](self)
            t = time.monotonic()
            scn.build()
            print(f"[{name}] pristine repository built in {time.monotonic() - t:.1f} s "
                  f"({len(scn.pristine_listing)} objects)", flush=True)
            self.scenarios[name] = scn
        return self.scenarios[name]

    def caches(self, name: str) -> list[str]:
        if self.opts.cache != "both":
            return [self.opts.cache]
        return ["warm", "cold"] if name == "create" else ["warm"]

    def run_command(self, name: str, seed: int) -> dict:
        scn = self.scenario(name)
        started = time.monotonic()
        caches = self.caches(name)
        profiles = {}
        for cache in caches:
            prof, inj = scn.profile(cache)
            profiles[cache] = prof
            self.profiles.setdefault(name, {})[cache] = prof
            counts = ", ".join(f"{op} {n}" for op, n in sorted(prof.counts().items()))
            extra = (f"; bytes_added {scn.baseline[cache]}" if name == "create" else "")
            print(f"[{name}] uninterrupted run (cache {cache}): {prof.seconds:.2f} s, {counts}; "
                  f"{len(set(prof.labels)) + 1} phases{extra}", flush=True)
            if self.opts.show_profile:
                self.show_profile(prof)
        rng = random.Random(f"{seed}/{name}")
        drawer = SpecDrawer(rng, profiles, caches, scn.boost)
        if self.opts.spec:
            specs = [Spec.parse(self.opts.spec, caches[0])]
        else:
            specs = [drawer.draw() for _ in range(self.opts.injections)]
        stats = collections.Counter()
        points, phases = set(), collections.Counter()
        facts = collections.Counter()
        times = []
        for i, spec in enumerate(specs, 1):
            t = time.monotonic()
            inj = scn.inject(i, spec)
            times.append(time.monotonic() - t)
            stats[inj.outcome] += 1
            if inj.result.killed:
                phases[inj.phase] += 1
                if spec.how == "op":
                    points.add(str(spec))
            self.count_facts(inj, facts)
            self.report(inj, seed)
        candidates = {p for classes in drawer.classes.values() for pts in classes.values()
                      for p in pts}
        return {"name": name, "injections": len(specs), "stats": stats, "points": points,
                "phases": phases, "facts": facts, "candidates": len(candidates),
                "failures": sum(1 for f in self.failures if f.command == name),
                "seconds": time.monotonic() - started,
                "per_injection": sum(times) / max(1, len(times)),
                "all_phases": list(dict.fromkeys([OPENING] + [p for prof in profiles.values()
                                                              for p in prof.labels]))}

    @staticmethod
    def show_profile(prof: Profile) -> None:
        """Every storage operation of the uninterrupted run, numbered per type as the fault
        wrapper counts them, with the phase after each tracked one."""
        seen, tracked = collections.Counter(), 0
        for op, key in prof.ops:
            seen[op] += 1
            phase = ""
            if tracked < len(prof.tracked) and prof.tracked[tracked] == (op, kind_of(key)):
                phase = f"-> {prof.labels[tracked]}"
                tracked += 1
            print(f"    {op}:{seen[op]:<4} {key[:40]:<40} {phase}")

    @staticmethod
    def count_facts(inj: Injection, facts: collections.Counter) -> None:
        f = inj.facts
        if f.get("lock_left"):
            facts["a lock left by the killed run"] += 1
        if f.get("locks_after"):
            facts["lock objects still there after the follow-up runs"] += 1
        if f.get("temp_files"):
            facts["temp files (*.tmp-*) of interrupted puts left"] += 1
            facts["temp file bytes left (sum)"] += f["temp_bytes"]
        if f.get("temp_files_after"):
            facts["temp files still there after the follow-up runs"] += 1
        if inj.command == "create" and inj.result.killed:
            if f.get("new_index"):
                facts["killed run stored index file(s)"] += 1
            if f.get("reused"):
                facts["rerun reused data (added less than an uninterrupted run)"] += 1
            if f.get("snapshot_written"):
                facts["killed run had written its snapshot"] += 1
        if "same_target" in f and inj.result.killed:
            facts[f"rerun into the partly written target: {f['same_target']}"] += 1
            if f.get("same_target_left_alone"):
                facts["rerun into the partly written target: resumed (left files alone)"] += 1
            facts["rerun into the partly written target: files rewritten (sum)"] += \
                f.get("same_target_written", 0)
            facts["rerun into the partly written target: files left alone (sum)"] += \
                f.get("same_target_left_alone", 0)

    def report(self, inj: Injection, seed: int) -> None:
        res = inj.result
        extra = ""
        if inj.command == "create" and "rerun_added" in inj.facts:
            extra = (f"  new-index {inj.facts.get('new_index', 0)}, "
                     f"rerun added {inj.facts['rerun_added']}")
        verdict = "FAIL" if inj.failures else "ok"
        print(f"{inj.command:<8} #{inj.index:<4} {str(inj.spec):<22} cache {inj.spec.cache:<5} "
              f"exit {res.rc:>3} ({inj.outcome}, {res.seconds:.2f} s)  phase: {inj.phase}"
              f"{extra}  {verdict}", flush=True)
        for note in inj.notes:
            print(f"    note: {note}")
        if not inj.failures:
            return
        self.failures.append(inj)
        print(f"  FAILURE of {inj.command} #{inj.index}: seed {seed}, spec {inj.spec} "
              f"(cache {inj.spec.cache})")
        print(f"  replay: python3 {sys.argv[0]} --bin {self.opts.bin} --commands {inj.command} "
              f"--spec {inj.spec.cli()} --cache {inj.spec.cache}")
        print(f"  killed run: {res.command_line()} (exit {res.rc}):\n{res.head()}")
        print(f"  its last storage operations:\n{res.last_ops()}")
        for f in inj.failures:
            print(f"  - {f}")
        if self.opts.keep_failures:
            dest = self.failures_dir / f"{inj.command}-{inj.index}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(inj.area.root, dest, symlinks=True)
            (dest / "killed-run.stderr").write_text(res.err)
            (dest / "killed-run.stdout").write_text(res.out)
            secret = next(iter(self.tools.secret.items()))
            (dest / "README").write_text(
                f"{inj.command} #{inj.index}, spec {inj.spec}, cache {inj.spec.cache}, "
                f"seed {seed}\n\n"
                "after-kill/{repo,cache,state}: as the killed run left them\n"
                "repo/, cache/, state/: after the checks (and reruns) that followed\n"
                "killed-run.stderr: its -vv log\n"
                f"{self.work}/expect/: copies of the sources of each snapshot\n\n"
                "to look at it:\n"
                f"  export LIFEBOAT_REPOSITORY={dest}/after-kill/repo "
                f"LIFEBOAT_CACHE_DIR={dest}/after-kill/cache "
                f"LIFEBOAT_STATE_DIR={dest}/after-kill/state "
                f"{secret[0]}={secret[1]}\n"
                f"  {self.tools.bindir}/backup-verify --read-data\n")
            print(f"  kept in {dest}")
        sys.stdout.flush()

    def cleanup(self) -> None:
        if self.failures and self.opts.keep_failures:
            shutil.rmtree(self.scratch, ignore_errors=True)
            print(f"work directory kept: {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def print_summary(results: list[dict], seed: int, total: float) -> None:
    print("\n=== summary (seed %d) ===" % seed)
    for r in results:
        s = r["stats"]
        other = sum(v for k, v in s.items() if k not in ("killed", "finished"))
        print(f"{r['name']}: {r['injections']} injections, {s['killed']} killed by SIGKILL, "
              f"{s['finished']} finished first" + (f", {other} other exits" if other else "")
              + f"; {len(r['points'])} distinct op kill points (of {r['candidates']}); "
              f"{len(r['phases'])} of {len(r['all_phases'])} phases hit; "
              f"{r['failures']} failure(s); {r['seconds']:.0f} s "
              f"({r['per_injection']:.2f} s per injection)")
        for phase in r["all_phases"] + sorted(set(r["phases"]) - set(r["all_phases"])):
            print(f"    {r['phases'].get(phase, 0):>4}  {phase}")
        for fact, n in sorted(r["facts"].items()):
            print(f"    {n:>4}  [{fact}]")
    print(f"total {total:.0f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("LIFEBOAT_BIN"),
                    help="directory of the tools (default: $LIFEBOAT_BIN)")
    ap.add_argument("--injections", type=int, default=200,
                    help="injections per command (default 200: the long mode)")
    ap.add_argument("--seed", type=int, default=None, help="default: random (always printed)")
    ap.add_argument("--commands", default=",".join(ALL_COMMANDS),
                    help="comma-separated subset of " + ",".join(ALL_COMMANDS))
    ap.add_argument("--workdir", help="where the temporary work directory is made "
                                      "(default: $TMPDIR or /tmp)")
    ap.add_argument("--keep-failures", action="store_true",
                    help="keep the repository of each failing injection (and the work dir)")
    ap.add_argument("--spec", help="run just this injection: OP:N:kill|killafter, time:SECONDS "
                                   "or none (replays a failure)")
    ap.add_argument("--cache", choices=("warm", "cold", "both"), default="both",
                    help="the cache the killed run starts with (default both: create draws "
                         "warm or cold at random; the others do not read the cache)")
    ap.add_argument("--show-profile", action="store_true",
                    help="print the uninterrupted runs' storage operations and phases")
    ap.add_argument("--password", action="store_true",
                    help="open the repository with a password file instead of a key file")
    opts = ap.parse_args(argv)
    if not opts.bin:
        ap.error("--bin or LIFEBOAT_BIN is required")
    commands = [c for c in opts.commands.split(",") if c]
    for c in commands:
        if c not in ALL_COMMANDS:
            ap.error(f"unknown command '{c}' (choose from {', '.join(ALL_COMMANDS)})")
    if opts.spec:
        Spec.parse(opts.spec, "warm")  # fail early on a bad spec
        if opts.cache == "both":
            opts.cache = "warm"
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(10**9)
    print(f"crash.py: seed {seed}, {opts.injections if not opts.spec else 1} injection(s) per "
          f"command, commands {','.join(commands)}, tools {opts.bin}", flush=True)
    started = time.monotonic()
    # SIGTERM (ctest's timeout, kill) unwinds like Ctrl-C, so the work directory is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    driver = Driver(opts)
    results = []
    try:
        for name in commands:
            results.append(driver.run_command(name, seed))
    except SetupError as e:
        print(f"SETUP FAILED: {e}")
        driver.setup_failed = True
    finally:
        print_summary(results, seed, time.monotonic() - started)
        driver.cleanup()
    if driver.failures or driver.setup_failed:
        print(f"FAILED: {len(driver.failures)} injection(s) broke an invariant"
              f"{' (and the setup failed)' if driver.setup_failed else ''} (seed {seed})")
        return 1
    print("all invariants held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
