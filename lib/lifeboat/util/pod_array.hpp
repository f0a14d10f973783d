// A growable array of trivially copyable values in one malloc'd block, grown with realloc: the
// C library maps a large block and grows it by remapping, without std::vector's copy into a
// new block (and the moment of holding both). For arrays of millions of entries (the index).
// Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace lifeboat {

template <class T>
class PodArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  PodArray() = default;
  ~PodArray() { std::free(m_data); }
  PodArray(PodArray&& o) noexcept
      : m_data(std::exchange(o.m_data, nullptr)),
        m_size(std::exchange(o.m_size, 0)),
        m_capacity(std::exchange(o.m_capacity, 0)) {}
  PodArray& operator=(PodArray&& o) noexcept {
    if (this != &o) {
      std::free(m_data);
      m_data = std::exchange(o.m_data, nullptr);
      m_size = std::exchange(o.m_size, 0);
      m_capacity = std::exchange(o.m_capacity, 0);
    }
    return *this;
  }
  PodArray(const PodArray&) = delete;
  PodArray& operator=(const PodArray&) = delete;

  T* begin() { return m_data; }
  T* end() { return m_data + m_size; }
  const T* begin() const { return m_data; }
  const T* end() const { return m_data + m_size; }
  T& operator[](size_t i) { return m_data[i]; }
  const T& operator[](size_t i) const { return m_data[i]; }
  size_t size() const { return m_size; }
  bool empty() const { return m_size == 0; }

  void push_back(const T& v) {
    if (m_size == m_capacity) reallocate(std::max<size_t>({m_size + 1, m_capacity * 3 / 2, 256}));
    m_data[m_size++] = v;
  }
  // Grows or shrinks to n values; new ones are left for the caller to write.
  void resize(size_t n) {
    if (n > m_capacity) reallocate(std::max(n, m_capacity * 3 / 2));
    m_size = n;
  }
  void truncate(const T* new_end) { m_size = static_cast<size_t>(new_end - m_data); }
  void clear() { m_size = 0; }
  void shrink_to_fit() {
    if (m_size == 0) {
      std::free(std::exchange(m_data, nullptr));
      m_capacity = 0;
    } else if (m_size < m_capacity) {
      reallocate(m_size);
    }
  }

 private:
  void reallocate(size_t capacity) {
    if (capacity > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    void* p = std::realloc(m_data, capacity * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    m_data = static_cast<T*>(p);
    m_capacity = capacity;
  }

  T* m_data = nullptr;
  size_t m_size = 0;
  size_t m_capacity = 0;
};

}  // namespace lifeboat
