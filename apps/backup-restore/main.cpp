// backup-restore: list snapshots and their content, compare them, dump and restore them.
#include <CLI/CLI.hpp>

#include "lifeboat/cli/tool.hpp"
#include "lifeboat/ops/restore/restore.hpp"

using namespace lifeboat;

int main(int argc, char** argv) {
  return cli::run_tool(
      "backup-restore", "Restore snapshots, or list, compare and dump their content.", argc, argv,
      [](CLI::App& app, cli::Context& ctx) -> std::function<int(cli::Context&)> {
        static ops::restore::Selection sel;
        static ops::restore::RestoreOptions o;
        auto selection = [](CLI::App* a) {
          a->add_option("--job", sel.filter.job, "Only snapshots of this job")->type_name("NAME");
          a->add_option("--host", sel.filter.host, "Only snapshots of this host")
              ->type_name("NAME");
          a->add_option("--tag", sel.filter.tags, "Only snapshots with this tag (repeatable)")
              ->type_name("TAG")
              ->allow_extra_args(false);
          a->add_flag("--allow-unknown-signer", sel.allow_unknown_signer,
                      "Read snapshots whose signer is not a key of this repository");
        };
        app.add_option("snapshot", o.snapshot,
                       "Snapshot id, unique prefix (8+ hex digits) or 'latest'");
        app.add_option("--target", o.target, "Restore into DIR")->type_name("DIR");
        app.add_option("--include", o.includes, "Restore only paths matching GLOB (repeatable)")
            ->type_name("GLOB")
            ->allow_extra_args(false);
        app.add_option("--exclude", o.excludes, "Do not restore paths matching GLOB (repeatable)")
            ->type_name("GLOB")
            ->allow_extra_args(false);
        app.add_option("--overwrite", o.overwrite,
                       "Existing files: never, if-changed (default) or always")
            ->check(CLI::IsMember({"never", "if-changed", "always"}));
        app.add_flag("--verify", o.verify, "Read restored files back and check them");
        app.add_flag("--dry-run", o.dry_run, "Show what would be restored; write nothing");
        app.add_flag("--numeric-owner", o.numeric_owner,
                     "Restore owners by number, ignoring names");
        selection(&app);

        auto* snaps = app.add_subcommand("snapshots", "List snapshots");
        selection(snaps);
        static std::string ls_snap, ls_path;
        auto* ls = app.add_subcommand("ls", "List the files of a snapshot");
        ls->add_option("snapshot", ls_snap, "Snapshot")->required();
        ls->add_option("path", ls_path, "Directory or file inside the snapshot");
        selection(ls);
        static std::string diff_a, diff_b;
        auto* diff = app.add_subcommand("diff", "Show what changed between two snapshots");
        diff->add_option("snapshot1", diff_a, "Older snapshot")->required();
        diff->add_option("snapshot2", diff_b, "Newer snapshot")->required();
        selection(diff);
        static std::string dump_snap, dump_path;
        static bool tar = false;
        auto* dump =
            app.add_subcommand("dump", "Write one file, or the whole snapshot as tar, to stdout");
        dump->add_option("snapshot", dump_snap, "Snapshot")->required();
        dump->add_option("path", dump_path, "File inside the snapshot");
        dump->add_flag("--tar", tar, "Write the whole snapshot as a pax tar stream");
        selection(dump);

        return [=](cli::Context& ctx) -> int {
          sel.json = ctx.global.json;
          auto repo = ctx.open(sel.filter.job);
          if (*snaps) return ops::restore::snapshots(*repo, sel);
          if (*ls) return ops::restore::ls(*repo, sel, ls_snap, ls_path);
          if (*diff) return ops::restore::diff(*repo, sel, diff_a, diff_b);
          if (*dump) return ops::restore::dump(*repo, sel, dump_snap, dump_path, tar);
          if (o.snapshot.empty())
            throw UsageError(
                "give a SNAPSHOT and --target DIR, or one of: snapshots, ls, diff, dump (see "
                "--help)");
          return ops::restore::restore(*repo, sel, o);
        };
      });
}
