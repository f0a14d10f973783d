// One conformance suite for every storage driver (DESIGN.md §5): memory and local here;
// S3, Azure and SFTP against real servers on loopback ([remote] cases, run through
// tests/servers/with-servers.sh, which exports LIFEBOAT_TEST_*).
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "lifeboat/storage/options.hpp"
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
  SECTION("a get replaces whatever the buffer held (callers reuse buffers)") {
    Bytes small(1000, std::byte{1}), large(200000, std::byte{2});
    for (size_t i = 0; i < large.size(); ++i) large[i] = std::byte(i % 251);
    s.put("data/00/small", small);
    s.put("data/00/large", large);
    Bytes out(100000, std::byte{0xaa});
    REQUIRE(s.get("data/00/small", out));
    CHECK(out == small);
    REQUIRE(s.get("data/00/large", out));
    CHECK(out == large);
    REQUIRE(s.get("data/00/small", out));
    CHECK(out == small);
    REQUIRE(s.get("data/00/large", out, storage::Range{1000, 150000}));
    CHECK(out == Bytes(large.begin() + 1000, large.begin() + 151000));
    s.remove("data/00/small");
    s.remove("data/00/large");
  }
  SECTION("put_parts stores the parts one after the other, as one object") {
    Bytes a(70000), b = to_bytes("middle"), c(3000, std::byte{9});
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::byte(i % 253);
    std::vector<ByteView> parts{a, {}, b, c};
    s.put_parts("data/cd/parts", parts);
    Bytes whole = a;
    append(whole, b);
    append(whole, c);
    Bytes out;
    REQUIRE(s.get("data/cd/parts", out));
    CHECK(out == whole);
    CHECK(s.stat("data/cd/parts") == whole.size());
    REQUIRE(s.get("data/cd/parts", out, storage::Range{69990, 20}));
    CHECK(out == Bytes(whole.begin() + 69990, whole.begin() + 70010));
    std::vector<ByteView> none;
    s.put_parts("data/cd/parts", none);  // replaces, like put
    REQUIRE(s.get("data/cd/parts", out));
    CHECK(out.empty());
    s.remove("data/cd/parts");
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
  SECTION("many objects list completely across pages") {
    std::set<std::string> want, got;
    for (int i = 0; i < 23; ++i) {
      std::string k = fmt::format("index/{:02x}{}", i, std::string(60, 'f'));
      s.put(k, to_bytes(k));
      want.insert(k);
    }
    s.list("index/", [&](const storage::ObjectInfo& o) {
      CHECK(got.insert(o.key).second);  // no duplicates
    });
    CHECK(got == want);
  }
  SECTION("large objects (multipart uploads and staged blocks where the driver has them)") {
    Bytes big(13 * 1024 * 1024 + 12345);
    uint64_t x = 88172645463325252ull;
    for (auto& b : big) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b = std::byte(x);
    }
    s.put("data/77/big", big);
    CHECK(s.stat("data/77/big") == big.size());
    Bytes out;
    REQUIRE(s.get("data/77/big", out));
    CHECK(out == big);
    REQUIRE(s.get("data/77/big", out, storage::Range{6 * 1024 * 1024 - 3, 7}));
    CHECK(out == Bytes(big.begin() + 6 * 1024 * 1024 - 3, big.begin() + 6 * 1024 * 1024 + 4));
    s.remove("data/77/big");
    CHECK_FALSE(s.stat("data/77/big"));
    // The same from parts whose edges fall inside the parts and blocks of the upload (5 MiB).
    ByteView v(big);
    std::vector<ByteView> parts{v.subspan(0, 3 << 20), v.subspan(3 << 20, 1), ByteView(),
                                v.subspan((3 << 20) + 1, (4 << 20) + 17),
                                v.subspan((7 << 20) + 18)};
    s.put_parts("data/77/big-parts", parts);
    REQUIRE(s.get("data/77/big-parts", out));
    CHECK(out == big);
    s.remove("data/77/big-parts");
  }
}

