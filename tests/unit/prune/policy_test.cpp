// Retention policy tables (backup-prune forget) in a fixed time zone, Europe/Berlin: keep-last,
// calendar buckets, keep-within, DST changes, leap years, ties, future snapshots, tags, and the
// duration syntax. Every table is also run reversed and shuffled: decisions must not depend on
// the listing order.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "lifeboat/core/error.hpp"
#include "lifeboat/ops/prune/policy.hpp"

using namespace lifeboat;
using namespace lifeboat::ops::prune;

namespace {

constexpr int64_t k_ns = 1'000'000'000;
constexpr int64_t k_minute = 60 * k_ns;
constexpr int64_t k_hour = 3600 * k_ns;

using Lines = std::vector<std::string>;

// ns since the epoch of the local wall-clock time "YYYY-MM-DD HH:MM:SS" in the current TZ.
// isdst chooses the offset in the repeated hour of autumn (1 = summer time, 0 = standard time);
// elsewhere -1 is unambiguous. Times in the spring gap do not exist and are refused.
int64_t at(const char* wall, int isdst = -1) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  REQUIRE(std::sscanf(wall, "%d-%d-%d %d:%d:%d", &year, &month, &day, &hour, &minute, &second) ==
          6);
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = isdst;
  std::time_t t = std::mktime(&tm);
  INFO(wall << " isdst " << isdst);
  // mktime normalises a time that does not exist (or a wrong isdst); the tables use real ones.
  REQUIRE(tm.tm_year == year - 1900);
  REQUIRE(tm.tm_mon == month - 1);
  REQUIRE(tm.tm_mday == day);
  REQUIRE(tm.tm_hour == hour);
  REQUIRE(tm.tm_min == minute);
  REQUIRE(tm.tm_sec == second);
  REQUIRE((isdst < 0 || tm.tm_isdst == isdst));
  return static_cast<int64_t>(t) * k_ns;
}

// Sets TZ for one test and restores the previous value (or its absence) afterwards.
class TimeZone {
 public:
  explicit TimeZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) m_old = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~TimeZone() {
    if (m_old)
      ::setenv("TZ", m_old->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
  }
  TimeZone(const TimeZone&) = delete;
  TimeZone& operator=(const TimeZone&) = delete;

 private:
  std::optional<std::string> m_old;
};

// Fixture: every test runs in Europe/Berlin (CET +0100, CEST +0200).
struct BerlinTime {
  TimeZone m_tz{"Europe/Berlin"};
  BerlinTime() {
    // Without tzdata glibc silently falls back to UTC; these would then be off by 1 and 2 hours.
    REQUIRE(at("2026-01-01 00:00:00") == 1767222000 * k_ns);
    REQUIRE(at("2026-07-01 12:00:00") == 1782900000 * k_ns);
  }
};

Candidate snap(std::string id, int64_t time_ns, std::vector<std::string> tags = {}) {
  Candidate c;
  c.id = std::move(id);
  c.time_ns = time_ns;
  c.tags = std::move(tags);
  return c;
}

Duration duration(const char* text) { return parse_duration(text, "test"); }

// Runs apply() on the group as given, reversed and shuffled, and checks that the decisions by
// id are the same every time. Returns "id: reason, reason" or "id: forget", sorted.
Lines decide(const Policy& policy, std::vector<Candidate> group, int64_t now_ns) {
  std::mt19937 rng(20261025);
  Lines first;
  for (int round = 0; round < 5; ++round) {
    if (round == 1) std::reverse(group.begin(), group.end());
    if (round >= 2) std::shuffle(group.begin(), group.end(), rng);
    std::vector<Decision> out = apply(policy, group, now_ns);
    REQUIRE(out.size() == group.size());
    Lines lines;
    for (size_t i = 0; i < group.size(); ++i) {
      CHECK(out[i].keep == !out[i].reasons.empty());
      std::string line = group[i].id + ":";
      if (out[i].reasons.empty()) line += " forget";
      for (size_t r = 0; r < out[i].reasons.size(); ++r)
        line += (r ? ", " : " ") + out[i].reasons[r];
      lines.push_back(line);
    }
    std::sort(lines.begin(), lines.end());
    if (round == 0)
      first = lines;
    else
      CHECK(lines == first);
  }
  return first;
}

}  // namespace

