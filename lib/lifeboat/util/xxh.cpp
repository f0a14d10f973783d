#include "lifeboat/util/xxh.hpp"

#include <xxhash.h>

#include <cstring>

namespace lifeboat {

Xxh128 xxh3_128(ByteView data) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(data.data(), data.size()));
  Xxh128 out;
  std::memcpy(out.data(), c.digest, 16);
  return out;
}

}  // namespace lifeboat
