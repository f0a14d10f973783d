// Trees: the listing of one directory, stored as a tree blob (CBOR, docs/format/tree.md).
// Names are raw bytes (any encoding); decode() checks types but not name safety — the
// restorer validates names. Value types; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
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
  // A long listing is stored in parts (docs/format/trees.md "Long directories"): the tree
  // blob a directory names then holds only the ids of its parts, each a tree of nodes.
  // decode_tree() of such a blob fills parts and no nodes; join_parts() reads the parts.
  std::vector<Id32> parts;
};

// Encodes nodes, or, when parts is not empty, the list of parts (nodes must then be empty).
Bytes encode_tree(const Tree& tree);
// Throws IntegrityError when the data is not a well-formed tree.
Tree decode_tree(ByteView data, const std::string& what);

// Listings longer than this are stored in parts; a part holds at most this many nodes.
inline constexpr size_t k_tree_part_max = 16384;
// Whether a part of a long listing ends after the node `name`, the part then holding `count`
// nodes: content-defined (a hash of the name), so that adding or removing an entry changes
// one part, not every part after it.
bool tree_part_ends(std::string_view name, size_t count);
// Saves a listing through `save` (encoded tree in, blob id out): in parts when it is long.
Id32 save_tree_parts(Tree& tree, const std::function<Id32(Bytes)>& save);
// Appends the nodes of every part of `head` (read through read_part) to head.nodes, keeping
// head.parts. A part that is itself split is malformed (IntegrityError).
void join_parts(Tree& head, const std::function<Tree(const Id32&)>& read_part,
                const std::string& what);
// Calls visit with the listing a part at a time, in order: head itself when it is not split,
// else each part (checked as join_parts does), so that a long listing is never whole in memory.
void visit_parts(Tree& head, const std::function<Tree(const Id32&)>& read_part,
                 const std::string& what, const std::function<void(Tree&)>& visit);

}  // namespace lifeboat::repo
