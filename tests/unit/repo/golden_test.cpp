// Golden vectors: every object kind is produced from fixed inputs with deterministic
// randomness and compared byte for byte with tests/golden/<kind>.bin; each golden file is
// then decoded and re-encoded identically. A format change must update docs/format/ and
// these files together (regenerate with LIFEBOAT_UPDATE_GOLDEN=1).
#include <catch2/catch.hpp>
#include <cstdlib>

#include "lifeboat/repo/deletion.hpp"
#include "lifeboat/repo/detail/cbor.hpp"
#include "lifeboat/repo/index.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/repo/pack.hpp"
#include "lifeboat/repo/snapshot.hpp"
#include "lifeboat/repo/tree.hpp"
#include "lifeboat/util/fs.hpp"

using namespace lifeboat;
using namespace lifeboat::repo;

namespace {

Bytes golden(const std::string& name, const Bytes& produced) {
  std::string path = std::string(LIFEBOAT_GOLDEN_DIR) + "/" + name;
  if (const char* u = std::getenv("LIFEBOAT_UPDATE_GOLDEN"); u && std::string(u) == "1")
    fs::write_file_atomic(path, produced, 0644);
  auto data = fs::read_file(path);
  INFO("golden file " << path);
  REQUIRE(data);
  CHECK(*data == produced);
  return *data;
}

struct Fixture {
  Id32 repo_id;
  MasterKeys keys;
  Fixture() {
    crypto::set_deterministic_random_for_testing(42);
    for (size_t i = 0; i < 32; ++i) repo_id.bytes[i] = std::byte(i);
    keys = MasterKeys::generate(repo_id);
  }
};

Tree sample_tree() {
  Tree t;
  Node dir;
  dir.name = "etc";
  dir.type = NodeType::dir;
  dir.mode = 0755;
  dir.mtime_ns = 1700000000123456789;
  dir.subtree = crypto::sha256(as_bytes("subtree"));
  Node file;
  file.name = std::string("r\xe9sum\xe9\nnew", 10);
  file.type = NodeType::file;
  file.mode = 04755;
  file.uid = 1000;
  file.gid = 100;
  file.user = "alice";
  file.group = "users";
  file.mtime_ns = 1700000000000000001;
  file.size = 4096 + 10;
  file.content = {{crypto::sha256(as_bytes("chunk")), 0}, {{}, 4096}};
  file.links = 2;
  file.inode = 77;
  file.xattrs = {{"user.comment", to_bytes("hello")}};
  Node link;
  link.name = "link";
  link.type = NodeType::symlink;
  link.mode = 0777;
  link.target = "../target";
  Node dev;
  dev.name = "null";
  dev.type = NodeType::chardev;
  dev.mode = 0666;
  dev.rdev = 0x103;
  t.nodes = {dir, link, dev, file};
  return t;
}

}  // namespace

TEST_CASE("golden: config", "[golden]") {
  Fixture f;
  Config c;
  c.id = f.repo_id;
  c.created_ns = 1700000000000000000;
  Bytes produced = encode_config(c, f.keys.meta_key);
  Bytes g = golden("config.bin", produced);
  Config back = decode_config(g);
  CHECK(back.id == f.repo_id);
  CHECK(back.chunker.avg_size == 1024 * 1024);
  check_config_mac(back, f.keys.meta_key);
  CHECK(encode_config(back, f.keys.meta_key) == g);
  Config tampered = back;
  tampered.body.back() ^= std::byte{1};
  CHECK_THROWS_AS(check_config_mac(tampered, f.keys.meta_key), IntegrityError);
}

TEST_CASE("golden: key slots (password, key file, write-only)", "[golden]") {
  Fixture f;
  Secret pw{Secret::Type::password, "correct horse", "test"};
  Secret kf{Secret::Type::key_file, std::string(32, 'k'), "test"};
  for (auto [name, secret, access] : {std::tuple{"key-password.bin", pw, Access::full},
                                      std::tuple{"key-keyfile.bin", kf, Access::full},
                                      std::tuple{"key-write-only.bin", pw, Access::write_only}}) {
    auto u = make_slot(f.keys, secret, access, "golden");
    u.slot.host = "host";
    u.slot.user = "user";
    u.slot.created_ns = 1700000000000000000;
    Bytes g = golden(name, encode_slot(u.slot));
    KeySlot back = decode_slot(g, name);
    CHECK(encode_slot(back) == g);
    auto opened = try_unlock(back, secret, f.repo_id);
    REQUIRE(opened);
    CHECK(opened->keys.can_read() == (access == Access::full));
    CHECK(opened->keys.meta_key == f.keys.meta_key);
    Secret wrong = secret;
    wrong.value += "x";
    CHECK_FALSE(try_unlock(back, wrong, f.repo_id));
    Id32 other = f.repo_id;
    other.bytes[0] ^= std::byte{1};
    CHECK_FALSE(try_unlock(back, secret, other));
  }
}

