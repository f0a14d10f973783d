#include "lifeboat/cli/tool.hpp"

#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <thread>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/memory.hpp"
#include "lifeboat/storage/options.hpp"
#include "lifeboat/storage/storage.hpp"

namespace lifeboat::cli {

namespace {

// Options that would carry a secret on the command line, where every user can read it
// through ps and /proc: refused with an explanation.
constexpr const char* k_secret_flags[] = {"--password", "--passphrase",   "--secret",
                                          "--key",      "--new-password", "--token"};

void refuse_secret_arguments(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    std::string flag = arg.substr(0, arg.find('='));
    for (const char* s : k_secret_flags)
      if (flag == s)
        throw UsageError(
            "{} is not accepted: a secret on the command line is visible to every user of this "
            "machine (ps, /proc). Use --password-file FILE, --password-command CMD, --key-file "
            "FILE, or the LIFEBOAT_PASSWORD_FILE / LIFEBOAT_PASSWORD environment variables",
            flag);
  }
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.add_option("--repo", g.repo, "Repository URL or path")
      ->envname("LIFEBOAT_REPOSITORY")
      ->type_name("URL");
  app.add_option("--password-file", g.password_file, "Read the password from FILE")
      ->type_name("FILE");
  app.add_option("--password-command", g.password_command,
                 "Run CMD and read the password from its output")
      ->type_name("CMD");
  app.add_option("--key-file", g.key_file, "Open the repository with a key file")
      ->type_name("FILE");
  app.add_option("--config", g.config_path,
                 "Configuration file (default /etc/lifeboat/lifeboat.yaml)")
      ->type_name("FILE");
  app.add_option("--cache-dir", g.cache_dir, "Cache directory")
      ->envname("LIFEBOAT_CACHE_DIR")
      ->type_name("DIR");
  app.add_option("--s3-endpoint", g.s3_endpoint,
                 "S3-compatible endpoint (http(s)://host[:port]) instead of AWS")
      ->envname("LIFEBOAT_S3_ENDPOINT")
      ->type_name("URL");
  app.add_option("--connections", g.connections,
                 "Transfers in flight at once (default 4; local: the cores, at most 4)")
      ->check(CLI::Range(1, 64))
      ->type_name("N");
  app.add_option("--limit-upload", g.limit_upload, "Limit uploads to KIB KiB/s on average")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->type_name("KIB");
  app.add_option("--limit-download", g.limit_download, "Limit downloads to KIB KiB/s on average")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->type_name("KIB");
  app.add_flag("--json", g.json, "Machine-readable JSON output");
  app.add_flag("-q,--quiet", g.quiet, "Print only warnings and errors");
  app.add_flag("-v,--verbose", g.verbose,
               "Print more detail (twice: also every storage operation)");
}

// Lets global options appear after a subcommand too (backup-create init --json).
void fall_through(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->fallthrough();
    fall_through(*sub);
  }
}

// The configured repository SPEC names: by name (a name has no '/'), else by URL.
const config::RepositoryConfig* find_repository(const config::Config& config,
                                                const std::string& spec) {
  if (spec.find('/') == std::string::npos)
    if (auto* r = config.repository(spec)) return r;
  for (const auto& [name, r] : config.repositories)
    if (r.url == spec) return &r;
  return nullptr;
}

// Opens the repository at url once its storage shows one exists (so no password is asked
// for a repository that is not there).
std::unique_ptr<repo::Repository> open_at(const std::string& url, const storage::Options& o,
                                          const std::function<repo::Secret()>& secret,
                                          const std::string& state_dir) {
  auto store = storage::open(url, o);
  if (!store->stat("config"))
    throw Error(Exit::repo_not_found, "no repository at '{}' (create one with: backup-create init)",
                store->describe());
  auto repo = repo::Repository::open(std::move(store), secret());
  repo->set_state_dir(state_dir);
  repo->set_transfers(o.connections ? o.connections : storage::default_connections(url));
  return repo;
}

}  // namespace

const config::RepositoryConfig* Context::repository_config(const std::string& job) const {
  if (!global.repo.empty()) return find_repository(config, global.repo);
  if (!job.empty()) {
    if (auto* j = config.job(job); j && !j->repository.empty())
      return config.repository(j->repository);
  }
  if (config.repositories.size() == 1) return &config.repositories.begin()->second;
  return nullptr;
}

storage::Options Context::storage_options(const std::string& job) const {
  return storage_options_for(repository_config(job));
}

storage::Options Context::storage_options_for(const config::RepositoryConfig* rc) const {
  storage::Options o;
  if (rc) o = rc->storage;
  if (!global.s3_endpoint.empty()) o.s3.endpoint = global.s3_endpoint;
  if (global.connections) o.connections = global.connections;
  if (global.limit_upload) o.upload_limit = global.limit_upload * 1024;
  if (global.limit_download) o.download_limit = global.limit_download * 1024;
  auto env_over = [](std::string& field, const char* name) {
    if (auto v = env(name); !v.empty()) field = v;
  };
  env_over(o.azure.endpoint, "LIFEBOAT_AZURE_ENDPOINT");
  env_over(o.sftp.key_file, "LIFEBOAT_SFTP_KEY");
  env_over(o.sftp.known_hosts, "LIFEBOAT_SFTP_KNOWN_HOSTS");
  env_over(o.sftp.host_key_sha256, "LIFEBOAT_SFTP_HOST_KEY_SHA256");
  env_over(o.faults, "LIFEBOAT_TEST_FAULTS");
  if (auto v = env("LIFEBOAT_RETRY_TIME"); !v.empty()) {
    try {
      o.retry_time = std::stod(v);
    } catch (const std::exception&) {
      throw UsageError("LIFEBOAT_RETRY_TIME must be a number of seconds, not '{}'", v);
    }
  }
  return o;
}

