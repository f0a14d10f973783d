#include "lifeboat/repo/tree.hpp"

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

Bytes encode_tree(const Tree& tree) {
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
  return to_cbor(Json{{"v", 1}, {"nodes", nodes}});
}

Tree decode_tree(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json j = from_cbor(data, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    const Json& nodes = field(j, "nodes", what);
    if (!nodes.is_array()) throw IntegrityError("malformed {}: nodes is not a list", what);
    Tree t;
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

}  // namespace lifeboat::repo