TEST_CASE("storage: the parts of an upload, sliced and read", "[storage]") {
  Bytes a = to_bytes("abcde"), b = to_bytes("fg"), c = to_bytes("hijklmn");
  std::vector<ByteView> parts{a, {}, b, c};
  auto joined = [](const std::vector<ByteView>& ps) {
    std::string s;
    for (auto& p : ps) s += std::string(as_chars(p));
    return s;
  };
  CHECK(storage::total_size(parts) == 14);
  CHECK(joined(storage::slice_parts(parts, 0, 14)) == "abcdefghijklmn");
  CHECK(joined(storage::slice_parts(parts, 3, 5)) == "defgh");
  CHECK(storage::slice_parts(parts, 3, 5).size() == 3);  // views, no empty ones
  CHECK(joined(storage::slice_parts(parts, 5, 2)) == "fg");
  CHECK(joined(storage::slice_parts(parts, 10, 100)) == "klmn");  // cut at the end
  CHECK(storage::slice_parts(parts, 14, 5).empty());
  CHECK(storage::slice_parts(parts, 2, 0).empty());

  storage::PartsReader r(parts);
  CHECK(r.size() == 14);
  char buf[16] = {};
  CHECK(r.read(buf, 4) == 4);
  CHECK(std::string(buf, 4) == "abcd");
  CHECK(r.read(buf, 3) == 3);  // across the empty part
  CHECK(std::string(buf, 3) == "efg");
  CHECK(r.read(buf, 16) == 7);
  CHECK(std::string(buf, 7) == "hijklmn");
  CHECK(r.read(buf, 16) == 0);
  REQUIRE(r.seek(6));  // a resent request starts over, or anywhere
  CHECK(r.read(buf, 16) == 8);
  CHECK(std::string(buf, 8) == "ghijklmn");
  CHECK_FALSE(r.seek(15));
  REQUIRE(r.seek(14));
  CHECK(r.read(buf, 16) == 0);
  REQUIRE(r.seek(0));
  CHECK(r.read(buf, 16) == 14);
  CHECK(std::string(buf, 14) == "abcdefghijklmn");
}

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

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    FAIL(name << " is not set: run the [remote] tests through tests/servers/with-servers.sh");
  return v;
}

std::string unique_name(const char* what) {
  static int n = 0;
  return fmt::format("{}-{}-{}", what, ::getpid(), n++);
}

// Small thresholds and pages so the suite exercises multipart uploads, staged blocks and
// listing continuation with little data.
storage::Options small_options() {
  storage::Options o;
  o.s3.endpoint = env_or_fail("LIFEBOAT_TEST_S3_ENDPOINT");
  o.s3.multipart_threshold = 6 * 1024 * 1024;
  o.s3.part_size = 5 * 1024 * 1024;
  o.s3.list_page_size = 7;
  o.azure.endpoint = env_or_fail("LIFEBOAT_TEST_AZURE_ENDPOINT");
  o.azure.block_threshold = 6 * 1024 * 1024;
  o.azure.block_size = 5 * 1024 * 1024;
  o.azure.list_page_size = 7;
  o.retry_time = 5;
  return o;
}

}  // namespace

TEST_CASE("storage conformance: s3 (s3rver)", "[storage][remote]") {
  auto s = storage::open(
      "s3://" + env_or_fail("LIFEBOAT_TEST_S3_BUCKET") + "/" + unique_name("conformance"),
      small_options());
  conformance(*s);
}

TEST_CASE("storage conformance: azure (Azurite)", "[storage][remote]") {
  auto s =
      storage::open("azure://devstoreaccount1/" + env_or_fail("LIFEBOAT_TEST_AZURE_CONTAINER") +
                        "/" + unique_name("conformance"),
                    small_options());
  conformance(*s);
}

