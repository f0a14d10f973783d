// Byte buffers, fixed-size ids and hex/little-endian helpers used across the library.
// Pure functions and value types; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat {

using Bytes = std::vector<std::byte>;
using ByteView = std::span<const std::byte>;

// A 32-byte identifier: blob ids (HMAC-SHA256), object ids (SHA-256), keys.
struct Id32 {
  std::array<std::byte, 32> bytes{};
  auto operator<=>(const Id32&) const = default;
  ByteView view() const { return bytes; }
  std::string hex() const;
  bool is_zero() const;
};

std::string to_hex(ByteView data);
// "512 B", "3.2 MiB", "1.5 GiB": sizes for people.
std::string human_bytes(uint64_t bytes);
// Parses lowercase or uppercase hex; throws UsageError on bad input.
Bytes from_hex(std::string_view hex);
// Parses exactly 64 hex digits; false on anything else.
bool parse_id(std::string_view hex, Id32& out);
Id32 id_from(ByteView data);  // requires data.size() == 32

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) {
  auto v = as_bytes(s);
  return {v.begin(), v.end()};
}
inline void append(Bytes& out, ByteView data) { out.insert(out.end(), data.begin(), data.end()); }

void put_u32le(Bytes& out, uint32_t v);
void put_u64be(std::byte* out, uint64_t v);
uint32_t get_u32le(const std::byte* p);

struct Id32Hash {
  size_t operator()(const Id32& id) const {
    size_t h;
    static_assert(sizeof(h) <= 32);
    __builtin_memcpy(&h, id.bytes.data(), sizeof(h));
    return h;
  }
};

}  // namespace lifeboat
