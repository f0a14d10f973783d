#include "lifeboat/repo/deletion.hpp"

#include <algorithm>

#include "lifeboat/repo/detail/cbor.hpp"
#include "lifeboat/repo/index.hpp"

namespace lifeboat::repo {
using namespace detail;

namespace {
constexpr const char* k_tombstone_context = "lifeboat-v1 tombstone";
constexpr const char* k_condemned_context = "lifeboat-v1 condemned";
}  // namespace

Bytes tombstone_message(ByteView body) { return signed_message(k_tombstone_context, body); }
Bytes condemnation_message(ByteView body) { return signed_message(k_condemned_context, body); }

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
  return encode_signed_body(k_tombstone_context, body, signing_private);
}

SignedTombstone decode_tombstone(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    auto [body, signature] = decode_signed_body(data, what);
    SignedTombstone out;
    out.body = std::move(body);
    out.signature = std::move(signature);
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

Bytes encode_condemnation(const Condemnation& c, const crypto::Key32& signing_private) {
  Bytes body = to_cbor(Json{{"v", 1},
                            {"time", c.time_ns},
                            {"host", c.host},
                            {"signer", bin(c.signer.view())},
                            {"index", bin(encode_index(c.packs))}});
  return encode_signed_body(k_condemned_context, body, signing_private);
}

SignedCondemnation decode_condemnation(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    auto [body, signature] = decode_signed_body(data, what);
    SignedCondemnation out;
    out.body = std::move(body);
    out.signature = std::move(signature);
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
