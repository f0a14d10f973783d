// One conformance suite for every storage driver (DESIGN.md §5). Drivers that need a server
// join it when their issue lands.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/lifeboat-conformance-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  return tmpl;
}

void conformance(storage::Storage& s) {
  SECTION("a missing object is a value, not an error") {
    Bytes out;
    CHECK_FALSE(s.get("data/00/missing", out));
    CHECK_FALSE(s.stat("data/00/missing"));
    CHECK_NOTHROW(s.remove("data/00/missing"));
  }
  SECTION("put, get, stat, range, overwrite, remove") {
    Bytes payload(100000);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(i * 7);
    s.put("data/ab/abc", payload);
    Bytes out;
    REQUIRE(s.get("data/ab/abc", out));
    CHECK(out == payload);
    CHECK(s.stat("data/ab/abc") == payload.size());
    REQUIRE(s.get("data/ab/abc", out, storage::Range{1000, 10}));
    CHECK(out == Bytes(payload.begin() + 1000, payload.begin() + 1010));
    REQUIRE(s.get("data/ab/abc", out, storage::Range{99995, 100}));
    CHECK(out.size() == 5);
    s.put("data/ab/abc", to_bytes("replaced"));
    REQUIRE(s.get("data/ab/abc", out));
    CHECK(out == to_bytes("replaced"));
    s.remove("data/ab/abc");
    CHECK_FALSE(s.stat("data/ab/abc"));
  }
  SECTION("empty objects") {
    s.put("index/empty", {});
    Bytes out = to_bytes("x");
    REQUIRE(s.get("index/empty", out));
    CHECK(out.empty());
    CHECK(s.stat("index/empty") == 0u);
  }
  SECTION("list returns exactly the objects under a prefix, with sizes") {
    s.put("snapshots/a", to_bytes("1"));
    s.put("snapshots/b", to_bytes("22"));
    s.put("data/00/c", to_bytes("333"));
    s.put("data/01/d", to_bytes("4444"));
    s.put("config", to_bytes("cfg"));
    std::set<std::pair<std::string, uint64_t>> snaps, data;
    s.list("snapshots/", [&](const storage::ObjectInfo& o) { snaps.emplace(o.key, o.size); });
    s.list("data/", [&](const storage::ObjectInfo& o) { data.emplace(o.key, o.size); });
    CHECK(snaps ==
          std::set<std::pair<std::string, uint64_t>>{{"snapshots/a", 1}, {"snapshots/b", 2}});
    CHECK(data == std::set<std::pair<std::string, uint64_t>>{{"data/00/c", 3}, {"data/01/d", 4}});
    size_t locks = 0;
    s.list("locks/", [&](const storage::ObjectInfo&) { ++locks; });
    CHECK(locks == 0);
  }
}

}  // namespace

TEST_CASE("storage conformance: memory", "[storage]") {
  static int n = 0;
  auto s = storage::open("mem://conformance-" + std::to_string(n++));
  conformance(*s);
}

TEST_CASE("storage conformance: local", "[storage]") {
  std::string dir = temp_dir();
  auto s = storage::open("file://" + dir);
  conformance(*s);
  // No temporary files are left behind.
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("unknown URL schemes are usage errors", "[storage]") {
  CHECK_THROWS_AS(storage::open("gopher://x"), UsageError);
  CHECK_THROWS_AS(storage::open(""), UsageError);
}
