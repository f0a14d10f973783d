// WAL file names: kinds, positions, ordering and the next segment for any segment size; LSNs.
#include <catch2/catch.hpp>

#include "lifeboat/source/postgres/basebackup.hpp"
#include "lifeboat/source/postgres/wal.hpp"

using namespace lifeboat::source::postgres;

TEST_CASE("WAL file names have a kind and, except history files, a position") {
  CHECK(wal_file_kind("000000010000000000000003") == WalFile::segment);
  CHECK(wal_file_kind("00000002.history") == WalFile::history);
  CHECK(wal_file_kind("000000010000000000000003.00000028.backup") == WalFile::backup);
  CHECK(wal_file_kind("000000010000000000000003.partial") == WalFile::partial);
  CHECK_FALSE(wal_file_kind("00000001000000000000000g"));
  CHECK_FALSE(wal_file_kind("000000010000000000000003.ready"));
  CHECK_FALSE(wal_file_kind("env.sh"));
  auto p = wal_position("0000000200000001000000FE.partial");
  REQUIRE(p);
  CHECK(p->timeline == 2);
  CHECK(p->log == 1);
  CHECK(p->seg == 0xFE);
  CHECK_FALSE(wal_position("00000002.history"));
}

TEST_CASE("WAL positions order along the WAL for any segment size, ignoring the timeline") {
  // With 1 MiB segments a log holds 4096 of them: 0/0x200 comes before 1/0.
  auto a = *wal_position("000000010000000000000200");
  auto b = *wal_position("000000010000000100000000");
  CHECK(a < b);
  CHECK_FALSE(b < a);
  CHECK_FALSE(*wal_position("000000020000000000000005") <
              *wal_position("000000010000000000000005"));
  CHECK(segment_name(next_segment(a, 1u << 20)) == "000000010000000000000201");
  CHECK(segment_name(next_segment(*wal_position("000000010000000000000FFF"), 1u << 20)) ==
        "000000010000000100000000");
  CHECK(segment_name(next_segment(*wal_position("0000000100000000000000FF"), 16u << 20)) ==
        "000000010000000100000000");
}

TEST_CASE("LSNs parse as XXX/YYY") {
  CHECK(parse_lsn("0/2000028") == 0x2000028u);
  CHECK(parse_lsn("1/0") == 0x100000000u);
  CHECK_FALSE(parse_lsn("2000028"));
  CHECK_FALSE(parse_lsn("0/"));
  CHECK_FALSE(parse_lsn("x/1"));
}
