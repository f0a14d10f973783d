// Hostile or damaged encodings are rejected with IntegrityError, never a crash.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/crypto.hpp"
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

namespace {
// The tree encoding as it was first written, through nlohmann::json: encode_tree writes CBOR
// directly and must produce the same bytes (tree ids, and so deduplication, depend on them).
Bytes json_tree(const Tree& tree) {
  using Json = nlohmann::json;
  auto bin = [](ByteView b) {
    auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
    return Json::binary(std::vector<std::uint8_t>(p, p + b.size()));
  };
  Json nodes = Json::array();
  for (auto& n : tree.nodes) {
    Json j = {{"name", bin(as_bytes(n.name))},
              {"type", node_type_name(n.type)},
              {"mode", n.mode},
              {"uid", n.uid},
              {"gid", n.gid},
              {"mtime", n.mtime_ns}};
    if (!n.user.empty()) j["user"] = n.user;
    if (!n.group.empty()) j["group"] = n.group;
    if (n.type == NodeType::file) {
      j["size"] = n.size;
      Json c = Json::array();
      for (auto& item : n.content) {
        if (item.hole)
          c.push_back(item.hole);
        else
          c.push_back(bin(item.chunk.view()));
      }
      j["content"] = c;
    }
    if (n.subtree) j["subtree"] = bin(n.subtree->view());
    if (n.type == NodeType::symlink) j["target"] = bin(as_bytes(n.target));
    if (n.type == NodeType::chardev || n.type == NodeType::blockdev) j["rdev"] = n.rdev;
    if (n.links > 1) {
      j["links"] = n.links;
      j["inode"] = n.inode;
    }
    if (!n.xattrs.empty()) {
      Json x = Json::array();
      for (auto& [k, v] : n.xattrs) x.push_back(Json::array({bin(as_bytes(k)), bin(v)}));
      j["xattrs"] = x;
    }
    nodes.push_back(std::move(j));
  }
  auto v = Json::to_cbor(Json{{"v", 1}, {"nodes", nodes}});
  auto* p = reinterpret_cast<const std::byte*>(v.data());
  return Bytes(p, p + v.size());
}
}  // namespace

