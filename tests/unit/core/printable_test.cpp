#include <catch2/catch.hpp>

#include "lifeboat/core/reporter.hpp"

using namespace lifeboat;

TEST_CASE("printable escapes what could forge output or break JSON", "[core]") {
  CHECK(printable("plain/path.txt") == "plain/path.txt");
  CHECK(printable("a\nb") == "a\\nb");
  CHECK(printable("back\\slash") == "back\\\\slash");
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");                // valid UTF-8 kept
  CHECK(printable("r\xe9sum\xe9") == "r\\xe9sum\\xe9");            // Latin-1 escaped
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // surrogate escaped
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");                    // overlong escaped
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(printable(std::string("x\0y", 3)) == "x\\x00y");
  CHECK(printable("\x1b[31m") == "\\x1b[31m");
}