TEST_CASE_METHOD(BerlinTime, "policy: keep-last counts the newest snapshots", "[prune]") {
  const int64_t now = at("2026-11-21 12:00:00");
  SECTION("fewer snapshots than N: all kept, numbered newest first") {
    Policy p;
    p.last = 5;
    CHECK(decide(p,
                 {snap("a", at("2026-11-18 10:00:00")), snap("b", at("2026-11-19 10:00:00")),
                  snap("c", at("2026-11-20 10:00:00"))},
                 now) == Lines{"a: last 3", "b: last 2", "c: last 1"});
  }
  SECTION("more snapshots than N: the oldest are forgotten") {
    Policy p;
    p.last = 2;
    CHECK(decide(p,
                 {snap("a", at("2026-11-17 10:00:00")), snap("b", at("2026-11-18 10:00:00")),
                  snap("c", at("2026-11-19 10:00:00")), snap("d", at("2026-11-20 10:00:00"))},
                 now) == Lines{"a: forget", "b: forget", "c: last 2", "d: last 1"});
  }
  SECTION("keep-last 0 with another rule: only that rule keeps") {
    Policy p;
    p.last = 0;
    p.daily = 2;
    CHECK(decide(p,
                 {snap("a", at("2026-11-18 10:00:00")), snap("b", at("2026-11-19 10:00:00")),
                  snap("c", at("2026-11-20 10:00:00"))},
                 now) == Lines{"a: forget", "b: daily 2026-11-19", "c: daily 2026-11-20"});
  }
  SECTION("an empty group gives no decisions") {
    Policy p;
    p.last = 3;
    CHECK(apply(p, {}, now).empty());
  }
}

