// backup-create: create repositories, back up files or a stream, manage keys.
#include <CLI/CLI.hpp>

#include "lifeboat/cli/tool.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/ops/create/create.hpp"

using namespace lifeboat;

int main(int argc, char** argv) {
  return cli::run_tool(
      "backup-create",
      "Back up files or standard input into an encrypted, deduplicated repository.", argc, argv,
      [](CLI::App& app, cli::Context& ctx) -> std::function<int(cli::Context&)> {
        static ops::create::Options o;
        app.add_option("paths", o.paths, "Files and directories to back up")->type_name("PATH");
        app.add_option("--job", o.job, "Job name (runs the configured job when no PATH is given)")
            ->type_name("NAME");
        app.add_option("--host", o.host, "Host name to record (default: this host)")
            ->type_name("NAME");
        app.add_option("--tag", o.tags, "Tag the snapshot (repeatable)")
            ->type_name("TAG")
            ->allow_extra_args(false);
        app.add_option("--exclude", o.excludes, "Exclude a glob pattern (repeatable)")
            ->type_name("GLOB")
            ->allow_extra_args(false);
        app.add_option("--exclude-file", o.exclude_files, "Read exclude patterns from FILE")
            ->type_name("FILE")
            ->allow_extra_args(false);
        app.add_flag("--one-file-system", o.one_file_system, "Do not cross file-system boundaries");
        app.add_flag("--no-cache", o.no_cache, "Ignore the files cache and read every file");
        app.add_flag("--stdin", o.stdin_mode, "Back up standard input as one file");
        app.add_option("--from-command", o.from_command,
                       "Back up the standard output of shell command CMD as one file; its failure "
                       "means no snapshot")
            ->type_name("CMD");
        app.add_option("--stdin-name", o.stdin_name, "File name for --stdin or --from-command")
            ->type_name("NAME");
        static std::string time_text;
        app.add_option("--time", time_text,
                       "Record TIME (YYYY-MM-DD HH:MM[:SS], local) as the snapshot's time, e.g. "
                       "when importing old backups")
            ->type_name("TIME");

        auto* postgres = app.add_subcommand(
            "postgres", "Back up PostgreSQL: a logical dump of its databases and globals");
        postgres
            ->add_option(
                "--mode", o.pg_mode,
                "Backup mode: dump (pg_dump; the default) or base (a physical base backup)")
            ->type_name("MODE");
        postgres
            ->add_option("--dbname", o.pg_databases,
                         "Dump database D (repeatable; default: every database)")
            ->type_name("D")
            ->allow_extra_args(false);
        postgres
            ->add_option("--pg-host", o.pg.host,
                         "Server host or socket directory (default: PGHOST, libpq's default)")
            ->type_name("HOST");
        postgres->add_option("--pg-port", o.pg.port, "Server port (default: PGPORT, 5432)")
            ->type_name("PORT");
        postgres->add_option("--pg-user", o.pg.user, "Role to connect as (default: PGUSER)")
            ->type_name("ROLE");

        static ops::create::WalPushOptions wal;
        auto* wal_push = app.add_subcommand(
            "wal-push", "Archive one PostgreSQL WAL file (archive_command, with --job and %p)");
        wal_push->add_option("file", wal.path, "The WAL file to archive (%p)")->required();

        auto* init = app.add_subcommand("init", "Create a new repository and print its id");
        auto* key = app.add_subcommand("key", "Manage key slots");
        key->require_subcommand(1);
        auto* key_list = key->add_subcommand("list", "List key slots");
        static cli::NewSecretOptions ns;
        static bool write_only = false;
        static std::string label;
        auto new_password_options = [](CLI::App* sub) {
          sub->add_option("--new-password-file", ns.password_file,
                          "Read the new password from FILE")
              ->type_name("FILE");
          sub->add_option("--new-password-command", ns.password_command,
                          "Run CMD for the new password")
              ->type_name("CMD");
        };
        auto* key_add = key->add_subcommand("add", "Add a key slot");
        key_add->add_flag("--write-only", write_only,
                          "The key can back up but cannot read content");
        new_password_options(key_add);
        key_add->add_option("--new-key-file", ns.key_file, "Protect the new slot with a key file")
            ->type_name("FILE");
        key_add->add_option("--label", label, "A description of the key")->type_name("TEXT");
        static std::string remove_id;
        auto* key_remove = key->add_subcommand("remove", "Remove a key slot");
        key_remove->add_option("id", remove_id, "Key id (at least 8 hex digits)")->required();
        auto* key_passwd = key->add_subcommand("passwd", "Change the password of the key in use");
        new_password_options(key_passwd);
        static unsigned paper_shares = 0, paper_threshold = 0;
        auto* key_paper =
            key->add_subcommand("paper", "Add a key printed as a paper key (or k-of-n shares)");
        key_paper->add_option("--shares", paper_shares, "Split the paper key into N shares")
            ->type_name("N");
        key_paper
            ->add_option("--threshold", paper_threshold, "Shares needed to open the repository")
            ->type_name("K");
        key_paper->add_option("--label", label, "A description of the key")->type_name("TEXT");
        static std::string generate_path;
        auto* key_generate =
            key->add_subcommand("generate", "Write a new random key file (mode 0600)");
        key_generate->add_option("file", generate_path, "Where to write the key file")->required();

        static std::string copy_from, copy_to;
        static cli::SecretFlags to_secret;
        static ops::create::CopyOptions copy_options;
        auto* copy = app.add_subcommand(
            "copy", "Copy snapshots to another repository (only the data it lacks)");
        copy->add_option("snapshots", copy_options.snapshots,
                         "Snapshots to copy (ids, prefixes, latest; default: all that match)")
            ->type_name("SNAPSHOT");
        copy->add_option("--from", copy_from,
                         "Source repository (default: --repo / LIFEBOAT_REPOSITORY)")
            ->type_name("REPO");
        copy->add_option("--to", copy_to, "Destination repository: a URL or a configured name")
            ->required()
            ->type_name("REPO");
        copy->add_option("--to-password-file", to_secret.password_file,
                         "Read the destination's password from FILE")
            ->type_name("FILE");
        copy->add_option("--to-password-command", to_secret.password_command,
                         "Run CMD for the destination's password")
            ->type_name("CMD");
        copy->add_option("--to-key-file", to_secret.key_file,
                         "Open the destination with a key file")
            ->type_name("FILE");
        copy->add_option("--host", copy_options.filter.host, "Only snapshots of this host")
            ->type_name("NAME");
        copy->add_option("--tag", copy_options.filter.tags, "Only snapshots with this tag")
            ->type_name("TAG")
            ->allow_extra_args(false);
        copy->add_option("--job", copy_options.filter.job, "Only snapshots of this job")
            ->type_name("NAME");
        copy->add_flag("--dry-run", copy_options.dry_run, "Show what would be copied");

        return [=](cli::Context& ctx) -> int {
          if (*copy) {
            if (!copy_from.empty()) ctx.global.repo = copy_from;
            auto src = ctx.open();
            auto dst = ctx.open_repository(copy_to, to_secret);
            ops::create::CopyOptions co = copy_options;
            co.json = ctx.global.json;
            return ops::create::copy(*src, *dst, co);
          }
          if (*wal_push) {
            ops::create::WalPushOptions w = wal;
            w.job = o.job;
            w.host = o.host;
            w.json = ctx.global.json;
            w.state_dir = ctx.state_dir();
            w.repository = ctx.repository_url(w.job);
            // Stored ahead by an earlier call: answered without opening the repository.
            if (ops::create::wal_pushed_before(w)) return 0;
            auto repo = ctx.open(w.job);
            return ops::create::wal_push(*repo, w);
          }
          if (*init)
            return ops::create::init({ctx.repository_url(), ctx.storage_options(),
                                      ctx.secret("", true), ctx.global.json});
          if (*key_generate) return ops::create::key_generate(generate_path);
          if (*key) {
            auto repo = ctx.open();
            if (*key_list) return ops::create::key_list(*repo, ctx.global.json);
            if (*key_add)
              return ops::create::key_add(*repo, cli::new_secret(ns), write_only, label,
                                          ctx.global.json);
            if (*key_remove) return ops::create::key_remove(*repo, remove_id);
            if (*key_paper)
              return ops::create::key_paper(*repo, label, paper_shares, paper_threshold,
                                            ctx.global.json);
            return ops::create::key_passwd(*repo, cli::new_secret(ns));
          }
          ops::create::Options run = o;
          run.postgres = postgres->parsed();
          if (!time_text.empty()) {
            auto t = repo::parse_time(time_text);
            if (!t)
              throw UsageError("--time '{}' is not a time (use YYYY-MM-DD HH:MM[:SS])", time_text);
            run.time_ns = *t;
          }
          // --job NAME alone runs the configured job: its source comes from the configuration.
          // (With the postgres subcommand, an unconfigured job is only the snapshot's label.)
          if (!run.job.empty() && run.paths.empty() && !run.stdin_mode &&
              run.from_command.empty() && (!run.postgres || ctx.config.job(run.job))) {
            const auto* job = ctx.config.job(run.job);
            if (!job)
              throw UsageError("job '{}' is not defined in {}", run.job,
                               ctx.config.path.empty() ? "any configuration file (none loaded)"
                                                       : ctx.config.path);
            if (run.postgres && job->type != "postgres")
              throw UsageError("job '{}' in {} is of type {}, not postgres", run.job,
                               ctx.config.path, job->type);
            if (run.tags.empty()) run.tags = job->tags;
            if (run.host.empty()) run.host = job->host;
            if (job->type == "command") {
              run.from_command = job->command;
              if (run.stdin_name.empty()) run.stdin_name = job->stdin_name;
            } else if (job->type == "postgres") {
              run.postgres = true;
              if (!postgres->count("--mode")) run.pg_mode = job->pg_mode;
              if (run.pg_databases.empty()) run.pg_databases = job->pg_databases;
              if (run.pg.host.empty()) run.pg.host = job->pg_host;
              if (run.pg.port.empty()) run.pg.port = job->pg_port;
              if (run.pg.user.empty()) run.pg.user = job->pg_user;
            } else {
              run.paths = job->paths;
              if (run.excludes.empty()) run.excludes = job->exclude;
              if (run.exclude_files.empty() && !job->exclude_file.empty())
                run.exclude_files = {job->exclude_file};
              run.one_file_system = run.one_file_system || job->one_file_system;
              if (run.paths.empty())
                throw UsageError("job '{}' in {} has no paths", run.job, ctx.config.path);
            }
          }
          run.json = ctx.global.json;
          run.cache_dir = ctx.cache_dir();
          auto repo = ctx.open(run.job);
          Id32 created;
          run.created = &created;
          int code = ops::create::run(*repo, run);
          // A job's copies: the new snapshot lands in every repository the job names.
          const auto* job = run.job.empty() ? nullptr : ctx.config.job(run.job);
          if (job && !job->copies.empty() && !created.is_zero()) {
            ops::create::CopyOptions co;
            co.snapshots = {created.hex()};
            co.json = false;
            for (const auto& name : job->copies) {
              log::info("copying snapshot {} to repository '{}'", created.hex().substr(0, 8), name);
              auto dst = ctx.open_repository(name, {});
              code = std::max(code, ops::create::copy(*repo, *dst, co));
            }
          }
          return code;
        };
      });
}
