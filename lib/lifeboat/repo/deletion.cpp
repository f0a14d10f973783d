#include "lifeboat/repo/deletion.hpp"

#include <algorithm>

#include "lifeboat/repo/detail/cbor.hpp"
#include "lifeboat/repo/index.hpp"

namespace lifeboat::repo {
using namespace detail;

Bytes tombstone_message(ByteView body) {
  Bytes msg = to_bytes("lifeboat-v1 tombstone");
  append(msg, body);
  return msg;
}

Bytes encode_tombstone(const Tombstone& t, const crypto::Key32& signing_private) {
  std::vector<Id32> ids = t.snapshots;
  std::sort(ids.begin(), ids.end());
  Json list = Json::array();
  for (auto& id : ids) list.push_back(bin(id.view()));
  Bytes body = to_cbor(Json{{"v", 1},
                            {"time", t.time_ns},
                            {"host", t.host},
                            {"user", t.user},
                            {"snapshots", list},
                            {"signer", bin(t.signer.view())}});
  auto sig = crypto::ed25519_sign(signing_private, tombstone_message(body));
  return to_cbor(Json{{"body", bin(body)}, {"sig", bin(sig)}});
}

SignedTombstone decode_tombstone(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json outer = from_cbor(data, what);
    SignedTombstone out;
    out.body = get_bin(outer, "body", what);
    out.signature = get_bin(outer, "sig", what);
    Json j = from_cbor(out.body, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    Tombstone& t = out.tombstone;
    t.time_ns = get_int(j, "time", what);
    t.host = get_str(j, "host", what);
    t.user = get_str(j, "user", what);
    const Json& list = field(j, "snapshots", what);
    if (!list.is_array()) throw IntegrityError("malformed {}: snapshots is not a list", what);
    for (const Json& v : list) {
      Bytes b = as_bin(v, "snapshots", what);
      if (b.size() != 32) throw IntegrityError("malformed {}: a snapshot id is not 32 bytes", what);
      t.snapshots.push_back(id_from(b));
    }
    t.signer = get_id(j, "signer", what);
    return out;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

Bytes condemnation_message(ByteView body) {
  Bytes msg = to_bytes("lifeboat-v1 condemned");
  append(msg, body);
  return msg;
}

Bytes encode_condemnation(const Condemnation& c, const crypto::Key32& signing_private) {
  Bytes body = to_cbor(Json{{"v", 1},
                            {"time", c.time_ns},
                            {"host", c.host},
                            {"signer", bin(c.signer.view())},
                            {"index", bin(encode_index(c.packs))}});
  auto sig = crypto::ed25519_sign(signing_private, condemnation_message(body));
  return to_cbor(Json{{"body", bin(body)}, {"sig", bin(sig)}});
}

SignedCondemnation decode_condemnation(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json outer = from_cbor(data, what);
    SignedCondemnation out;
    out.body = get_bin(outer, "body", what);
    out.signature = get_bin(outer, "sig", what);
    Json j = from_cbor(out.body, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    Condemnation& c = out.condemnation;
    c.time_ns = get_int(j, "time", what);
    c.host = get_str(j, "host", what);
    c.signer = get_id(j, "signer", what);
    c.packs = decode_index(get_bin(j, "index", what), what_s);
    return out;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

}  // namespace lifeboat::repo
