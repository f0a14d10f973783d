// zstd compression of blobs. Thread-safe (per-call contexts).
#pragma once

#include <optional>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::compress {

// Compresses data at level; nullopt when the result would not be smaller (incompressible).
std::optional<Bytes> compress(ByteView data, int level = 3);
// Decompresses data that must expand to exactly raw_size bytes; throws IntegrityError otherwise.
Bytes decompress(ByteView data, size_t raw_size);

}  // namespace lifeboat::compress
