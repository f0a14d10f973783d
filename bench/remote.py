#!/usr/bin/env python3
"""Lifeboat backup/restore throughput per storage backend and transfers in flight, with restic on
the same S3 and SFTP servers in the same run. Run by bench/remote.sh inside
tests/servers/with-servers.sh (which exports the LIFEBOAT_TEST_* variables).

Corpus: fs/ and net/ of the Linux 6.1 source tree (about 82 MB, 4k files).
Medians of N runs; wall seconds, MB/s of corpus, peak RSS.
"""
import argparse, glob, os, shutil, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--dir", default=os.environ.get("BENCH_DIR", "/var/tmp/lifeboat-bench"))
args = ap.parse_args()

work = args.dir
trees = glob.glob(os.path.join(work, "linux", "*", "fs")) or glob.glob(os.path.join(work, "linux", "fs"))
if not trees:
    sys.exit("the Linux source tree is missing: run bench/run.sh once (it extracts it)")
top = os.path.dirname(trees[0])
corpus = [os.path.join(top, d) for d in ("fs", "net")]
size = int(subprocess.run(["du", "-scb"] + corpus, capture_output=True, text=True).stdout.split()[-2])
password = os.path.join(work, "password")
with open(password, "w") as f:
    f.write("benchmark password\n")
os.chmod(password, 0o600)
e = os.environ
for k in ("AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
    e.pop(k, None)


def timed(cmd, env):
    out = os.path.join(work, "time.out")
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", out] + cmd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    wall, rss = open(out).read().split()[-2:]
    return float(wall), int(rss) / 1024


n = [0]


def lifeboat_urls():
    n[0] += 1
    tag = f"bench-{os.getpid()}-{n[0]}"
    return {
        "local": os.path.join(work, "remote-local", tag),
        "s3": f"s3://{e['LIFEBOAT_TEST_S3_BUCKET']}/{tag}",
        "azure": f"azure://devstoreaccount1/{e['LIFEBOAT_TEST_AZURE_CONTAINER']}/{tag}",
        "sftp": f"{e['LIFEBOAT_TEST_SFTP_BASE']}/{tag}",
    }


def lifeboat(backend, conns):
    url = lifeboat_urls()[backend]
    env = dict(e, LIFEBOAT_REPOSITORY=url, LIFEBOAT_PASSWORD_FILE=password,
               LIFEBOAT_S3_ENDPOINT=e["LIFEBOAT_TEST_S3_ENDPOINT"],
               LIFEBOAT_AZURE_ENDPOINT=e["LIFEBOAT_TEST_AZURE_ENDPOINT"],
               LIFEBOAT_CACHE_DIR=os.path.join(work, "remote-cache"),
               LIFEBOAT_STATE_DIR=os.path.join(work, "remote-state"))
    shutil.rmtree(env["LIFEBOAT_CACHE_DIR"], ignore_errors=True)
    b = lambda t: os.path.join(args.bin, t)
    subprocess.run([b("backup-create"), "init", "-q"], env=env, check=True, capture_output=True)
    backup = timed([b("backup-create"), "-q", "--connections", str(conns)] + corpus, env)
    target = os.path.join(work, "remote-restore")
    shutil.rmtree(target, ignore_errors=True)
    restore = timed([b("backup-restore"), "-q", "--connections", str(conns), "latest", "--target", target], env)
    shutil.rmtree(target, ignore_errors=True)
    if backend == "local":
        shutil.rmtree(url, ignore_errors=True)
    return backup, restore


def restic(backend, conns):
    n[0] += 1
    tag = f"restic-{os.getpid()}-{n[0]}"
    env = dict(e, RESTIC_PASSWORD_FILE=password, RESTIC_CACHE_DIR=os.path.join(work, "remote-restic-cache"))
    opts = []
    if backend == "local":
        env["RESTIC_REPOSITORY"] = os.path.join(work, "remote-local", tag)
    else:
        port, key, kh = e["LIFEBOAT_TEST_SFTP_PORT"], e["LIFEBOAT_SFTP_KEY"], e["LIFEBOAT_SFTP_KNOWN_HOSTS"]
        env["RESTIC_REPOSITORY"] = f"sftp:{e['LIFEBOAT_TEST_SFTP_USER']}@127.0.0.1:{e['LIFEBOAT_TEST_SFTP_HOME']}/{tag}"
        opts = ["-o", f"sftp.command=ssh -p {port} -i {key} -o UserKnownHostsFile={kh} "
                      f"{e['LIFEBOAT_TEST_SFTP_USER']}@127.0.0.1 -s sftp"]
    shutil.rmtree(env["RESTIC_CACHE_DIR"], ignore_errors=True)
    subprocess.run(["restic"] + opts + ["init"], env=env, check=True, capture_output=True)
    backup = timed(["restic"] + opts + ["backup", "-q"] + corpus, env)
    target = os.path.join(work, "remote-restore")
    shutil.rmtree(target, ignore_errors=True)
    restore = timed(["restic"] + opts + ["restore", "-q", "latest", "--target", target], env)
    shutil.rmtree(target, ignore_errors=True)
    if backend == "local":
        shutil.rmtree(env["RESTIC_REPOSITORY"], ignore_errors=True)
    return backup, restore


# restic 0.14 cannot use s3rver (its listing answers fail to parse: "Unmarshal: invalid
# character"), and Azure needs restic's azure backend with a real endpoint; restic is compared
# on local disk and SFTP, with its default concurrency.
cases = [("lifeboat", b, c) for b in ("local", "s3", "azure", "sftp") for c in (1, 4, 8)]
cases += [("restic", "local", 0), ("restic", "sftp", 0)]
results = {c: [] for c in cases}
for run in range(args.runs):
    for c in cases:  # alternate within each run
        print(f"run {run + 1}/{args.runs}: {c[0]} {c[1]} x{c[2]}", flush=True)
        results[c].append((lifeboat if c[0] == "lifeboat" else restic)(c[1], c[2]))


def med(c, i, j):
    return statistics.median(r[i][j] for r in results[c])


print()
print(f"Corpus: fs/ net/ of Linux 6.1 ({size / 1e6:.0f} MB), {os.cpu_count()} cores, "
      f"servers on 127.0.0.1, median of {args.runs} runs")
print()
print("| tool | storage | in flight | backup | backup MB/s | restore | restore MB/s | vs restic (backup / restore) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for c in cases:
    bw, brss, rw, rrss = med(c, 0, 0), med(c, 0, 1), med(c, 1, 0), med(c, 1, 1)
    ratio = ""
    peer = ("restic", c[1], 0)
    if c[0] == "lifeboat" and peer in results:
        ratio = f"{bw / med(peer, 0, 0):.2f} / {rw / med(peer, 1, 0):.2f}"
    print(f"| {c[0]} | {c[1]} | {c[2] or 'default'} | {bw:.2f} s ({brss:.0f} MB) | {size / 1e6 / bw:.1f} | "
          f"{rw:.2f} s ({rrss:.0f} MB) | {size / 1e6 / rw:.1f} | {ratio} |")
