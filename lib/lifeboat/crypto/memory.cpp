#include "lifeboat/crypto/memory.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "lifeboat/util/huge_buffer.hpp"

namespace lifeboat::crypto {
namespace {

constexpr size_t k_large = 4u << 20;

// The large blocks live: few at a time (one per scrypt running). A free looks here only while
// there is one, so small blocks pay one atomic load.
struct Large {
  void* data;
  size_t size;
};
std::mutex g_mutex;
std::vector<Large> g_large;
std::atomic<size_t> g_live{0};

// The size of a live large block, which it forgets; 0 when p is not one.
size_t take_large(void* p) {
  if (g_live.load(std::memory_order_acquire) == 0) return 0;
  std::lock_guard lock(g_mutex);
  auto it =
      std::find_if(g_large.begin(), g_large.end(), [&](const Large& l) { return l.data == p; });
  if (it == g_large.end()) return 0;
  size_t size = it->size;
  g_large.erase(it);
  g_live.fetch_sub(1, std::memory_order_release);
  return size;
}

void* large_alloc(size_t n) {
  try {
    std::byte* p = huge_map(n, n);
    std::lock_guard lock(g_mutex);
    g_large.push_back({p, n});
    g_live.fetch_add(1, std::memory_order_release);
    return p;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* do_malloc(size_t n, const char*, int) {
  return n >= k_large ? large_alloc(n) : std::malloc(n);
}

void do_free(void* p, const char*, int) {
  if (size_t size = take_large(p)) {
    huge_unmap(static_cast<std::byte*>(p), size);
    return;
  }
  std::free(p);
}

void* do_realloc(void* p, size_t n, const char* file, int line) {
  size_t size = take_large(p);
  if (size == 0) return std::realloc(p, n);  // a small block stays in the heap
  void* q = do_malloc(n, file, line);
  if (q == nullptr && n != 0) {  // as realloc: the old block is left as it was
    std::lock_guard lock(g_mutex);
    g_large.push_back({p, size});
    g_live.fetch_add(1, std::memory_order_release);
    return nullptr;
  }
  if (q) std::memcpy(q, p, std::min(size, n));
  huge_unmap(static_cast<std::byte*>(p), size);
  return q;
}

}  // namespace

bool allocate_large_in_huge_pages() {
  return CRYPTO_set_mem_functions(do_malloc, do_realloc, do_free) == 1;
}

}  // namespace lifeboat::crypto