TEST_CASE_METHOD(BerlinTime, "policy: calendar rules keep the newest snapshot of each bucket",
                 "[prune]") {
  SECTION("daily: days without snapshots do not use up the count") {
    Policy p;
    p.daily = 3;
    CHECK(decide(p,
                 {snap("a", at("2026-11-10 12:00:00")), snap("b", at("2026-11-15 08:00:00")),
                  snap("c", at("2026-11-15 21:00:00")), snap("d", at("2026-11-18 10:00:00")),
                  snap("e", at("2026-11-20 08:00:00")), snap("f", at("2026-11-20 20:00:00"))},
                 at("2026-11-21 12:00:00")) == Lines{"a: forget", "b: forget",
                                                     "c: daily 2026-11-15", "d: daily 2026-11-18",
                                                     "e: forget", "f: daily 2026-11-20"});
  }
  SECTION("weekly: ISO weeks across the year boundary") {
    // 2026-12-31 is a Thursday, so ISO week 2026-W53 runs from Mon 2026-12-28 to Sun 2027-01-03
    // and 2027-W01 starts on Mon 2027-01-04 at local midnight (22:59:59 and 23:00:00 UTC on
    // 2027-01-03 for f and g: the boundary is local, not UTC).
    Policy p;
    p.weekly = 3;
    CHECK(decide(p,
                 {snap("a", at("2026-12-20 12:00:00")), snap("b", at("2026-12-27 12:00:00")),
                  snap("c", at("2026-12-28 09:00:00")), snap("d", at("2026-12-31 10:00:00")),
                  snap("e", at("2027-01-01 10:00:00")), snap("f", at("2027-01-03 23:59:59")),
                  snap("g", at("2027-01-04 00:00:00"))},
                 at("2027-01-05 12:00:00")) == Lines{"a: forget", "b: weekly 2026-W52", "c: forget",
                                                     "d: forget", "e: forget", "f: weekly 2026-W53",
                                                     "g: weekly 2027-W01"});
  }
  SECTION("monthly: February of a leap year, months in local time") {
    // e is 2028-02-29 23:30 UTC but March in Berlin; d (02-29 23:30 local) is still February.
    Policy p;
    p.monthly = 3;
    CHECK(decide(p,
                 {snap("a", at("2027-12-15 12:00:00")), snap("b", at("2028-01-31 23:59:59")),
                  snap("c", at("2028-02-01 00:00:00")), snap("d", at("2028-02-29 23:30:00")),
                  snap("e", at("2028-03-01 00:30:00"))},
                 at("2028-03-02 12:00:00")) == Lines{"a: forget", "b: monthly 2028-01", "c: forget",
                                                     "d: monthly 2028-02", "e: monthly 2028-03"});
  }
  SECTION("yearly: the local new year") {
    // d is 2026-12-31 23:30 UTC.
    Policy p;
    p.yearly = 2;
    CHECK(decide(p,
                 {snap("a", at("2025-05-01 12:00:00")), snap("b", at("2026-06-01 12:00:00")),
                  snap("c", at("2026-12-31 23:00:00")), snap("d", at("2027-01-01 00:30:00"))},
                 at("2027-01-02 12:00:00")) ==
          Lines{"a: forget", "b: forget", "c: yearly 2026", "d: yearly 2027"});
  }
  SECTION("within-daily: one per day back to the limit, inclusive") {
    // Newest 2026-11-20 18:00, limit 2026-11-17 18:00: c sits on it and is kept; b is older.
    Policy p;
    p.within_daily = duration("3d");
    CHECK(decide(p,
                 {snap("a", at("2026-11-16 20:00:00")), snap("b", at("2026-11-17 17:00:00")),
                  snap("c", at("2026-11-17 18:00:00")), snap("d", at("2026-11-19 08:00:00")),
                  snap("e", at("2026-11-19 22:00:00")), snap("f", at("2026-11-20 09:00:00")),
                  snap("g", at("2026-11-20 18:00:00"))},
                 at("2026-11-21 12:00:00")) ==
          Lines{"a: forget", "b: forget", "c: within-daily 2026-11-17", "d: forget",
                "e: within-daily 2026-11-19", "f: forget", "g: within-daily 2026-11-20"});
  }
  SECTION("within-weekly: the newest snapshot of each week within 2w") {
    // Limit 2026-11-06 18:00 = b, but c is newer in the same week (W45, Nov 2-8).
    Policy p;
    p.within_weekly = duration("2w");
    CHECK(decide(p,
                 {snap("a", at("2026-11-05 09:00:00")), snap("b", at("2026-11-06 18:00:00")),
                  snap("c", at("2026-11-08 10:00:00")), snap("d", at("2026-11-12 10:00:00")),
                  snap("e", at("2026-11-20 18:00:00"))},
                 at("2026-11-21 12:00:00")) ==
          Lines{"a: forget", "b: forget", "c: within-weekly 2026-W45", "d: within-weekly 2026-W46",
                "e: within-weekly 2026-W47"});
  }
}

