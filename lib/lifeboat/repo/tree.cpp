#include "lifeboat/repo/tree.hpp"

#include <xxhash.h>

#include <algorithm>

#include "lifeboat/repo/detail/cbor.hpp"

namespace lifeboat::repo {
using namespace detail;

const char* node_type_name(NodeType t) {
  switch (t) {
    case NodeType::file:
      return "file";
    case NodeType::dir:
      return "dir";
    case NodeType::symlink:
      return "symlink";
    case NodeType::fifo:
      return "fifo";
    case NodeType::chardev:
      return "chardev";
    case NodeType::blockdev:
      return "blockdev";
    case NodeType::socket:
      return "socket";
  }
  return "unknown";
}

namespace {
NodeType parse_type(const std::string& s, const char* what) {
  for (auto t : {NodeType::file, NodeType::dir, NodeType::symlink, NodeType::fifo,
                 NodeType::chardev, NodeType::blockdev, NodeType::socket})
    if (s == node_type_name(t)) return t;
  throw IntegrityError("malformed {}: unknown node type '{}'", what, s);
}
}  // namespace

// Written directly (not through a Json: a large backup encodes every directory); the bytes are
// those of Json::to_cbor of {"v": 1, "nodes": [{...}]}, keys in bytewise order, so that tree ids
// stay the same (tests/unit/repo/decode_test.cpp compares the two on random trees).
Bytes encode_tree(const Tree& tree) {
  Bytes out;
  out.reserve(64 + tree.nodes.size() * 160 + tree.parts.size() * 34);
  CborWriter w(out);
  w.map(2);
  if (!tree.parts.empty()) {
    if (!tree.nodes.empty()) throw Error(Exit::failure, "internal: a tree with nodes and parts");
    w.text("parts");
    w.array(tree.parts.size());
    for (auto& id : tree.parts) w.bytes(id.view());
    w.text("v");
    w.uint(1);
    return out;
  }
  w.text("nodes");
  w.array(tree.nodes.size());
  for (auto& n : tree.nodes) {
    bool file = n.type == NodeType::file,
         device = n.type == NodeType::chardev || n.type == NodeType::blockdev;
    bool symlink = n.type == NodeType::symlink, links = n.links > 1;
    w.map(6 + !n.user.empty() + !n.group.empty() + 2 * file + n.subtree.has_value() + symlink +
          device + 2 * links + !n.xattrs.empty());
    if (file) {
      w.text("content");
      w.array(n.content.size());
      for (auto& item : n.content) {
        if (item.hole)
          w.uint(item.hole);
        else
          w.bytes(item.chunk.view());
      }
    }
    w.text("gid");
    w.uint(n.gid);
    if (!n.group.empty()) {
      w.text("group");
      w.text(n.group);
    }
    if (links) {
      w.text("inode");
      w.uint(n.inode);
      w.text("links");
      w.uint(n.links);
    }
    w.text("mode");
    w.uint(n.mode);
    w.text("mtime");
    w.sint(n.mtime_ns);
    w.text("name");
    w.bytes(as_bytes(n.name));
    if (device) {
      w.text("rdev");
      w.uint(n.rdev);
    }
    if (file) {
      w.text("size");
      w.uint(n.size);
    }
    if (n.subtree) {
      w.text("subtree");
      w.bytes(n.subtree->view());
    }
    if (symlink) {
      w.text("target");
      w.bytes(as_bytes(n.target));
    }
    w.text("type");
    w.text(node_type_name(n.type));
    w.text("uid");
    w.uint(n.uid);
    if (!n.user.empty()) {
      w.text("user");
      w.text(n.user);
    }
    if (!n.xattrs.empty()) {
      w.text("xattrs");
      w.array(n.xattrs.size());
      for (auto& [k, v] : n.xattrs) {
        w.array(2);
        w.bytes(as_bytes(k));
        w.bytes(v);
      }
    }
  }
  w.text("v");
  w.uint(1);
  return out;
}

Tree decode_tree(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json j = from_cbor(data, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    Tree t;
    if (j.contains("parts")) {
      const Json& parts = field(j, "parts", what);
      if (j.contains("nodes") || !parts.is_array() || parts.empty())
        throw IntegrityError("malformed {}: parts is not a list of parts", what);
      t.parts.reserve(parts.size());
      for (const Json& p : parts) {
        Bytes id = as_bin(p, "parts", what);
        if (id.size() != 32) throw IntegrityError("malformed {}: a part id is not 32 bytes", what);
        t.parts.push_back(id_from(id));
      }
      // Each part once: a listing is then never longer than the tree data actually stored
      // (a hostile head naming one part a million times would multiply it).
      std::vector<Id32> sorted = t.parts;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
        throw IntegrityError("malformed {}: a part is named twice", what);
      return t;
    }
    const Json& nodes = field(j, "nodes", what);
    if (!nodes.is_array()) throw IntegrityError("malformed {}: nodes is not a list", what);
    t.nodes.reserve(nodes.size());
    for (const Json& jn : nodes) {
      Node n;
      Bytes name = get_bin(jn, "name", what);
      n.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
      n.type = parse_type(get_str(jn, "type", what), what);
      n.mode = static_cast<uint32_t>(get_uint(jn, "mode", what) & 07777);
      n.uid = static_cast<uint32_t>(get_uint(jn, "uid", what));
      n.gid = static_cast<uint32_t>(get_uint(jn, "gid", what));
      n.mtime_ns = get_int(jn, "mtime", what);
      if (jn.contains("user")) n.user = get_str(jn, "user", what);
      if (jn.contains("group")) n.group = get_str(jn, "group", what);
      if (n.type == NodeType::file) {
        n.size = get_uint(jn, "size", what);
        const Json& c = field(jn, "content", what);
        if (!c.is_array()) throw IntegrityError("malformed {}: content is not a list", what);
        n.content.reserve(c.size());
        for (const Json& item : c) {
          ContentItem ci;
          if (item.is_number_unsigned()) {
            ci.hole = item.get<uint64_t>();
            if (ci.hole == 0) throw IntegrityError("malformed {}: empty hole", what);
          } else {
            ci.chunk = id_from(as_bin(item, "content", what));
          }
          n.content.push_back(ci);
        }
      }
      if (jn.contains("subtree")) n.subtree = get_id(jn, "subtree", what);
      if (n.type == NodeType::dir && !n.subtree)
        throw IntegrityError("malformed {}: directory without subtree", what);
      if (n.type == NodeType::symlink) {
        Bytes target = get_bin(jn, "target", what);
        n.target.assign(reinterpret_cast<const char*>(target.data()), target.size());
      }
      if (jn.contains("rdev")) n.rdev = get_uint(jn, "rdev", what);
      if (jn.contains("links")) {
        n.links = static_cast<uint32_t>(get_uint(jn, "links", what));
        n.inode = get_uint(jn, "inode", what);
      }
      if (jn.contains("xattrs")) {
        const Json& x = field(jn, "xattrs", what);
        if (!x.is_array()) throw IntegrityError("malformed {}: xattrs is not a list", what);
        for (const Json& pair : x) {
          if (!pair.is_array() || pair.size() != 2)
            throw IntegrityError("malformed {}: bad xattr entry", what);
          Bytes k = as_bin(pair[0], "xattr name", what);
          n.xattrs.emplace_back(std::string(reinterpret_cast<const char*>(k.data()), k.size()),
                                as_bin(pair[1], "xattr value", what));
        }
      }
      t.nodes.push_back(std::move(n));
    }
    return t;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

bool tree_part_ends(std::string_view name, size_t count) {
  constexpr size_t k_min = 1024;
  constexpr uint64_t k_mask = 4095;  // about one name in 4096 ends a part
  return count >= k_tree_part_max ||
         (count >= k_min && (XXH3_64bits(name.data(), name.size()) & k_mask) == 0);
}

Id32 save_tree_parts(Tree& tree, const std::function<Id32(Bytes)>& save) {
  if (tree.nodes.size() <= k_tree_part_max) return save(encode_tree(tree));
  Tree head, part;
  for (auto& node : tree.nodes) {
    part.nodes.push_back(std::move(node));
    if (tree_part_ends(part.nodes.back().name, part.nodes.size())) {
      head.parts.push_back(save(encode_tree(part)));
      part.nodes.clear();
    }
  }
  if (!part.nodes.empty()) head.parts.push_back(save(encode_tree(part)));
  tree.nodes.clear();
  return save(encode_tree(head));
}

void visit_parts(Tree& head, const std::function<Tree(const Id32&)>& read_part,
                 const std::string& what, const std::function<void(Tree&)>& visit) {
  if (head.parts.empty()) return visit(head);
  for (const Id32& id : head.parts) {
    Tree part = read_part(id);
    if (!part.parts.empty())
      throw IntegrityError("malformed {}: its part {} is split again", what,
                           id.hex().substr(0, 16));
    visit(part);
  }
}

void join_parts(Tree& head, const std::function<Tree(const Id32&)>& read_part,
                const std::string& what) {
  if (head.parts.empty()) return;
  visit_parts(head, read_part, what, [&](Tree& part) {
    if (head.nodes.empty()) {
      head.nodes = std::move(part.nodes);
      return;
    }
    head.nodes.insert(head.nodes.end(), std::make_move_iterator(part.nodes.begin()),
                      std::make_move_iterator(part.nodes.end()));
  });
}

}  // namespace lifeboat::repo
