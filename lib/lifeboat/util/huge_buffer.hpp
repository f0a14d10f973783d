// A large buffer in a mapping of its own, backed by transparent huge pages where the kernel
// gives them on request (the "madvise" setting, Debian's default): its first touch faults once
// per 2 MiB instead of once per 4 KiB. Page faults are the dear part of fresh memory on a
// virtual machine (17 µs for each 4 KiB page on the bench machine, measured: 272 MB first
// touched in 1.2 s, then rewritten in 0.012 s), and the backup's pack arenas and chunker
// buffers are touched afresh again and again. A fresh mapping: its contents start zeroed.
// Only its whole 2 MiB spans get huge pages (the rest, and buffers under 2 MiB, plain pages).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace lifeboat {

// The mapping behind a HugeBuffer, for allocators: huge_map's memory is released by huge_unmap
// with the same size. huge_map throws std::bad_alloc.
// huge: how much of it, from the start, may have huge pages (rounded down to whole 2 MiB).
std::byte* huge_map(size_t size, size_t huge);
void huge_unmap(std::byte* data, size_t size);

class HugeBuffer {
 public:
  HugeBuffer() = default;
  // Throws std::bad_alloc when the memory cannot be mapped. huge: how much of it, from the
  // start, may have huge pages; a buffer that is seldom filled to its end (a pack's arena
  // keeps room for the blob that fills the pack) says where its use mostly ends, since a huge
  // page touched at all is resident whole.
  explicit HugeBuffer(size_t size, size_t huge = SIZE_MAX)
      : m_data(size ? huge_map(size, huge) : nullptr), m_size(size) {}
  ~HugeBuffer() { release(); }
  HugeBuffer(HugeBuffer&& o) noexcept
      : m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)) {}
  HugeBuffer& operator=(HugeBuffer&& o) noexcept {
    if (this != &o) {
      release();
      m_data = std::exchange(o.m_data, nullptr);
      m_size = std::exchange(o.m_size, 0);
    }
    return *this;
  }
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  std::byte* get() const { return m_data; }
  size_t size() const { return m_size; }  // as asked for
  explicit operator bool() const { return m_data != nullptr; }

 private:
  void release() {
    if (m_data) huge_unmap(m_data, m_size);
    m_data = nullptr;
    m_size = 0;
  }
  std::byte* m_data = nullptr;
  size_t m_size = 0;
};

}  // namespace lifeboat