TEST_CASE_METHOD(BerlinTime, "policy: buckets across DST changes", "[prune][dst]") {
  SECTION("autumn: the repeated hour 02:00-03:00 is two hourly buckets") {
    // 2026-10-25 03:00 CEST becomes 02:00 CET.
    CHECK(at("2026-10-25 02:30:00", 0) - at("2026-10-25 02:30:00", 1) == k_hour);
    Policy p;
    p.hourly = 10;
    CHECK(decide(p,
                 {snap("a", at("2026-10-25 01:50:00", 1)), snap("b", at("2026-10-25 02:30:00", 1)),
                  snap("c", at("2026-10-25 02:45:00", 1)), snap("d", at("2026-10-25 02:30:00", 0)),
                  snap("e", at("2026-10-25 03:10:00", 0))},
                 at("2026-10-25 12:00:00")) ==
          Lines{"a: hourly 2026-10-25 01:00 +0200", "b: forget", "c: hourly 2026-10-25 02:00 +0200",
                "d: hourly 2026-10-25 02:00 +0100", "e: hourly 2026-10-25 03:00 +0100"});
  }
  SECTION("autumn: within-hourly counts its hours as elapsed time") {
    // Newest f = 03:05 CET = 02:05 UTC; 3h earlier is 23:05 UTC = 01:05 CEST (wall clock 2h).
    Policy p;
    p.within_hourly = duration("3h");
    CHECK(decide(p,
                 {snap("a", at("2026-10-25 00:59:00", 1)), snap("b", at("2026-10-25 01:10:00", 1)),
                  snap("c", at("2026-10-25 02:10:00", 1)), snap("d", at("2026-10-25 02:50:00", 1)),
                  snap("e", at("2026-10-25 02:20:00", 0)), snap("f", at("2026-10-25 03:05:00", 0))},
                 at("2026-10-25 12:00:00")) ==
          Lines{"a: forget", "b: within-hourly 2026-10-25 01:00 +0200", "c: forget",
                "d: within-hourly 2026-10-25 02:00 +0200",
                "e: within-hourly 2026-10-25 02:00 +0100",
                "f: within-hourly 2026-10-25 03:00 +0100"});
  }
  SECTION("spring: no bucket for the missing hour 02:00-03:00") {
    // 2026-03-29 02:00 CET becomes 03:00 CEST; c is one real hour after b, at 03:30 CEST.
    const int64_t b = at("2026-03-29 01:30:00");
    const int64_t c = b + k_hour;
    CHECK(c == at("2026-03-29 03:30:00"));
    Policy p;
    p.hourly = 2;
    CHECK(decide(p,
                 {snap("a", at("2026-03-29 00:30:00")), snap("b", b), snap("c", c),
                  snap("d", at("2026-03-29 03:45:00"))},
                 at("2026-03-29 12:00:00")) ==
          Lines{"a: forget", "b: hourly 2026-03-29 01:00 +0100", "c: forget",
                "d: hourly 2026-03-29 03:00 +0200"});
  }
  SECTION("autumn: daily buckets end at local midnight of a 25-hour day") {
    CHECK(at("2026-10-26 00:00:00") - at("2026-10-25 00:00:00") == 25 * k_hour);
    Policy p;
    p.daily = 10;
    CHECK(decide(p,
                 {snap("a", at("2026-10-24 23:59:59")), snap("b", at("2026-10-25 00:00:00")),
                  snap("c", at("2026-10-25 23:59:59")), snap("d", at("2026-10-26 00:00:00"))},
                 at("2026-10-26 12:00:00")) ==
          Lines{"a: daily 2026-10-24", "b: forget", "c: daily 2026-10-25", "d: daily 2026-10-26"});
  }
}

