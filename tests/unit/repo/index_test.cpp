// The in-memory index: blobs loaded and blobs added during a run (through the hash map of the
// latest and the merges into the sorted array) are all found at their first location; absent
// ids are not found.
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "lifeboat/repo/index.hpp"

using namespace lifeboat;
using namespace lifeboat::repo;

namespace {

Id32 random_id(std::mt19937_64& rng) {
  Id32 id;
  for (size_t i = 0; i < 32; i += 8) {
    uint64_t v = rng();
    for (size_t k = 0; k < 8; ++k) id.bytes[i + k] = std::byte((v >> (8 * k)) & 0xff);
  }
  return id;
}

// A pack holding ids; blob n sits at offset 100 * n.
PackRecord pack_of(const Id32& pack_id, const std::vector<Id32>& ids) {
  PackRecord r;
  r.id = pack_id;
  r.size = 100 * ids.size() + 100;
  for (size_t n = 0; n < ids.size(); ++n) {
    BlobEntry e;
    e.id = ids[n];
    e.offset = static_cast<uint32_t>(100 * n);
    e.length = 50;
    e.raw_length = static_cast<uint32_t>(n);
    r.header.blobs.push_back(e);
  }
  return r;
}

}  // namespace

TEST_CASE("index: loaded and added blobs are found at their first location", "[repo]") {
  std::mt19937_64 rng(20261123);
  Index index;
  // Loaded: 3 packs of 1,000 (one blob listed in two packs: the first pack's place wins).
  std::vector<Id32> loaded;
  for (int p = 0; p < 3; ++p) {
    std::vector<Id32> ids;
    for (int n = 0; n < 1000; ++n) ids.push_back(random_id(rng));
    if (p == 2) ids[500] = loaded[10];
    index.add_pack(pack_of(random_id(rng), ids));
    loaded.insert(loaded.end(), ids.begin(), ids.end());
  }
  index.finalize();
  CHECK(index.blob_count() == 3000);
  CHECK(index.find(loaded[10])->pack == 0);
  CHECK(index.find_all(loaded[10]).size() == 2);

  // Added during the run: 150 packs of 1,000, enough for many merges; some repeat earlier
  // blobs (of this run, or loaded ones).
  std::vector<std::pair<Id32, uint32_t>> added;  // id, pack
  std::set<Id32> added_ids;
  for (uint32_t p = 3; p < 153; ++p) {
    std::vector<Id32> ids;
    for (int n = 0; n < 1000; ++n) ids.push_back(random_id(rng));
    if (p > 3) ids[7] = added[rng() % added.size()].first;  // stays at its first place
    ids[8] = loaded[p];                                     // loaded: found there first
    for (auto& id : ids)
      if (!added_ids.count(id) && id != loaded[p]) {
        added.push_back({id, p});
        added_ids.insert(id);
      }
    index.add_pack(pack_of(random_id(rng), ids));
    if (p % 37 == 0) {  // lookups between merges
      for (size_t i = 0; i < added.size(); i += 101) {
        auto loc = index.find(added[i].first);
        REQUIRE(loc);
        CHECK(loc->pack == added[i].second);
      }
    }
  }
  CHECK(index.blob_count() == 3000 + added.size() + 150);
  for (auto& [id, pack] : added) {
    auto loc = index.find(id);
    REQUIRE(loc);
    CHECK(loc->pack == pack);
    CHECK(index.find_all(id).size() == 1);
  }
  for (size_t i = 0; i < loaded.size(); ++i) {
    auto loc = index.find(loaded[i]);
    REQUIRE(loc);
    CHECK(loc->pack == (i == 2500 ? 0 : i / 1000));
  }
  for (int i = 0; i < 10000; ++i) CHECK_FALSE(index.contains(random_id(rng)));

  // A second finalize (a reload) keeps every location.
  index.finalize();
  for (size_t i = 0; i < added.size(); i += 7)
    CHECK(index.find(added[i].first)->pack == added[i].second);
  CHECK(index.find_all(loaded[3]).size() == 2);  // loaded, and re-added by pack 3
}

TEST_CASE("index: ids alike in their first bytes are told apart", "[repo]") {
  // Ids that share their first 8 (or 31) bytes: the comparison falls back to the rest.
  std::mt19937_64 rng(7);
  std::vector<Id32> ids;
  for (int group = 0; group < 20; ++group) {
    Id32 base = random_id(rng);
    for (int k = 0; k < 50; ++k) {
      Id32 id = base;
      if (k % 2)
        id.bytes[31] = std::byte(k);  // differs in the last byte only
      else
        id.bytes[8 + k % 24] ^= std::byte(1 + k % 255);  // first 8 bytes the same
      ids.push_back(id);
    }
    std::sort(ids.end() - 50, ids.end());
    ids.erase(std::unique(ids.end() - 50, ids.end()), ids.end());
  }
  std::vector<Id32> first(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(ids.size() / 2));
  std::vector<Id32> second(ids.begin() + static_cast<ptrdiff_t>(ids.size() / 2), ids.end());
  Index index;
  index.add_pack(pack_of(random_id(rng), first));  // loaded
  index.finalize();
  for (size_t i = 0; i < second.size(); i += 100)  // added during a run, in several packs
    index.add_pack(
        pack_of(random_id(rng), std::vector<Id32>(second.begin() + static_cast<ptrdiff_t>(i),
                                                  second.begin() + static_cast<ptrdiff_t>(std::min(
                                                                       i + 100, second.size())))));
  for (size_t i = 0; i < first.size(); ++i) {
    auto loc = index.find(first[i]);
    REQUIRE(loc);
    CHECK(loc->offset == 100 * i);
  }
  for (size_t i = 0; i < second.size(); ++i) {
    auto loc = index.find(second[i]);
    REQUIRE(loc);
    CHECK(loc->offset == 100 * (i % 100));
  }
  Id32 absent = first[3];
  absent.bytes[20] ^= std::byte(0x55);
  if (!std::count(ids.begin(), ids.end(), absent)) CHECK_FALSE(index.contains(absent));
}
