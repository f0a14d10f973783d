// File-descriptor ownership and small POSIX file helpers (atomic writes, full reads).
// Functions throw Error(failure) with the path and strerror on failure unless stated.
// Thread-safe: no shared state.
#pragma once

#include <functional>

#include <optional>
#include <string>
#include <utility>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::fs {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      m_fd = std::exchange(o.m_fd, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }
  int release() { return std::exchange(m_fd, -1); }
  void reset(int fd = -1);

 private:
  int m_fd = -1;
};

std::string errno_text(int err);

// Reads a whole file; std::nullopt when it does not exist.
std::optional<Bytes> read_file(const std::string& path);
// Writes data to path via a temporary file, fsync and rename (then fsyncs the directory).
void write_file_atomic(const std::string& path, ByteView data, unsigned mode = 0600);
// The same, with the content written piece by piece: produce calls put for each piece.
using Producer = std::function<void(const std::function<void(ByteView)>& put)>;
void write_file_atomic(const std::string& path, const Producer& produce, unsigned mode = 0600);
// Creates a directory and its parents (like mkdir -p).
void make_dirs(const std::string& path, unsigned mode = 0700);
// Writes all of data to fd, retrying on EINTR and short writes; throws on error.
void write_all(int fd, ByteView data, const std::string& what);
// Writes the parts one after another with as few system calls as it can (writev, up to
// IOV_MAX parts a call), retrying on EINTR and short writes. Returns 0, or the errno of the
// write that failed.
int write_parts(int fd, std::span<const ByteView> parts);
// Reads up to size bytes, retrying on EINTR and short reads; returns bytes read (< size at EOF).
size_t read_full(int fd, std::byte* buf, size_t size, const std::string& what);
// The same at offset (pread): returns bytes read (< size at end of file).
size_t pread_full(int fd, std::byte* buf, size_t size, uint64_t offset, const std::string& what);
void fsync_dir(const std::string& dir);

}  // namespace lifeboat::fs
