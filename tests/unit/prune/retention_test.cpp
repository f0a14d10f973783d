// S3 Object Lock during prune (issue 4, point 3): gc extends the retention of what is still in
// use when it runs out within half the period, never of what it condemns, and asks nothing of
// objects recently written; forget keeps a snapshot whose object is still retained. The store
// is an in-memory one that keeps retention the way S3 Object Lock does (the wire protocol of
// retained_until/retain_until is checked in storage/protocol_test.cpp).
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/ops/prune/prune.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/tree.hpp"
#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;

namespace {

constexpr int64_t k_day = 86400LL * 1000000000;

// Every put but locks is retained for `period` from its (pretended) write time, like an
// Object Lock bucket with a default retention; age() moves every write into the past.
class Retaining final : public storage::Forwarding {
 public:
  Retaining(std::unique_ptr<storage::Storage> inner, std::map<std::string, int64_t>& until,
            std::map<std::string, int64_t>& written, std::vector<std::string>& extended,
            std::vector<std::string>& hidden, int64_t period)
      : Forwarding(std::move(inner)),
        m_until(until),
        m_written(written),
        m_extended(extended),
        m_hidden(hidden),
        m_period(period) {}
  void put(const std::string& k, ByteView d) override {
    Forwarding::put(k, d);
    m_written[k] = repo::now_ns();
    if (!k.starts_with("locks/")) m_until[k] = repo::now_ns() + m_period;
  }
  // As on a versioned bucket: a delete that names no version succeeds with a delete marker,
  // and a retained version stays behind (recorded in `hidden`).
  void remove(const std::string& k) override {
    auto it = m_until.find(k);
    if (it != m_until.end() && it->second > repo::now_ns()) m_hidden.push_back(k);
    Forwarding::remove(k);
    m_until.erase(k);
    m_written.erase(k);
  }
  void list(const std::string& p,
            const std::function<void(const storage::ObjectInfo&)>& fn) override {
    Forwarding::list(p, [&](const storage::ObjectInfo& i) {
      storage::ObjectInfo j = i;
      auto it = m_written.find(i.key);
      j.mtime_ns = it == m_written.end() ? 0 : it->second;
      fn(j);
    });
  }
  int64_t retained_until(const std::string& k) override {
    auto it = m_until.find(k);
    return it == m_until.end() ? 0 : it->second;
  }
  void retain_until(const std::string& k, int64_t until) override {
    REQUIRE(until >= retained_until(k));  // S3 refuses to shorten COMPLIANCE retention
    m_until[k] = until;
    m_extended.push_back(k);
  }

 private:
  std::map<std::string, int64_t>& m_until;
  std::map<std::string, int64_t>& m_written;
  std::vector<std::string>& m_extended;
  std::vector<std::string>& m_hidden;
  int64_t m_period;
};

struct Fixture {
  const std::string url = "mem://prune-retention";
  const int64_t period = 30 * k_day;
  repo::Secret secret = repo::parse_key_file(repo::format_key_file(crypto::random_key()), "test");
  std::map<std::string, int64_t> until, written;
  std::vector<std::string> extended, hidden;

  Fixture() {
    auto s = storage::open(url);  // mem:// stores live as long as the process
    std::vector<std::string> keys;
    s->list("", [&](const storage::ObjectInfo& i) { keys.push_back(i.key); });
    for (auto& k : keys) s->remove(k);
  }
  std::unique_ptr<storage::Storage> store() {
    return std::make_unique<Retaining>(storage::open(url), until, written, extended, hidden,
                                       period);
  }
  std::unique_ptr<repo::Repository> open() {
    auto r = repo::Repository::open(store(), secret);
    r->load_index();
    return r;
  }
  // One snapshot of one file with its own data.
  Id32 backup(const std::string& content, int64_t time) {
    auto repo = open();
    repo::BlobSaver saver(*repo, 1, 1);
    Bytes data = to_bytes(content);
    Id32 id = repo->mac().compute(data);
    saver.save(repo::BlobType::data, id, data);
    saver.flush();  // data and directory in packs of their own
    repo::Tree tree;
    repo::Node n;
    n.name = "f";
    n.mode = 0644;
    n.size = data.size();
    n.content.push_back({id, 0});
    tree.nodes.push_back(n);
    Bytes encoded = repo::encode_tree(tree);
    Id32 tid = repo->mac().compute(encoded);
    saver.save(repo::BlobType::tree, tid, encoded);
    saver.flush();
    repo::Snapshot s;
    s.time_ns = time;
    s.host = "h";
    s.job = "j";
    s.paths = {"/d"};
    s.tree = tid;
    return repo->save_snapshot(s);
  }
  // Pretends everything was written `by` earlier.
  void age(int64_t by) {
    for (auto& [k, t] : written) t -= by;
    for (auto& [k, t] : until) t -= by;
  }
};

}  // namespace

