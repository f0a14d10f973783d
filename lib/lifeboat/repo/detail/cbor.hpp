// Private to lifeboat::repo: CBOR encoding helpers over nlohmann::json. Only the repo
// module's .cpp files include this; nothing outside repo/ sees nlohmann.
#pragma once

#include <nlohmann/json.hpp>

#include "lifeboat/core/error.hpp"
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
// Parses CBOR; throws IntegrityError naming what on malformed input.
inline Json from_cbor(ByteView b, const char* what) {
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

}  // namespace lifeboat::repo::detail
