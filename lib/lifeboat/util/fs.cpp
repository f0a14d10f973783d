#include "lifeboat/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <random>

#include "lifeboat/core/error.hpp"

namespace lifeboat::fs {

void UniqueFd::reset(int fd) {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = fd;
}

std::string errno_text(int err) { return std::strerror(err); }

std::optional<Bytes> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(Exit::failure, "unable to open '{}': {}", path, errno_text(errno));
  }
  // Read straight into a buffer of the file's size (growing it piecemeal re-copied and
  // re-faulted large files several times); a file that grows meanwhile is read to its end.
  struct stat st {};
  size_t size = ::fstat(fd.get(), &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
  Bytes out(size + 1);
  size_t have = 0;
  for (;;) {
    size_t n = read_full(fd.get(), out.data() + have, out.size() - have, path);
    have += n;
    if (have < out.size()) break;
    out.resize(out.size() * 2);
  }
  out.resize(have);
  return out;
}

void write_all(int fd, ByteView data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(Exit::failure, "unable to write '{}': {}", what, errno_text(errno));
    }
    done += static_cast<size_t>(n);
  }
}

int write_parts(int fd, std::span<const ByteView> parts) {
  constexpr size_t k_max = IOV_MAX;
  iovec iov[k_max];
  size_t next = 0;    // the first part not yet in a call
  size_t offset = 0;  // bytes of parts[next] already written
  for (;;) {
    while (next < parts.size() && offset == parts[next].size()) ++next, offset = 0;
    if (next == parts.size()) return 0;
    size_t n = 0;
    for (size_t i = next; i < parts.size() && n < k_max; ++i) {
      size_t skip = i == next ? offset : 0;
      if (parts[i].size() == skip) continue;
      iov[n].iov_base = const_cast<std::byte*>(parts[i].data() + skip);
      iov[n].iov_len = parts[i].size() - skip;
      ++n;
    }
    ssize_t written = ::writev(fd, iov, static_cast<int>(n));
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    auto left = static_cast<size_t>(written);
    while (left > 0) {
      size_t take = std::min(left, parts[next].size() - offset);
      offset += take;
      left -= take;
      if (offset == parts[next].size()) ++next, offset = 0;
    }
  }
}

namespace {
// Calls io(buf + done, size - done, done) until size bytes are read, end of file or an error
// (EINTR retried).
template <class Io>
size_t fill(std::byte* buf, size_t size, const std::string& what, Io io) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = io(buf + done, size - done, done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(Exit::failure, "unable to read '{}': {}", what, errno_text(errno));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}
}  // namespace

size_t read_full(int fd, std::byte* buf, size_t size, const std::string& what) {
  return fill(buf, size, what, [&](std::byte* p, size_t n, size_t) { return ::read(fd, p, n); });
}

size_t pread_full(int fd, std::byte* buf, size_t size, uint64_t offset, const std::string& what) {
  return fill(buf, size, what, [&](std::byte* p, size_t n, size_t done) {
    return ::pread(fd, p, n, static_cast<off_t>(offset + done));
  });
}

void fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

void write_file_atomic(const std::string& path, ByteView data, unsigned mode) {
  write_file_atomic(
      path, [&](const std::function<void(ByteView)>& put) { put(data); }, mode);
}

void write_file_atomic(const std::string& path, const Producer& produce, unsigned mode) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string tmp = fmt::format("{}.tmp-{:x}", path, std::random_device{}());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) throw Error(Exit::failure, "unable to create '{}': {}", tmp, errno_text(errno));
  try {
    produce([&](ByteView piece) { write_all(fd.get(), piece, tmp); });
    if (::fsync(fd.get()) != 0)
      throw Error(Exit::failure, "unable to fsync '{}': {}", tmp, errno_text(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Exit::failure, "unable to rename '{}' to '{}': {}", tmp, path, errno_text(err));
  }
  fsync_dir(dir);
}

void make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return;
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      throw Error(Exit::failure, "unable to create directory '{}': {}", cur, errno_text(errno));
  }
}

}  // namespace lifeboat::fs
