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

namespace {
// The cut point in data (at most max_size bytes), or 0 when there is none in it: then a longer
// window may still have one. A cut found is the same whatever follows it (the mask at each
// position depends on the position alone), so a window that holds one need not be longer.
size_t scan_cut(const GearTable& gear, const Params& p, ByteView data) {
  size_t n = data.size();
  if (n <= p.min_size) return 0;
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
  return 0;
}
}  // namespace

size_t find_cut(const GearTable& gear, const Params& p, ByteView data) {
  size_t n = data.size();
  if (n <= p.min_size) return n;
  if (n > p.max_size) n = p.max_size;
  size_t cut = scan_cut(gear, p, data.first(n));
  return cut ? cut : n;
}

Chunker::Chunker(const GearTable& gear, const Params& params, ReadFn read)
    : m_gear(gear), m_params(params), m_read(std::move(read)) {}

void Chunker::reset(ReadFn read) {
  m_read = std::move(read);
  m_begin = m_end = 0;
  m_eof = false;
}

ByteView Chunker::next() {
  // Data is read as far as the next cut needs: two average chunks past the start (reads take
  // what fits, so usually more), and up to a maximal chunk only when no cut lies in those.
  // The buffer holds a maximal chunk and an average one; what is left is moved to the front
  // when the data needed would not fit behind it (usually under two average chunks, once per
  // several chunks). Two maximal chunks, moved less, held 7 MiB more per chunker.
  const size_t max = m_params.max_size;
  size_t want = std::min<size_t>(2 * size_t{m_params.avg_size}, max);
  for (;;) {
    size_t avail = m_end - m_begin;
    ByteView window(m_buf.get() + m_begin, avail);
    if (m_eof || avail >= max) {
      if (avail == 0) return {};
      return take(find_cut(m_gear, m_params, window));
    }
    if (avail >= want) {
      if (size_t cut = scan_cut(m_gear, m_params, window)) return take(cut);
      want = max;  // no cut in two average chunks (rare): read up to a maximal one
    }
    fill(want);
  }
}

ByteView Chunker::take(size_t cut) {
  ByteView chunk(m_buf.get() + m_begin, cut);
  m_begin += cut;
  return chunk;
}

void Chunker::fill(size_t want) {
  if (!m_buf) {
    // Not zeroed: only the (huge) pages data is read into become resident (most files are
    // small).
    m_size = size_t{m_params.max_size} + m_params.avg_size;
    m_buf = HugeBuffer(m_size);
  }
  size_t avail = m_end - m_begin;
  if (m_size - m_begin < want) {
    std::memmove(m_buf.get(), m_buf.get() + m_begin, avail);
    m_begin = 0;
    m_end = avail;
  }
  while (m_end - m_begin < want && !m_eof) {
    size_t got = m_read(m_buf.get() + m_end, m_size - m_end);
    if (got == 0) m_eof = true;
    m_end += got;
  }
}

}  // namespace lifeboat::chunk
