#include "lifeboat/ops/prune/policy.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <numeric>

#include "lifeboat/core/error.hpp"

namespace lifeboat::ops::prune {
namespace {

constexpr int64_t k_ns = 1'000'000'000;
constexpr int64_t k_future_slack_ns = 300 * k_ns;

std::tm local(int64_t time_ns) {
  std::time_t t = static_cast<std::time_t>(time_ns / k_ns - (time_ns % k_ns < 0 ? 1 : 0));
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

// The bucket a snapshot falls in for a calendar rule, in local time. Hours carry the UTC
// offset, so the repeated hour of a DST change is two hours, as it is on the clock.
std::string bucket(int64_t time_ns, char unit) {
  std::tm tm = local(time_ns);
  char buf[64];
  switch (unit) {
    case 'h':
      std::strftime(buf, sizeof buf, "%Y-%m-%d %H:00 %z", &tm);
      break;
    case 'd':
      std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
      break;
    case 'w':
      std::strftime(buf, sizeof buf, "%G-W%V", &tm);
      break;
    case 'm':
      std::strftime(buf, sizeof buf, "%Y-%m", &tm);
      break;
    default:
      std::strftime(buf, sizeof buf, "%Y", &tm);
      break;
  }
  return buf;
}

}  // namespace

std::string Duration::text() const {
  std::string s;
  if (years) s += std::to_string(years) + "y";
  if (months) s += std::to_string(months) + "m";
  if (days) s += std::to_string(days) + "d";
  if (hours) s += std::to_string(hours) + "h";
  return s.empty() ? "0h" : s;
}

Duration parse_duration(const std::string& text, const std::string& what) {
  Duration d;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start || i == text.size() || i - start > 6)
      throw UsageError("{} '{}' is not a duration (like 30d, 1y6m, 12h, 2w)", what, text);
    int n = std::stoi(text.substr(start, i - start));
    switch (text[i]) {
      case 'y':
        d.years += n;
        break;
      case 'm':
        d.months += n;
        break;
      case 'w':
        d.days += 7 * n;
        break;
      case 'd':
        d.days += n;
        break;
      case 'h':
        d.hours += n;
        break;
      default:
        throw UsageError("{} '{}': unknown unit '{}' (use y, m, w, d or h)", what, text, text[i]);
    }
    ++i;
    any = true;
  }
  if (!any) throw UsageError("{} is empty (use a duration like 30d)", what);
  return d;
}

int64_t subtract(int64_t time_ns, const Duration& d) {
  // Hours are elapsed time: subtracted from the instant itself, never through mktime, which
  // cannot tell the two occurrences of the repeated autumn hour apart.
  int64_t out = time_ns;
  if (d.years || d.months || d.days) {
    std::tm tm = local(time_ns);
    tm.tm_year -= d.years;
    tm.tm_mon -= d.months;
    tm.tm_mday -= d.days;
    tm.tm_isdst = -1;  // let mktime find the offset of the new date
    std::time_t t = std::mktime(&tm);
    out = static_cast<int64_t>(t) * k_ns + ((time_ns % k_ns) + k_ns) % k_ns;
  }
  return out - static_cast<int64_t>(d.hours) * 3600 * k_ns;
}

bool Policy::empty() const {
  return !last && !hourly && !daily && !weekly && !monthly && !yearly && within.empty() &&
         within_hourly.empty() && within_daily.empty() && within_weekly.empty() &&
         within_monthly.empty() && within_yearly.empty() && tags.empty();
}

std::string Policy::text() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (last) add("last " + std::to_string(last));
  if (hourly) add("hourly " + std::to_string(hourly));
  if (daily) add("daily " + std::to_string(daily));
  if (weekly) add("weekly " + std::to_string(weekly));
  if (monthly) add("monthly " + std::to_string(monthly));
  if (yearly) add("yearly " + std::to_string(yearly));
  if (!within.empty()) add("within " + within.text());
  if (!within_hourly.empty()) add("within-hourly " + within_hourly.text());
  if (!within_daily.empty()) add("within-daily " + within_daily.text());
  if (!within_weekly.empty()) add("within-weekly " + within_weekly.text());
  if (!within_monthly.empty()) add("within-monthly " + within_monthly.text());
  if (!within_yearly.empty()) add("within-yearly " + within_yearly.text());
  for (const auto& t : tags) add("tag " + t);
  return s.empty() ? "(none)" : s;
}

