#include "lifeboat/repo/snapshot.hpp"

#include "lifeboat/repo/detail/cbor.hpp"

namespace lifeboat::repo {
using namespace detail;

Bytes encode_snapshot_body(const Snapshot& s) {
  Json summary = Json::object();
  for (auto& [k, v] : s.summary) summary[k] = v;
  Json j{{"v", 1},
         {"time", s.time_ns},
         {"host", s.host},
         {"job", s.job},
         {"kind", s.kind},
         {"paths", s.paths},
         {"tags", s.tags},
         {"tree", bin(s.tree.view())},
         {"program", s.program},
         {"summary", summary},
         {"signer", bin(s.signer.view())}};
  if (!s.meta.empty()) j["meta"] = s.meta;
  return to_cbor(j);
}

namespace {
std::vector<std::string> get_strings(const Json& j, const char* name, const char* what) {
  const Json& v = field(j, name, what);
  if (!v.is_array()) throw IntegrityError("malformed {}: {} is not a list", what, name);
  std::vector<std::string> out;
  for (auto& s : v) {
    if (!s.is_string()) throw IntegrityError("malformed {}: {} holds a non-string", what, name);
    out.push_back(s.get<std::string>());
  }
  return out;
}
}  // namespace

Snapshot decode_snapshot_body(ByteView body, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json j = from_cbor(body, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    Snapshot s;
    s.time_ns = get_int(j, "time", what);
    s.host = get_str(j, "host", what);
    s.job = get_str(j, "job", what);
    s.kind = get_str(j, "kind", what);
    s.paths = get_strings(j, "paths", what);
    s.tags = get_strings(j, "tags", what);
    s.tree = get_id(j, "tree", what);
    s.program = get_str(j, "program", what);
    const Json& summary = field(j, "summary", what);
    if (!summary.is_object()) throw IntegrityError("malformed {}: summary is not a map", what);
    for (auto& [k, v] : summary.items()) {
      if (!v.is_number_unsigned()) throw IntegrityError("malformed {}: summary value", what);
      s.summary[k] = v.get<uint64_t>();
    }
    s.signer = get_id(j, "signer", what);
    if (j.contains("meta")) {
      const Json& meta = j["meta"];
      if (!meta.is_object()) throw IntegrityError("malformed {}: meta is not a map", what);
      for (auto& [k, v] : meta.items()) {
        if (!v.is_string()) throw IntegrityError("malformed {}: meta value", what);
        s.meta[k] = v.get<std::string>();
      }
    }
    return s;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

Bytes encode_signed(const Snapshot& s, const crypto::Key32& signing_private) {
  return encode_signed_body("lifeboat-v1 snapshot", encode_snapshot_body(s), signing_private);
}

SignedSnapshot decode_signed(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    auto [body, signature] = decode_signed_body(data, what);
    SignedSnapshot out;
    out.body = std::move(body);
    out.signature = std::move(signature);
    out.snapshot = decode_snapshot_body(out.body, what_s);
    return out;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

}  // namespace lifeboat::repo
