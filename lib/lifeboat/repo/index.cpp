#include "lifeboat/repo/index.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "lifeboat/repo/detail/cbor.hpp"

namespace lifeboat::repo {
using namespace detail;

// Written directly like pack headers (pack.cpp): {"packs": [{"header", "id", "size"}], "v": 1}.
Bytes encode_index(const std::vector<PackRecord>& packs) {
  Bytes out, header;
  size_t blobs = 0;
  for (auto& p : packs) blobs += p.header.blobs.size();
  out.reserve(64 + packs.size() * 200 + blobs * 80);
  CborWriter w(out);
  w.map(2);
  w.text("packs");
  w.array(packs.size());
  for (auto& p : packs) {
    header.clear();
    CborWriter hw(header);
    write_pack_header(hw, p.header);
    w.map(3);
    w.text("header");
    w.bytes(header);
    w.text("id");
    w.bytes(p.id.view());
    w.text("size");
    w.uint(p.size);
  }
  w.text("v");
  w.uint(1);
  return out;
}

std::vector<PackRecord> decode_index(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  check_shape(data, what);
  CborReader r(data, what);
  std::vector<PackRecord> out;
  uint64_t version = 0;
  bool have_version = false, have_packs = false;
  for (uint64_t n = r.map("index"); n > 0; --n) {
    std::string_view key = r.text("key");
    if (key == "v" && !have_version) {
      version = r.uint("v");
      have_version = true;
    } else if (key == "packs" && !have_packs) {
      have_packs = true;
      uint64_t count = r.array("packs");
      // A pack's entry takes at least 64 bytes: a hostile count costs no more than the data.
      out.reserve(static_cast<size_t>(std::min<uint64_t>(count, data.size() / 64)));
      for (; count > 0; --count) {
        PackRecord rec;
        bool id = false, size = false, header = false;
        for (uint64_t m = r.map("pack"); m > 0; --m) {
          std::string_view k = r.text("key");
          if (k == "id" && !id) {
            ByteView b = r.bytes("id");
            if (b.size() != 32)
              throw IntegrityError("malformed {}: field 'id' is not 32 bytes", what);
            rec.id = id_from(b);
            id = true;
          } else if (k == "size" && !size) {
            rec.size = r.uint("size");
            size = true;
          } else if (k == "header" && !header) {
            rec.header = decode_pack_header(r.bytes("header"), what_s);
            header = true;
          } else if (k == "id" || k == "size" || k == "header") {
            throw IntegrityError("malformed {}: '{}' twice", what, k);
          } else {
            r.skip();
          }
        }
        if (!id || !size || !header)
          throw IntegrityError("malformed {}: field '{}' missing", what,
                               !id     ? "id"
                               : !size ? "size"
                                       : "header");
        for (auto& b : rec.header.blobs)
          if (uint64_t{b.offset} + b.length > rec.size)
            throw IntegrityError("malformed {}: blob beyond the end of pack {}", what,
                                 rec.id.hex());
        out.push_back(std::move(rec));
      }
    } else if (key == "v" || key == "packs") {
      throw IntegrityError("malformed {}: '{}' twice", what, key);
    } else {
      r.skip();
    }
  }
  if (!have_version) throw IntegrityError("malformed {}: field 'v' missing", what);
  if (version != 1) throw IntegrityError("{} has an unknown version", what);
  if (!have_packs) throw IntegrityError("malformed {}: field 'packs' missing", what);
  return out;
}

namespace {
// The latest additions wait in a hash map until they are an eighth of m_added (at least this
// many), then are sorted and merged into it: the merges copy each entry about eight times
// in all, and the map costs little beside the array.
constexpr size_t k_fresh_min = 4096;

// The order of Id32's operator< (bytes in order), decided by the first 8 bytes read as one
// big-endian number unless they are equal: the comparison of every index lookup (a memcmp call
// each was 6% of an unchanged re-run).
uint64_t id_head(const Id32& id) {
  uint64_t v;
  std::memcpy(&v, id.bytes.data(), sizeof v);
  return std::endian::native == std::endian::little ? __builtin_bswap64(v) : v;
}

bool id_less(const Id32& a, const Id32& b) {
  uint64_t x = id_head(a), y = id_head(b);
  return x != y ? x < y : a < b;
}

template <class Array>
auto lower_bound_id(const Array& a, const Id32& id) {
  return std::lower_bound(a.begin(), a.end(), id,
                          [](const auto& e, const Id32& x) { return id_less(e.id, x); });
}
}  // namespace

void Index::add_pack(const PackRecord& r) {
  std::lock_guard lock(m_mutex);
  uint32_t pack_idx;
  auto it = m_pack_ids.find(r.id);
  if (it != m_pack_ids.end()) {
    pack_idx = it->second;
  } else {
    pack_idx = static_cast<uint32_t>(m_packs.size());
    m_packs.push_back({r.id, r.size, r.header.wrap});
    m_pack_ids.emplace(r.id, pack_idx);
  }
  for (auto& b : r.header.blobs) {
    BlobLocation loc{pack_idx, b.offset, b.length, b.raw_length, b.type, b.compressed};
    if (!m_finalized) {
      m_sorted.push_back({b.id, loc});
      continue;
    }
    // Added during this run: the first location is kept.
    auto a = lower_bound_id(m_added, b.id);
    if (a != m_added.end() && a->id == b.id) continue;
    m_fresh.try_emplace(b.id, loc);
  }
  if (m_fresh.size() >= std::max(k_fresh_min, m_added.size() / 8)) merge_fresh_locked();
}

// Sorts the fresh entries and merges them into m_added in place, from the back.
void Index::merge_fresh_locked() {
  std::vector<Entry> fresh;
  fresh.reserve(m_fresh.size());
  for (auto& [id, loc] : m_fresh) fresh.push_back({id, loc});
  m_fresh = {};
  std::sort(fresh.begin(), fresh.end(),
            [](const Entry& a, const Entry& b) { return id_less(a.id, b.id); });
  size_t old = m_added.size();
  m_added.resize(old + fresh.size());
  size_t i = old, j = fresh.size(), k = old + fresh.size();
  while (j > 0) {
    if (i > 0 && id_less(fresh[j - 1].id, m_added[i - 1].id))
      m_added[--k] = m_added[--i];
    else
      m_added[--k] = fresh[--j];
  }
}

void Index::finalize() {
  std::lock_guard lock(m_mutex);
  for (auto& e : m_added) m_sorted.push_back(e);
  for (auto& [id, loc] : m_fresh) m_sorted.push_back({id, loc});
  m_added = {};
  m_fresh = {};
  // By id, then in loading order (pack number), so that the first location stays first.
  std::sort(m_sorted.begin(), m_sorted.end(), [](const Entry& a, const Entry& b) {
    return a.id != b.id               ? id_less(a.id, b.id)
           : a.loc.pack != b.loc.pack ? a.loc.pack < b.loc.pack
                                      : a.loc.offset < b.loc.offset;
  });
  // The same blob listed twice for the same place (a pack in two index files) is one entry.
  m_sorted.truncate(
      std::unique(m_sorted.begin(), m_sorted.end(), [](const Entry& a, const Entry& b) {
        return a.id == b.id && a.loc.pack == b.loc.pack && a.loc.offset == b.loc.offset;
      }));
  m_sorted.shrink_to_fit();
  m_finalized = true;
}

std::vector<BlobLocation> Index::find_all(const Id32& id) const {
  std::lock_guard lock(m_mutex);
  std::vector<BlobLocation> out;
  for (auto it = lower_bound_id(m_sorted, id); it != m_sorted.end() && it->id == id; ++it)
    out.push_back(it->loc);
  auto a = lower_bound_id(m_added, id);
  if (a != m_added.end() && a->id == id) out.push_back(a->loc);
  auto r = m_fresh.find(id);
  if (r != m_fresh.end()) out.push_back(r->second);
  return out;
}

std::optional<BlobLocation> Index::find(const Id32& id) const {
  std::lock_guard lock(m_mutex);
  auto it = lower_bound_id(m_sorted, id);
  if (it != m_sorted.end() && it->id == id) return it->loc;
  auto a = lower_bound_id(m_added, id);
  if (a != m_added.end() && a->id == id) return a->loc;
  auto r = m_fresh.find(id);
  if (r != m_fresh.end()) return r->second;
  return std::nullopt;
}

const PackInfo& Index::pack(uint32_t i) const {
  std::lock_guard lock(m_mutex);
  return m_packs.at(i);
}

std::vector<PackInfo> Index::packs() const {
  std::lock_guard lock(m_mutex);
  return {m_packs.begin(), m_packs.end()};
}

size_t Index::blob_count() const {
  std::lock_guard lock(m_mutex);
  return m_sorted.size() + m_added.size() + m_fresh.size();
}

BlobEntry Index::entry_for(const Id32& id, const BlobLocation& loc) const {
  BlobEntry e;
  e.id = id;
  e.type = loc.type;
  e.offset = loc.offset;
  e.length = loc.length;
  e.raw_length = loc.raw_length;
  e.compressed = loc.compressed;
  return e;
}

}  // namespace lifeboat::repo
