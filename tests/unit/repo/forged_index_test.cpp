// A tree where data belongs, by way of the index (issue 6, part 3): an index file — sealed with
// the metadata key, which write-only keys hold too — that says a file's chunk is stored where a
// tree blob is. The blob's associated data binds its id and type, so the forged location never
// opens: readers fall back to the real one and never return a wrong byte, and backup-verify
// --read-data should report the forged record whichever index file it is in.
#include <catch2/catch.hpp>

#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/ops/prune/prune.hpp"
#include "lifeboat/ops/verify/verify.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/format.hpp"
#include "lifeboat/repo/index.hpp"
#include "lifeboat/repo/tree.hpp"
#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;

namespace {

struct Forged {
  repo::Secret secret;
  Id32 data_id, tree_id;
  Bytes data;  // the file's content: one chunk
  int verify = -1;
  bool read_right = false;  // read_blob returned the file's content
  bool run_wrong = false;   // read_blob_run returned anything else
  size_t locations = 0;     // of the chunk, in the loaded index
};

// A repository with one file (a data pack) and its directory (a tree pack), plus an index file
// whose copy of the tree pack's header lists the file's chunk, as data, at the tree blob's
// place; stored so that it loads before (first = true) or after the genuine index file.
Forged forge(const std::string& url, bool first) {
  repo::Secret secret = repo::parse_key_file(repo::format_key_file(crypto::random_key()), "test");
  auto store = storage::open(url);
  repo::Repository::init(*store, secret, {});
  Forged f;
  f.secret = secret;
  f.data.resize(5000);
  crypto::random_bytes(f.data);
  Id32 data_id, tree_id;
  {
    auto repo = repo::Repository::open(storage::open(url), secret);
    repo->load_index();
    repo::BlobSaver saver(*repo, 1, 1);
    data_id = repo->mac().compute(f.data);
    saver.save(repo::BlobType::data, data_id, f.data);
    repo::Node n;
    n.name = "file";
    n.mode = 0644;
    n.size = f.data.size();
    n.content.push_back({data_id, 0});
    Bytes tree = repo::encode_tree(repo::Tree{{n}, {}});
    tree_id = repo->mac().compute(tree);
    saver.save(repo::BlobType::tree, tree_id, tree);
    saver.flush();
    repo::Snapshot s;
    s.time_ns = 1'700'000'000'000'000'000;
    s.host = "forged";
    s.paths = {"/data"};
    s.tree = tree_id;
    repo->save_snapshot(s);
  }
  auto repo = repo::Repository::open(storage::open(url), secret);
  repo->load_index();
  REQUIRE(repo->index_files().size() == 1);
  Id32 genuine = repo->index_files()[0];
  repo::PackRecord tree_pack;
  size_t replaced = 0;
  for (auto& r : repo::decode_index(repo->load_meta(repo::Kind::index, genuine), "index"))
    for (auto& b : r.header.blobs)
      if (b.id == tree_id) tree_pack = r;
  for (auto& b : tree_pack.header.blobs) {
    if (b.id != tree_id) continue;
    b.id = data_id;
    b.type = repo::BlobType::data;
    ++replaced;
  }
  REQUIRE(replaced == 1);
  for (;;) {  // index files load in id order
    Id32 id = repo->save_meta(repo::Kind::index, repo::encode_index({tree_pack}));
    if ((id < genuine) == first) break;
    store->remove(repo::object_key(repo::Kind::index, id));
  }

  auto reader = repo::Repository::open(storage::open(url), secret);
  auto level = log::level();
  log::set_level(log::Level::quiet);
  ops::verify::Options o;
  o.read_data = true;
  f.verify = ops::verify::run(*reader, o);
  log::set_level(level);
  try {
    f.read_right = reader->read_blob(data_id) == f.data;
  } catch (const Error&) {
  }
  auto run = reader->read_blob_run({data_id});
  f.run_wrong = run[0] && *run[0] != f.data;
  f.locations = reader->index().find_all(data_id).size();
  f.data_id = data_id;
  f.tree_id = tree_id;
  return f;
}

}  // namespace

TEST_CASE("tamper: an index record placing a file's chunk at a tree blob never reads wrong",
          "[tamper]") {
  for (bool first : {true, false}) {
    INFO("forged index file loaded " << (first ? "first" : "second"));
    Forged f = forge(first ? "mem://forged-index-first" : "mem://forged-index-second", first);
    CHECK(f.locations == 2);  // the forged location is loaded beside the real one
    CHECK(f.read_right);      // the forged one fails authentication, the real one is read
    CHECK_FALSE(f.run_wrong);
    if (first) CHECK(f.verify == 20);
  }
}

// backup-verify --read-data compares every index file's record of a pack with the pack's own
// header, so the forged record is found in a later index file too, and the file named.
TEST_CASE("tamper: backup-verify reports a forged index record in any index file", "[tamper]") {
  Forged f = forge("mem://forged-index-later", false);
  CHECK(f.verify == 20);
}

// The garbage collection consolidates the index into one record per pack. The forged record
// (which lists no tree blob where the real one does) must not be the one kept: then the
// snapshot's directory would be in no index, and a prune would have lost it. Index files that
// disagree about a pack are settled by the pack's own header.
TEST_CASE("tamper: the garbage collection keeps the pack's own record, not a forged one",
          "[tamper]") {
  for (bool first : {true, false}) {
    INFO("forged index file loaded " << (first ? "first" : "second"));
    std::string url = first ? "mem://forged-index-gc-first" : "mem://forged-index-gc-second";
    Forged f = forge(url, first);
    auto level = log::level();
    log::set_level(log::Level::quiet);
    {
      auto repo = repo::Repository::open(storage::open(url), f.secret);
      ops::prune::GcOptions o;
      CHECK(ops::prune::gc(*repo, o) == 0);
    }
    auto reader = repo::Repository::open(storage::open(url), f.secret);
    ops::verify::Options o;
    o.read_data = true;
    CHECK(ops::verify::run(*reader, o) == 0);
    log::set_level(level);
    CHECK(reader->index_files().size() == 1);
    CHECK(reader->read_tree(f.tree_id).nodes.size() == 1);
    CHECK(reader->read_blob(f.data_id) == f.data);
  }
}
