#include "lifeboat/source/files/files_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "lifeboat/core/error.hpp"
#include "lifeboat/core/log.hpp"

namespace lifeboat::source::files {

// The file (docs/format/files-cache.md): "LBFC0002", a count, then per file (little-endian
// u64s): the record's length, the path's length and bytes, inode, size, mtime, ctime, the
// number of content items and each item (a hole's length, or 0 and the chunk's 32-byte id),
// then the number of extended attributes (all ones: not recorded) and each one's name and
// value, each preceded by its length. "LBFC0001" files, from older versions, have no record
// length and no attributes; they are still read.
namespace {
constexpr std::string_view k_magic_v1 = "LBFC0001";
constexpr std::string_view k_magic = "LBFC0002";
constexpr uint64_t k_unrecorded = ~uint64_t{0};
constexpr size_t k_piece = size_t{1} << 20;       // read and write unit
constexpr uint64_t k_window = uint64_t{1} << 18;  // lookups read this much at a time...
constexpr uint64_t k_behind = uint64_t{1} << 14;  // ...starting a little before the record
constexpr uint64_t k_max_name = uint64_t{1} << 20;
constexpr uint64_t k_max_item = 8 + 32;
constexpr uint64_t k_fixed = 8 * 5;  // inode, size, mtime, ctime, item count

void put_u64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

void make_parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) fs::make_dirs(path.substr(0, slash), 0700);
}

uint64_t path_hash(std::string_view path) { return XXH3_64bits(path.data(), path.size()); }

// Reads from bytes in memory.
struct ViewReader {
  ByteView data;
  size_t pos = 0;
  bool ok = true;
  uint64_t remaining() const { return data.size() - pos; }
  uint64_t u64() {
    if (remaining() < 8) {
      ok = false;
      return 0;
    }
    pos += 8;
    return get_u64(data.data() + pos - 8);
  }
  ByteView take(uint64_t n) {
    if (n > remaining()) {
      ok = false;
      return {};
    }
    pos += n;
    return data.subspan(pos - n, n);
  }
};

// Reads a file front to back in pieces.
struct FileReader {
  int fd;
  uint64_t size;
  const std::string& path;
  Bytes buf;
  size_t pos = 0;
  uint64_t buf_at = 0;  // the file offset of buf[0]
  bool ok = true;

  uint64_t offset() const { return buf_at + pos; }
  uint64_t remaining() const { return size - offset(); }
  bool need(uint64_t n) {
    if (buf.size() - pos >= n) return true;
    if (n > remaining()) return ok = false;
    buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(pos));
    buf_at += pos;
    pos = 0;
    size_t have = buf.size();
    buf.resize(
        static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(n, k_piece), size - buf_at)));
    buf.resize(have +
               fs::pread_full(fd, buf.data() + have, buf.size() - have, buf_at + have, path));
    if (buf.size() < n) return ok = false;
    return true;
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    pos += 8;
    return get_u64(buf.data() + pos - 8);
  }
  ByteView take(uint64_t n) {
    if (!need(n)) return {};
    pos += n;
    return ByteView(buf).subspan(pos - n, n);
  }
};

// Reads one record (after its length, in version 2): its path, and its entry when e is not
// null. False when malformed.
template <class Reader>
bool read_record(Reader& r, std::string& name, CacheEntry* e, bool v2) {
  uint64_t len = r.u64();
  if (!r.ok || len > k_max_name) return false;
  name.assign(as_chars(r.take(len)));
  uint64_t inode = r.u64(), size = r.u64(), mtime = r.u64(), ctime = r.u64();
  uint64_t items = r.u64();
  if (!r.ok || items > r.remaining() / 8) return false;
  if (e) {
    *e = {inode, size, static_cast<int64_t>(mtime), static_cast<int64_t>(ctime), {}, {}};
    e->content.reserve(items);
  }
  for (uint64_t k = 0; k < items && r.ok; ++k) {
    repo::ContentItem item;
    item.hole = r.u64();
    if (!item.hole) {
      ByteView id = r.take(32);
      if (!r.ok) break;
      std::memcpy(item.chunk.bytes.data(), id.data(), 32);
    }
    if (e) e->content.push_back(item);
  }
  if (!v2 || !r.ok) return r.ok;
  uint64_t count = r.u64();
  if (count == k_unrecorded) return r.ok;
  if (!r.ok || count > r.remaining() / 16) return false;
  std::vector<std::pair<std::string, Bytes>> xattrs;
  for (uint64_t k = 0; k < count && r.ok; ++k) {
    std::string key(as_chars(r.take(r.u64())));
    ByteView value = r.take(r.u64());
    if (e) xattrs.emplace_back(std::move(key), Bytes(value.begin(), value.end()));
  }
  if (e) e->xattrs = std::move(xattrs);
  return r.ok;
}

