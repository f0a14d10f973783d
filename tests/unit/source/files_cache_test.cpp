// The files cache: what one run records the next finds, in any lookup order, whatever the
// number of entries and their sizes; a damaged or truncated cache is empty, never a crash.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "../quiet.hpp"
#include "lifeboat/source/files/files_cache.hpp"
#include "lifeboat/util/fs.hpp"

using namespace lifeboat;
using lifeboat::source::files::CacheEntry;
using lifeboat::source::files::FilesCache;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/lifeboat-files-cache-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  return tmpl;
}

// Entry n: distinct stat fields and n % 7 content items (every third a hole), one file with
// 20,000 items (longer than a read window); extended attributes not recorded (n % 5 == 0),
// none, or n % 4 + 1 of them, one file with a 300 KiB value.
CacheEntry entry(uint64_t n) {
  CacheEntry e{n + 1, n * 1000,    static_cast<int64_t>(n) * 3, -static_cast<int64_t>(n),
               {},    std::nullopt};
  if (n % 5 != 0) e.xattrs.emplace();
  for (uint64_t k = 0; n % 5 > 1 && k < n % 4 + 1; ++k) {
    Bytes value(n == 4322 && k == 0 ? 300 << 10 : k * 3, std::byte((n + k) & 0xff));
    e.xattrs->emplace_back(fmt::format("user.k{}", k), std::move(value));
  }
  uint64_t items = n == 4321 ? 20000 : n % 7;
  for (uint64_t k = 0; k < items; ++k) {
    repo::ContentItem c;
    if (k % 3 == 2) {
      c.hole = 4096 * (k + 1);
    } else {
      for (size_t b = 0; b < 32; ++b) c.chunk.bytes[b] = std::byte((n * 31 + k * 7 + b) & 0xff);
    }
    e.content.push_back(c);
  }
  return e;
}

std::string name(uint64_t n) { return fmt::format("/data/d{:03}/file-{:06}.txt", n / 1000, n); }

void check_same(const CacheEntry& a, const CacheEntry& b) {
  CHECK(a.inode == b.inode);
  CHECK(a.size == b.size);
  CHECK(a.mtime_ns == b.mtime_ns);
  CHECK(a.ctime_ns == b.ctime_ns);
  REQUIRE(a.content.size() == b.content.size());
  for (size_t k = 0; k < a.content.size(); ++k) {
    CHECK(a.content[k].hole == b.content[k].hole);
    if (!a.content[k].hole) CHECK(a.content[k].chunk == b.content[k].chunk);
  }
  CHECK(a.xattrs == b.xattrs);
}

void put_u64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xff));
}

}  // namespace

TEST_CASE("the files cache finds what the last run recorded, in any order", "[files]") {
  std::string dir = temp_dir();
  std::string path = dir + "/sub/files-default";
  constexpr uint64_t k_files = 60000;  // several MiB: spooled, read back through the window
  {
    FilesCache first = FilesCache::load(path);  // absent: empty
    CHECK_FALSE(first.find(name(1)));
    for (uint64_t n = 0; n < k_files; ++n) first.put(name(n), entry(n));
    CHECK(first.recorded() == k_files);
    first.save();
  }
  // No spool file is left beside the cache.
  CHECK(std::distance(std::filesystem::directory_iterator(dir + "/sub"),
                      std::filesystem::directory_iterator()) == 1);

  FilesCache second = FilesCache::load(path);
  SECTION("in the order written, then backwards, then at random") {
    std::vector<uint64_t> order(k_files);
    for (uint64_t n = 0; n < k_files; ++n) order[n] = n;
    auto check_all = [&] {
      for (uint64_t n : order) {
        auto found = second.find(name(n));
        REQUIRE(found);
        check_same(*found, entry(n));
      }
    };
    check_all();
    std::reverse(order.begin(), order.end());
    check_all();
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
    check_all();
    CHECK_FALSE(second.find("/data/not-there"));
    CHECK_FALSE(second.find(""));
  }
  SECTION("the next save holds only what this run recorded") {
    for (uint64_t n = 0; n < k_files; n += 2) {
      auto found = second.find(name(n));
      REQUIRE(found);
      second.put(name(n), *found);
    }
    second.save();
    FilesCache third = FilesCache::load(path);
    for (uint64_t n = 0; n < 2000; ++n) CHECK(third.find(name(n)).has_value() == (n % 2 == 0));
    check_same(*third.find(name(4320)), entry(4320));
    check_same(*third.find(name(4322)), entry(4322));
  }
  SECTION("a damaged or truncated cache is empty") {
    Bytes data = *fs::read_file(path);
    test::Quiet quiet;
    std::mt19937 rng(11);
    for (int i = 0; i < 40; ++i) {
      Bytes cut(data.begin(), data.begin() + static_cast<ptrdiff_t>(rng() % data.size()));
      fs::write_file_atomic(path, cut);
      FilesCache c = FilesCache::load(path);
      CHECK_FALSE(c.find(name(k_files - 1)));
    }
    for (int i = 0; i < 40; ++i) {
      Bytes bad = data;
      bad[8 + rng() % 64] ^= std::byte(0x80);  // the count or the first record's head
      fs::write_file_atomic(path, bad);
      FilesCache c = FilesCache::load(path);
      for (uint64_t n = 1; n < 3; ++n) {  // the records after the damaged one
        auto found = c.find(name(n));
        if (found) check_same(*found, entry(n));
      }
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a cache without a path records nothing", "[files]") {
  FilesCache none;
  none.put("/x", entry(3));
  CHECK(none.recorded() == 0);
  CHECK_FALSE(none.find("/x"));
  CHECK_NOTHROW(none.save());
}

TEST_CASE("a version 1 cache (no extended attributes) is still read", "[files]") {
  std::string dir = temp_dir();
  std::string path = dir + "/files-default";
  Bytes data = to_bytes(std::string_view("LBFC0001"));
  put_u64(data, 3000);
  for (uint64_t n = 0; n < 3000; ++n) {
    CacheEntry e = entry(n);
    put_u64(data, name(n).size());
    append(data, as_bytes(name(n)));
    for (uint64_t v : {e.inode, e.size, static_cast<uint64_t>(e.mtime_ns),
                       static_cast<uint64_t>(e.ctime_ns), uint64_t{e.content.size()}})
      put_u64(data, v);
    for (auto& item : e.content) {
      put_u64(data, item.hole);
      if (!item.hole) append(data, item.chunk.view());
    }
  }
  fs::write_file_atomic(path, data);
  FilesCache old = FilesCache::load(path);
  for (uint64_t n = 2999;; n -= 7) {
    auto found = old.find(name(n));
    REQUIRE(found);
    CacheEntry want = entry(n);
    want.xattrs.reset();  // not recorded
    check_same(*found, want);
    if (n < 7) break;
  }
  // What this run records is written in the current version, attributes and all.
  for (uint64_t n = 0; n < 3000; ++n) old.put(name(n), entry(n));
  old.save();
  CHECK(as_chars(ByteView(*fs::read_file(path)).first(8)) == "LBFC0002");
  FilesCache next = FilesCache::load(path);
  for (uint64_t n = 0; n < 3000; ++n) check_same(*next.find(name(n)), entry(n));
  std::filesystem::remove_all(dir);
}
