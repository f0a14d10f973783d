#!/usr/bin/env python3
"""Lifeboat vs restic vs borg on the same corpus, alternating, median of N runs.

Each operation is timed with /usr/bin/time (wall, user+sys CPU, peak RSS). Prints a Markdown
table and the ratios Lifeboat/restic and Lifeboat/borg. Page cache warm, nothing dropped.
"""
import argparse, glob, os, shutil, statistics, subprocess, sys, tarfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--dir", default=os.environ.get("BENCH_DIR", "/var/tmp/lifeboat-bench"))
args = ap.parse_args()

work = args.dir
os.makedirs(work, exist_ok=True)
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

password = os.path.join(work, "password")
with open(password, "w") as f:
    f.write("benchmark password\n")
os.chmod(password, 0o600)


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def timed(cmd, env, cwd=None):
    out = os.path.join(work, "time.out")
    full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", out] + cmd
    r = subprocess.run(full, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    e, u, s, m = open(out).read().split()[-4:]
    return {"wall": float(e), "cpu": float(u) + float(s), "rss_mb": int(m) / 1024}


class Tool:
    def __init__(self, name):
        self.name = name
        self.repo = os.path.join(work, f"repo-{name}")
        self.env = dict(os.environ)

    def reset(self):
        shutil.rmtree(self.repo, ignore_errors=True)
        shutil.rmtree(os.path.join(work, f"cache-{self.name}"), ignore_errors=True)


class Lifeboat(Tool):
    def __init__(self):
        super().__init__("lifeboat")
        self.env.update(LIFEBOAT_REPOSITORY=self.repo, LIFEBOAT_PASSWORD_FILE=password,
                        LIFEBOAT_CACHE_DIR=os.path.join(work, "cache-lifeboat"),
                        LIFEBOAT_STATE_DIR=os.path.join(work, "state-lifeboat"))
        self.b = lambda t: os.path.join(args.bin, t)

    def init(self): subprocess.run([self.b("backup-create"), "init"], env=self.env, check=True, capture_output=True)
    def backup(self): return timed([self.b("backup-create"), "-q", corpus], self.env)
    def restore(self, target): return timed([self.b("backup-restore"), "-q", "latest", "--target", target], self.env)
    def verify(self): return timed([self.b("backup-verify"), "-q", "--read-data"], self.env)


class Restic(Tool):
    def __init__(self):
        super().__init__("restic")
        self.env.update(RESTIC_REPOSITORY=self.repo, RESTIC_PASSWORD_FILE=password,
                        RESTIC_CACHE_DIR=os.path.join(work, "cache-restic"))

    def init(self): subprocess.run(["restic", "init"], env=self.env, check=True, capture_output=True)
    def backup(self): return timed(["restic", "backup", "-q", corpus], self.env)
    def restore(self, target): return timed(["restic", "restore", "-q", "latest", "--target", target], self.env)
    def verify(self): return timed(["restic", "check", "-q", "--read-data"], self.env)


class Borg(Tool):
    def __init__(self):
        super().__init__("borg")
        self.env.update(BORG_PASSPHRASE="benchmark password", BORG_BASE_DIR=os.path.join(work, "cache-borg"),
                        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes")
        self.n = 0

    def init(self): subprocess.run(["borg", "init", "--encryption=repokey-blake2", self.repo], env=self.env, check=True, capture_output=True)
    def backup(self):
        self.n += 1
        return timed(["borg", "create", "--compression", "lz4", f"{self.repo}::a{self.n}", corpus], self.env)
    def restore(self, target):
        os.makedirs(target, exist_ok=True)
        return timed(["borg", "extract", f"{self.repo}::a{self.n}"], self.env, cwd=target)
    def verify(self): return timed(["borg", "check", "--verify-data", self.repo], self.env)


tools = [Lifeboat(), Restic(), Borg()]
ops = ["initial backup", "unchanged re-run", "full restore", "read-all verify"]
results = {t.name: {op: [] for op in ops} for t in tools}
sizes = {t.name: [] for t in tools}
for run in range(args.runs):
    for t in tools:  # alternate tools within each run
        print(f"run {run + 1}/{args.runs}: {t.name}", flush=True)
        t.reset()
        t.init()
        results[t.name]["initial backup"].append(t.backup())
        sizes[t.name].append(du(t.repo))
        results[t.name]["unchanged re-run"].append(t.backup())
        target = os.path.join(work, f"restore-{t.name}")
        shutil.rmtree(target, ignore_errors=True)
        results[t.name]["full restore"].append(t.restore(target))
        shutil.rmtree(target, ignore_errors=True)
        results[t.name]["read-all verify"].append(t.verify())
        t.reset()


def med(xs, key):
    return statistics.median(x[key] for x in xs)


print()
print(f"Corpus: {corpus} ({du(corpus) / 1e9:.2f} GB), {os.cpu_count()} cores, median of {args.runs} runs")
print()
print("| operation | " + " | ".join(t.name for t in tools) + " | lifeboat/restic | lifeboat/borg |")
print("| --- " * (len(tools) + 3) + "|")
for op in ops:
    cells = [f"{med(results[t.name][op], 'wall'):.2f} s / {med(results[t.name][op], 'cpu'):.1f} s cpu / "
             f"{med(results[t.name][op], 'rss_mb'):.0f} MB" for t in tools]
    lb = med(results["lifeboat"][op], "wall")
    print(f"| {op} | " + " | ".join(cells) +
          f" | {lb / med(results['restic'][op], 'wall'):.2f} | {lb / med(results['borg'][op], 'wall'):.2f} |")
cells = [f"{statistics.median(sizes[t.name]) / 1e6:.0f} MB" for t in tools]
lb = statistics.median(sizes["lifeboat"])
print(f"| repository size | " + " | ".join(cells) +
      f" | {lb / statistics.median(sizes['restic']):.2f} | {lb / statistics.median(sizes['borg']):.2f} |")