Policy policy_from_rules(const std::vector<std::pair<std::string, std::string>>& rules,
                         const std::string& where) {
  Policy p;
  for (const auto& rule : rules) {
    const std::string& key = rule.first;
    const std::string& value = rule.second;
    std::string what = where + ": " + key;
    auto count = [&](unsigned& out) {
      char* end = nullptr;
      unsigned long v = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end || v > 1000000)
        throw UsageError("{} is '{}', not a count from 0 to 1000000", what, value);
      out = static_cast<unsigned>(v);
    };
    if (key == "keep-last")
      count(p.last);
    else if (key == "keep-hourly")
      count(p.hourly);
    else if (key == "keep-daily")
      count(p.daily);
    else if (key == "keep-weekly")
      count(p.weekly);
    else if (key == "keep-monthly")
      count(p.monthly);
    else if (key == "keep-yearly")
      count(p.yearly);
    else if (key == "keep-within")
      p.within = parse_duration(value, what);
    else if (key == "keep-within-hourly")
      p.within_hourly = parse_duration(value, what);
    else if (key == "keep-within-daily")
      p.within_daily = parse_duration(value, what);
    else if (key == "keep-within-weekly")
      p.within_weekly = parse_duration(value, what);
    else if (key == "keep-within-monthly")
      p.within_monthly = parse_duration(value, what);
    else if (key == "keep-within-yearly")
      p.within_yearly = parse_duration(value, what);
    else if (key == "keep-tag")
      p.tags.push_back(value);
    else
      throw UsageError("{}: unknown retention rule '{}'", where, key);
  }
  return p;
}

std::vector<Decision> apply(const Policy& p, const std::vector<Candidate>& group, int64_t now_ns) {
  std::vector<Decision> out(group.size());
  // Newest first; equal times ordered by id so the outcome never depends on listing order.
  std::vector<size_t> order(group.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (group[a].time_ns != group[b].time_ns) return group[a].time_ns > group[b].time_ns;
    return group[a].id > group[b].id;
  });
  std::vector<size_t> present;  // not in the future, newest first
  for (size_t i : order) {
    if (group[i].time_ns > now_ns + k_future_slack_ns) {
      out[i].keep = true;
      out[i].reasons.push_back("future");
    } else {
      present.push_back(i);
    }
  }
  auto keep = [&](size_t i, std::string why) {
    out[i].keep = true;
    out[i].reasons.push_back(std::move(why));
  };
  for (size_t n = 0; n < present.size() && n < p.last; ++n)
    keep(present[n], fmt::format("last {}", n + 1));
  for (size_t i : present)
    for (const auto& t : p.tags)
      if (std::find(group[i].tags.begin(), group[i].tags.end(), t) != group[i].tags.end())
        keep(i, "tag " + t);
  int64_t latest = present.empty() ? 0 : group[present.front()].time_ns;
  if (!p.within.empty() && !present.empty()) {
    int64_t limit = subtract(latest, p.within);
    for (size_t i : present)
      if (group[i].time_ns >= limit) keep(i, "within " + p.within.text());
  }
  struct Rule {
    unsigned count;
    const Duration* within;
    char unit;
    const char* name;
  };
  const Rule rules[] = {
      {p.hourly, nullptr, 'h', "hourly"},
      {p.daily, nullptr, 'd', "daily"},
      {p.weekly, nullptr, 'w', "weekly"},
      {p.monthly, nullptr, 'm', "monthly"},
      {p.yearly, nullptr, 'y', "yearly"},
      {0, &p.within_hourly, 'h', "within-hourly"},
      {0, &p.within_daily, 'd', "within-daily"},
      {0, &p.within_weekly, 'w', "within-weekly"},
      {0, &p.within_monthly, 'm', "within-monthly"},
      {0, &p.within_yearly, 'y', "within-yearly"},
  };
  for (const Rule& r : rules) {
    bool by_time = r.within && !r.within->empty();
    if (!by_time && r.count == 0) continue;
    int64_t limit = by_time ? subtract(latest, *r.within) : 0;
    unsigned left = r.count;
    std::string last_bucket;
    // The newest snapshot of each bucket is the one kept for it.
    for (size_t i : present) {
      if (by_time ? group[i].time_ns < limit : left == 0) break;
      std::string b = bucket(group[i].time_ns, r.unit);
      if (b == last_bucket) continue;
      last_bucket = b;
      keep(i, std::string(r.name) + " " + b);
      if (!by_time) --left;
    }
  }
  return out;
}

}  // namespace lifeboat::ops::prune
