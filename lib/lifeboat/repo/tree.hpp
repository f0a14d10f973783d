// Trees: the listing of one directory, stored as a tree blob (CBOR, docs/format/tree.md).
// Names are raw bytes (any encoding); decode() checks types but not name safety — the
// restorer validates names. Value types; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::repo {

enum class NodeType { file, dir, symlink, fifo, chardev, blockdev, socket };
const char* node_type_name(NodeType t);

// One piece of a file's content: a chunk, or a hole (a run of zero bytes not stored).
struct ContentItem {
  Id32 chunk;
  uint64_t hole = 0;  // > 0: a hole of this many bytes; chunk unused
};

struct Node {
  std::string name;  // raw bytes
  NodeType type = NodeType::file;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (no file type bits)
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string user;
  std::string group;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  std::vector<ContentItem> content;  // files
  std::optional<Id32> subtree;       // directories
  std::string target;                // symlinks (raw bytes)
  uint64_t rdev = 0;                 // devices
  uint64_t inode = 0;                // hard-link identity when links > 1
  uint32_t links = 1;
  std::vector<std::pair<std::string, Bytes>> xattrs;
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name, bytewise
};

Bytes encode_tree(const Tree& tree);
// Throws IntegrityError when the data is not a well-formed tree.
Tree decode_tree(ByteView data, const std::string& what);

}  // namespace lifeboat::repo
