#!/usr/bin/env python3
"""Lifeboat vs restic vs borg on the same corpus, alternating, median of N runs.

Each operation is timed with /usr/bin/time (wall, user+sys CPU, peak RSS). Prints a Markdown
table with the ratios Lifeboat/restic and Lifeboat/borg, and writes every measurement to
DIR/results-<time>.json. Page cache warm, nothing dropped. The corpora (v1, v2, the big file)
are made by corpus.py.
"""
import argparse, glob, json, os, shutil, statistics, subprocess, sys, time

from corpus import V2, Big

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--dir", default=os.environ.get("BENCH_DIR", "/var/tmp/lifeboat-bench"))
ap.add_argument("--corpus", help="v1 tree, copied once into --dir (default: the Linux 6.1 source tree, extracted there)")
ap.add_argument("--big-size", type=int, default=1 << 30, help="bytes of the big file (default 1 GiB)")
args = ap.parse_args()

work = args.dir
os.makedirs(work, exist_ok=True)
started = time.strftime("%Y%m%d-%H%M%S")
if args.corpus:
    corpus = os.path.join(work, "corpus-" + os.path.basename(os.path.normpath(args.corpus)))
    if not os.path.isdir(corpus):
        shutil.rmtree(corpus + ".tmp", ignore_errors=True)
        subprocess.run(["cp", "-a", args.corpus, corpus + ".tmp"], check=True)
        os.rename(corpus + ".tmp", corpus)
else:
    corpus = os.path.join(work, "linux")
    if not os.path.isdir(corpus):
        src = sorted(glob.glob("/usr/src/linux-source-6.1*.tar.xz"))
        if not src:
            sys.exit("linux-source-6.1 is not installed")
        print(f"extracting {src[-1]} ...", flush=True)
        tmp = corpus + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        subprocess.run(["tar", "-xJf", src[-1], "-C", tmp], check=True)
        os.rename(tmp, corpus)
print("preparing v2 and the big file ...", flush=True)
v2 = V2(corpus)
v2.prepare()  # the tree is v1 from here on, except around the v2 backups
big = Big(work, corpus, args.big_size)
big.prepare()
big_name = "1 GiB file" if args.big_size == 1 << 30 else f"{args.big_size / 1e6:g} MB file"

password = os.path.join(work, "password")
with open(password, "w") as f:
    f.write("benchmark password\n")
os.chmod(password, 0o600)


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def repo_bytes(path):  # regular files only: directories would blur small growths
    return sum(os.lstat(os.path.join(r, n)).st_size for r, _, names in os.walk(path) for n in names)