TEST_CASE_METHOD(BerlinTime, "policy: keep-within is calendar arithmetic", "[prune][dst]") {
  SECTION("1d across the autumn change is 25 hours: same wall clock the day before") {
    const int64_t newest = at("2026-10-25 12:00:00");
    CHECK(subtract(newest, duration("1d")) == at("2026-10-24 12:00:00"));
    CHECK(newest - subtract(newest, duration("1d")) == 25 * k_hour);
    Policy p;
    p.within = duration("1d");
    // 24 elapsed hours would have put the limit at 13:00 and forgotten b.
    CHECK(decide(p,
                 {snap("a", at("2026-10-24 11:59:59")), snap("b", at("2026-10-24 12:00:00")),
                  snap("c", at("2026-10-24 12:30:00")), snap("d", newest)},
                 newest) == Lines{"a: forget", "b: within 1d", "c: within 1d", "d: within 1d"});
  }
  SECTION("1d across the spring change is 23 hours") {
    const int64_t newest = at("2026-03-29 12:00:00");
    CHECK(subtract(newest, duration("1d")) == at("2026-03-28 12:00:00"));
    CHECK(newest - subtract(newest, duration("1d")) == 23 * k_hour);
    Policy p;
    p.within = duration("1d");
    // 24 elapsed hours would have put the limit at 11:00 and kept a.
    CHECK(decide(p,
                 {snap("a", at("2026-03-28 11:59:59")), snap("b", at("2026-03-28 12:00:00")),
                  snap("d", newest)},
                 newest) == Lines{"a: forget", "b: within 1d", "d: within 1d"});
  }
  SECTION("hours are elapsed time, not wall clock") {
    // 12:00 CET = 11:00 UTC; 12h earlier is 23:00 UTC = 01:00 CEST.
    CHECK(subtract(at("2026-10-25 12:00:00"), duration("12h")) == at("2026-10-25 01:00:00", 1));
    // 12:00 CEST = 10:00 UTC; 12h earlier is 22:00 UTC = 23:00 CET.
    CHECK(subtract(at("2026-03-29 12:00:00"), duration("12h")) == at("2026-03-28 23:00:00"));
  }
  SECTION("1d back into the spring gap moves forward by the gap") {
    // 2026-03-29 02:30 does not exist; glibc's mktime (tm_isdst = -1) gives 03:30 CEST.
    CHECK(subtract(at("2026-03-30 02:30:00"), duration("1d")) == at("2026-03-29 03:30:00"));
  }
  SECTION("a wall time in the repeated hour is one of its two instants") {
    // 2026-10-25 02:30 happens twice; which one mktime (tm_isdst = -1) picks is up to the C
    // library (glibc: whichever offset its previous call used).
    const int64_t r = subtract(at("2026-10-26 02:30:00"), duration("1d"));
    CHECK((r == at("2026-10-25 02:30:00", 1) || r == at("2026-10-25 02:30:00", 0)));
  }
  SECTION("days, weeks, months, years and the sub-second part") {
    CHECK(subtract(at("2026-11-20 10:00:00"), duration("2w")) == at("2026-11-06 10:00:00"));
    CHECK(subtract(at("2026-03-15 10:00:00"), duration("30d")) == at("2026-02-13 10:00:00"));
    CHECK(subtract(at("2026-09-15 10:00:00"), duration("1y6m")) == at("2025-03-15 10:00:00"));
    CHECK(subtract(at("2026-11-20 10:00:00") + 123456789, duration("1d")) ==
          at("2026-11-19 10:00:00") + 123456789);
  }
  SECTION("1m from 2026-03-31 is mktime's normalisation of 2026-02-31: 2026-03-03") {
    // Not clamped to the end of February: mktime carries the 3 surplus days into March.
    CHECK(subtract(at("2026-03-31 12:00:00"), duration("1m")) == at("2026-03-03 12:00:00"));
  }
  SECTION("1y from the leap day 2028-02-29 is 2027-03-01, not 2027-02-28") {
    // mktime normalises the non-existent 2027-02-29 to 2027-03-01; so keep-within 1y from
    // 2028-02-29 12:00 keeps 2027-03-01 12:00 and forgets 2027-02-28 12:00.
    const int64_t newest = at("2028-02-29 12:00:00");
    CHECK(subtract(newest, duration("1y")) == at("2027-03-01 12:00:00"));
    Policy p;
    p.within = duration("1y");
    CHECK(decide(p,
                 {snap("a", at("2027-02-28 12:00:00")), snap("b", at("2027-03-01 11:59:59")),
                  snap("c", at("2027-03-01 12:00:00")), snap("d", newest)},
                 newest) == Lines{"a: forget", "b: forget", "c: within 1y", "d: within 1y"});
  }
}

