#include "lifeboat/source/files/files_cache.hpp"

#include <cstring>

#include "lifeboat/core/log.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::source::files {

namespace {
constexpr std::string_view k_magic = "LBFC0001";

void put_u64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xff));
}

struct Reader {
  ByteView data;
  size_t pos = 0;
  bool ok = true;
  uint64_t u64() {
    if (pos + 8 > data.size()) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(data[pos + i]);
    pos += 8;
    return v;
  }
  ByteView take(uint64_t n) {
    if (n > data.size() - pos) {
      ok = false;
      return {};
    }
    ByteView v = data.subspan(pos, n);
    pos += n;
    return v;
  }
};
}  // namespace

FilesCache FilesCache::load(const std::string& path) {
  FilesCache cache;
  std::optional<Bytes> data;
  try {
    data = fs::read_file(path);
  } catch (const std::exception& e) {
    log::warn("ignoring the files cache: {}", e.what());
  }
  if (!data) return cache;
  Reader r{*data};
  if (as_chars(r.take(k_magic.size())) != k_magic) return cache;
  uint64_t count = r.u64();
  for (uint64_t i = 0; i < count && r.ok; ++i) {
    std::string name(as_chars(r.take(r.u64())));
    CacheEntry e;
    e.inode = r.u64();
    e.size = r.u64();
    e.mtime_ns = static_cast<int64_t>(r.u64());
    e.ctime_ns = static_cast<int64_t>(r.u64());
    uint64_t items = r.u64();
    if (!r.ok || items > data->size()) break;
    e.content.reserve(items);
    for (uint64_t k = 0; k < items && r.ok; ++k) {
      repo::ContentItem item;
      item.hole = r.u64();
      if (!item.hole) {
        ByteView id = r.take(32);
        if (!r.ok) break;
        std::memcpy(item.chunk.bytes.data(), id.data(), 32);
      }
      e.content.push_back(item);
    }
    if (r.ok) cache.m_old.emplace(std::move(name), std::move(e));
  }
  if (!r.ok) {
    log::warn("the files cache '{}' is damaged; files will be read again", path);
    cache.m_old.clear();
  }
  return cache;
}

const CacheEntry* FilesCache::find(const std::string& file) const {
  auto it = m_old.find(file);
  return it == m_old.end() ? nullptr : &it->second;
}

void FilesCache::put(const std::string& file, CacheEntry entry) { m_new[file] = std::move(entry); }

void FilesCache::keep(const std::string& file) {
  auto node = m_old.extract(file);
  if (!node.empty()) m_new.insert(std::move(node));
}

// Written in pieces of about 1 MiB: a cache of a million files is over 100 MB.
void FilesCache::save(const std::string& path) const {
  auto slash = path.rfind('/');
  if (slash != std::string::npos) fs::make_dirs(path.substr(0, slash), 0700);
  fs::write_file_atomic(
      path,
      [&](const std::function<void(ByteView)>& put) {
        Bytes out = to_bytes(k_magic);
        out.reserve(1 << 20);
        put_u64(out, m_new.size());
        for (auto& [name, e] : m_new) {
          put_u64(out, name.size());
          append(out, as_bytes(name));
          put_u64(out, e.inode);
          put_u64(out, e.size);
          put_u64(out, static_cast<uint64_t>(e.mtime_ns));
          put_u64(out, static_cast<uint64_t>(e.ctime_ns));
          put_u64(out, e.content.size());
          for (auto& item : e.content) {
            put_u64(out, item.hole);
            if (!item.hole) append(out, item.chunk.view());
          }
          if (out.size() >= (1 << 20)) {
            put(out);
            out.clear();
          }
        }
        put(out);
      },
      0600);
}

}  // namespace lifeboat::source::files
