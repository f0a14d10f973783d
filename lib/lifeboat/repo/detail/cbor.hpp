// Private to lifeboat::repo: CBOR encoding helpers over nlohmann::json. Only the repo
// module's .cpp files include this; nothing outside repo/ sees nlohmann.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/util/bytes.hpp"

namespace lifeboat::repo::detail {

using Json = nlohmann::json;

inline Json bin(ByteView b) {
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return Json::binary(std::vector<std::uint8_t>(p, p + b.size()));
}
inline Bytes to_cbor(const Json& j) {
  auto v = Json::to_cbor(j);
  auto* p = reinterpret_cast<const std::byte*>(v.data());
  return Bytes(p, p + v.size());
}
// Writes CBOR items directly, with the shortest heads and integers, exactly as Json::to_cbor
// writes the same values: for hot paths (trees) where building a Json costs more than encoding.
// Map keys must be written in the order Json keeps them (bytewise sorted).
class CborWriter {
 public:
  explicit CborWriter(Bytes& out) : m_out(out) {}
  void uint(uint64_t v) { head(0, v); }
  void sint(int64_t v) {
    if (v >= 0)
      head(0, static_cast<uint64_t>(v));
    else
      head(1, static_cast<uint64_t>(-1 - v));
  }
  void bytes(ByteView b) {
    head(2, b.size());
    append(m_out, b);
  }
  void text(std::string_view s) {
    head(3, s.size());
    append(m_out, as_bytes(s));
  }
  void array(size_t n) { head(4, n); }
  void map(size_t n) { head(5, n); }