// Regression: subtract() once handed a time in the repeated autumn hour back to mktime even for
// a duration of hours only, which lost which of the two instants it was (glibc then picks by
// its previous call) and made keep-within 2h forget a snapshot 90 minutes old.
TEST_CASE_METHOD(BerlinTime,
                 "policy: hours subtracted in the repeated hour count from that instant",
                 "[prune][dst]") {
  const int64_t now = at("2026-10-25 12:00:00");
  const int64_t first = at("2026-10-25 02:30:00", 1);   // 00:30 UTC
  const int64_t second = at("2026-10-25 02:30:00", 0);  // 01:30 UTC
  const int64_t early = at("2026-10-25 01:00:00", 1);   // 23:00 UTC, 90 minutes before first
  // Both instants have the same wall clock, so whatever mktime picks, one of these is wrong
  // (glibc, primed with standard time: 0h back for first; with summer time: 2h back for second).
  (void)at("2026-01-15 12:00:00");
  CHECK(subtract(first, duration("1h")) == first - k_hour);
  (void)at("2026-01-15 12:00:00");
  CHECK(subtract(second, duration("1h")) == second - k_hour);
  (void)at("2026-07-15 12:00:00");
  CHECK(subtract(first, duration("1h")) == first - k_hour);
  (void)at("2026-07-15 12:00:00");
  CHECK(subtract(second, duration("1h")) == second - k_hour);
  // The consequence: keep-within 2h from a newest snapshot at 02:30 CEST forgets a snapshot
  // taken 90 minutes earlier (glibc puts the limit at 23:30 UTC instead of 22:30 UTC).
  Policy p;
  p.within = duration("2h");
  (void)at("2026-01-15 12:00:00");
  std::vector<Decision> out = apply(p, {snap("early", early), snap("newest", first)}, now);
  REQUIRE(out.size() == 2);
  CHECK(out[0].keep);
  CHECK(out[0].reasons == Lines{"within 2h"});
}

TEST_CASE_METHOD(BerlinTime, "policy: ties are broken by id, not by input order", "[prune]") {
  const int64_t t = at("2026-11-20 10:00:00");
  const int64_t now = at("2026-11-21 12:00:00");
  SECTION("keep-last 1 keeps the higher id") {
    Policy p;
    p.last = 1;
    CHECK(decide(p, {snap("aaa", t), snap("bbb", t)}, now) == Lines{"aaa: forget", "bbb: last 1"});
    CHECK(decide(p, {snap("bbb", t), snap("aaa", t)}, now) == Lines{"aaa: forget", "bbb: last 1"});
  }
  SECTION("three equal times: ids in descending order, the bucket goes to the highest") {
    Policy p;
    p.last = 2;
    p.daily = 1;
    CHECK(decide(p, {snap("aaa", t), snap("ccc", t), snap("bbb", t)}, now) ==
          Lines{"aaa: forget", "bbb: last 2", "ccc: last 1, daily 2026-11-20"});
  }
}

TEST_CASE_METHOD(BerlinTime, "policy: future snapshots", "[prune]") {
  const int64_t now = at("2026-11-20 12:00:00");
  SECTION("kept as future, not counted, not the reference of keep-within") {
    // p1 (1 minute ahead) is present: it is "last 1" and the reference, so the limit is
    // 2026-11-19 12:01: p3 (12:05) is kept and p4 (12:00:30) forgotten. Measured from f the
    // limit would be 12:10 (p3 forgotten); from now, 12:00 (p4 kept).
    Policy p;
    p.last = 1;
    p.within = duration("1d");
    p.tags = {"x"};
    CHECK(decide(p,
                 {snap("f", now + 10 * k_minute, {"x"}), snap("g", at("2026-11-23 09:00:00")),
                  snap("p1", now + k_minute), snap("p2", now - k_hour),
                  snap("p3", at("2026-11-19 12:05:00")), snap("p4", at("2026-11-19 12:00:30"))},
                 now) == Lines{"f: future", "g: future", "p1: last 1, within 1d", "p2: within 1d",
                               "p3: within 1d", "p4: forget"});
  }
  SECTION("the slack is 5 minutes, inclusive; future days use no daily bucket") {
    Policy p;
    p.daily = 1;
    CHECK(decide(p,
                 {snap("edge", now + 5 * k_minute), snap("over", now + 5 * k_minute + 1),
                  snap("old", now - 24 * k_hour)},
                 now) == Lines{"edge: daily 2026-11-20", "old: forget", "over: future"});
  }
  SECTION("only future snapshots: all kept, the within rules have no reference") {
    Policy p;
    p.last = 3;
    p.within = duration("1d");
    p.within_daily = duration("7d");
    CHECK(decide(p, {snap("f1", now + k_hour), snap("f2", now + 2 * k_hour)}, now) ==
          Lines{"f1: future", "f2: future"});
  }
}

