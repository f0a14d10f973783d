// backup-create wal-push: PostgreSQL's archive_command.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/ops/create/create.hpp"
#include "lifeboat/source/postgres/wal.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::ops::create {

namespace pg = source::postgres;

namespace {

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dir_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Where the markers of files stored ahead of the archiver live: per repository and job.
std::string marker_dir(const WalPushOptions& o) {
  std::string key = o.repository + "\n" + o.job;
  return fmt::format(
      "{}/wal-pushed/{}", o.state_dir,
      crypto::sha256(ByteView(reinterpret_cast<const std::byte*>(key.data()), key.size()))
          .hex()
          .substr(0, 16));
}

// One WAL file read and described, ready to store.
struct WalFile {
  std::string path;
  std::string name;
  std::string sha256;
  std::optional<pg::SegmentHeader> header;
};

WalFile read_wal(const std::string& path) {
  WalFile w;
  w.path = path;
  w.name = base_name(path);
  auto kind = pg::wal_file_kind(w.name);
  if (!kind)
    throw UsageError(
        "'{}' is not a WAL file name (a segment, .history, .backup or .partial file); "
        "archive_command passes %p",
        w.name);
  auto data = fs::read_file(path);
  if (!data) {
    char cwd[4096] = "?";
    if (!::getcwd(cwd, sizeof cwd)) cwd[0] = '?', cwd[1] = 0;
    throw Error(Exit::failure, "WAL file '{}' does not exist (working directory: {})", path, cwd);
  }
  w.sha256 = crypto::sha256(*data).hex();
  if (*kind == pg::WalFile::segment || *kind == pg::WalFile::partial)
    w.header = pg::parse_segment_header(*data, w.name);
  return w;
}

// Checks `w` against what the job has archived: true when it is stored with the same content;
// throws when it is stored with other content or comes from another cluster.
bool archived(const WalFile& w, const std::vector<repo::SnapshotRecord>& records,
              const std::string& job) {
  for (const auto& r : records) {
    const auto& s = r.snapshot;
    if (r.damaged || s.job != job || s.kind != "postgres-wal") continue;
    auto sys = s.meta.find("postgres.system_id");
    if (w.header && sys != s.meta.end() && sys->second != std::to_string(w.header->system_id))
      throw Error(Exit::failure,
                  "WAL file {} comes from the cluster with system identifier {}, but job '{}' "
                  "archives the cluster {} (snapshot {}); refusing it. A new cluster (initdb, "
                  "pg_upgrade) needs a new job",
                  w.name, w.header->system_id, job, sys->second, r.id.hex().substr(0, 8));
  }
  for (const auto& r : records) {
    const auto& s = r.snapshot;
    if (r.damaged || s.job != job || s.kind != "postgres-wal") continue;
    auto stored = s.meta.find(pg::k_wal_meta_prefix + w.name);
    if (stored == s.meta.end()) continue;
    if (stored->second == w.sha256) {
      log::verbose("WAL file {} is already archived with the same content (snapshot {})", w.name,
                   r.id.hex().substr(0, 8));
      return true;
    }
    throw Error(Exit::failure,
                "WAL file {} is already archived with different content (snapshot {}); "
                "refusing to overwrite it. Two clusters may be archiving into job '{}'",
                w.name, r.id.hex().substr(0, 8), job);
  }
  return false;
}

// Stores the files in one snapshot (kind postgres-wal) recording each one's hash.
void store(repo::Repository& repo, const std::vector<WalFile>& files, const WalPushOptions& o) {
  std::vector<fs::UniqueFd> fds;
  Options c;
  for (const auto& w : files) {
    fds.emplace_back(::open(w.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fds.back())
      throw Error(Exit::failure, "unable to open WAL file '{}': {}", w.path, fs::errno_text(errno));
    c.input_files.emplace_back("/pg_wal/" + w.name, fds.back().get());
    c.meta[pg::k_wal_meta_prefix + w.name] = w.sha256;
    if (w.header) {
      c.meta["postgres.system_id"] = std::to_string(w.header->system_id);
      c.meta["postgres.wal_segment_size"] = std::to_string(w.header->segment_size);
    }
  }
  c.job = o.job;
  c.host = o.host;
  c.kind = "postgres-wal";
  c.json = o.json;
  int code = run(repo, c);
  if (code != 0) throw Error(static_cast<Exit>(code), "the WAL files were not stored");
}

// The other files waiting for the archiver, oldest first (history files before segments).
std::vector<std::string> ready_files(const std::string& wal_dir, const std::string& except) {
  std::vector<std::string> out;
  DIR* d = ::opendir((wal_dir + "/archive_status").c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() <= 6 || n.compare(n.size() - 6, 6, ".ready") != 0) continue;
    n.resize(n.size() - 6);
    if (n != except && pg::wal_file_kind(n)) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    bool ha = a.find(".history") != std::string::npos, hb = b.find(".history") != std::string::npos;
    return ha != hb ? ha : a < b;
  });
  return out;
}

}  // namespace

bool wal_pushed_before(const WalPushOptions& o) {
  if (o.state_dir.empty() || o.path.empty()) return false;
  std::string name = base_name(o.path);
  if (!pg::wal_file_kind(name)) return false;
  std::string marker = marker_dir(o) + "/" + name;
  std::optional<Bytes> want;
  try {
    want = fs::read_file(marker);
  } catch (const Error&) {
    return false;
  }
  if (!want) return false;
  auto data = fs::read_file(o.path);
  if (!data) return false;
  if (crypto::sha256(*data).hex() != std::string(as_chars(*want))) return false;
  ::unlink(marker.c_str());
  log::verbose("WAL file {} was archived ahead of this request", name);
  return true;
}

int wal_push(repo::Repository& repo, const WalPushOptions& o) {
  if (o.path.empty()) throw UsageError("wal-push needs the WAL file's path (%p)");
  WalFile first = read_wal(o.path);
  auto records = repo.load_snapshots();
  std::vector<WalFile> batch;
  if (!archived(first, records, o.job)) batch.push_back(first);

  // Ahead of the archiver: the files it will ask for next, stored in the same snapshot. Any
  // doubt about one (unreadable, another cluster, a conflict) leaves it to its own call, which
  // then reports the problem.
  std::string wal_dir = dir_name(o.path);
  std::vector<std::string> ahead;
  for (const auto& name : ready_files(wal_dir, first.name)) {
    if (ahead.size() + 1 >= o.batch) break;
    try {
      WalFile w = read_wal(wal_dir + "/" + name);
      if (w.header && first.header && w.header->system_id != first.header->system_id) break;
      if (!archived(w, records, o.job)) batch.push_back(w);
      ahead.push_back(w.name + "\n" + w.sha256);
    } catch (const std::exception& e) {
      log::verbose("not archiving {} ahead: {}", name, e.what());
      break;
    }
  }
  if (!batch.empty()) store(repo, batch, o);
  if (!o.state_dir.empty() && !ahead.empty()) {
    std::string dir = marker_dir(o);
    fs::make_dirs(dir);
    for (const auto& entry : ahead) {
      auto nl = entry.find('\n');
      std::string sha = entry.substr(nl + 1);
      fs::write_file_atomic(dir + "/" + entry.substr(0, nl),
                            ByteView(reinterpret_cast<const std::byte*>(sha.data()), sha.size()));
    }
  }
  if (!ahead.empty())
    log::info("archived {} WAL file(s) ahead of the archiver's requests", ahead.size());
  return 0;
}

}  // namespace lifeboat::ops::create
