// backup-prune: forget snapshots by a retention policy, and delete the data no snapshot needs.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "lifeboat/cli/tool.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/ops/prune/prune.hpp"

using namespace lifeboat;

namespace {

constexpr int64_t k_ns = 1000000000;

// "512M", "2G", "100k", "1000" (bytes).
uint64_t parse_size(const std::string& text, const std::string& what) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  uint64_t unit = 1;
  std::string suffix = end ? end : "";
  if (suffix == "k" || suffix == "K" || suffix == "KiB")
    unit = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB")
    unit = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB")
    unit = 1ull << 30;
  else if (suffix == "T" || suffix == "TiB")
    unit = 1ull << 40;
  else if (!suffix.empty())
    v = -1;
  if (text.empty() || end == text.c_str() || v < 0)
    throw UsageError("{} '{}' is not a size (like 512M, 2G or a number of bytes)", what, text);
  return static_cast<uint64_t>(v * double(unit));
}

// Durations for --grace: "1h", "30m" is months in policies, so here only d/h and "0".
int64_t parse_grace(const std::string& text) {
  if (text == "0") return 0;
  auto d = ops::prune::parse_duration(text, "--grace");
  if (d.years || d.months)
    throw UsageError("--grace '{}': use days and hours (like 1h or 2d)", text);
  return (int64_t{d.days} * 86400 + int64_t{d.hours} * 3600) * k_ns;
}

int64_t object_lock_retention(const storage::Options& so) {
  return so.s3.object_lock_mode.empty() ? 0 : int64_t{so.s3.object_lock_days} * 86400 * k_ns;
}

