// backup-verify: check a repository's structure, its data, or its stored bytes.
#include <CLI/CLI.hpp>

#include "lifeboat/cli/tool.hpp"
#include "lifeboat/ops/verify/verify.hpp"

using namespace lifeboat;

int main(int argc, char** argv) {
  return cli::run_tool(
      "backup-verify", "Check a repository for damage, missing data and tampering.", argc, argv,
      [](CLI::App& app, cli::Context& ctx) -> std::function<int(cli::Context&)> {
        static ops::verify::Options o;
        auto* rd = app.add_flag("--read-data", o.read_data,
                                "Read, authenticate and decompress every blob");
        app.add_option("--read-data-subset", o.subset,
                       "Read only slice N/M of the packs, or P% of them")
            ->type_name("N/M|P%")
            ->excludes(rd);
        app.add_flag("--quick", o.quick,
                     "Re-hash every stored object against its name (needs no key)");
        app.add_flag("--allow-unknown-signer", o.allow_unknown_signer,
                     "Accept snapshots whose signer is not a key of this repository");
        return [](cli::Context& ctx) -> int {
          o.json = ctx.global.json;
          if (o.quick && !o.read_data && o.subset.empty()) {
            auto store = ctx.open_storage();
            if (!store->stat("config"))
              throw Error(Exit::repo_not_found, "no repository at '{}'", store->describe());
            return ops::verify::quick(*store, o);
          }
          auto repo = ctx.open();
          return ops::verify::run(*repo, o);
        };
      });
}
