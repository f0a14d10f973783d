// The restore prefetcher: planned blobs come back in order and byte-exact, read on several
// threads at once and a pack piece at a time; skipped, unplanned and unreadable blobs are
// left to the caller.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/restore/prefetch.hpp"
#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;

namespace {

class SlowGets : public storage::Forwarding {
 public:
  SlowGets(std::unique_ptr<storage::Storage> inner, std::atomic<int>& now, std::atomic<int>& peak,
           std::atomic<int>& gets, int delay_ms = 50)
      : Forwarding(std::move(inner)), m_now(now), m_peak(peak), m_gets(gets), m_delay(delay_ms) {}
  bool get(const std::string& k, Bytes& o, std::optional<storage::Range> r) override {
    if (!k.starts_with("data/")) return inner().get(k, o, r);
    ++m_gets;
    int n = ++m_now;
    int p = m_peak.load();
    while (n > p && !m_peak.compare_exchange_weak(p, n)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(m_delay));
    bool found = inner().get(k, o, r);
    --m_now;
    return found;
  }

 private:
  std::atomic<int>& m_now;
  std::atomic<int>& m_peak;
  std::atomic<int>& m_gets;
  int m_delay;
};

struct Corpus {
  std::vector<Id32> ids;
  std::vector<Bytes> blobs;
};

// count random blobs of 1000 + i % 50 bytes in `packs` packs, interleaved in the plan: pack k
// holds blobs k, k + packs, k + 2 * packs, ...
Corpus make_corpus(const std::string& url, const repo::Secret& secret, int count, int packs) {
  Corpus c;
  auto writer = repo::Repository::open(storage::open(url), secret);
  writer->load_index();
  for (int i = 0; i < count; ++i) {
    Bytes b(static_cast<size_t>(1000 + i % 50));
    crypto::random_bytes(b);
    c.ids.push_back(writer->mac().compute(b));
    c.blobs.push_back(b);
  }
  repo::BlobSaver saver(*writer, 1);
  for (int k = 0; k < packs; ++k) {
    for (int i = k; i < count; i += packs) saver.save(repo::BlobType::data, c.ids[i], c.blobs[i]);
    saver.flush();
  }
  return c;
}

}  // namespace

TEST_CASE("prefetch: planned blobs in order, several reads at once", "[restore]") {
  repo::Secret secret{repo::Secret::Type::password, "prefetch test password", "test"};
  auto plain = storage::open("mem://prefetch-test");
  repo::Repository::init(*plain, secret, {});
  auto [ids, blobs] = make_corpus("mem://prefetch-test", secret, 24, 4);
  std::atomic<int> now{0}, peak{0}, gets{0};
  auto repo = repo::Repository::open(
      std::make_unique<SlowGets>(storage::open("mem://prefetch-test"), now, peak, gets), secret);
  restore::Prefetcher p(*repo, 4);
  p.plan(std::vector<Id32>(ids.begin(), ids.begin() + 20));
  for (int i = 0; i < 10; ++i) {
    auto got = p.take(ids[i]);
    REQUIRE(got);
    CHECK(*got == blobs[i]);
  }
  // Skipping planned blobs (a file not rewritten) drops them; the next one still comes.
  auto got = p.take(ids[15]);
  REQUIRE(got);
  CHECK(*got == blobs[15]);
  CHECK_FALSE(p.take(ids[12]));  // already passed: the caller reads it itself
  CHECK_FALSE(p.take(ids[22]));  // never planned
  Id32 unknown;
  unknown.bytes[0] = std::byte{1};
  p.plan({unknown, ids[16]});
  CHECK_FALSE(p.take(unknown));  // planned but unreadable: left to the caller
  got = p.take(ids[16]);
  REQUIRE(got);
  CHECK(*got == blobs[16]);
  CHECK(peak.load() >= 2);  // reads overlapped
  CHECK(peak.load() <= 4);  // within the threads asked for
  // 20 blobs planned in 4 packs, plus the two planned again: read in pieces of packs, not
  // one request per blob.
  CHECK(gets.load() <= 8);
}

TEST_CASE("prefetch: a plan far longer than the memory budget is still read in runs", "[restore]") {
  repo::Secret secret{repo::Secret::Type::password, "prefetch test password", "test"};
  auto plain = storage::open("mem://prefetch-budget");
  repo::Repository::init(*plain, secret, {});
  constexpr int k_blobs = 2000;  // ~2 MB planned against a 64 KiB budget
  auto [ids, blobs] = make_corpus("mem://prefetch-budget", secret, k_blobs, 4);
  std::atomic<int> now{0}, peak{0}, gets{0};
  auto repo = repo::Repository::open(
      std::make_unique<SlowGets>(storage::open("mem://prefetch-budget"), now, peak, gets, 2),
      secret);
  restore::Prefetcher p(*repo, 4, 64 << 10);
  p.plan(ids);
  for (int i = 0; i < k_blobs; ++i) {
    auto got = p.take(ids[static_cast<size_t>(i)]);
    REQUIRE(got);
    CHECK(*got == blobs[static_cast<size_t>(i)]);
  }
  // Each read takes the blobs of its pack planned within half the budget (about 8 here).
  // Runs that reached far ahead filled the budget, and the blobs in between were then read
  // one at a time (about 1,500 reads).
  CHECK(gets.load() <= k_blobs / 5);
}
