// PostgreSQL write-ahead log files as archive_command hands them to us: which names are WAL
// files, and what the first page of a segment says about its cluster. Free functions;
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::source::postgres {

enum class WalFile {
  segment,  // 000000010000000000000003
  history,  // 00000002.history
  backup,   // 000000010000000000000003.00000028.backup
  partial,  // 000000010000000000000003.partial
};

// A postgres-wal snapshot records each file it holds (at /pg_wal/NAME) as the meta entry
// "postgres.wal.file.NAME" = the SHA-256 of its content, in hex.
inline const std::string k_wal_meta_prefix = "postgres.wal.file.";

// The kind of WAL file `name` is; nullopt when it is none (names are upper-case hex).
std::optional<WalFile> wal_file_kind(const std::string& name);

// Where a WAL file sits: the timeline and the log and segment numbers of its name's first 24
// digits. Segments, .partial and .backup files have one; history files do not.
struct WalPosition {
  uint32_t timeline = 0;
  uint32_t log = 0;
  uint32_t seg = 0;
  // Along the WAL (log, then segment), for any segment size; the timeline is not compared.
  bool operator<(const WalPosition& o) const { return log != o.log ? log < o.log : seg < o.seg; }
};
std::optional<WalPosition> wal_position(const std::string& name);
// The segment after p, for segments of `segment_size` bytes.
WalPosition next_segment(WalPosition p, uint32_t segment_size);
std::string segment_name(const WalPosition& p);
inline constexpr uint32_t k_default_segment_size = 16u << 20;

// From a segment's first page (its long header).
struct SegmentHeader {
  uint32_t timeline = 0;
  uint64_t page_address = 0;
  uint64_t system_id = 0;
  uint32_t segment_size = 0;
};

// Reads the long page header at the start of a segment; throws Error(failure) naming the file
// when `data` (the whole file) is not a WAL segment of the size it declares, or its timeline
// or position disagrees with its name.
SegmentHeader parse_segment_header(ByteView data, const std::string& name);

}  // namespace lifeboat::source::postgres
