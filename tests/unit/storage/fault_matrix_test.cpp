// The storage fault matrix (issue 6, part 2) for the drivers the unit suite runs in process;
// tests/remote/test_fault_matrix.sh runs the real tools on local, S3, Azure and SFTP. Memory
// runs under every LIFEBOAT_TEST_FAULTS fault that can act in one process, local under failing
// fsyncs (only the local driver fsyncs). A backup either succeeds (transient faults are
// retried) or fails with its documented exit code and leaves no snapshot; afterwards the
// repository passes verify --read-data and the newest snapshot restores exactly.
// A store that acknowledges a put and keeps something else: metadata (index files, the
// snapshot) is read back after each put and written again, so the run succeeds or fails
// with exit 21 and no snapshot. Packs are not read back: there the guarantee is that verify
// reports the damage (exit 20) and that no read ever yields a wrong byte.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "../quiet.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/ops/create/create.hpp"
#include "lifeboat/ops/restore/restore.hpp"
#include "lifeboat/ops/verify/verify.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/storage/drivers.hpp"
#include "lifeboat/storage/options.hpp"
#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;
namespace stdfs = std::filesystem;

namespace {

void write_file(const std::string& path, ByteView data) {
  stdfs::create_directories(stdfs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  REQUIRE(f.good());
}

Bytes read_file(const stdfs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return to_bytes(s);
}

// Relative path -> content of every regular file under root.
std::map<std::string, Bytes> files_under(const std::string& root) {
  std::map<std::string, Bytes> out;
  if (!stdfs::exists(root)) return out;
  for (auto& e : stdfs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[stdfs::relative(e.path(), root).string()] = read_file(e.path());
  return out;
}

size_t count(storage::Storage& s, const std::string& prefix) {
  size_t n = 0;
  s.list(prefix, [&](const storage::ObjectInfo&) { ++n; });
  return n;
}

// A source tree (small files in a few directories, 3 MiB of noise), a key, and runs of the
// command flows in process, each returning the exit code its tool would.
struct Matrix {
  std::string dir, src, cache, state;
  repo::Secret secret = repo::parse_key_file(repo::format_key_file(crypto::random_key()), "test");

  Matrix() {
    char tmpl[] = "/tmp/lifeboat-fault-matrix-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
    src = dir + "/src";
    cache = dir + "/cache";
    state = dir + "/state";
    write_file(src + "/docs/notes.md", to_bytes("# notes\nwhat to restore first\n"));
    write_file(src + "/docs/guide/one.txt", to_bytes(std::string(5000, 'a')));
    write_file(src + "/docs/guide/two.txt", to_bytes("two\n"));
    write_file(src + "/etc/app.conf", to_bytes("port = 8080\n"));
    Bytes noise(3u << 20);
    crypto::random_bytes(noise);
    write_file(src + "/big.bin", noise);
  }
  ~Matrix() { stdfs::remove_all(dir); }

  std::unique_ptr<repo::Repository> open(std::unique_ptr<storage::Storage> store) {
    auto repo = repo::Repository::open(std::move(store), secret);
    repo->set_state_dir(state);
    return repo;
  }
  int backup(std::unique_ptr<storage::Storage> store, const std::string& path,
             Id32* created = nullptr) {
    test::Quiet quiet(true);
    try {
      auto repo = open(std::move(store));
      ops::create::Options o;
      o.paths = {path};
      o.cache_dir = cache;
      o.created = created;
      return ops::create::run(*repo, o);
    } catch (const Error& e) {
      return static_cast<int>(e.code());
    }
  }
  int verify(std::unique_ptr<storage::Storage> store) {
    test::Quiet quiet(true);
    try {
      auto repo = open(std::move(store));
      ops::verify::Options o;
      o.read_data = true;
      return ops::verify::run(*repo, o);
    } catch (const Error& e) {
      return static_cast<int>(e.code());
    }
  }
  // Restores a snapshot ("latest" or an id) into a fresh target; its copy of src lands in
  // target + src.
  int restore(std::unique_ptr<storage::Storage> store, const std::string& snapshot,
              const std::string& target) {
    stdfs::remove_all(target);
    test::Quiet quiet(true);
    try {
      auto repo = open(std::move(store));
      ops::restore::RestoreOptions o;
      o.snapshot = snapshot;
      o.target = target;
      return ops::restore::restore(*repo, {}, o);
    } catch (const Error& e) {
      return static_cast<int>(e.code());
    }
  }
  // Every file restored under target is the source's, byte for byte (missing ones are
  // allowed: they were reported).
  bool no_wrong_bytes(const std::string& target) {
    auto want = files_under(src);
    for (auto& [path, data] : files_under(target + src)) {
      auto it = want.find(path);
      if (it == want.end() || it->second != data) {
        UNSCOPED_INFO("wrong content restored: " << path);
        return false;
      }
    }
    return true;
  }
  // A new repository at url with a first backup of path; returns the store without faults.
  std::unique_ptr<storage::Storage> fresh(const std::string& url, const std::string& path) {
    auto plain = storage::open(url);
    repo::Repository::init(*plain, secret, {});
    REQUIRE(backup(storage::open(url), path) == 0);
    return plain;
  }
  bool restored_exactly(const std::string& target, const std::string& of) {
    return files_under(target + of) == files_under(of);
  }
};

storage::Options with_faults(const std::string& spec) {
  storage::Options o;
  o.faults = spec;
  o.retry_time = 1;
  return o;
}

struct Row {
  const char* spec;
  int want;
  const char* what;
};

}  // namespace

TEST_CASE("fault matrix: memory, a backup under every fault", "[storage][faults]") {
  const Row rows[] = {
      {"put:1:transient", 0, "a timeout or 503 on the first upload"},
      {"put:1+:transient", 21, "uploads failing until the retry budget ends (a 5xx burst)"},
      {"put:2:truncate", 0, "a connection reset in the middle of an upload"},
      {"get:1:transient", 0, "a dropped connection while reading"},
      {"list:1:transient", 0, "an error while listing"},
      {"put:2+:enospc", 21, "the storage is full"},
      {"put:2+:denied", 22, "permission denied on upload"},
      {"stat:1+:transient", 21, "the storage is unreachable"},
      {"get:1+:truncate", 20, "every read truncated and taken for whole"},
      {"list:2:empty", 0, "an empty page while listing"},
      {"get@config:1:garbage", 20, "the config read as a 200 with a garbage body"},
      {"get@keys/:1:garbage", 20, "the key slot read as garbage: damage, not a wrong password"},
      {"get@index/:1:garbage", 20, "the index read as garbage: never taken for an index"},
      {"get:1+:garbage", 20, "every read a 200 with a garbage body"},
      {"list@keys/:1:garbage", 0, "a garbage page while listing the key slots (retried)"},
      {"list@index/:1:garbage", 0, "a garbage page while listing the index (retried)"},
      {"list:1+:garbage", 21, "every listing garbage until the retry budget ends"},
      {"put@index/:1:garbage", 0, "an index file kept as garbage: read back, written again"},
      {"put@index/:1+:garbage", 21, "every index file kept as garbage: removed, no snapshot"},
      {"put@snapshots/:1:garbage", 0, "the snapshot kept as garbage: read back, written again"},
      {"put@snapshots/:1+:garbage", 21, "the snapshot always kept as garbage: removed"},
  };
  Matrix m;
  int n = 0;
  for (const Row& row : rows) {
    INFO(row.spec << ": " << row.what);
    std::string url = fmt::format("mem://fault-matrix-{}-{}", ::getpid(), n++);
    auto plain = m.fresh(url, m.src + "/docs");
    size_t before = count(*plain, "snapshots/");
    CHECK(m.backup(storage::open(url, with_faults(row.spec)), m.src) == row.want);
    CHECK(count(*plain, "snapshots/") == before + (row.want == 0 ? 1 : 0));
    CHECK(m.verify(storage::open(url)) == 0);
    std::string target = m.dir + "/restored";
    CHECK(m.restore(storage::open(url), "latest", target) == 0);
    CHECK(m.restored_exactly(target, row.want == 0 ? m.src : m.src + "/docs"));
  }
}

TEST_CASE("fault matrix: memory, a pack the store acknowledges but keeps as garbage",
          "[storage][faults]") {
  // Packs are not read back (it would double the traffic; docs/storage.md), so the backup
  // succeeds and its snapshot is written. What the design guarantees instead: verify
  // --read-data finds the damage (exit 20), and a restore never writes a wrong byte: it
  // reports what it skipped (exit 3).
  Matrix m;
  std::string url = fmt::format("mem://fault-matrix-put-garbage-{}", ::getpid());
  auto plain = m.fresh(url, m.src + "/docs");
  Id32 created;
  CHECK(m.backup(storage::open(url, with_faults("put@data/:1:garbage")), m.src, &created) == 0);
  CHECK(count(*plain, "snapshots/") == 2);
  CHECK(m.verify(storage::open(url)) == 20);
  std::string target = m.dir + "/restored";
  CHECK(m.restore(storage::open(url), created.hex(), target) == 3);
  CHECK(m.no_wrong_bytes(target));
}

TEST_CASE("fault matrix: reads of packs that return garbage are never restored",
          "[storage][faults]") {
  Matrix m;
  std::string url = fmt::format("mem://fault-matrix-read-garbage-{}", ::getpid());
  auto plain = m.fresh(url, m.src);
  std::string target = m.dir + "/restored";
  // Every read of a pack garbage: nothing is restored, the run says so.
  CHECK(m.restore(storage::open(url, with_faults("get@data/:1+:garbage")), "latest", target) == 3);
  CHECK(files_under(target).empty());
  // One read garbage, the Nth of a pack (directory listings and file content, read in
  // parallel, so which one is the Nth varies): read again and restored exactly (0), or
  // reported and not restored (3); never a wrong byte.
  for (int nth = 1; nth <= 8; ++nth) {
    INFO("the read of a pack number " << nth << " returns garbage");
    int got = m.restore(storage::open(url, with_faults(fmt::format("get@data/:{}:garbage", nth))),
                        "latest", target);
    CHECK((got == 0 || got == 3));
    if (got == 0) CHECK(m.restored_exactly(target, m.src));
    CHECK(m.no_wrong_bytes(target));
  }
  // Verify fed garbage never passes; then the repository is as sound as before.
  CHECK(m.verify(storage::open(url, with_faults("get@data/:1+:garbage"))) == 20);
  CHECK(m.verify(storage::open(url)) == 0);
}

namespace {

// A local store whose fsyncs fail when `fails` says so (given the path below the root), with
// the retry decorator the tools put around it when faults are injected.
std::unique_ptr<storage::Storage> local_failing(const std::string& root,
                                                std::function<int(const std::string&)> fails) {
  return storage::with_retry(storage::local::make(root, std::move(fails)), 1);
}

std::vector<std::string> temp_files(const std::string& root) {
  std::vector<std::string> out;
  for (auto& e : stdfs::recursive_directory_iterator(root))
    if (e.path().filename().string().find(".tmp-") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST_CASE("local: a failed fsync fails the put", "[storage][faults]") {
  Matrix m;
  std::string root = m.dir + "/store";
  Bytes payload = to_bytes("the object");
  std::vector<std::string> asked;
  auto is_temp = [](const std::string& p) { return p.find(".tmp-") != std::string::npos; };
  auto failing = [&](int err, std::function<bool(const std::string&)> when) {
    return [&asked, err, when](const std::string& path) {
      asked.push_back(path);
      return when(path) ? err : 0;
    };
  };
  SECTION("of the file: not stored, its temporary file removed") {
    auto s = local_failing(root, failing(EIO, is_temp));
    CHECK_THROWS_AS(s->put("index/aa", payload), Error);
    CHECK_FALSE(s->stat("index/aa"));
    CHECK(temp_files(root).empty());
    CHECK(asked.size() >= 2);  // EIO is retried: a new temporary file each time
  }
  SECTION("ENOSPC from fsync is not retried: exit 21 at once") {
    auto s = local_failing(root, failing(ENOSPC, is_temp));
    try {
      s->put("index/aa", payload);
      FAIL("the put succeeded");
    } catch (const Error& e) {
      CHECK(e.code() == Exit::storage);
    }
    CHECK(std::count_if(asked.begin(), asked.end(), is_temp) == 1);
    CHECK(temp_files(root).empty());
  }
  SECTION("of the directory after the rename: the put fails, the object is whole") {
    auto s = local_failing(root, failing(EIO, [](auto& p) { return p == "index"; }));
    CHECK_THROWS_AS(s->put("index/aa", payload), Error);
    Bytes out;
    REQUIRE(s->get("index/aa", out));  // complete where visible; its name may not be durable
    CHECK(out == payload);
    CHECK(temp_files(root).empty());
  }
  SECTION("of a new directory's parent, once: the retried put syncs it again") {
    bool failed = false;
    auto s = local_failing(root, [&](const std::string& p) {
      asked.push_back(p);
      if (p == "data" && !failed) return failed = true, EIO;
      return 0;
    });
    s->put("data/ab/abcd", payload);
    CHECK(failed);
    CHECK(std::count(asked.begin(), asked.end(), "data") == 2);
    CHECK(std::count(asked.begin(), asked.end(), "") == 1);  // the root, after data/ was synced
    asked.clear();
    s->put("data/ab/abce", payload);  // synced once: not again
    CHECK(std::count(asked.begin(), asked.end(), "data") == 0);
  }
}

TEST_CASE("fault matrix: local, a backup whose fsyncs fail", "[storage][faults]") {
  struct {
    const char* what;
    int want;
    std::function<int(const std::string&)> fails;
  } rows[] = {
      {"the snapshot's file fsync fails every time", 21,
       [](const std::string& p) { return p.starts_with("snapshots/") ? EIO : 0; }},
      {"the snapshots directory's fsync fails every time (after the rename)", 21,
       [](const std::string& p) { return p == "snapshots" ? EIO : 0; }},
      {"the snapshots directory's fsync fails once", 0,
       [failed = std::make_shared<bool>(false)](const std::string& p) {
         return p == "snapshots" && !std::exchange(*failed, true) ? EIO : 0;
       }},
      {"every fsync of an index file reports ENOSPC", 21,
       [](const std::string& p) { return p.starts_with("index/") ? ENOSPC : 0; }},
      {"every fsync fails after the first few", 21,
       [n = std::make_shared<int>(0)](const std::string&) { return ++*n > 3 ? EIO : 0; }},
  };
  Matrix m;
  int n = 0;
  for (auto& row : rows) {
    INFO(row.what);
    std::string root = fmt::format("{}/repo-{}", m.dir, n++);
    auto plain = m.fresh(root, m.src + "/docs");
    CHECK(m.backup(local_failing(root, row.fails), m.src) == row.want);
    CHECK(count(*plain, "snapshots/") == (row.want == 0 ? 2u : 1u));
    CHECK(temp_files(root).empty());
    CHECK(m.verify(storage::open(root)) == 0);
    std::string target = m.dir + "/restored";
    CHECK(m.restore(storage::open(root), "latest", target) == 0);
    CHECK(m.restored_exactly(target, row.want == 0 ? m.src : m.src + "/docs"));
  }
}

TEST_CASE("fault rules: prefixes, and rules that could never act are refused",
          "[storage][faults]") {
  char tmpl[] = "/tmp/lifeboat-fault-rules-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  std::string dir = tmpl;
  for (const char* bad :
       {"put:1:eio", "fsync:1:transient", "fsync:1:garbage", "stat:1:garbage", "remove:1:truncate",
        "get:1:empty", "put@:1:transient", "fsync:0:eio", "chmod:1:eio"})
    CHECK_THROWS_AS(storage::open(dir, with_faults(bad)), UsageError);
  // fsync rules act inside the local driver: elsewhere they would never fire.
  CHECK_THROWS_AS(storage::open("mem://fault-rules", with_faults("fsync:1:eio")), UsageError);
  auto s = storage::open(dir, with_faults("put@index/:2:permanent,fsync@data:1+:enospc"));
  s->put("index/a", to_bytes("1"));
  s->put("keys/a", to_bytes("2"));  // neither rule counts it
  CHECK_THROWS_AS(s->put("index/b", to_bytes("3")), storage::PermanentError);
  CHECK_THROWS_AS(s->put("data/00/x", to_bytes("4")), storage::PermanentError);
  CHECK(temp_files(dir).empty());
  stdfs::remove_all(dir);
}
