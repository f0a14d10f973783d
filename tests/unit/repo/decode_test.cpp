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

TEST_CASE("deeply nested CBOR is rejected before parsing, without recursion", "[repo]") {
  Bytes deep(1000000, std::byte{0x81});  // a million nested one-element arrays
  deep.push_back(std::byte{0x00});
  CHECK_THROWS_AS(decode_tree(deep, "tree"), IntegrityError);
  CHECK_THROWS_AS(decode_slot(deep, "slot"), IntegrityError);
  CHECK_THROWS_AS(decode_config(deep), IntegrityError);
  // Lengths beyond the data, indefinite lengths and trailing bytes are refused too.
  CHECK_THROWS_AS(decode_tree(Bytes{std::byte{0x9b}, std::byte{0xff}, std::byte{0xff},
                                    std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                    std::byte{0xff}, std::byte{0xff}, std::byte{0xff}},
                              "tree"),
                  IntegrityError);
  CHECK_THROWS_AS(decode_tree(Bytes{std::byte{0x9f}, std::byte{0xff}}, "tree"), IntegrityError);
  Bytes good = encode_tree(Tree{});
  good.push_back(std::byte{0});
  CHECK_THROWS_AS(decode_tree(good, "tree"), IntegrityError);
}

TEST_CASE("the index keeps every location of a blob stored twice", "[repo]") {
  Index idx;
  BlobEntry e;
  e.id.bytes[0] = std::byte{7};
  e.length = 20;
  PackRecord a, b;
  a.id.bytes[0] = std::byte{1};
  b.id.bytes[0] = std::byte{2};
  e.offset = 0;
  a.header.blobs.push_back(e);
  e.offset = 100;
  b.header.blobs.push_back(e);
  idx.add_pack(a);
  idx.add_pack(b);
  idx.add_pack(a);  // the same pack named by two index files counts once
  idx.finalize();
  auto all = idx.find_all(e.id);
  REQUIRE(all.size() == 2);
  CHECK(all[0].offset == 0);
  CHECK(all[1].offset == 100);
}
