#include "lifeboat/util/huge_buffer.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>

namespace lifeboat {

namespace {
constexpr size_t k_page = 4096;
constexpr size_t k_huge = 2u << 20;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

size_t mapped_size(size_t size) { return round_up(size, k_page); }
}  // namespace

std::byte* huge_map(size_t size, size_t huge) {
  size_t length = mapped_size(size);
  if (length < k_huge) {
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<std::byte*>(p);
  }
  // A huge page must be aligned: map 2 MiB more, then unmap the ends around an aligned span.
  void* p =
      ::mmap(nullptr, length + k_huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = round_up(start, k_huge);
  uintptr_t end = start + length + k_huge;
  if (aligned > start) ::munmap(p, aligned - start);
  if (end > aligned + length)
    ::munmap(reinterpret_cast<void*>(aligned + length), end - aligned - length);
  // Huge pages for whole 2 MiB spans only: a last, partial one would be resident whole once
  // touched. Advice only: without huge pages (THP off, or not on this kernel) the memory still
  // works.
  size_t advised = std::min(length, huge) / k_huge * k_huge;
  if (advised > 0) ::madvise(reinterpret_cast<void*>(aligned), advised, MADV_HUGEPAGE);
  return reinterpret_cast<std::byte*>(aligned);
}

void huge_unmap(std::byte* data, size_t size) {
  if (data) ::munmap(data, mapped_size(size));
}

}  // namespace lifeboat