// Reads a version 2 record whole: its length, then exactly that many bytes.
template <class Reader>
bool read_record_v2(Reader& r, std::string& name, CacheEntry* e) {
  uint64_t len = r.u64();
  if (!r.ok || len > r.remaining()) return false;
  ViewReader body{r.take(len)};
  return r.ok && read_record(body, name, e, true) && body.remaining() == 0;
}
}  // namespace

FilesCache FilesCache::load(const std::string& path) {
  FilesCache cache;
  cache.m_path = path;
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    if (errno != ENOENT)
      log::warn("ignoring the files cache '{}': {}", path, fs::errno_text(errno));
    return cache;
  }
  FileReader r{fd.get(), static_cast<uint64_t>(st.st_size), path, {}};
  try {
    std::string_view magic = as_chars(r.take(k_magic.size()));
    if (magic != k_magic && magic != k_magic_v1) return cache;
    cache.m_v2 = magic == k_magic;
    uint64_t count = r.u64();
    if (r.ok && count <= r.remaining() / (8 + k_fixed)) cache.m_slots.reserve(count);
    std::string name;
    for (uint64_t i = 0; i < count && r.ok; ++i) {
      uint64_t offset = r.offset();
      if (!(cache.m_v2 ? read_record_v2(r, name, nullptr) : read_record(r, name, nullptr, false)))
        r.ok = false;
      cache.m_slots.push_back({path_hash(name), offset});
    }
  } catch (const std::exception& e) {
    log::warn("ignoring the files cache: {}", e.what());
    cache.m_slots = {};
    return cache;
  }
  if (!r.ok) {
    log::warn("the files cache '{}' is damaged; files will be read again", path);
    cache.m_slots = {};
    return cache;
  }
  std::sort(cache.m_slots.begin(), cache.m_slots.end(),
            [](const Slot& a, const Slot& b) {  // a path written twice: the first counts
              return a.hash != b.hash ? a.hash < b.hash : a.offset < b.offset;
            });
  cache.m_old = std::move(fd);
  cache.m_old_size = static_cast<uint64_t>(st.st_size);
  return cache;
}

// size bytes of last run's cache at offset (fewer at its end), through the read window.
ByteView FilesCache::old_bytes(uint64_t offset, uint64_t size) {
  if (offset >= m_old_size) return {};
  size = std::min(size, m_old_size - offset);
  if (offset < m_window_at || offset + size > m_window_at + m_window.size()) {
    m_window_at = offset >= k_behind ? offset - k_behind : 0;
    m_window.resize(static_cast<size_t>(
        std::min(std::max(k_window, offset + size - m_window_at), m_old_size - m_window_at)));
    m_window.resize(
        fs::pread_full(m_old.get(), m_window.data(), m_window.size(), m_window_at, m_path));
    if (offset + size > m_window_at + m_window.size()) return {};  // the file shrank
  }
  return ByteView(m_window).subspan(static_cast<size_t>(offset - m_window_at),
                                    static_cast<size_t>(size));
}

