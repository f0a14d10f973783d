// Test tool: writes a hostile snapshot with a valid full key, as a malicious key holder could.
//   lifeboat-forge-for-testing REPO PASSWORD_FILE SCENARIO [OUTSIDE_PATH]
// Prints the new snapshot's id. Scenarios: names, symlink-file, symlink-dir, hardlink,
// duplicates, split-duplicates, special, long-symlink, huge-size, bad-tree-id, deep:N.
#include <fmt/format.h>

#include <cstring>
#include <iostream>

#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/repo/repository.hpp"
#include "lifeboat/util/fs.hpp"

using namespace lifeboat;
using namespace lifeboat::repo;

namespace {

struct Forge {
  Repository& repo;
  BlobSaver saver;
  explicit Forge(Repository& r) : repo(r), saver(r, 1) {}

  Id32 blob(const std::string& data) {
    Id32 id = repo.mac().compute(as_bytes(data));
    saver.save(BlobType::data, id, to_bytes(data));
    return id;
  }
  Id32 tree(const std::vector<Node>& nodes) {
    Tree t{nodes, {}};
    Bytes data = encode_tree(t);
    Id32 id = repo.mac().compute(data);
    saver.save(BlobType::tree, id, std::move(data));
    return id;
  }
  static Node file(const std::string& name, std::vector<ContentItem> content, uint64_t size,
                   uint32_t mode = 0644) {
    Node n;
    n.name = name;
    n.type = NodeType::file;
    n.mode = mode;
    n.content = std::move(content);
    n.size = size;
    n.mtime_ns = 1700000000000000000;
    return n;
  }
  static Node dir(const std::string& name, const Id32& sub, uint32_t mode = 0755) {
    Node n;
    n.name = name;
    n.type = NodeType::dir;
    n.mode = mode;
    n.subtree = sub;
    n.mtime_ns = 1700000000000000000;
    return n;
  }
  static Node symlink(const std::string& name, const std::string& target) {
    Node n;
    n.name = name;
    n.type = NodeType::symlink;
    n.mode = 0777;
    n.target = target;
    return n;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: lifeboat-forge-for-testing REPO PASSWORD_FILE SCENARIO [OUTSIDE_PATH]\n";
    return 2;
  }
  try {
    std::string scenario = argv[3];
    std::string outside = argc > 4 ? argv[4] : "/tmp/lifeboat-outside";
    auto pw = fs::read_file(argv[2]);
    std::string password(as_chars(*pw));
    while (!password.empty() && password.back() == '\n') password.pop_back();
    auto repo =
        Repository::open(storage::open(argv[1]), {Secret::Type::password, password, "forge"});
    repo->load_index();
    Forge f(*repo);
    Id32 content = f.blob("forged content\n");
    auto ok = Forge::file("ok.txt", {{content, 0}}, 15);
    std::vector<Node> root;
    std::vector<Id32> root_parts;  // when set, the root listing is stored in these parts
    if (scenario == "names") {
      for (std::string bad : {std::string(".."), std::string("."), std::string("a/b"),
                              std::string(""), std::string("x\0y", 3), outside})
        root.push_back(Forge::file(bad, {{content, 0}}, 15));
      root.push_back(ok);
    } else if (scenario == "symlink-file") {
      // A symlink to the outside, then a directory of the same name holding a file.
      root.push_back(Forge::symlink("escape", outside));
      root.push_back(Forge::dir("escape", f.tree({Forge::file("pwned", {{content, 0}}, 15)})));
      root.push_back(ok);
    } else if (scenario == "symlink-dir") {
      // A symlink to the outside, then a directory of the same name with mode 0777.
      root.push_back(Forge::symlink("escape", outside));
      root.push_back(Forge::dir("escape", f.tree({}), 0777));
      root.push_back(ok);
    } else if (scenario == "hardlink") {
      // A hard link whose first name lies behind a symlink to the outside.
      auto linked = Forge::file("f", {{content, 0}}, 15);
      linked.links = 2;
      linked.inode = 99;
      root.push_back(Forge::symlink("s", outside));
      root.push_back(Forge::dir("s", f.tree({linked})));
      auto second = linked;
      second.name = "g";
      root.push_back(second);
      root.push_back(ok);
    } else if (scenario == "duplicates") {
      root.push_back(Forge::file("same", {{content, 0}}, 15));
      root.push_back(Forge::file("same", {{f.blob("other\n"), 0}}, 6));
      root.push_back(ok);
    } else if (scenario == "split-duplicates") {
      // A listing in parts whose second part names again a file of the first (other content).
      root_parts.push_back(f.tree({ok, Forge::file("same", {{content, 0}}, 15)}));
      root_parts.push_back(f.tree({Forge::file("same", {{f.blob("other\n"), 0}}, 6)}));
    } else if (scenario == "special") {
      Node dev;
      dev.name = "device";
      dev.type = NodeType::chardev;
      dev.mode = 0666;
      dev.rdev = (1 << 8) | 3;  // 1:3, /dev/null
      root.push_back(dev);
      root.push_back(Forge::file("setuid", {{content, 0}}, 15, 04755));
      root.push_back(ok);
    } else if (scenario == "long-symlink") {
      root.push_back(Forge::symlink("long", std::string(65536, 'a')));
      root.push_back(ok);
    } else if (scenario == "huge-size") {
      root.push_back(Forge::file("huge", {{content, 0}, {content, 0}, {content, 0}}, 1ULL << 50));
      root.push_back(ok);
    } else if (scenario == "bad-tree-id") {
      // A directory whose listing is stored under an id that is not its MAC (the only way to
      // attempt a cycle, since tree ids are MACs of their content).
      Tree t{{Forge::dir("loop", Id32{})}, {}};
      Bytes data = encode_tree(t);
      Id32 fake = f.repo.mac().compute(as_bytes("not this tree"));
      f.saver.save(BlobType::tree, fake, std::move(data));
      root.push_back(Forge::dir("cycle", fake));
      root.push_back(ok);
    } else if (scenario.rfind("deep:", 0) == 0) {
      int depth = std::stoi(scenario.substr(5));
      Id32 sub = f.tree({ok});
      for (int i = 0; i < depth; ++i) sub = f.tree({Forge::dir("d", sub)});
      root.push_back(Forge::dir("deep", sub));
      root.push_back(ok);
    } else {
      std::cerr << "unknown scenario " << scenario << "\n";
      return 2;
    }
    Id32 root_id;
    if (root_parts.empty()) {
      root_id = f.tree(root);
    } else {
      Bytes data = encode_tree(Tree{{}, root_parts});
      root_id = f.repo.mac().compute(data);
      f.saver.save(BlobType::tree, root_id, std::move(data));
    }
    f.saver.flush();
    Snapshot s;
    s.time_ns = now_ns();
    s.host = "forge";
    s.job = "hostile";
    s.paths = {"/"};
    s.tree = root_id;
    s.program = "forge";
    fmt::print("{}\n", repo->save_snapshot(s).hex());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "forge: " << e.what() << "\n";
    return 1;
  }
}
