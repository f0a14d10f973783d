// Content-defined chunking: FastCDC with normalised chunking (level 2) and a gear table
// derived from a repository secret, so that chunk boundaries do not fingerprint content.
// A Chunker is not thread-safe; use one per stream.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include "lifeboat/util/bytes.hpp"
#include "lifeboat/util/huge_buffer.hpp"

namespace lifeboat::chunk {

struct Params {
  uint32_t min_size = 512 * 1024;
  uint32_t avg_size = 1024 * 1024;  // power of two
  uint32_t max_size = 8 * 1024 * 1024;
};

// Throws UsageError when min < 64, avg not a power of two, or not min < avg < max.
void validate(const Params& params);

using GearTable = std::array<uint64_t, 256>;
// Derives the gear table from the 32-byte chunker seed (HKDF-SHA256, info "lifeboat-v1 gear").
GearTable make_gear(ByteView seed);

// Returns the length of the next chunk at the start of data (the cut point); data.size() when
// the data ends before a cut point is found (only valid at end of stream or at max_size).
size_t find_cut(const GearTable& gear, const Params& params, ByteView data);

// Reads a stream and yields chunks. read(buf, n) returns bytes read, 0 at end of stream.
class Chunker {
 public:
  using ReadFn = std::function<size_t(std::byte*, size_t)>;
  Chunker(const GearTable& gear, const Params& params, ReadFn read);
  // Next chunk, valid until the next call; empty at end of stream.
  ByteView next();
  // Starts a new stream, keeping the buffer (saves an allocation per file).
  void reset(ReadFn read);

 private:
  const GearTable& m_gear;
  Params m_params;
  ReadFn m_read;
  ByteView take(size_t cut);
  // Reads until want bytes are held past m_begin, or the stream ends.
  void fill(size_t want);
  HugeBuffer m_buf;  // a maximal chunk and an average one, on first use
  size_t m_size = 0;
  size_t m_begin = 0;
  size_t m_end = 0;
  bool m_eof = false;
};

}  // namespace lifeboat::chunk