std::optional<CacheEntry> FilesCache::find(const std::string& file) {
  uint64_t hash = path_hash(file);
  auto it = std::lower_bound(m_slots.begin(), m_slots.end(), hash,
                             [](const Slot& s, uint64_t h) { return s.hash < h; });
  try {
    for (; it != m_slots.end() && it->hash == hash; ++it) {
      uint64_t at = it->offset;
      ViewReader head{old_bytes(at, 8)};
      uint64_t len = head.u64();
      std::string name;
      CacheEntry e;
      if (!head.ok) continue;
      if (m_v2) {
        if (len > m_old_size) continue;
        ViewReader r{old_bytes(at, 8 + len)};
        if (read_record_v2(r, name, &e) && name == file) return e;
        continue;
      }
      // Version 1: the record's length is known once its path length and item count are read.
      if (len > k_max_name) continue;
      ByteView fixed = old_bytes(at, 8 + len + k_fixed);
      if (fixed.size() < 8 + len + k_fixed) continue;
      uint64_t items = get_u64(fixed.data() + fixed.size() - 8);
      if (items > m_old_size / 8) continue;
      ViewReader r{old_bytes(at, 8 + len + k_fixed + items * k_max_item)};
      if (read_record(r, name, &e, false) && name == file) return e;
    }
  } catch (const std::exception& e) {
    log::warn("ignoring the files cache from here on: {}", e.what());
    m_slots = {};
  }
  return std::nullopt;
}

void FilesCache::put(const std::string& file, const CacheEntry& e) {
  if (m_path.empty() || m_failed) return;
  size_t start = m_pending.size();
  put_u64(m_pending, 0);  // the record's length, set below
  put_u64(m_pending, file.size());
  append(m_pending, as_bytes(file));
  put_u64(m_pending, e.inode);
  put_u64(m_pending, e.size);
  put_u64(m_pending, static_cast<uint64_t>(e.mtime_ns));
  put_u64(m_pending, static_cast<uint64_t>(e.ctime_ns));
  put_u64(m_pending, e.content.size());
  for (auto& item : e.content) {
    put_u64(m_pending, item.hole);
    if (!item.hole) append(m_pending, item.chunk.view());
  }
  put_u64(m_pending, e.xattrs ? e.xattrs->size() : k_unrecorded);
  if (e.xattrs) {
    for (auto& [key, value] : *e.xattrs) {
      put_u64(m_pending, key.size());
      append(m_pending, as_bytes(key));
      put_u64(m_pending, value.size());
      append(m_pending, value);
    }
  }
  uint64_t len = m_pending.size() - start - 8;
  for (int i = 0; i < 8; ++i) m_pending[start + i] = std::byte((len >> (8 * i)) & 0xff);
  m_count++;
  if (m_pending.size() >= k_piece) flush();
}

// Moves the pending entries to the spool: a temporary file beside the cache, unlinked at once.
void FilesCache::flush() {
  try {
    if (!m_spool) {
      make_parent_dir(m_path);
      std::string name = m_path + ".spool-XXXXXX";
      m_spool.reset(::mkostemp(name.data(), O_CLOEXEC));
      if (!m_spool)
        throw Error(Exit::failure, "unable to create '{}': {}", name, fs::errno_text(errno));
      ::unlink(name.c_str());
    }
    fs::write_all(m_spool.get(), m_pending, m_path + " (spool)");
    m_pending.clear();
  } catch (const std::exception& e) {
    log::warn("unable to record the files cache: {}; this backup leaves it as it was", e.what());
    m_failed = true;
    m_pending = Bytes{};
  }
}

void FilesCache::save() {
  if (m_path.empty() || m_failed) return;
  make_parent_dir(m_path);
  fs::write_file_atomic(
      m_path,
      [&](const std::function<void(ByteView)>& put) {
        Bytes head = to_bytes(k_magic);
        put_u64(head, m_count);
        put(head);
        if (m_spool) {
          Bytes piece(k_piece);
          for (uint64_t at = 0;;) {
            size_t n = fs::pread_full(m_spool.get(), piece.data(), piece.size(), at, m_path);
            if (n == 0) break;
            put(ByteView(piece).first(n));
            at += n;
          }
        }
        put(m_pending);
      },
      0600);
}

}  // namespace lifeboat::source::files
