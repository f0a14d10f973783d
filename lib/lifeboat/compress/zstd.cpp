#include "lifeboat/compress/zstd.hpp"

#include <zstd.h>

#include "lifeboat/core/error.hpp"

namespace lifeboat::compress {

std::optional<Bytes> compress(ByteView data, int level) {
  thread_local ZSTD_CCtx* ctx = ZSTD_createCCtx();
  thread_local Bytes out;
  out.resize(ZSTD_compressBound(data.size()));
  size_t n = ZSTD_compressCCtx(ctx, out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n))
    throw Error(Exit::failure, "zstd compression failed: {}", ZSTD_getErrorName(n));
  // Keep compression only when it saves at least 1/32 of the size.
  if (n + data.size() / 32 >= data.size()) return std::nullopt;
  // An exact-size copy: the bound-sized buffer would otherwise keep its capacity while the
  // blob waits in a pack (4x the memory for text).
  return Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
}

Bytes decompress(ByteView data, size_t raw_size) {
  thread_local ZSTD_DCtx* ctx = ZSTD_createDCtx();
  Bytes out(raw_size);
  size_t n = ZSTD_decompressDCtx(ctx, out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != raw_size)
    throw IntegrityError("blob does not decompress to its recorded size {} ({})", raw_size,
                         ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
  return out;
}

}  // namespace lifeboat::compress