TEST_CASE("storage conformance: sftp (OpenSSH)", "[storage][remote]") {
  std::string base = env_or_fail("LIFEBOAT_TEST_SFTP_BASE");
  auto s = storage::open(base + "/" + unique_name("conformance"), small_options());
  conformance(*s);
  // No temporary upload files are left behind.
  std::string home = env_or_fail("LIFEBOAT_TEST_SFTP_HOME");
  for (auto& e : std::filesystem::recursive_directory_iterator(home))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("sftp pins the host key by fingerprint and refuses a wrong one", "[storage][remote]") {
  std::string base = env_or_fail("LIFEBOAT_TEST_SFTP_BASE");
  std::string url = base + "/" + unique_name("pin");
  // Only the fingerprint pins here: the known_hosts file of the environment is set aside.
  std::string known_hosts = env_or_fail("LIFEBOAT_SFTP_KNOWN_HOSTS");
  ::unsetenv("LIFEBOAT_SFTP_KNOWN_HOSTS");
  auto o = small_options();
  o.sftp.host_key_sha256 = env_or_fail("LIFEBOAT_TEST_SFTP_FINGERPRINT");
  auto s = storage::open(url, o);
  s->put("config", to_bytes("x"));
  CHECK(s->stat("config") == 1u);
  o.sftp.host_key_sha256 = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  Exit code = Exit::ok;
  try {
    storage::open(url, o)->stat("config");
  } catch (const Error& e) {
    code = e.code();
  }
  // Neither a pin nor a known_hosts file: refused unless the insecure option is given.
  o.sftp.host_key_sha256.clear();
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("HOME", "/nonexistent", 1);
  CHECK_THROWS_AS(storage::open(url, o), UsageError);
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("LIFEBOAT_SFTP_KNOWN_HOSTS", known_hosts.c_str(), 1);
  CHECK(code == Exit::storage);  // a wrong pin is refused
}

TEST_CASE("a missing bucket, container or directory is 'repository not found'",
          "[storage][remote]") {
  auto o = small_options();
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return Exit::ok;
  };
  CHECK(code_of([&] { storage::open("s3://no-such-bucket/x", o)->stat("config"); }) ==
        Exit::repo_not_found);
  CHECK(code_of([&] { storage::open("s3://no-such-bucket/x", o)->put("config", to_bytes("x")); }) ==
        Exit::repo_not_found);
  CHECK(code_of([&] {
          storage::open("azure://devstoreaccount1/no-such-container/x", o)->stat("config");
        }) == Exit::repo_not_found);
  CHECK(code_of([&] {
          storage::open("azure://devstoreaccount1/no-such-container/x", o)
              ->put("config", to_bytes("x"));
        }) == Exit::repo_not_found);
}

TEST_CASE("azure: a wrong key is 'not permitted' and names no secret", "[storage][remote]") {
  auto o = small_options();
  std::string saved = env_or_fail("AZURE_STORAGE_KEY");
  ::setenv("AZURE_STORAGE_KEY", "d3JvbmcgYnV0IHdlbGwtZm9ybWVkIGtleQ==", 1);
  try {
    storage::open("azure://devstoreaccount1/" + env_or_fail("LIFEBOAT_TEST_AZURE_CONTAINER") + "/x",
                  o)
        ->stat("config");
    ::setenv("AZURE_STORAGE_KEY", saved.c_str(), 1);
    FAIL("a wrong key was accepted");
  } catch (const Error& e) {
    ::setenv("AZURE_STORAGE_KEY", saved.c_str(), 1);
    CHECK(e.code() == Exit::not_permitted);
    std::string msg = e.what();
    CHECK(msg.find("d3Jvbmcg") == std::string::npos);
    CHECK(msg.find("AZURE_STORAGE_KEY") != std::string::npos);
  }
}

TEST_CASE("transfers by default: 4 remote, the cores (at most 4) local", "[storage]") {
  unsigned local = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  CHECK(storage::default_connections("/srv/backup") == local);
  CHECK(storage::default_connections("file:///srv/backup") == local);
  CHECK(storage::default_connections("mem://x") == local);
  CHECK(storage::default_connections("s3://bucket/prefix") == 4);
  CHECK(storage::default_connections("sftp://u@h/p") == 4);
  CHECK(storage::default_connections("azure://a/c") == 4);
}

TEST_CASE("unknown URL schemes are usage errors", "[storage]") {
  CHECK_THROWS_AS(storage::open("gopher://x"), UsageError);
  CHECK_THROWS_AS(storage::open(""), UsageError);
}
