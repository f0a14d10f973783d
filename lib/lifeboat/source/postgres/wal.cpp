#include "lifeboat/source/postgres/wal.hpp"

#include <cstring>

#include "lifeboat/core/error.hpp"

namespace lifeboat::source::postgres {

namespace {

bool hex_upper(const std::string& s, size_t from, size_t count) {
  if (from + count > s.size()) return false;
  for (size_t i = from; i < from + count; ++i)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F'))) return false;
  return true;
}

template <typename T>
T le(ByteView data, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<uint8_t>(data[at + i])) << (8 * i);
  return v;
}

}  // namespace

std::optional<WalFile> wal_file_kind(const std::string& name) {
  if (name.size() == 24 && hex_upper(name, 0, 24)) return WalFile::segment;
  if (name.size() == 16 && hex_upper(name, 0, 8) && name.compare(8, 8, ".history") == 0)
    return WalFile::history;
  if (name.size() == 32 && hex_upper(name, 0, 24) && name.compare(24, 8, ".partial") == 0)
    return WalFile::partial;
  if (name.size() == 40 && hex_upper(name, 0, 24) && name[24] == '.' && hex_upper(name, 25, 8) &&
      name.compare(33, 7, ".backup") == 0)
    return WalFile::backup;
  return std::nullopt;
}

std::optional<WalPosition> wal_position(const std::string& name) {
  auto kind = wal_file_kind(name);
  if (!kind || *kind == WalFile::history) return std::nullopt;
  WalPosition p;
  p.timeline = static_cast<uint32_t>(std::stoul(name.substr(0, 8), nullptr, 16));
  p.log = static_cast<uint32_t>(std::stoul(name.substr(8, 8), nullptr, 16));
  p.seg = static_cast<uint32_t>(std::stoul(name.substr(16, 8), nullptr, 16));
  return p;
}

WalPosition next_segment(WalPosition p, uint32_t segment_size) {
  uint64_t per_log = 0x100000000ull / segment_size;
  if (++p.seg >= per_log) p.seg = 0, ++p.log;
  return p;
}

std::string segment_name(const WalPosition& p) {
  return fmt::format("{:08X}{:08X}{:08X}", p.timeline, p.log, p.seg);
}

SegmentHeader parse_segment_header(ByteView data, const std::string& name) {
  // XLogLongPageHeaderData: xlp_magic u16, xlp_info u16, xlp_tli u32, xlp_pageaddr u64,
  // xlp_rem_len u32 (+4 padding), xlp_sysid u64, xlp_seg_size u32, xlp_xlog_blcksz u32.
  constexpr uint16_t k_long_header = 0x0002;
  if (data.size() < 40)
    throw Error(Exit::failure, "'{}' is not a WAL segment: only {} bytes", name, data.size());
  SegmentHeader h;
  uint16_t info = le<uint16_t>(data, 2);
  h.timeline = le<uint32_t>(data, 4);
  h.page_address = le<uint64_t>(data, 8);
  h.system_id = le<uint64_t>(data, 24);
  h.segment_size = le<uint32_t>(data, 32);
  uint32_t block_size = le<uint32_t>(data, 36);
  if (!(info & k_long_header) || block_size == 0 || block_size > 65536 || h.segment_size == 0 ||
      (h.segment_size & (h.segment_size - 1)) != 0)
    throw Error(Exit::failure, "'{}' is not a WAL segment: its first page has no valid header",
                name);
  if (data.size() != h.segment_size)
    throw Error(Exit::failure,
                "'{}' holds {} bytes but its header declares segments of {} bytes: it is "
                "truncated or not a WAL segment",
                name, data.size(), h.segment_size);
  if (auto p = wal_position(name)) {
    uint64_t per_log = 0x100000000ull / h.segment_size;
    uint64_t address = (uint64_t{p->log} * per_log + p->seg) * h.segment_size;
    if (p->timeline != h.timeline || address != h.page_address)
      throw Error(Exit::failure,
                  "'{}' does not hold the segment its name says (its header: timeline {}, "
                  "position {:X}/{:X})",
                  name, h.timeline, h.page_address >> 32, h.page_address & 0xffffffffu);
  }
  return h;
}

}  // namespace lifeboat::source::postgres