std::unique_ptr<storage::Storage> Context::open_storage(const std::string& job) const {
  return storage::open(repository_url(job), storage_options(job));
}

std::unique_ptr<repo::Repository> Context::open_repository(const std::string& spec,
                                                           const SecretFlags& flags) const {
  const config::RepositoryConfig* rc = find_repository(config, spec);
  return open_at(
      rc ? rc->url : spec, storage_options_for(rc), [&] { return secret_for(rc, flags); },
      state_dir());
}

std::string Context::repository_url(const std::string& job) const {
  if (!global.repo.empty()) {
    auto* r = find_repository(config, global.repo);
    return r ? r->url : global.repo;  // --repo NAME of a configured repository, or a URL
  }
  if (!job.empty()) {
    if (auto* j = config.job(job); j && !j->repository.empty())
      return config.repository(j->repository)->url;
  }
  if (config.repositories.size() == 1) return config.repositories.begin()->second.url;
  throw UsageError(
      "no repository given: use --repo URL, LIFEBOAT_REPOSITORY, or a job whose configuration "
      "names a repository");
}

std::unique_ptr<repo::Repository> Context::open(const std::string& job) const {
  return open_at(
      repository_url(job), storage_options(job), [&] { return secret(job); }, state_dir());
}

std::string Context::state_dir() const {
  if (auto s = env("LIFEBOAT_STATE_DIR"); !s.empty()) return s;
  if (!config.state_dir.empty()) return config.state_dir;
  if (::geteuid() == 0) return "/var/lib/lifeboat";
  if (auto x = env("XDG_STATE_HOME"); !x.empty()) return x + "/lifeboat";
  if (auto h = env("HOME"); !h.empty()) return h + "/.local/state/lifeboat";
  return "/tmp/lifeboat-state-" + std::to_string(::geteuid());
}

std::string Context::cache_dir() const {
  if (!global.cache_dir.empty()) return global.cache_dir;
  if (!config.cache_dir.empty()) return config.cache_dir;
  if (auto x = env("XDG_CACHE_HOME"); !x.empty()) return x + "/lifeboat";
  if (::geteuid() == 0) return "/var/cache/lifeboat";
  if (auto h = env("HOME"); !h.empty()) return h + "/.cache/lifeboat";
  return "/tmp/lifeboat-cache-" + std::to_string(::geteuid());
}

int run_tool(const std::string& name, const std::string& description, int argc, char** argv,
             const std::function<std::function<int(Context&)>(CLI::App&, Context&)>& setup) {
  // Keys live in this process's memory: never in a core dump (DESIGN.md §4).
  struct rlimit no_core {};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#ifdef __GLIBC__
  // One malloc arena per two cores instead of glibc's eight per core: with an arena per thread
  // of the pipeline, freed pack buffers and small allocations fragment in each and stay
  // resident. 2 cores, `GLIBC_TUNABLES` equivalents measured on the same binary: a backup of
  // 1,000,000 small files 265 -> 176 MB peak RSS; of the Linux tree 182 -> 156 MB, 5.3 -> 5.6 s.
  ::mallopt(M_ARENA_MAX, static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2)));
  // Buffers of a pack (16 MiB and more) are mapped and unmapped on their own, and chunks (at
  // most 8 MiB by default) come from the heap. glibc's adaptive threshold instead moved the
  // pack buffers into the heap once the first was freed, where a new one per pack left the
  // heap at 90 MB: a backup of the Linux tree peaked at 137-157 MB, now 113-121 MB.
  ::mallopt(M_MMAP_THRESHOLD, 12 << 20);
#endif
  // Before OpenSSL's first allocation: scrypt's table in huge pages (crypto/memory.hpp).
  crypto::allocate_large_in_huge_pages();
  cancel::install_handlers();
  Context ctx;
  CLI::App app(description, name);
  app.set_version_flag("--version", std::string("lifeboat ") + LIFEBOAT_VERSION);
  app.option_defaults()->always_capture_default(false);
  add_global_options(app, ctx.global);
  std::function<int(Context&)> command;
  try {
    command = setup(app, ctx);
    fall_through(app);
    refuse_secret_arguments(argc, argv);
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      throw UsageError("{} (see {} --help)", e.what(), name);
    }
    log::set_level(ctx.global.quiet         ? log::Level::quiet
                   : ctx.global.verbose > 1 ? log::Level::debug
                   : ctx.global.verbose     ? log::Level::verbose
                                            : log::Level::normal);
    if (ctx.global.json && !ctx.global.verbose) log::set_level(log::Level::quiet);
    ctx.config = config::load_default(ctx.global.config_path);
    int code = command(ctx);
    if (cancel::requested()) cancel::check();
    return code;
  } catch (const Error& e) {
    log::error("{}", e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    log::error("out of memory");
    return static_cast<int>(Exit::failure);
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    return static_cast<int>(Exit::failure);
  }
}

}  // namespace lifeboat::cli
