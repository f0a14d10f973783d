#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <random>

#include "lifeboat/chunk/fastcdc.hpp"
#include "lifeboat/crypto/crypto.hpp"

using namespace lifeboat;

namespace {
Bytes make_data(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

std::vector<size_t> cuts(const chunk::GearTable& gear, const chunk::Params& p, ByteView data) {
  size_t pos = 0;
  chunk::Chunker c(gear, p, [&](std::byte* buf, size_t n) {
    size_t k = std::min(n, data.size() - pos);
    std::memcpy(buf, data.data() + pos, k);
    pos += k;
    return k;
  });
  std::vector<size_t> sizes;
  for (;;) {
    auto chunk = c.next();
    if (chunk.empty()) break;
    sizes.push_back(chunk.size());
  }
  return sizes;
}

chunk::GearTable gear_for(uint8_t seed) {
  Bytes s(32, std::byte{seed});
  return chunk::make_gear(s);
}
}  // namespace

TEST_CASE("FastCDC is deterministic for a seed and differs for another seed", "[chunk]") {
  chunk::Params p{16 * 1024, 64 * 1024, 256 * 1024};
  auto data = make_data(8 << 20, 1);
  auto a = cuts(gear_for(1), p, data);
  auto b = cuts(gear_for(1), p, data);
  auto c = cuts(gear_for(2), p, data);
  CHECK(a == b);
  CHECK(a != c);
  size_t total = 0;
  for (size_t s : a) total += s;
  CHECK(total == data.size());
}

TEST_CASE("FastCDC respects min and max sizes", "[chunk]") {
  chunk::Params p{16 * 1024, 64 * 1024, 128 * 1024};
  auto data = make_data(16 << 20, 7);
  auto sizes = cuts(gear_for(3), p, data);
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    CHECK(sizes[i] >= p.min_size);
    CHECK(sizes[i] <= p.max_size);
  }
  // Runs of one byte value never match the mask: every chunk is cut at max.
  Bytes zeros(1 << 20);
  auto z = cuts(gear_for(3), p, zeros);
  for (size_t i = 0; i + 1 < z.size(); ++i) CHECK(z[i] == p.max_size);
  // The average lands near the target.
  double avg = double(data.size()) / double(sizes.size());
  CHECK(avg > p.avg_size * 0.5);
  CHECK(avg < p.avg_size * 2.0);
}

TEST_CASE("a few bytes inserted near the start of 64 MiB change at most 3 chunks", "[chunk]") {
  chunk::Params p;  // defaults: 512 KiB / 1 MiB / 8 MiB
  auto data = make_data(64 << 20, 11);
  Bytes edited = data;
  Bytes insert = to_bytes("21 bytes inserted....");
  edited.insert(edited.begin() + 4096, insert.begin(), insert.end());
  auto gear = gear_for(5);
  auto ids = [&](ByteView d) {
    std::vector<Id32> out;
    size_t pos = 0;
    for (size_t s : cuts(gear, p, d)) {
      out.push_back(crypto::sha256(d.subspan(pos, s)));
      pos += s;
    }
    return out;
  };
  auto a = ids(data), b = ids(edited);
  std::sort(a.begin(), a.end());
  size_t changed = 0;
  for (auto& id : b)
    if (!std::binary_search(a.begin(), a.end(), id)) ++changed;
  CHECK(changed >= 1);
  CHECK(changed <= 3);
}

TEST_CASE("bad chunker parameters are refused", "[chunk]") {
  CHECK_THROWS(chunk::validate({1024, 3000, 8192}));
  CHECK_THROWS(chunk::validate({4096, 4096, 8192}));
  CHECK_THROWS(chunk::validate({16, 64, 128}));
  CHECK_NOTHROW(chunk::validate({}));
}

TEST_CASE("FastCDC cut points are pinned (format: chunk boundaries must never drift)",
          "[chunk][golden]") {
  // Changing the gear derivation or the masks would silently break deduplication against
  // existing repositories; docs/format/chunking.md describes this exact algorithm.
  chunk::Params p{16 * 1024, 64 * 1024, 256 * 1024};
  auto data = make_data(2 << 20, 2024);
  auto sizes = cuts(gear_for(9), p, data);
  std::vector<size_t> first(sizes.begin(), sizes.begin() + std::min<size_t>(8, sizes.size()));
  CHECK(first == std::vector<size_t>{92092, 101506, 31528, 19034, 114153, 65480, 80389, 88474});
}

TEST_CASE("the chunker cuts where find_cut over the whole stream does, whatever the reads return",
          "[chunk]") {
  // The chunker reads only as far as the next cut needs and moves what is left to the front of
  // its buffer; short reads, long chunks (runs of zeros: cut at max) and chunks longer than two
  // average ones (a second, longer window) must not move a cut.
  chunk::Params p{16 * 1024, 64 * 1024, 256 * 1024};
  Bytes data = make_data(6 << 20, 99);
  std::memset(data.data() + (1 << 20), 0, 700 * 1024);  // max-size cuts
  std::memset(data.data() + (3 << 20), 0, 150 * 1024);  // past two average chunks
  auto gear = gear_for(4);
  std::vector<size_t> expected;
  for (size_t pos = 0; pos < data.size();) {
    size_t cut = chunk::find_cut(gear, p, ByteView(data).subspan(pos));
    expected.push_back(cut);
    pos += cut;
  }
  CHECK(std::any_of(expected.begin(), expected.end(), [&](size_t s) { return s == p.max_size; }));
  CHECK(std::any_of(expected.begin(), expected.end(),
                    [&](size_t s) { return s > 2 * p.avg_size && s < p.max_size; }));
  CHECK(cuts(gear, p, data) == expected);  // reads take all they are offered
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    size_t pos = 0;
    chunk::Chunker c(gear, p, [&](std::byte* buf, size_t n) {
      size_t k = std::min({n, data.size() - pos, size_t{1} + rng() % (300 * 1024)});
      std::memcpy(buf, data.data() + pos, k);
      pos += k;
      return k;
    });
    std::vector<size_t> got;
    size_t total = 0;
    for (ByteView chunk; !(chunk = c.next()).empty();) {
      CHECK(std::memcmp(chunk.data(), data.data() + total, chunk.size()) == 0);
      got.push_back(chunk.size());
      total += chunk.size();
    }
    CHECK(got == expected);
  }
}
