// Benchmark tool: fills a repository (made with backup-create init) with many blobs and
// snapshots quickly, through the library's own writer, for the forget and prune benchmarks.
//   lifeboat-bench-populate REPO PASSWORD_FILE BLOBS UNREFERENCED_PERCENT SNAPSHOTS
// Writes BLOBS small data blobs (64 random bytes each); UNREFERENCED_PERCENT of every hundred
// are referenced by nothing (spread through every pack, so prune must repack), the others by
// one directory tree (1000 files per subdirectory).
// Then SNAPSHOTS snapshots of that tree, one per hour going back from now (job "bench").
#include <fmt/format.h>

#include <cstdlib>

#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/repository.hpp"
#include "lifeboat/util/fs.hpp"

using namespace lifeboat;
using namespace lifeboat::repo;

int main(int argc, char** argv) {
  if (argc != 6) {
    fmt::print(stderr,
               "usage: lifeboat-bench-populate REPO PASSWORD_FILE BLOBS UNREFERENCED_PERCENT "
               "SNAPSHOTS\n");
    return 2;
  }
  try {
    Secret secret;
    secret.type = Secret::Type::password;
    auto pw = fs::read_file(argv[2]);
    if (!pw) throw Error(Exit::usage, "no password file '{}'", argv[2]);
    std::string text(as_chars(*pw));
    while (!text.empty() && text.back() == '\n') text.pop_back();
    secret.value = text;
    secret.source = argv[2];
    auto repo = Repository::open(storage::open(argv[1]), secret);
    repo->load_index();
    const uint64_t blobs = std::strtoull(argv[3], nullptr, 10);
    const uint64_t unreferenced_percent = std::strtoull(argv[4], nullptr, 10);
    uint64_t referenced = 0;
    const uint64_t snapshots = std::strtoull(argv[5], nullptr, 10);
    BlobSaver saver(*repo);
    Tree root;
    Tree dir;
    auto flush_dir = [&] {
      if (dir.nodes.empty()) return;
      Bytes data = encode_tree(dir);
      Id32 id = repo->mac().compute(data);
      saver.save(BlobType::tree, id, std::move(data));
      Node n;
      n.name = fmt::format("d{:07}", root.nodes.size());
      n.type = NodeType::dir;
      n.mode = 0755;
      n.subtree = id;
      root.nodes.push_back(std::move(n));
      dir.nodes.clear();
    };
    for (uint64_t i = 0; i < blobs; ++i) {
      Bytes data(64);
      crypto::random_bytes(data);
      Id32 id = repo->mac().compute(data);
      saver.save(BlobType::data, id, std::move(data));
      if (i % 100 < unreferenced_percent) continue;
      ++referenced;
      Node f;
      f.name = fmt::format("f{:07}", i);
      f.mode = 0644;
      f.size = 64;
      f.content = {{id, 0}};
      dir.nodes.push_back(std::move(f));
      if (dir.nodes.size() == 1000) flush_dir();
    }
    flush_dir();
    Bytes data = encode_tree(root);
    Id32 root_id = repo->mac().compute(data);
    saver.save(BlobType::tree, root_id, std::move(data));
    saver.flush();
    int64_t now = now_ns();
    for (uint64_t i = 0; i < snapshots; ++i) {
      Snapshot s;
      s.time_ns = now - static_cast<int64_t>(i) * 3600 * 1000000000LL;
      s.host = "bench";
      s.job = "bench";
      s.paths = {"/bench"};
      s.tree = root_id;
      s.program = "lifeboat-bench-populate";
      repo->save_snapshot(s);
    }
    fmt::print("{} blobs ({} referenced), {} snapshots\n", blobs, referenced, snapshots);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "lifeboat-bench-populate: {}\n", e.what());
    return 1;
  }
}
