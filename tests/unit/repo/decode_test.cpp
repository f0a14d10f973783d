// Hostile or damaged encodings are rejected with IntegrityError, never a crash.
#include <catch2/catch.hpp>
#include <random>

#include "lifeboat/core/error.hpp"
#include "lifeboat/repo/index.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/snapshot.hpp"
#include "lifeboat/repo/tree.hpp"

using namespace lifeboat;
using namespace lifeboat::repo;

TEST_CASE("decoders reject garbage and wrong types", "[repo]") {
  CHECK_THROWS_AS(decode_tree(to_bytes("not cbor at all"), "t"), IntegrityError);
  CHECK_THROWS_AS(decode_tree(Bytes{}, "t"), IntegrityError);
  CHECK_THROWS_AS(decode_index(to_bytes("\xa0"), "i"), IntegrityError);
  CHECK_THROWS_AS(decode_config(to_bytes("\x80")), IntegrityError);
  CHECK_THROWS_AS(decode_signed(to_bytes("\xa1\x61x\x01"), "s"), IntegrityError);
}

TEST_CASE("random mutations of a tree never crash the decoder", "[repo]") {
  Tree t;
  Node n;
  n.name = "file";
  n.content = {{Id32{}, 0}, {{}, 10}};
  n.xattrs = {{"user.x", to_bytes("y")}};
  t.nodes = {n};
  Bytes good = encode_tree(t);
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    Bytes b = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= std::byte(1u << (rng() % 8));
    try {
      decode_tree(b, "tree");
    } catch (const IntegrityError&) {
    }
  }
  SUCCEED();
}

TEST_CASE("index keeps compact sorted entries and finds recent additions", "[repo]") {
  Index idx;
  PackRecord r;
  r.id.bytes[0] = std::byte{9};
  r.size = 1000;
  for (int i = 0; i < 100; ++i) {
    BlobEntry e;
    e.id.bytes[0] = std::byte(i);
    e.id.bytes[1] = std::byte{1};
    e.offset = static_cast<uint32_t>(i * 10);
    e.length = 10;
    e.raw_length = 5;
    r.header.blobs.push_back(e);
  }
  idx.add_pack(r);
  idx.finalize();
  CHECK(idx.blob_count() == 100);
  Id32 probe;
  probe.bytes[0] = std::byte{42};
  probe.bytes[1] = std::byte{1};
  auto loc = idx.find(probe);
  REQUIRE(loc);
  CHECK(loc->offset == 420);
  CHECK(idx.pack(loc->pack).id == r.id);
  probe.bytes[1] = std::byte{2};
  CHECK_FALSE(idx.find(probe));
  PackRecord r2;
  r2.id.bytes[0] = std::byte{10};
  BlobEntry e;
  e.id = probe;
  r2.header.blobs.push_back(e);
  idx.add_pack(r2);
  CHECK(idx.find(probe));
  CHECK(idx.packs().size() == 2);
}