TEST_CASE("encode_tree writes the same bytes as the Json encoding, on random trees", "[repo]") {
  std::mt19937_64 rng(20261123);
  // Values around every CBOR width boundary.
  const std::vector<uint64_t> edges = {0,        1,          23,          24,         255,
                                       256,      65535,      65536,       4294967295, 4294967296,
                                       1u << 31, UINT64_MAX, 0x1234567890};
  auto number = [&] { return rng() % 3 ? edges[rng() % edges.size()] : rng() >> (rng() % 64); };
  auto text = [&](size_t max) {
    size_t sizes[] = {0, 1, 23, 24, 255, 256, 300, 65536};
    size_t len = std::min(max, sizes[rng() % 8]);
    std::string s(len, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  };
  const NodeType types[] = {NodeType::file,  NodeType::dir,     NodeType::symlink,
                            NodeType::fifo,  NodeType::chardev, NodeType::blockdev,
                            NodeType::socket};
  for (int round = 0; round < 300; ++round) {
    Tree t;
    size_t count = std::vector<size_t>{0, 1, 23, 24, 30, 300}[rng() % 6];
    for (size_t i = 0; i < count; ++i) {
      Node n;
      n.name = text(300);
      n.type = types[rng() % 7];
      n.mode = static_cast<uint32_t>(number());
      n.uid = static_cast<uint32_t>(number());
      n.gid = static_cast<uint32_t>(number());
      n.mtime_ns = static_cast<int64_t>(number()) * (rng() % 2 ? 1 : -1);
      if (rng() % 2) n.user = text(40);
      if (rng() % 2) n.group = text(40);
      n.size = number();
      for (size_t c = rng() % 30; c > 0; --c) {
        ContentItem item{};
        if (rng() % 4 == 0)
          item.hole = std::max<uint64_t>(1, number());
        else
          for (auto& b : item.chunk.bytes) b = std::byte(rng());
        n.content.push_back(item);
      }
      if (rng() % 2) n.subtree.emplace().bytes[0] = std::byte(rng());
      n.target = text(300);
      n.rdev = number();
      n.inode = number();
      n.links = static_cast<uint32_t>(rng() % 3 ? 1 : number());
      for (size_t x = rng() % 3; x > 0; --x) n.xattrs.emplace_back(text(30), to_bytes(text(300)));
      t.nodes.push_back(std::move(n));
    }
    REQUIRE(encode_tree(t) == json_tree(t));
  }
}

TEST_CASE("pack headers and index files are the same bytes as the Json encoding", "[repo]") {
  using Json = nlohmann::json;
  auto bin = [](ByteView b) {
    auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
    return Json::binary(std::vector<std::uint8_t>(p, p + b.size()));
  };
  auto bytes = [](const std::vector<std::uint8_t>& v) {
    auto* p = reinterpret_cast<const std::byte*>(v.data());
    return Bytes(p, p + v.size());
  };
  // As first written (through nlohmann::json): index files and pack ids depend on these bytes.
  auto json_header = [&](const PackHeader& h) {
    Json blobs = Json::array();
    for (auto& b : h.blobs)
      blobs.push_back(
          Json::array({bin(b.id.view()), static_cast<int>(b.type), b.offset, b.length, b.raw_length,
                       b.compressed ? 1 : 0, bin(ByteView(b.xxh.data(), b.xxh.size()))}));
    return bytes(
        Json::to_cbor(Json{{"v", 1},
                           {"epoch", h.wrap.epoch},
                           {"eph", bin(ByteView(h.wrap.ephemeral_public.data(), 32))},
                           {"key", bin(ByteView(h.wrap.wrapped.data(), h.wrap.wrapped.size()))},
                           {"blobs", blobs}}));
  };
  std::mt19937_64 rng(20261123);
  const std::vector<uint32_t> edges = {0, 1, 23, 24, 255, 256, 65535, 65536, UINT32_MAX};
  auto number = [&] { return rng() % 2 ? edges[rng() % edges.size()] : uint32_t(rng()); };
  for (int round = 0; round < 50; ++round) {
    std::vector<PackRecord> records(rng() % 4);
    Json packs = Json::array();
    for (auto& r : records) {
      for (auto& b : r.id.bytes) b = std::byte(rng());
      r.size = rng() >> (rng() % 64);
      r.header.wrap.epoch = number();
      for (auto& b : r.header.wrap.ephemeral_public) b = std::byte(rng());
      for (auto& b : r.header.wrap.wrapped) b = std::byte(rng());
      for (size_t n = std::vector<size_t>{0, 1, 23, 24, 300}[rng() % 5]; n > 0; --n) {
        BlobEntry e;
        for (auto& b : e.id.bytes) b = std::byte(rng());
        e.type = rng() % 2 ? BlobType::tree : BlobType::data;
        e.offset = number();
        e.length = number();
        e.raw_length = number();
        e.compressed = rng() % 2;
        for (auto& b : e.xxh) b = std::byte(rng());
        r.header.blobs.push_back(e);
      }
      Bytes h = json_header(r.header);
      REQUIRE(encode_pack_header(r.header) == h);
      packs.push_back(Json{{"id", bin(r.id.view())}, {"size", r.size}, {"header", bin(h)}});
    }
    REQUIRE(encode_index(records) == bytes(Json::to_cbor(Json{{"v", 1}, {"packs", packs}})));
  }
}

TEST_CASE("a long listing is stored in parts, and read back whole", "[repo]") {
  std::map<Id32, Bytes> blobs;
  auto save = [&](Bytes data) {
    Id32 id = crypto::sha256(data);
    blobs[id] = std::move(data);
    return id;
  };
  auto read = [&](const Id32& id) { return decode_tree(blobs.at(id), "part"); };
  auto listing = [](size_t n, const std::string& extra) {
    Tree t;
    for (size_t i = 0; i < n; ++i) {
      Node node;
      node.name = fmt::format("entry-{:07}", i);
      t.nodes.push_back(node);
    }
    if (!extra.empty()) {
      Node node;
      node.name = extra;
      t.nodes.push_back(node);
      std::sort(t.nodes.begin(), t.nodes.end(),
                [](const Node& a, const Node& b) { return a.name < b.name; });
    }
    return t;
  };
  SECTION("a short listing is one plain tree") {
    Tree t = listing(k_tree_part_max, "");
    Tree back = decode_tree(blobs.at(save_tree_parts(t, save)), "tree");
    CHECK(back.parts.empty());
    CHECK(back.nodes.size() == k_tree_part_max);
  }
  SECTION("a long one is split, every part bounded, and joins back in order") {
    Tree t = listing(100000, "");
    Tree head = decode_tree(blobs.at(save_tree_parts(t, save)), "tree");
    REQUIRE(head.nodes.empty());
    CHECK(head.parts.size() > 6);  // about one part per 4096 + 1024 names
    for (auto& p : head.parts) CHECK(read(p).nodes.size() <= k_tree_part_max);
    join_parts(head, read, "tree");
    REQUIRE(head.nodes.size() == 100000);
    for (size_t i = 0; i < head.nodes.size(); ++i)
      REQUIRE(head.nodes[i].name == fmt::format("entry-{:07}", i));
  }
  SECTION("one more entry changes about one part, not every part after it") {
    Tree a = listing(100000, ""), b = listing(100000, "entry-0000500x");
    Tree ha = decode_tree(blobs.at(save_tree_parts(a, save)), "tree");
    Tree hb = decode_tree(blobs.at(save_tree_parts(b, save)), "tree");
    std::set<Id32> old(ha.parts.begin(), ha.parts.end());
    size_t changed = 0;
    for (auto& p : hb.parts) changed += !old.count(p);
    CHECK(changed == 1);
  }
  SECTION("a part that is split again is malformed") {
    Tree t = listing(40000, "");
    Id32 head_id = save_tree_parts(t, save);
    Tree head = decode_tree(blobs.at(head_id), "tree");
    head.parts.push_back(head_id);  // a hostile head naming itself as a part
    CHECK_THROWS_AS(join_parts(head, read, "tree"), IntegrityError);
  }
  SECTION("nodes and parts together, empty parts or a part named twice are malformed") {
    using Json = nlohmann::json;
    auto cbor = [](const Json& j) {
      auto v = Json::to_cbor(j);
      auto* p = reinterpret_cast<const std::byte*>(v.data());
      return Bytes(p, p + v.size());
    };
    Json id = Json::binary(std::vector<std::uint8_t>(32, 7));
    CHECK_THROWS_AS(decode_tree(cbor({{"v", 1}, {"parts", Json::array()}}), "t"), IntegrityError);
    CHECK_THROWS_AS(decode_tree(cbor({{"v", 1}, {"parts", {id}}, {"nodes", Json::array()}}), "t"),
                    IntegrityError);
    CHECK_THROWS_AS(
        decode_tree(cbor({{"v", 1}, {"parts", {Json::binary(std::vector<std::uint8_t>(31, 7))}}}),
                    "t"),
        IntegrityError);
    CHECK_THROWS_AS(decode_tree(cbor({{"v", 1}, {"parts", {id, id}}}), "t"), IntegrityError);
    CHECK(decode_tree(cbor({{"v", 1}, {"parts", {id}}}), "t").parts.size() == 1);
  }
}

TEST_CASE("index files read back what was written; damage is an IntegrityError", "[repo]") {
  std::mt19937_64 rng(20261124);
  std::vector<PackRecord> records(5);
  for (auto& r : records) {
    for (auto& b : r.id.bytes) b = std::byte(rng());
    r.size = 1u << 24;
    r.header.wrap.epoch = static_cast<uint32_t>(rng());
    for (auto& b : r.header.wrap.ephemeral_public) b = std::byte(rng());
    for (auto& b : r.header.wrap.wrapped) b = std::byte(rng());
    for (int n = 0; n < 200; ++n) {
      BlobEntry e;
      for (auto& b : e.id.bytes) b = std::byte(rng());
      e.type = rng() % 2 ? BlobType::tree : BlobType::data;
      e.offset = static_cast<uint32_t>(rng() % (1u << 23));
      e.length = static_cast<uint32_t>(16 + rng() % 100000);
      e.raw_length = static_cast<uint32_t>(rng());
      e.compressed = rng() % 2;
      for (auto& b : e.xxh) b = std::byte(rng());
      r.header.blobs.push_back(e);
    }
  }
  Bytes data = encode_index(records);
  auto back = decode_index(data, "index");
  REQUIRE(back.size() == records.size());
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].id == records[i].id);
    CHECK(back[i].size == records[i].size);
    CHECK(back[i].header.wrap.epoch == records[i].header.wrap.epoch);
    CHECK(back[i].header.wrap.ephemeral_public == records[i].header.wrap.ephemeral_public);
    CHECK(back[i].header.wrap.wrapped == records[i].header.wrap.wrapped);
    REQUIRE(back[i].header.blobs.size() == records[i].header.blobs.size());
    for (size_t j = 0; j < back[i].header.blobs.size(); ++j) {
      auto &a = back[i].header.blobs[j], &b = records[i].header.blobs[j];
      REQUIRE((a.id == b.id && a.type == b.type && a.offset == b.offset && a.length == b.length &&
               a.raw_length == b.raw_length && a.compressed == b.compressed && a.xxh == b.xxh));
    }
  }
  // Every single-byte change and every truncation: decoded or IntegrityError, never a crash.
  for (size_t pos = 0; pos < data.size(); pos += 1 + rng() % 7) {
    Bytes bad = data;
    bad[pos] ^= std::byte(1 + rng() % 255);
    try {
      decode_index(bad, "index");
    } catch (const IntegrityError&) {
    }
    CHECK_THROWS_AS(decode_index(ByteView(data).first(pos), "index"), IntegrityError);
  }
  // A key written twice is malformed (the Json reader kept the last one).
  using Json = nlohmann::json;
  auto cbor = [](const std::vector<std::uint8_t>& v) {
    auto* p = reinterpret_cast<const std::byte*>(v.data());
    return Bytes(p, p + v.size());
  };
  Bytes twice = cbor(Json::to_cbor(Json{{"packs", Json::array()}, {"v", 1}}));
  twice[0] = std::byte{0xa3};  // a map of 3 entries: "packs", "v", and "v" again
  append(twice, cbor({0x61, 'v', 0x01}));
  CHECK_THROWS_AS(decode_index(twice, "index"), IntegrityError);
  CHECK(
      decode_index(cbor(Json::to_cbor(Json{{"packs", Json::array()}, {"v", 1}})), "index").empty());
}