TEST_CASE_METHOD(BerlinTime, "policy: keep-tag and the exact reasons", "[prune]") {
  const int64_t now = at("2026-11-21 12:00:00");
  SECTION("every policy tag a snapshot carries is a reason, in policy order") {
    Policy p;
    p.last = 1;
    p.tags = {"x", "y"};
    CHECK(decide(p,
                 {snap("a", at("2026-11-17 10:00:00"), {"y", "x"}),
                  snap("b", at("2026-11-18 10:00:00"), {"z"}),
                  snap("c", at("2026-11-19 10:00:00"), {"x"}),
                  snap("d", at("2026-11-20 10:00:00"), {"x"})},
                 now) == Lines{"a: tag x, tag y", "b: forget", "c: tag x", "d: last 1, tag x"});
  }
  SECTION("all rules at once: reasons in rule order") {
    Policy p;
    p.last = 1;
    p.tags = {"x"};
    p.within = duration("1d");
    p.hourly = p.daily = p.weekly = p.monthly = p.yearly = 1;
    p.within_hourly = duration("2h");
    p.within_daily = duration("1d");
    p.within_weekly = duration("1w");
    p.within_monthly = duration("1m");
    p.within_yearly = duration("1y");
    CHECK(decide(p, {snap("a", at("2026-11-20 10:15:00"), {"x"})}, now) ==
          Lines{"a: last 1, tag x, within 1d, hourly 2026-11-20 10:00 +0100, daily 2026-11-20, "
                "weekly 2026-W47, monthly 2026-11, yearly 2026, within-hourly 2026-11-20 10:00 "
                "+0100, within-daily 2026-11-20, within-weekly 2026-W47, within-monthly 2026-11, "
                "within-yearly 2026"});
  }
  SECTION("an empty policy forgets everything but the future (callers check empty())") {
    CHECK(decide(Policy{}, {snap("a", at("2026-11-20 10:00:00")), snap("f", now + k_hour)}, now) ==
          Lines{"a: forget", "f: future"});
  }
}

TEST_CASE("policy: parse_duration accepts y, m, w, d and h", "[prune]") {
  struct Row {
    const char* text;
    int years, months, days, hours;
    const char* canonical;
  };
  const Row rows[] = {
      {"30d", 0, 0, 30, 0, "30d"},
      {"1y6m", 1, 6, 0, 0, "1y6m"},
      {"12h", 0, 0, 0, 12, "12h"},
      {"2w", 0, 0, 14, 0, "14d"},
      {"1w2d", 0, 0, 9, 0, "9d"},
      {"6m1y", 1, 6, 0, 0, "1y6m"},
      {"1y2m3d4h", 1, 2, 3, 4, "1y2m3d4h"},
      {"007d", 0, 0, 7, 0, "7d"},
      {"999999h", 0, 0, 0, 999999, "999999h"},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    Duration d = parse_duration(r.text, "--keep-within");
    CHECK(d.years == r.years);
    CHECK(d.months == r.months);
    CHECK(d.days == r.days);
    CHECK(d.hours == r.hours);
    CHECK_FALSE(d.empty());
    CHECK(d.text() == r.canonical);
  }
  // Zero parses, and is the empty duration: a rule of "0d" is no rule at all.
  CHECK(parse_duration("0d", "--keep-within").empty());
  CHECK(Duration{}.text() == "0h");
}

