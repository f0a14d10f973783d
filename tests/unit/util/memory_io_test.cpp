// fs::write_parts (the local driver writes a pack's parts with it) and HugeBuffer.
#include <fcntl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/huge_buffer.hpp"

using namespace lifeboat;

TEST_CASE("write_parts writes every part in order, past IOV_MAX parts a call") {
  char dir_template[] = "/tmp/lifeboat-write-parts-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  std::string path = std::string(dir_template) + "/out";
  // 3,000 parts of 0 to 4,096 bytes (zero-length ones among them), each byte telling its
  // part and place.
  std::vector<Bytes> parts;
  Bytes expected;
  for (size_t i = 0; i < 3000; ++i) {
    size_t n = i % 7 == 0 ? 0 : (i * 2654435761u) % 4097;
    Bytes part(n);
    for (size_t j = 0; j < n; ++j) part[j] = std::byte(static_cast<uint8_t>(i * 31 + j));
    append(expected, part);
    parts.push_back(std::move(part));
  }
  std::vector<ByteView> views(parts.begin(), parts.end());
  {
    fs::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd);
    CHECK(fs::write_parts(fd.get(), views) == 0);
    CHECK(fs::write_parts(fd.get(), {}) == 0);
  }
  auto data = fs::read_file(path);
  REQUIRE(data);
  CHECK(data->size() == expected.size());
  CHECK(*data == expected);
  SECTION("a write that fails returns its errno") {
    fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    CHECK(fs::write_parts(fd.get(), views) == EBADF);
  }
  std::system(("rm -rf " + std::string(dir_template)).c_str());
}

TEST_CASE("HugeBuffer: small and huge sizes, writable to the last byte, movable") {
  for (size_t size :
       {size_t{2}, size_t{4096}, size_t{1} << 20, (size_t{9} << 20) + 3, size_t{4} << 20}) {
    HugeBuffer b(size);
    REQUIRE(b);
    CHECK(b.size() == size);
    if (size >= (size_t{2} << 20))
      CHECK(reinterpret_cast<uintptr_t>(b.get()) % (size_t{2} << 20) == 0);  // huge-page aligned
    b.get()[0] = std::byte{1};
    b.get()[size - 1] = std::byte{2};
    HugeBuffer moved = std::move(b);
    CHECK_FALSE(b);
    CHECK(moved.get()[0] == std::byte{1});
    CHECK(moved.get()[size - 1] == std::byte{2});
  }
  CHECK_FALSE(HugeBuffer(0));
}
