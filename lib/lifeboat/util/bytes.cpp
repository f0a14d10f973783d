#include "lifeboat/util/bytes.hpp"

#include <cstring>

#include <fmt/format.h>

#include "lifeboat/core/error.hpp"

namespace lifeboat {

std::string to_hex(ByteView data) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out(data.size() * 2, '0');
  for (size_t i = 0; i < data.size(); ++i) {
    auto b = static_cast<unsigned>(data[i]);
    out[2 * i] = k_digits[b >> 4];
    out[2 * i + 1] = k_digits[b & 15];
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Bytes from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw UsageError("invalid hex string of odd length {}", hex.size());
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw UsageError("invalid hex digit in '{}'", hex);
    out[i] = std::byte((hi << 4) | lo);
  }
  return out;
}

bool parse_id(std::string_view hex, Id32& out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.bytes[i] = std::byte((hi << 4) | lo);
  }
  return true;
}

Id32 id_from(ByteView data) {
  if (data.size() != 32)
    throw IntegrityError("malformed id of {} bytes (expected 32)", data.size());
  Id32 id;
  std::memcpy(id.bytes.data(), data.data(), 32);
  return id;
}

std::string Id32::hex() const { return to_hex(bytes); }

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

bool Id32::is_zero() const {
  for (auto b : bytes)
    if (b != std::byte{0}) return false;
  return true;
}

void put_u32le(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xff));
}

void put_u64be(std::byte* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = std::byte(v & 0xff);
    v >>= 8;
  }
}

uint32_t get_u32le(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint32_t>(p[i]);
  return v;
}

}  // namespace lifeboat