// Refuses when the repository is marked append-only in the configuration: checked before the
// repository is opened, so no secret or server is needed to be told so.
void refuse_append_only(const cli::Context& ctx, const std::string& job) {
  const auto* rc = ctx.repository_config(job);
  if (rc && rc->append_only)
    throw Error(Exit::not_permitted,
                "repository '{}' is marked append-only in {}: forget and prune are refused there; "
                "nothing was changed (run them from a host whose configuration allows deletes)",
                rc->name, ctx.config.path);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool(
      "backup-prune",
      "Forget snapshots by a retention policy, and delete the data no snapshot needs.", argc, argv,
      [](CLI::App& app, cli::Context& ctx) -> std::function<int(cli::Context&)> {
        static ops::prune::GcOptions g;
        static std::string max_unused = "10%", max_repack, grace = "1h";
        static bool gc_dry_run = false;
        app.add_flag("--dry-run", gc_dry_run, "Show what would be deleted and repacked");
        CLI::Option* gc_only[] = {
            app.add_option("--max-unused", max_unused,
                           "Repack packs with more than PCT unused (default 10%)")
                ->type_name("PCT"),
            app.add_option("--max-repack-size", max_repack,
                           "Repack at most SIZE of packs per run (like 2G)")
                ->type_name("SIZE"),
            app.add_option("--grace", grace,
                           "Delete condemned packs only after DURATION (default 1h; 0 for none)")
                ->type_name("DURATION")};

        auto* forget = app.add_subcommand("forget", "Forget snapshots by a retention policy");
        static ops::prune::ForgetOptions f;
        static ops::prune::Policy p;
        static std::string within[6];
        static const char* within_names[6] = {"within",        "within-hourly",  "within-daily",
                                              "within-weekly", "within-monthly", "within-yearly"};
        static std::string group_by = "host,job";
        static bool forget_then_prune = false;
        forget->add_option("snapshots", f.snapshots, "Forget exactly these snapshots (ids)")
            ->type_name("SNAPSHOT");
        forget->add_option("--keep-last", p.last, "Keep the N newest snapshots")->type_name("N");
        forget->add_option("--keep-hourly", p.hourly, "Keep the newest of each of N hours")
            ->type_name("N");
        forget->add_option("--keep-daily", p.daily, "Keep the newest of each of N days")
            ->type_name("N");
        forget->add_option("--keep-weekly", p.weekly, "Keep the newest of each of N weeks")
            ->type_name("N");
        forget->add_option("--keep-monthly", p.monthly, "Keep the newest of each of N months")
            ->type_name("N");
        forget->add_option("--keep-yearly", p.yearly, "Keep the newest of each of N years")
            ->type_name("N");
        forget
            ->add_option("--keep-within", within[0],
                         "Keep every snapshot within DURATION of the newest (like 30d, 1y6m)")
            ->type_name("DURATION");
        forget
            ->add_option("--keep-within-hourly", within[1],
                         "Keep the newest of each hour within DURATION")
            ->type_name("DURATION");
        forget
            ->add_option("--keep-within-daily", within[2],
                         "Keep the newest of each day within DURATION")
            ->type_name("DURATION");
        forget
            ->add_option("--keep-within-weekly", within[3],
                         "Keep the newest of each week within DURATION")
            ->type_name("DURATION");
        forget
            ->add_option("--keep-within-monthly", within[4],
                         "Keep the newest of each month within DURATION")
            ->type_name("DURATION");
        forget
            ->add_option("--keep-within-yearly", within[5],
                         "Keep the newest of each year within DURATION")
            ->type_name("DURATION");
        forget->add_option("--keep-tag", p.tags, "Keep every snapshot with this tag (repeatable)")
            ->type_name("TAG")
            ->allow_extra_args(false);
        forget
            ->add_option("--group-by", group_by,
                         "Apply the policy per group of: host,job (default), paths, tags; "
                         "'' for one group")
            ->type_name("FIELDS");
        forget->add_option("--job", f.filter.job, "Only snapshots of this job")->type_name("NAME");
        forget->add_option("--host", f.filter.host, "Only snapshots of this host")
            ->type_name("NAME");
        forget->add_option("--tag", f.filter.tags, "Only snapshots with this tag (repeatable)")
            ->type_name("TAG")
            ->allow_extra_args(false);
        forget->add_flag("--dry-run", f.dry_run, "Show every decision; forget nothing");
        forget->add_flag("--allow-remove-all", f.allow_remove_all,
                         "Allow a policy that forgets every snapshot of a group");
        forget->add_flag("--prune", forget_then_prune,
                         "Run the garbage collection afterwards (with the options given before "
                         "'forget')");

        auto* rebuild = app.add_subcommand(
            "rebuild-index",
            "Rebuild the index from the packs' own headers (after damage to index files or "
            "lost packs)");
        static ops::prune::RebuildOptions r;
        rebuild->add_flag("--dry-run", r.dry_run, "Show what would be rebuilt; change nothing");

        return [=](cli::Context& ctx) -> int {
          if (*rebuild) {
            for (auto* opt : gc_only)
              if (opt->count())
                throw UsageError(
                    "{} is a garbage-collection setting; rebuild-index takes only "
                    "--dry-run",
                    opt->get_name());
            ops::prune::RebuildOptions o = r;
            o.dry_run = r.dry_run || gc_dry_run;
            o.json = ctx.global.json;
            if (!o.dry_run) refuse_append_only(ctx, "");
            auto repo = ctx.open();
            if (!o.dry_run) ops::prune::require_deletes(*repo);
            return ops::prune::rebuild_index(*repo, o);
          }
          // Garbage-collection settings (also used by forget --prune).
          std::string mu = max_unused;
          if (!mu.empty() && mu.back() == '%') mu.pop_back();
          char* end = nullptr;
          g.max_unused_percent = std::strtod(mu.c_str(), &end);
          if (mu.empty() || *end || g.max_unused_percent < 0 || g.max_unused_percent > 100)
            throw UsageError("--max-unused '{}' is not a percentage from 0 to 100", max_unused);
          g.max_repack_bytes = max_repack.empty() ? 0 : parse_size(max_repack, "--max-repack-size");
          g.grace_ns = parse_grace(grace);
          g.json = ctx.global.json;
          g.retention_ns = object_lock_retention(ctx.storage_options(f.filter.job));
          if (*forget) {
            ops::prune::ForgetOptions o = f;
            o.json = ctx.global.json;
            o.dry_run = f.dry_run || gc_dry_run;
            bool any_flag = p.last || p.hourly || p.daily || p.weekly || p.monthly || p.yearly ||
                            !p.tags.empty();
            ops::prune::Policy policy = p;
            ops::prune::Duration* targets[6] = {&policy.within,         &policy.within_hourly,
                                                &policy.within_daily,   &policy.within_weekly,
                                                &policy.within_monthly, &policy.within_yearly};
            for (int i = 0; i < 6; ++i) {
              if (within[i].empty()) continue;
              *targets[i] =
                  ops::prune::parse_duration(within[i], std::string("--keep-") + within_names[i]);
              any_flag = true;
            }
            if (any_flag || o.allow_remove_all) o.policy = policy;
            o.group_by.clear();
            for (size_t pos = 0; pos < group_by.size();) {
              size_t comma = group_by.find(',', pos);
              if (comma == std::string::npos) comma = group_by.size();
              if (comma > pos) o.group_by.push_back(group_by.substr(pos, comma - pos));
              pos = comma + 1;
            }
            // Per-job policies of the configuration, for this repository.
            if (!o.policy && o.snapshots.empty()) {
              if (const auto* rc = ctx.repository_config(f.filter.job)) {
                for (auto& [name, job] : ctx.config.jobs)
                  if (const auto* r = job.retention_in(*rc))
                    o.job_policies[name] = ops::prune::policy_from_rules(r->rules, r->where);
                if (!rc->retention.empty())
                  o.default_policy =
                      ops::prune::policy_from_rules(rc->retention.rules, rc->retention.where);
              }
            }
            o.retention_ns = g.retention_ns;
            if (!o.dry_run) refuse_append_only(ctx, f.filter.job);
            auto repo = ctx.open(f.filter.job);
            if (!o.dry_run) ops::prune::require_deletes(*repo);
            if (!forget_then_prune) return ops::prune::forget(*repo, o);
            // forget --prune: one JSON document with both parts; a dry run's garbage
            // collection counts the snapshots the forget would remove as gone.
            std::vector<Id32> removed;
            nlohmann::json jf, jg;
            int code = ops::prune::forget(*repo, o, &removed, &jf);
            if (code != 0) return code;
            g.dry_run = o.dry_run;
            if (g.dry_run) g.assume_forgotten.insert(removed.begin(), removed.end());
            auto print = [&] {  // also when the collection fails: the forget is done
              if (ctx.global.json)
                fmt::print("{}\n", nlohmann::json{{"forget", jf}, {"prune", jg}}.dump(
                                       -1, ' ', false, nlohmann::json::error_handler_t::replace));
            };
            try {
              code = ops::prune::gc(*repo, g, &jg);
            } catch (...) {
              print();
              throw;
            }
            print();
            return code;
          }
          g.dry_run = gc_dry_run;
          if (!g.dry_run) refuse_append_only(ctx, "");
          auto repo = ctx.open();
          if (!g.dry_run) ops::prune::require_deletes(*repo);
          return ops::prune::gc(*repo, g);
        };
      });
}
