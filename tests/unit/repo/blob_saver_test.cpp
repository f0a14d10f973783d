// BlobSaver keeps several pack uploads in flight (the repository's transfers), never more,
// indexes only packs that were stored, and cuts packs of tiny blobs by count.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/format.hpp"
#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;

namespace {

// Slow uploads of packs, counting how many run at once.
class SlowPuts : public storage::Forwarding {
 public:
  SlowPuts(std::unique_ptr<storage::Storage> inner, std::atomic<int>& now, std::atomic<int>& peak)
      : Forwarding(std::move(inner)), m_now(now), m_peak(peak) {}
  void put(const std::string& k, ByteView d) override {
    if (!k.starts_with("data/")) return inner().put(k, d);
    int n = ++m_now;
    int p = m_peak.load();
    while (n > p && !m_peak.compare_exchange_weak(p, n)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    inner().put(k, d);
    --m_now;
  }

 private:
  std::atomic<int>& m_now;
  std::atomic<int>& m_peak;
};

}  // namespace

TEST_CASE("blob saver: uploads run on the repository's transfers, bounded", "[repo]") {
  repo::Secret secret{repo::Secret::Type::password, "saver test password", "test"};
  auto plain = storage::open("mem://blob-saver-test");
  repo::Repository::init(*plain, secret, {});
  std::atomic<int> now{0}, peak{0};
  auto repo = repo::Repository::open(
      std::make_unique<SlowPuts>(storage::open("mem://blob-saver-test"), now, peak), secret);
  repo->set_transfers(3);
  repo->load_index();
  std::vector<Id32> ids;
  {
    repo::BlobSaver saver(*repo, 2);
    for (int i = 0; i < 12; ++i) {  // 12 x 8 MiB of noise: six 16 MiB packs
      Bytes blob(8u << 20);
      crypto::random_bytes(blob);
      Id32 id = repo->mac().compute(blob);
      ids.push_back(id);
      CHECK(saver.save(repo::BlobType::data, id, std::move(blob)));
    }
    saver.flush();
    CHECK(saver.stats().packs_written >= 6);
  }
  CHECK(peak.load() >= 2);  // uploads overlapped ...
  CHECK(peak.load() <= 3);  // ... but never beyond the transfers asked for
  for (const auto& id : ids) CHECK(repo->index().contains(id));
  size_t packs = 0;
  plain->list("data/", [&](const storage::ObjectInfo&) { ++packs; });
  CHECK(packs >= 6);
  size_t indexes = 0;
  plain->list("index/", [&](const storage::ObjectInfo&) { ++indexes; });
  CHECK(indexes == 1);
}

TEST_CASE("blob saver: packs of tiny blobs are cut at k_pack_blobs; ids are answered", "[repo]") {
  repo::Secret secret{repo::Secret::Type::password, "saver test password", "test"};
  auto plain = storage::open("mem://blob-saver-tiny");
  repo::Repository::init(*plain, secret, {});
  auto repo = repo::Repository::open(storage::open("mem://blob-saver-tiny"), secret);
  repo->load_index();
  constexpr size_t k_blobs = 3 * repo::BlobSaver::k_pack_blobs + 100;
  std::vector<Id32> ids;
  {
    repo::BlobSaver saver(*repo, 1);
    for (size_t i = 0; i < k_blobs; ++i) {
      Bytes blob = to_bytes(fmt::format("tiny blob {}", i));
      Id32 id = repo->mac().compute(blob);
      ids.push_back(id);
      CHECK(saver.save(repo::BlobType::data, id, blob));
      CHECK_FALSE(saver.save(repo::BlobType::data, id, blob));  // queued or stored already
      if (i % 997 == 0)
        for (size_t k = 0; k <= i; k += 331) CHECK(saver.known(ids[k]));
    }
    saver.flush();
    CHECK(saver.stats().packs_written == 4);
    CHECK(saver.stats().blobs_added == k_blobs);
    for (const auto& id : ids) CHECK_FALSE(saver.save(repo::BlobType::data, id, Bytes{}));
  }
  for (const auto& id : ids) CHECK(repo->index().contains(id));
  size_t largest = 0;
  for (const auto& p : repo->index().packs()) {
    Bytes pack;
    REQUIRE(plain->get(repo::object_key(repo::Kind::data_blob, p.id), pack));
    auto header = repo::parse_pack_trailer(repo->keys(), pack, "pack");
    largest = std::max(largest, header.blobs.size());
  }
  CHECK(largest == repo::BlobSaver::k_pack_blobs);
}

TEST_CASE("blob saver: blobs decode into buffers reused from blob to blob", "[repo]") {
  repo::Secret secret{repo::Secret::Type::password, "saver test password", "test"};
  auto store = storage::open("mem://blob-saver-decode");
  repo::Repository::init(*store, secret, {});
  auto repo = repo::Repository::open(storage::open("mem://blob-saver-decode"), secret);
  repo->load_index();
  // Largest first, so that the later ones land in buffers holding an earlier blob's bytes.
  std::vector<Bytes> blobs;
  blobs.push_back(Bytes(3u << 20, std::byte{'a'}));  // compressed, 3 MiB
  blobs.push_back(Bytes(100000));                    // noise: stored as it is
  crypto::random_bytes(blobs.back());
  blobs.push_back(Bytes(5000, std::byte{'b'}));  // compressed, small
  blobs.push_back(Bytes());                      // empty
  std::vector<Id32> ids;
  {
    repo::BlobSaver saver(*repo, 1);
    for (auto& b : blobs) {
      ids.push_back(repo->mac().compute(b));
      saver.save(repo::BlobType::data, ids.back(), b);
    }
    saver.flush();
  }
  Bytes plain, raw;
  for (size_t i = 0; i < blobs.size(); ++i) {
    auto loc = repo->index().find(ids[i]);
    REQUIRE(loc);
    const repo::PackInfo& pack = repo->index().pack(loc->pack);
    repo::BlobEntry e = repo->index().entry_for(ids[i], *loc);
    CHECK(e.compressed == (i == 0 || i == 2));
    Bytes stored;
    REQUIRE(store->get(repo::object_key(repo::Kind::data_blob, pack.id), stored,
                       storage::Range{loc->offset, loc->length}));
    ByteView got = repo->decode_blob_into(pack, e, stored, plain, raw);
    CHECK(Bytes(got.begin(), got.end()) == blobs[i]);
    CHECK(repo->decode_blob(pack, e, stored) == blobs[i]);
    // A flipped bit fails authentication, whatever the buffers held before.
    stored[stored.size() / 2] ^= std::byte{4};
    CHECK_THROWS_AS(repo->decode_blob_into(pack, e, stored, plain, raw), IntegrityError);
    CHECK_THROWS_AS(repo->decode_blob(pack, e, stored), IntegrityError);  // its scratch too
  }
  CHECK(plain.size() >= blobs[1].size());
  CHECK(raw.size() == blobs[0].size());  // grown once, to the largest, never shrunk
}