TEST_CASE("golden: tree", "[golden]") {
  Tree t = sample_tree();
  Bytes g = golden("tree.bin", encode_tree(t));
  Tree back = decode_tree(g, "tree");
  REQUIRE(back.nodes.size() == 4);
  CHECK(back.nodes[3].name == t.nodes[3].name);
  CHECK(back.nodes[3].content[1].hole == 4096);
  CHECK(back.nodes[3].xattrs == t.nodes[3].xattrs);
  CHECK(back.nodes[1].target == "../target");
  CHECK(back.nodes[2].rdev == 0x103);
  CHECK(encode_tree(back) == g);
}

TEST_CASE("golden: pack and index", "[golden]") {
  Fixture f;
  crypto::Mac mac(f.keys.mac_key);
  PackWriter w(f.keys, BlobType::data);
  std::vector<Bytes> blobs = {to_bytes("first blob"), to_bytes("second blob, a little longer"),
                              Bytes(3000)};
  for (auto& b : blobs) w.add(mac.compute(b), b, static_cast<uint32_t>(b.size()), false);
  auto finished = w.finish();
  Bytes g = golden("pack.bin", finished.concat());
  CHECK(crypto::sha256(g) == finished.record.id);
  PackHeader h = parse_pack_trailer(f.keys, g, "pack");
  REQUIRE(h.blobs.size() == 3);
  CHECK(encode_pack_header(h) == encode_pack_header(finished.record.header));
  auto key = unwrap_pack_key(f.keys, h.wrap, finished.record.id);
  for (auto& e : h.blobs) {
    ByteView stored(g.data() + e.offset, e.length);
    CHECK(xxh3_128(stored) == e.xxh);
    auto plain = open_blob(key, f.repo_id, e, stored);
    REQUIRE(plain);
    CHECK(mac.compute(*plain) == e.id);
  }
  // A blob moved to another id, or read as another kind, does not open.
  BlobEntry moved = h.blobs[0];
  moved.id = h.blobs[1].id;
  CHECK_FALSE(
      open_blob(key, f.repo_id, moved, ByteView(g.data() + h.blobs[0].offset, h.blobs[0].length)));
  BlobEntry as_tree = h.blobs[0];
  as_tree.type = BlobType::tree;
  CHECK_FALSE(open_blob(key, f.repo_id, as_tree,
                        ByteView(g.data() + h.blobs[0].offset, h.blobs[0].length)));
  // Write-only keys cannot unwrap pack keys.
  CHECK_THROWS_AS(unwrap_pack_key(f.keys.write_only(), h.wrap, finished.record.id), Error);

  Bytes index_plain = encode_index({finished.record});
  Bytes sealed = seal_object(f.keys.meta_key, f.repo_id, Kind::index, index_plain);
  Bytes gi = golden("index.bin", sealed);
  Bytes opened = open_object(f.keys.meta_key, f.repo_id, Kind::index, gi, "index");
  auto records = decode_index(opened, "index");
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == finished.record.id);
  CHECK(encode_index(records) == opened);
  CHECK_THROWS_AS(open_object(f.keys.meta_key, f.repo_id, Kind::snapshot, gi, "index as snapshot"),
                  IntegrityError);
}

TEST_CASE("golden: snapshot", "[golden]") {
  Fixture f;
  auto signing = crypto::ed25519_generate();
  Snapshot s;
  s.time_ns = 1700000000000000000;
  s.host = "web1";
  s.job = "etc";
  s.paths = {"/etc"};
  s.tags = {"daily"};
  s.tree = crypto::sha256(as_bytes("root"));
  s.program = "lifeboat 0.1.0";
  s.summary = {{"files_new", 3}};
  s.signer = crypto::sha256(signing.public_key);
  Bytes sealed = seal_object(f.keys.meta_key, f.repo_id, Kind::snapshot,
                             encode_signed(s, signing.private_key));
  Bytes g = golden("snapshot.bin", sealed);
  Bytes plain = open_object(f.keys.meta_key, f.repo_id, Kind::snapshot, g, "snapshot");
  auto ss = decode_signed(plain, "snapshot");
  CHECK(ss.snapshot.host == "web1");
  CHECK(ss.snapshot.tags == std::vector<std::string>{"daily"});
  CHECK(encode_snapshot_body(ss.snapshot) == ss.body);
  Bytes msg = to_bytes("lifeboat-v1 snapshot");
  append(msg, ss.body);
  CHECK(crypto::ed25519_verify(signing.public_key, msg, ss.signature));
  CHECK(encode_signed(ss.snapshot, signing.private_key) == plain);
  Bytes flipped = g;
  flipped[40] ^= std::byte{4};
  CHECK_THROWS_AS(open_object(f.keys.meta_key, f.repo_id, Kind::snapshot, flipped, "snapshot"),
                  IntegrityError);
}