def timed(cmd, env=None, cwd=None):
    out = os.path.join(work, "time.out")
    full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", out] + cmd
    r = subprocess.run(full, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    e, u, s, m = open(out).read().split()[-4:]
    return {"wall": float(e), "cpu": float(u) + float(s), "rss_mb": int(m) / 1024}


def output(cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


class Tool:
    def __init__(self, name):
        self.name = name
        self.repo = os.path.join(work, f"repo-{name}")
        self.env = dict(os.environ)
        self.scratch = [self.repo, os.path.join(work, f"cache-{name}")]

    def reset(self):  # a fresh repository gets fresh caches and state
        for d in self.scratch:
            shutil.rmtree(d, ignore_errors=True)


class Lifeboat(Tool):
    def __init__(self):
        super().__init__("lifeboat")
        self.scratch.append(os.path.join(work, "state-lifeboat"))
        self.env.update(LIFEBOAT_REPOSITORY=self.repo, LIFEBOAT_PASSWORD_FILE=password,
                        LIFEBOAT_CACHE_DIR=self.scratch[1], LIFEBOAT_STATE_DIR=self.scratch[2])
        self.b = lambda t: os.path.join(args.bin, t)

    def version(self): return output([self.b("backup-create"), "--version"])
    def init(self): subprocess.run([self.b("backup-create"), "init"], env=self.env, check=True, capture_output=True)
    def backup(self, path): return timed([self.b("backup-create"), "-q", path], self.env)
    def restore(self, target): return timed([self.b("backup-restore"), "-q", "latest", "--target", target], self.env)
    def verify(self): return timed([self.b("backup-verify"), "-q", "--read-data"], self.env)


class Restic(Tool):
    def __init__(self):
        super().__init__("restic")
        self.env.update(RESTIC_REPOSITORY=self.repo, RESTIC_PASSWORD_FILE=password, RESTIC_CACHE_DIR=self.scratch[1])

    def version(self): return output(["restic", "version"])
    def init(self): subprocess.run(["restic", "init"], env=self.env, check=True, capture_output=True)
    def backup(self, path): return timed(["restic", "backup", "-q", path], self.env)
    def restore(self, target): return timed(["restic", "restore", "-q", "latest", "--target", target], self.env)
    def verify(self): return timed(["restic", "check", "-q", "--read-data"], self.env)


class Borg(Tool):
    def __init__(self):
        super().__init__("borg")
        self.env.update(BORG_PASSPHRASE="benchmark password", BORG_BASE_DIR=self.scratch[1],
                        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes")
        self.n = 0

    def version(self): return output(["borg", "--version"])
    def init(self): subprocess.run(["borg", "init", "--encryption=repokey-blake2", self.repo], env=self.env, check=True, capture_output=True)
    def backup(self, path):
        self.n += 1
        return timed(["borg", "create", "--compression", "lz4", f"{self.repo}::a{self.n}", path], self.env)
    def restore(self, target):
        os.makedirs(target, exist_ok=True)
        return timed(["borg", "extract", f"{self.repo}::a{self.n}"], self.env, cwd=target)
    def verify(self): return timed(["borg", "check", "--verify-data", self.repo], self.env)


tools = [Lifeboat(), Restic(), Borg()]
big_a, big_b = f"{big_name} backup (fresh repository)", f"{big_name} + 21 bytes backup"
ops = ["initial backup", "unchanged re-run", "backup of v2 after v1", "full restore", "read-all verify", big_a, big_b]
big_growth = f"{big_name} + 21 bytes: repository growth"
size_rows = ["repository size after v1", "repository growth for v2", big_growth]
results = {t.name: {op: [] for op in ops + size_rows} for t in tools}
results["cp -a"] = {"cp -a": []}  # of the same tree, once per run, into where the tools restore
git = os.path.dirname(os.path.abspath(__file__))
raw = {"started": started, "args": vars(args), "corpus": corpus, "corpus_bytes": du(corpus), "cpus": os.cpu_count(),
       "v2": v2.m["counts"], "versions": {t.name: t.version() for t in tools},
       "git": output(["git", "--no-optional-locks", "-C", git, "describe", "--always", "--dirty"]),
       "results": results}
raw_path = os.path.join(work, f"results-{started}.json")

# Every restore (and cp -a) goes into a fresh directory, and none is deleted before the end: on
# ext4 without a journal (this machine's root file system) the inode allocator skips inodes
# freed in the last 60 s, or 360 s once their inode table block is written again, testing each
# one on the way (fs/ext4/ialloc.c, recently_deleted). A restore that followed the deletion
# of the previous one's 80k files spent a third of its CPU time there, and how much depended
# on how long ago that deletion was: 6 s after a quiet minute, 13-27 s right after.
restores = os.path.join(work, "restores")
shutil.rmtree(restores, ignore_errors=True)
os.makedirs(restores)
need = du(corpus) * (len(tools) + 1) * args.runs * 11 // 10
free = shutil.disk_usage(restores).free
if free < need:
    sys.exit(f"{restores}: {need / 1e9:.1f} GB needed for the restored trees (kept until the end, "
             f"see bench.py), {free / 1e9:.1f} GB free; use --dir elsewhere or fewer --runs")


def restore_target(name, run):
    return os.path.join(restores, f"{name}-{run + 1}")


for run in range(args.runs):
    print(f"run {run + 1}/{args.runs}: cp -a", flush=True)
    results["cp -a"]["cp -a"].append(timed(["cp", "-a", corpus, restore_target("cp", run)]))
    for t in tools:  # alternate tools within each run
        print(f"run {run + 1}/{args.runs}: {t.name}", flush=True)
        r = results[t.name]
        t.reset()
        t.init()
        r["initial backup"].append(t.backup(corpus))
        r["repository size after v1"].append(repo_bytes(t.repo))
        r["unchanged re-run"].append(t.backup(corpus))
        r["full restore"].append(t.restore(restore_target(t.name, run)))  # latest is v1
        r["read-all verify"].append(t.verify())
        before = repo_bytes(t.repo)
        v2.apply()
        try:
            r["backup of v2 after v1"].append(t.backup(corpus))
        finally:
            v2.undo()
        r["repository growth for v2"].append(repo_bytes(t.repo) - before)
        t.reset()
        t.init()
        try:
            big.put("a")
            r[big_a].append(t.backup(big.path))
            before = repo_bytes(t.repo)
            big.put("b")
            r[big_b].append(t.backup(big.path))
            r[big_growth].append(repo_bytes(t.repo) - before)
        finally:
            big.put(None)
        t.reset()
    with open(raw_path, "w") as f:  # after every run, so an interrupted benchmark keeps its data
        json.dump(raw, f, indent=1)
shutil.rmtree(restores, ignore_errors=True)


def med(name, row, key=None):
    return statistics.median(x[key] if key else x for x in results[name][row])


def ratio(a, b):
    return f"{a / b:.2f}" if b else "–"


def timing(name, row):
    return f"{med(name, row, 'wall'):.2f} s / {med(name, row, 'cpu'):.1f} s cpu / {med(name, row, 'rss_mb'):.0f} MB"


print()
print(f"Corpus: {corpus} ({raw['corpus_bytes'] / 1e9:.2f} GB), v2: {v2.summary()}; big file {args.big_size} bytes; "
      f"{os.cpu_count()} cores, median of {args.runs} runs (raw: {raw_path})")
print()
print("| operation | " + " | ".join(t.name for t in tools) + " | lifeboat/restic | lifeboat/borg | peak RSS lifeboat/restic |")
print("| --- " * (len(tools) + 4) + "|")
for op in ops[:5] + ["cp -a"] + ops[5:]:
    if op == "cp -a":
        print(f"| `cp -a` of the same tree | {timing('cp -a', op)} | | | | | |")
    else:
        lb = med("lifeboat", op, "wall")
        print(f"| {op} | " + " | ".join(timing(t.name, op) for t in tools) +
              f" | {ratio(lb, med('restic', op, 'wall'))} | {ratio(lb, med('borg', op, 'wall'))}"
              f" | {ratio(med('lifeboat', op, 'rss_mb'), med('restic', op, 'rss_mb'))} |")
for row in size_rows:
    digits = 0 if row == size_rows[0] else 2
    lb = med("lifeboat", row)
    print(f"| {row} | " + " | ".join(f"{med(t.name, row) / 1e6:.{digits}f} MB" for t in tools) +
          f" | {ratio(lb, med('restic', row))} | {ratio(lb, med('borg', row))} | |")
print()
cp = med("cp -a", "cp -a", "wall")
print(f"full restore / cp -a (issue target for lifeboat: ≤ 1.25): lifeboat {ratio(med('lifeboat', 'full restore', 'wall'), cp)}, "
      f"restic {ratio(med('restic', 'full restore', 'wall'), cp)}, borg {ratio(med('borg', 'full restore', 'wall'), cp)}")
