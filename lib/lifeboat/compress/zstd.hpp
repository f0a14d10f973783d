// zstd compression of blobs. Thread-safe (per-call contexts).
#pragma once

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::compress {

// An upper bound of the compressed size of size bytes: compress_into's buffer.
size_t compress_bound(size_t size);
// Compresses data at level into out (capacity >= compress_bound(data.size())); returns the
// compressed size, or 0 when compression would not save at least 1/32 of the size (then the
// data is better stored as it is).
size_t compress_into(ByteView data, std::byte* out, size_t capacity, int level = 3);
// Decompresses data that must expand to exactly raw_size bytes; throws IntegrityError otherwise.
Bytes decompress(ByteView data, size_t raw_size);
// The same, into out (raw_size bytes).
void decompress_into(ByteView data, std::byte* out, size_t raw_size);

}  // namespace lifeboat::compress