TEST_CASE("policy: parse_duration rejects anything else with a usage error", "[prune]") {
  for (const char* bad :
       {"", "d", "5", "5x", "1.5d", "-1d", "+1d", " 5d", "5d ", "5D", "1234567d", "1d2", "y1"}) {
    INFO("'" << bad << "'");
    CHECK_THROWS_AS(parse_duration(bad, "--keep-within"), UsageError);
  }
  try {
    parse_duration("5x", "--keep-within");
    FAIL("no exception");
  } catch (const UsageError& e) {
    CHECK(e.code() == Exit::usage);
  }
  CHECK_THROWS_WITH(parse_duration("", "--keep-within"),
                    "--keep-within is empty (use a duration like 30d)");
  CHECK_THROWS_WITH(parse_duration("5", "--keep-within"),
                    "--keep-within '5' is not a duration (like 30d, 1y6m, 12h, 2w)");
  CHECK_THROWS_WITH(parse_duration("5x", "--keep-within"),
                    "--keep-within '5x': unknown unit 'x' (use y, m, w, d or h)");
  CHECK_THROWS_WITH(parse_duration("1.5d", "--keep-within"),
                    "--keep-within '1.5d': unknown unit '.' (use y, m, w, d or h)");
}

TEST_CASE("policy: empty() and text()", "[prune]") {
  Policy none;
  CHECK(none.empty());
  CHECK(none.text() == "(none)");
  none.within = parse_duration("0d", "--keep-within");
  CHECK(none.empty());

  Policy some;
  some.last = 3;
  some.daily = 7;
  some.within = parse_duration("30d", "--keep-within");
  CHECK_FALSE(some.empty());
  CHECK(some.text() == "last 3, daily 7, within 30d");

  Policy all;
  all.last = 3;
  all.hourly = 24;
  all.daily = 7;
  all.weekly = 4;
  all.monthly = 12;
  all.yearly = 2;
  all.within = parse_duration("30d", "w");
  all.within_hourly = parse_duration("2d", "w");
  all.within_daily = parse_duration("2w", "w");
  all.within_weekly = parse_duration("2m", "w");
  all.within_monthly = parse_duration("1y", "w");
  all.within_yearly = parse_duration("10y", "w");
  all.tags = {"keep", "important"};
  CHECK(all.text() ==
        "last 3, hourly 24, daily 7, weekly 4, monthly 12, yearly 2, within 30d, "
        "within-hourly 2d, within-daily 14d, within-weekly 2m, within-monthly 1y, "
        "within-yearly 10y, tag keep, tag important");

  // Any single rule makes a policy non-empty.
  const auto set = std::vector<void (*)(Policy&)>{
      [](Policy& p) { p.last = 1; },
      [](Policy& p) { p.hourly = 1; },
      [](Policy& p) { p.daily = 1; },
      [](Policy& p) { p.weekly = 1; },
      [](Policy& p) { p.monthly = 1; },
      [](Policy& p) { p.yearly = 1; },
      [](Policy& p) { p.within.hours = 1; },
      [](Policy& p) { p.within_hourly.hours = 1; },
      [](Policy& p) { p.within_daily.days = 1; },
      [](Policy& p) { p.within_weekly.days = 7; },
      [](Policy& p) { p.within_monthly.months = 1; },
      [](Policy& p) { p.within_yearly.years = 1; },
      [](Policy& p) { p.tags = {"x"}; },
  };
  for (size_t i = 0; i < set.size(); ++i) {
    INFO("rule " << i);
    Policy p;
    set[i](p);
    CHECK_FALSE(p.empty());
    CHECK(p.text() != "(none)");
  }
}
