#include "lifeboat/chunk/fastcdc.hpp"

#include <bit>
#include <cstring>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/crypto.hpp"

namespace lifeboat::chunk {

void validate(const Params& p) {
  if (p.min_size < 64 || !std::has_single_bit(p.avg_size) || !(p.min_size < p.avg_size) ||
      !(p.avg_size < p.max_size) || p.max_size > (64u << 20))
    throw UsageError(
        "invalid chunker parameters min={} avg={} max={} (need 64 <= min < avg < max <= 64 MiB, "
        "avg a power of two)",
        p.min_size, p.avg_size, p.max_size);
}

GearTable make_gear(ByteView seed) {
  Bytes raw = crypto::hkdf_sha256(seed, {}, as_bytes("lifeboat-v1 gear"), 256 * 8);
  GearTable gear;
  for (size_t i = 0; i < 256; ++i) {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v = (v << 8) | static_cast<uint64_t>(raw[i * 8 + b]);
    gear[i] = v;
  }
  return gear;
}

namespace {
// Masks over the top bits of the rolling hash: with a left-shifting gear hash, bit k depends
// on the last k+1 bytes, so the top bits see the widest window.
uint64_t top_mask(unsigned bits) { return bits == 0 ? 0 : ~uint64_t{0} << (64 - bits); }
}  // namespace

size_t find_cut(const GearTable& gear, const Params& p, ByteView data) {
  size_t n = data.size();
  if (n <= p.min_size) return n;
  if (n > p.max_size) n = p.max_size;
  size_t normal = std::min<size_t>(p.avg_size, n);
  unsigned bits = static_cast<unsigned>(std::countr_zero(p.avg_size));
  uint64_t mask_s = top_mask(bits + 2), mask_l = top_mask(bits - 2);
  auto* d = reinterpret_cast<const uint8_t*>(data.data());
  uint64_t h = 0;
  size_t i = p.min_size;
  for (; i < normal; ++i) {
    h = (h << 1) + gear[d[i]];
    if ((h & mask_s) == 0) return i + 1;
  }
  for (; i < n; ++i) {
    h = (h << 1) + gear[d[i]];
    if ((h & mask_l) == 0) return i + 1;
  }
  return n;
}

Chunker::Chunker(const GearTable& gear, const Params& params, ReadFn read)
    : m_gear(gear), m_params(params), m_read(std::move(read)) {}

void Chunker::reset(ReadFn read) {
  m_read = std::move(read);
  m_begin = m_end = 0;
  m_eof = false;
}

ByteView Chunker::next() {
  size_t avail = m_end - m_begin;
  if (avail < m_params.max_size && !m_eof) {
    // The buffer holds two maximal chunks. What is left is moved to the front only when less
    // than a maximal chunk fits behind it, so each byte is moved at most once (moving it after
    // every chunk cost ~7 copies of the input; three maximal chunks, half a copy, held 8 MiB
    // more per chunker for large files).
    const size_t max = m_params.max_size;
    if (!m_buf) {
      // Not zeroed: only the pages data is read into become resident (most files are small).
      m_size = 2 * static_cast<size_t>(max);
      m_buf.reset(new std::byte[m_size]);
    }
    if (m_size - m_begin < max) {
      std::memmove(m_buf.get(), m_buf.get() + m_begin, avail);
      m_begin = 0;
      m_end = avail;
    }
    while (m_end < m_size && !m_eof) {
      size_t got = m_read(m_buf.get() + m_end, m_size - m_end);
      if (got == 0) m_eof = true;
      m_end += got;
    }
    avail = m_end - m_begin;
  }
  if (avail == 0) return {};
  ByteView window(m_buf.get() + m_begin, avail);
  size_t cut = find_cut(m_gear, m_params, window);
  ByteView chunk(m_buf.get() + m_begin, cut);
  m_begin += cut;
  return chunk;
}

}  // namespace lifeboat::chunk