 private:
  void head(unsigned major, uint64_t v) {
    auto put = [&](uint8_t b) { m_out.push_back(std::byte{b}); };
    uint8_t m = static_cast<uint8_t>(major << 5);
    if (v <= 23) return put(static_cast<uint8_t>(m | v));
    int width = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;
    put(static_cast<uint8_t>(m | (width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27)));
    for (int i = width - 1; i >= 0; --i) put(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes& m_out;
};

// Walks the CBOR item structure without recursion and rejects what our formats never hold:
// nesting deeper than max_depth (a hostile object could otherwise exhaust the stack of the
// recursive parser), indefinite lengths, truncation and trailing bytes.
inline void check_shape(ByteView b, const char* what, size_t max_depth = 16) {
  std::vector<uint64_t> open{1};  // items still expected at each nesting level
  size_t pos = 0;
  auto bad = [&](const char* why) { return IntegrityError("malformed {}: {}", what, why); };
  while (!open.empty()) {
    if (open.back() == 0) {
      open.pop_back();
      continue;
    }
    --open.back();
    if (pos >= b.size()) throw bad("truncated");
    auto ib = static_cast<uint8_t>(b[pos++]);
    unsigned major = ib >> 5, ai = ib & 31;
    uint64_t val = ai;
    if (ai >= 24 && ai <= 27) {
      size_t n = size_t{1} << (ai - 24);
      if (b.size() - pos < n) throw bad("truncated");
      val = 0;
      for (size_t i = 0; i < n; ++i) val = (val << 8) | static_cast<uint8_t>(b[pos++]);
    } else if (ai > 27) {
      throw bad("indefinite or reserved CBOR length");
    }
    switch (major) {
      case 2:
      case 3:
        if (val > b.size() - pos) throw bad("truncated");
        pos += static_cast<size_t>(val);
        break;
      case 4:
      case 5:
        if (val > b.size() - pos) throw bad("more items than bytes");
        if (open.size() > max_depth) throw bad("nested too deeply");
        open.push_back(major == 5 ? 2 * val : val);
        break;
      case 6:
        if (open.size() > max_depth) throw bad("nested too deeply");
        open.push_back(1);
        break;
      default:
        break;
    }
  }
  if (pos != b.size()) throw bad("trailing bytes");
}

// Reads CBOR items in order without building a Json (index files and pack headers, where a
// Json costs hundreds of bytes per blob). Run check_shape first: the reader then relies on
// well-formed lengths and nesting, but still checks the type of every item it is asked for.
class CborReader {
 public:
  CborReader(ByteView b, const char* what) : m_b(b), m_what(what) {}
  uint64_t uint(const char* name) { return head(0, name, "an unsigned integer"); }
  ByteView bytes(const char* name) { return take(head(2, name, "a byte string")); }
  std::string_view text(const char* name) {
    ByteView t = take(head(3, name, "a text string"));
    return {reinterpret_cast<const char*>(t.data()), t.size()};
  }
  uint64_t array(const char* name) { return head(4, name, "a list"); }
  uint64_t map(const char* name) { return head(5, name, "a map"); }
  // Skips one item of any type, with everything nested in it.
  void skip() {
    for (uint64_t left = 1; left > 0; --left) {
      auto [major, value] = next();
      if (major == 2 || major == 3) take(value);
      if (major == 4) left += value;
      if (major == 5) left += 2 * value;
      if (major == 6) left += 1;
    }
  }

 private:
  std::pair<unsigned, uint64_t> next() {
    if (m_pos >= m_b.size()) throw IntegrityError("malformed {}: truncated", m_what);
    auto ib = static_cast<uint8_t>(m_b[m_pos++]);
    unsigned ai = ib & 31;
    uint64_t value = ai;
    if (ai >= 24 && ai <= 27) {
      size_t n = size_t{1} << (ai - 24);
      if (m_b.size() - m_pos < n) throw IntegrityError("malformed {}: truncated", m_what);
      value = 0;
      for (size_t i = 0; i < n; ++i) value = (value << 8) | static_cast<uint8_t>(m_b[m_pos++]);
    } else if (ai > 27) {
      throw IntegrityError("malformed {}: indefinite or reserved CBOR length", m_what);
    }
    return {static_cast<unsigned>(ib >> 5), value};
  }
  uint64_t head(unsigned major, const char* name, const char* type) {
    auto [m, value] = next();
    if (m != major) throw IntegrityError("malformed {}: field '{}' is not {}", m_what, name, type);
    return value;
  }
  ByteView take(uint64_t n) {
    if (n > m_b.size() - m_pos) throw IntegrityError("malformed {}: truncated", m_what);
    ByteView out = m_b.subspan(m_pos, static_cast<size_t>(n));
    m_pos += static_cast<size_t>(n);
    return out;
  }
  ByteView m_b;
  size_t m_pos = 0;
  const char* m_what;
};

// Parses CBOR; throws IntegrityError naming what on malformed input.
inline Json from_cbor(ByteView b, const char* what) {
  check_shape(b, what);
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  Json j = Json::from_cbor(p, p + b.size(), true, false);
  if (j.is_discarded()) throw IntegrityError("malformed {} (not valid CBOR)", what);
  return j;
}

// Strict typed accessors: throw IntegrityError on a missing field or a wrong type.
inline const Json& field(const Json& j, const char* name, const char* what) {
  if (!j.is_object()) throw IntegrityError("malformed {}: expected a map", what);
  auto it = j.find(name);
  if (it == j.end()) throw IntegrityError("malformed {}: field '{}' missing", what, name);
  return *it;
}
inline uint64_t get_uint(const Json& j, const char* name, const char* what) {
  const Json& v = field(j, name, what);
  if (!v.is_number_unsigned())
    throw IntegrityError("malformed {}: field '{}' is not an unsigned integer", what, name);
  return v.get<uint64_t>();
}
inline int64_t get_int(const Json& j, const char* name, const char* what) {
  const Json& v = field(j, name, what);
  if (!v.is_number_integer())
    throw IntegrityError("malformed {}: field '{}' is not an integer", what, name);
  return v.get<int64_t>();
}
inline std::string get_str(const Json& j, const char* name, const char* what) {
  const Json& v = field(j, name, what);
  if (!v.is_string()) throw IntegrityError("malformed {}: field '{}' is not a string", what, name);
  return v.get<std::string>();
}
inline bool get_bool(const Json& j, const char* name, const char* what) {
  const Json& v = field(j, name, what);
  if (!v.is_boolean())
    throw IntegrityError("malformed {}: field '{}' is not a boolean", what, name);
  return v.get<bool>();
}
inline Bytes as_bin(const Json& v, const char* name, const char* what) {
  if (!v.is_binary())
    throw IntegrityError("malformed {}: field '{}' is not a byte string", what, name);
  const auto& b = v.get_binary();
  auto* p = reinterpret_cast<const std::byte*>(b.data());
  return Bytes(p, p + b.size());
}
inline Bytes get_bin(const Json& j, const char* name, const char* what) {
  return as_bin(field(j, name, what), name, what);
}
inline Id32 get_id(const Json& j, const char* name, const char* what) {
  Bytes b = get_bin(j, name, what);
  if (b.size() != 32) throw IntegrityError("malformed {}: field '{}' is not 32 bytes", what, name);
  return id_from(b);
}
template <size_t N>
std::array<std::byte, N> get_fixed(const Json& j, const char* name, const char* what) {
  Bytes b = get_bin(j, name, what);
  if (b.size() != N)
    throw IntegrityError("malformed {}: field '{}' is not {} bytes", what, name, N);
  std::array<std::byte, N> out;
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

// Signed objects (snapshots, tombstones, condemnation records): the plaintext is
// CBOR {"body": bytes, "sig": bytes}, sig = Ed25519 over context || body.
inline Bytes signed_message(std::string_view context, ByteView body) {
  Bytes msg = to_bytes(context);
  append(msg, body);
  return msg;
}
inline Bytes encode_signed_body(std::string_view context, const Bytes& body,
                                const crypto::Key32& signing_private) {
  auto sig = crypto::ed25519_sign(signing_private, signed_message(context, body));
  return to_cbor(Json{{"body", bin(body)}, {"sig", bin(sig)}});
}
struct SignedBody {
  Bytes body;
  Bytes signature;
};
// Throws Json::exception or IntegrityError; callers map both to IntegrityError.
inline SignedBody decode_signed_body(ByteView data, const char* what) {
  Json outer = from_cbor(data, what);
  return {get_bin(outer, "body", what), get_bin(outer, "sig", what)};
}

}  // namespace lifeboat::repo::detail
