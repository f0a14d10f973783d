#include "lifeboat/compress/zstd.hpp"

// A static compression context (ZSTD_initStaticCCtx, from the "static linking only" API that
// the shared library exports too): see compress_into.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <memory>

#include "lifeboat/core/error.hpp"
#include "lifeboat/util/huge_buffer.hpp"

namespace lifeboat::compress {

namespace {

// One context per thread, freed when the thread ends (the BlobSaver's workers come and go with
// each saver; a bare pointer leaked 2.5 MB per thread — found by tests/sanitize.sh).
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

}  // namespace

size_t compress_bound(size_t size) { return ZSTD_compressBound(size); }

size_t compress_into(ByteView data, std::byte* out, size_t capacity, int level) {
  // One context per thread in a fixed workspace, sized for the level's largest tables. A
  // growing context frees its workspace when inputs stay small for a while and maps a new one
  // for the next large input: every such workspace is faulted in afresh (a quarter of a
  // backup's page faults, measured). A static one is touched once.
  struct Static {
    int level = 0;
    HugeBuffer workspace;
    ZSTD_CCtx* ctx = nullptr;  // lives in the workspace: nothing to free
  };
  thread_local Static holder;
  if (!holder.ctx || holder.level != level) {
    holder.ctx = nullptr;
    holder.workspace = HugeBuffer(ZSTD_estimateCCtxSize(level));
    holder.ctx = ZSTD_initStaticCCtx(holder.workspace.get(), holder.workspace.size());
    if (!holder.ctx) throw Error(Exit::failure, "zstd: unable to set up a compression context");
    holder.level = level;
  }
  ZSTD_CCtx* ctx = holder.ctx;
  size_t n = ZSTD_compressCCtx(ctx, out, capacity, data.data(), data.size(), level);
  if (ZSTD_isError(n))
    throw Error(Exit::failure, "zstd compression failed: {}", ZSTD_getErrorName(n));
  // Keep compression only when it saves at least 1/32 of the size.
  return n + data.size() / 32 >= data.size() ? 0 : n;
}

Bytes decompress(ByteView data, size_t raw_size) {
  Bytes out(raw_size);
  decompress_into(data, out.data(), raw_size);
  return out;
}

void decompress_into(ByteView data, std::byte* out, size_t raw_size) {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> holder(ZSTD_createDCtx());
  ZSTD_DCtx* ctx = holder.get();
  if (!ctx) throw Error(Exit::failure, "zstd: out of memory for a decompression context");
  size_t n = ZSTD_decompressDCtx(ctx, out, raw_size, data.data(), data.size());
  if (ZSTD_isError(n) || n != raw_size)
    throw IntegrityError("blob does not decompress to its recorded size {} ({})", raw_size,
                         ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
}

}  // namespace lifeboat::compress