TEST_CASE("golden: lock", "[golden]") {
  Fixture f;
  LockInfo l;
  l.host = "web1";
  l.process_scope = "boot pid:[4026531836]";
  l.user = "root";
  l.pid = 1234;
  l.time_ns = 1700000000600000000;
  l.started_ns = 1700000000000000000;
  l.expires_ns = 1700000002400000000;
  l.exclusive = false;
  l.operation = "backup";
  Bytes sealed = seal_object(f.keys.meta_key, f.repo_id, Kind::lock, encode_lock(l));
  Bytes g = golden("lock.bin", sealed);
  Bytes plain = open_object(f.keys.meta_key, f.repo_id, Kind::lock, g, "lock");
  auto back = decode_lock(plain, "lock");
  CHECK(back.pid == 1234);
  CHECK(back.operation == "backup");
  CHECK(back.started_ns == 1700000000000000000);
  CHECK(encode_lock(back) == plain);
  // A lock written before "started" existed decodes as started at time 0 (the cautious
  // reading: a prune waits for it).
  Bytes old = detail::to_cbor(detail::Json{{"v", 1},
                                           {"host", "web1"},
                                           {"scope", ""},
                                           {"user", "root"},
                                           {"pid", 1},
                                           {"time", 5},
                                           {"expires", 6},
                                           {"exclusive", false},
                                           {"operation", "backup"}});
  CHECK(decode_lock(old, "old lock").started_ns == 0);
}

TEST_CASE("golden: tombstone", "[golden]") {
  Fixture f;
  auto signing = crypto::ed25519_generate();
  Tombstone t;
  t.time_ns = 1700000000000000000;
  t.host = "admin1";
  t.user = "root";
  t.snapshots = {crypto::sha256(as_bytes("snapshot b")), crypto::sha256(as_bytes("snapshot a"))};
  t.signer = crypto::sha256(signing.public_key);
  Bytes sealed = seal_object(f.keys.meta_key, f.repo_id, Kind::tombstone,
                             encode_tombstone(t, signing.private_key));
  Bytes g = golden("tombstone.bin", sealed);
  Bytes plain = open_object(f.keys.meta_key, f.repo_id, Kind::tombstone, g, "tombstone");
  auto st = decode_tombstone(plain, "tombstone");
  CHECK(st.tombstone.host == "admin1");
  REQUIRE(st.tombstone.snapshots.size() == 2);
  CHECK(st.tombstone.snapshots[0] < st.tombstone.snapshots[1]);  // stored sorted
  CHECK(crypto::ed25519_verify(signing.public_key, tombstone_message(st.body), st.signature));
  CHECK(encode_tombstone(st.tombstone, signing.private_key) == plain);
  Bytes forged = st.body;
  forged[forged.size() / 2] ^= std::byte{1};
  CHECK_FALSE(crypto::ed25519_verify(signing.public_key, tombstone_message(forged), st.signature));
  CHECK_THROWS_AS(open_object(f.keys.meta_key, f.repo_id, Kind::snapshot, g, "tombstone"),
                  IntegrityError);
}

TEST_CASE("golden: condemned", "[golden]") {
  Fixture f;
  Condemnation c;
  c.time_ns = 1700000000000000000;
  c.host = "admin1";
  PackRecord r;
  r.id = crypto::sha256(as_bytes("pack"));
  r.size = 4096;
  BlobEntry e;
  e.id = crypto::sha256(as_bytes("blob"));
  e.offset = 0;
  e.length = 100;
  e.raw_length = 84;
  r.header.blobs = {e};
  PackRecord empty;  // a pack whose own header could not be read
  empty.id = crypto::sha256(as_bytes("garbage"));
  empty.size = 7;
  c.packs = {r, empty};
  auto signing = crypto::ed25519_generate();
  c.signer = crypto::sha256(signing.public_key);
  Bytes sealed = seal_object(f.keys.meta_key, f.repo_id, Kind::condemned,
                             encode_condemnation(c, signing.private_key));
  Bytes g = golden("condemned.bin", sealed);
  Bytes plain = open_object(f.keys.meta_key, f.repo_id, Kind::condemned, g, "condemned");
  auto sc = decode_condemnation(plain, "condemned");
  CHECK(crypto::ed25519_verify(signing.public_key, condemnation_message(sc.body), sc.signature));
  CHECK_FALSE(crypto::ed25519_verify(signing.public_key, tombstone_message(sc.body), sc.signature));
  const auto& back = sc.condemnation;
  CHECK(back.signer == c.signer);
  CHECK(back.time_ns == c.time_ns);
  REQUIRE(back.packs.size() == 2);
  CHECK(back.packs[0].header.blobs.size() == 1);
  CHECK(back.packs[1].header.blobs.empty());
  CHECK(encode_condemnation(back, signing.private_key) == plain);
}
