// XXH3-128 of stored blob bytes: a fast, keyless checksum used to localise damage in a pack.
// Thread-safe.
#pragma once

#include <array>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat {

using Xxh128 = std::array<std::byte, 16>;
// Canonical (big-endian) XXH3-128 of data, seed 0.
Xxh128 xxh3_128(ByteView data);

}  // namespace lifeboat