TEST_CASE("prune with Object Lock extends the retention of data in use, only when due", "[prune]") {
  Fixture f;
  auto level = log::level();
  log::set_level(log::Level::quiet);
  {
    auto s = f.store();
    repo::Repository::init(*s, f.secret, {});
  }
  int64_t now = repo::now_ns();
  Id32 old_snap = f.backup("data only the old snapshot has", now - 2 * k_day);
  Id32 kept = f.backup("data the kept snapshot has", now - k_day);
  f.age(20 * f.period / 30);  // 20 of 30 days gone: 10 left, under half the period
  ops::prune::GcOptions o;
  o.retention_ns = f.period;
  o.grace_ns = 0;

  SECTION("gc extends what is in use and leaves what it condemns") {
    f.until.erase(repo::object_key(repo::Kind::snapshot, old_snap));  // retention over
    {
      auto repo = f.open();
      repo->forget({old_snap});
    }
    auto repo = f.open();
    REQUIRE(ops::prune::gc(*repo, o) == 0);
    std::set<std::string> ext(f.extended.begin(), f.extended.end());
    CHECK(ext.size() == f.extended.size());  // each once
    CHECK(ext.count(repo::object_key(repo::Kind::snapshot, kept)));
    CHECK(ext.count("config"));
    size_t packs = 0, keys = 0, tombstones = 0;
    for (auto& k : ext) {
      packs += k.starts_with("data/");
      keys += k.starts_with("keys/");
      tombstones += k.starts_with("tombstones/");
      CHECK_FALSE(k.starts_with("index/"));  // consolidated just now: freshly retained
      CHECK_FALSE(k.starts_with("locks/"));
      CHECK_FALSE(k.starts_with("condemned/"));
    }
    CHECK(packs == 2);  // the kept snapshot's data and directory, not the forgotten one's
    CHECK(keys == 1);
    CHECK(tombstones == 0);  // written by the forget just now: freshly retained
    for (auto& k : ext) CHECK(f.until[k] >= repo::now_ns() + f.period - k_day);
    // The forgotten snapshot's packs were condemned, not extended: deleted only after the
    // retention period counted from the condemnation.
    size_t condemned_packs = 0;
    for (auto& [k, t] : f.until)
      if (k.starts_with("data/") && !ext.count(k)) {
        ++condemned_packs;
        CHECK(t < repo::now_ns() + f.period / 2);
      }
    CHECK(condemned_packs == 2);
    // Removed while retained (hidden behind a delete marker): superseded index files only.
    for (auto& k : f.hidden) CHECK(k.starts_with("index/"));

    // A second run right away asks nothing more of the store.
    f.extended.clear();
    auto again = f.open();
    REQUIRE(ops::prune::gc(*again, o) == 0);
    CHECK(f.extended.empty());
  }

  SECTION("forget keeps a snapshot whose object is still retained, whatever the policy says") {
    auto repo = f.open();
    ops::prune::ForgetOptions fo;
    fo.snapshots = {old_snap.hex()};
    fo.retention_ns = f.period;
    REQUIRE(ops::prune::forget(*repo, fo) == 0);
    CHECK(f.until.count(repo::object_key(repo::Kind::snapshot, old_snap)));  // still there
    CHECK(repo->load_snapshots().size() == 2);

    f.until.erase(repo::object_key(repo::Kind::snapshot, old_snap));  // its retention ended
    auto repo2 = f.open();
    REQUIRE(ops::prune::forget(*repo2, fo) == 0);
    CHECK(repo2->load_snapshots().size() == 1);
  }

  SECTION("nothing is due when the period is long enough") {
    o.retention_ns = 5 * f.period;  // written 20 days ago with 30 days' retention: far from due
    auto repo = f.open();
    f.until.clear();  // not consulted: the listing's write times answer
    REQUIRE(ops::prune::gc(*repo, o) == 0);
    CHECK(f.extended.empty());
  }
  log::set_level(level);
}
