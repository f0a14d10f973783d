// backup-prune forget: groups snapshots (by host and job unless told otherwise), applies the
// retention policy to each group, shows every decision with the rule behind it, and forgets
// the rest (one signed tombstone, then the snapshot objects). Data is freed by gc.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/ops/prune/prune.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/source/postgres/wal.hpp"

namespace lifeboat::ops::prune {
namespace {

// The WAL of a PostgreSQL job is kept while a kept base backup needs it: every segment from the
// first WAL file of the oldest kept base backup on (on any timeline), and timeline history
// files. Segments older than that are what only forgotten base backups needed. A job with no
// base backup at all keeps its WAL (nothing says what it is for).
void decide_wal(const std::vector<const repo::SnapshotRecord*>& members,
                std::vector<Decision>& decisions) {
  namespace pg = source::postgres;
  bool any_base = false;
  std::optional<pg::WalPosition> oldest;  // the first WAL file of the oldest kept base backup
  std::string oldest_id;
  for (size_t i = 0; i < members.size(); ++i) {
    const auto& s = members[i]->snapshot;
    if (s.kind != "postgres-base") continue;
    any_base = true;
    auto it = s.meta.find("postgres.start_wal_file");
    if (!decisions[i].keep || it == s.meta.end()) continue;
    auto start = pg::wal_position(it->second);
    if (start && (!oldest || *start < *oldest))
      oldest = start, oldest_id = members[i]->id.hex().substr(0, 8);
  }
  for (size_t i = 0; i < members.size(); ++i) {
    const auto& s = members[i]->snapshot;
    if (s.kind != "postgres-wal") continue;
    if (!any_base) {
      decisions[i] = {true, {"archived WAL (the job has no base backup)"}};
      continue;
    }
    bool needed = false;
    for (const auto& [k, v] : s.meta) {
      if (k.rfind(pg::k_wal_meta_prefix, 0) != 0) continue;
      std::string name = k.substr(pg::k_wal_meta_prefix.size());
      if (pg::wal_file_kind(name) == pg::WalFile::history) needed = true;
      auto at = pg::wal_position(name);
      if (at && oldest && !(*at < *oldest)) needed = true;
    }
    decisions[i] = needed ? Decision{true, {"WAL needed by base backup " + oldest_id}}
                          : Decision{false, {"WAL older than every kept base backup"}};
  }
}
using nlohmann::json;

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

struct Group {
  std::map<std::string, std::string> key;  // field -> value
  std::vector<const repo::SnapshotRecord*> members;
  std::optional<Policy> policy;
  std::string policy_source;  // "command line", "job etc", or why there is none
  std::vector<Decision> decisions;
};

std::map<std::string, std::string> group_key(const repo::Snapshot& s,
                                             const std::vector<std::string>& by) {
  std::map<std::string, std::string> k;
  for (auto& f : by) {
    if (f == "host") k[f] = s.host;
    if (f == "job") k[f] = s.job;
    if (f == "paths") k[f] = join(s.paths, " ");
    if (f == "tags") {
      auto t = s.tags;
      std::sort(t.begin(), t.end());
      k[f] = join(t, ",");
    }
  }
  return k;
}

std::string describe_key(const std::map<std::string, std::string>& key) {
  std::string s;
  for (auto& [f, v] : key)
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", f, v.empty() ? "-" : printable(v));
  return s.empty() ? "all snapshots" : s;
}

}  // namespace

int forget(repo::Repository& repo, const ForgetOptions& o, std::vector<Id32>* removed,
           json* json_out) {
  for (auto& f : o.group_by)
    if (f != "host" && f != "job" && f != "paths" && f != "tags")
      throw UsageError("--group-by: unknown field '{}' (use host, job, paths and/or tags)", f);
  if (!o.snapshots.empty() && o.policy)
    throw UsageError("give either snapshot ids or a policy (--keep-*), not both");
  if (!o.policy && o.snapshots.empty() && o.job_policies.empty() && !o.default_policy)
    throw UsageError(
        "no retention policy: give --keep-last/--keep-daily/... (see backup-prune(1)), snapshot "
        "ids, or a job with 'retention:' in the configuration");
  if (!o.policy && o.snapshots.empty() &&
      std::find(o.group_by.begin(), o.group_by.end(), "job") == o.group_by.end())
    throw UsageError("the configuration's per-job policies need --group-by to include 'job'");
  if (o.policy && o.policy->empty() && !o.allow_remove_all)
    throw UsageError("the policy keeps nothing; add --allow-remove-all to forget every snapshot");
  int64_t now = o.now_ns ? o.now_ns : repo::now_ns();

  std::unique_ptr<repo::RepoLock> lock;
  if (!o.dry_run) {
    if (repo.unlocked().slot.access != repo::Access::full)
      throw Error(Exit::not_permitted,
                  "forgetting snapshots needs a full key, but key slot {} is write-only (it can "
                  "back up, not delete); run forget where a full key is kept",
                  repo.unlocked().slot.id.hex().substr(0, 8));
    lock = repo::RepoLock::acquire(repo, false, "forget");
  }
  auto records = repo.load_snapshots();
  // S3 Object Lock: a snapshot whose object is still retained (its upload's retention, or one a
  // prune extended) is kept whatever the policy says; deleting it would only hide it behind a
  // delete marker.
  auto under_retention = [&](const repo::SnapshotRecord& r) -> std::optional<std::string> {
    if (!o.retention_ns) return std::nullopt;
    int64_t until = repo.storage().retained_until(repo::object_key(repo::Kind::snapshot, r.id));
    if (until <= now) return std::nullopt;
    return "object lock retention until " + repo::format_time(until);
  };

  std::vector<std::pair<const repo::SnapshotRecord*, std::string>> explicit_removals;
  std::vector<Group> groups;
  std::vector<const repo::SnapshotRecord*> untouchable;  // damaged or untrusted
  if (!o.snapshots.empty()) {
    for (auto& spec : o.snapshots) {
      if (spec == "latest") throw UsageError("forget does not take 'latest': name the snapshot");
      const auto& r = repo::resolve_snapshot(records, spec, {});
      explicit_removals.emplace_back(&r, "named on the command line");
    }
  } else {
    for (auto& r : records) {
      if (r.damaged || !r.trusted) {
        untouchable.push_back(&r);
        continue;
      }
      if (!o.filter.matches(r.snapshot)) continue;
      auto key = group_key(r.snapshot, o.group_by);
      auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.key == key; });
      if (it == groups.end()) {
        groups.push_back({key, {}, {}, {}, {}});
        it = groups.end() - 1;
      }
      it->members.push_back(&r);
    }
    for (auto& g : groups) {
      if (o.policy) {
        g.policy = o.policy;
        g.policy_source = "command line";
      } else {
        const std::string& job = g.key["job"];
        auto it = o.job_policies.find(job);
        if (it != o.job_policies.end()) {
          g.policy = it->second;
          g.policy_source = "job " + job;
        } else if (o.default_policy) {
          g.policy = o.default_policy;
          g.policy_source = "repository's retention";
        } else {
          g.policy_source = job.empty() ? "no job: no policy in the configuration"
                                        : "job " + job + " has no retention policy";
        }
      }
      // Archived WAL is not judged by the policy: it goes with the base backups that need it.
      std::vector<Candidate> cands;
      std::vector<size_t> judged;
      for (size_t i = 0; i < g.members.size(); ++i) {
        const auto* r = g.members[i];
        if (r->snapshot.kind == "postgres-wal") continue;
        cands.push_back({r->id.hex(), r->snapshot.time_ns, r->snapshot.tags});
        judged.push_back(i);
      }
      g.decisions.assign(g.members.size(), Decision{true, {"no policy"}});
      if (g.policy) {
        auto decided = apply(*g.policy, cands, now);
        for (size_t k = 0; k < judged.size(); ++k) g.decisions[judged[k]] = decided[k];
      }
      decide_wal(g.members, g.decisions);
      for (size_t i = 0; i < g.members.size(); ++i) {
        auto& d = g.decisions[i];
        if (d.keep && d.reasons.size() == 1 && d.reasons[0] == "future")
          log::warn(
              "snapshot {} of {} is dated in the future ({}): kept, and not counted by the policy",
              g.members[i]->id.hex().substr(0, 12), describe_key(g.key),
              repo::format_time(g.members[i]->snapshot.time_ns));
        if (!d.keep) {
          if (auto why = under_retention(*g.members[i])) {
            d.keep = true;
            d.reasons.push_back(*why);
          }
        }
      }
      bool any_kept = std::any_of(g.decisions.begin(), g.decisions.end(),
                                  [](const Decision& d) { return d.keep; });
      if (!any_kept && !g.members.empty() && !o.allow_remove_all)
        throw UsageError(
            "the policy ({}, from the {}) would forget every snapshot of {}; nothing was changed "
            "(add --allow-remove-all if that is intended)",
            g.policy->text(), g.policy_source, describe_key(g.key));
    }
  }

  // Newest first inside each group.
  std::vector<Id32> remove;
  json jgroups = json::array();
  auto emit = [&](const repo::SnapshotRecord& r, bool keep, const std::vector<std::string>& why,
                  json& jlist) {
    const auto& s = r.snapshot;
    if (!keep) remove.push_back(r.id);
    if (o.json) {
      jlist.push_back({{"id", r.id.hex()},
                       {"time", repo::format_time(s.time_ns)},
                       {"time_ns", s.time_ns},
                       {"host", printable(s.host)},
                       {"job", printable(s.job)},
                       {"tags", s.tags},
                       {"action", keep ? "keep" : "remove"},
                       {"reasons", why}});
    } else {
      fmt::print("  {:<6}  {}  {}  {}\n", keep ? "keep" : "remove", r.id.hex().substr(0, 12),
                 repo::format_time(s.time_ns), why.empty() ? "" : printable(join(why, ", ")));
    }
  };
  if (!explicit_removals.empty()) {
    if (!o.json) fmt::print("snapshots named on the command line:\n");
    json list = json::array();
    for (auto& [r, why] : explicit_removals) {
      auto retained = under_retention(*r);
      emit(*r, bool(retained), {retained ? *retained : why}, list);
    }
    jgroups.push_back(
        {{"group", json::object()}, {"policy", "snapshots named"}, {"snapshots", list}});
  }
  for (auto& g : groups) {
    std::vector<size_t> order(g.members.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      auto ta = g.members[a]->snapshot.time_ns, tb = g.members[b]->snapshot.time_ns;
      return ta != tb ? ta > tb : g.members[a]->id > g.members[b]->id;
    });
    std::string policy = g.policy ? g.policy->text() : "(none)";
    if (!o.json) fmt::print("{}: policy {} ({})\n", describe_key(g.key), policy, g.policy_source);
    json list = json::array();
    for (size_t i : order) emit(*g.members[i], g.decisions[i].keep, g.decisions[i].reasons, list);
    json key = json::object();
    for (auto& [f, v] : g.key) key[f] = printable(v);
    jgroups.push_back({{"group", key},
                       {"policy", policy},
                       {"policy_source", g.policy_source},
                       {"snapshots", list}});
  }
  if (!untouchable.empty()) {
    if (!o.json) fmt::print("not judged by the policy (forget them by id after checking them):\n");
    json list = json::array();
    for (auto* r : untouchable)
      emit(*r, true,
           {r->damaged ? "damaged: " + r->signer_status : "untrusted: " + r->signer_status}, list);
    jgroups.push_back({{"group", json::object()}, {"policy", "(not judged)"}, {"snapshots", list}});
  }

  size_t total = explicit_removals.size() + untouchable.size();
  for (auto& g : groups) total += g.members.size();
  if (!o.dry_run && !remove.empty()) repo.forget(remove);
  if (lock) lock->release();
  if (removed) *removed = remove;
  if (o.json) {
    json doc{{"dry_run", o.dry_run},
             {"removed", remove.size()},
             {"kept", total - remove.size()},
             {"groups", jgroups}};
    if (json_out)
      *json_out = std::move(doc);
    else
      fmt::print("{}\n", doc.dump(-1, ' ', false, json::error_handler_t::replace));
  } else {
    log::info("{} {} of {} snapshot(s); {} kept", o.dry_run ? "would forget" : "forgot",
              remove.size(), total, total - remove.size());
  }
  return 0;
}

}  // namespace lifeboat::ops::prune
