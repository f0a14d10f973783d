// Retention policies (backup-prune forget): which snapshots a policy keeps, and why. Pure
// functions over snapshot times in the local time zone (TZ), so every rule is testable by
// table: DST changes, leap years, ties, equal timestamps, snapshots dated in the future.
// Value types; thread-safe (localtime_r).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lifeboat::ops::prune {

// A calendar duration: "1y6m", "30d", "12h", "2w" (y years, m months, w weeks, d days, h hours).
struct Duration {
  int years = 0, months = 0, days = 0, hours = 0;
  bool empty() const { return !years && !months && !days && !hours; }
  std::string text() const;
};
// Throws UsageError naming `what` for anything else.
Duration parse_duration(const std::string& text, const std::string& what);
// t minus the duration, in calendar arithmetic in the local time zone.
int64_t subtract(int64_t time_ns, const Duration& d);

struct Policy {
  unsigned last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  Duration within, within_hourly, within_daily, within_weekly, within_monthly, within_yearly;
  std::vector<std::string> tags;  // keep every snapshot carrying one of these
  bool empty() const;
  std::string text() const;  // "last 3, daily 7, within 30d"
};

// A policy from (option name, value) pairs as in the configuration's retention: keep-last 7,
// keep-within 30d, keep-tag x, ...; throws UsageError naming `where` for a bad value.
Policy policy_from_rules(const std::vector<std::pair<std::string, std::string>>& rules,
                         const std::string& where);

struct Candidate {
  std::string id;  // for ordering ties and for messages
  int64_t time_ns = 0;
  std::vector<std::string> tags;
};

struct Decision {
  bool keep = false;
  std::vector<std::string> reasons;  // "last 1", "daily 2026-11-20", "tag weekly", "future"
};

// Decides for one group of snapshots. Snapshots newer than now_ns + 5 minutes are "future":
// kept, never counted against any rule, and never the reference of the within rules.
// Returns one decision per candidate, in the input order.
std::vector<Decision> apply(const Policy& policy, const std::vector<Candidate>& group,
                            int64_t now_ns);

}  // namespace lifeboat::ops::prune
