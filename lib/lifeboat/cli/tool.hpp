// Shared command-line plumbing for the six tools: global flags, secret sources, config
// loading, opening the repository, logging set-up, signals, and the mapping of errors to
// exit codes (DESIGN.md §8). Used from apps/*/main.cpp only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "lifeboat/config/config.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/repository.hpp"
#include "lifeboat/storage/options.hpp"
#include "lifeboat/storage/storage.hpp"

namespace CLI {
class App;
}

namespace lifeboat::cli {

struct GlobalOptions {
  std::string repo;
  std::string password_file;
  std::string password_command;
  std::string key_file;
  std::string config_path;
  std::string cache_dir;
  std::string s3_endpoint;
  unsigned connections = 0;     // 0 = the configuration's, else storage::default_connections
  uint64_t limit_upload = 0;    // KiB/s
  uint64_t limit_download = 0;  // KiB/s
  bool json = false;
  bool quiet = false;
  int verbose = 0;  // -v verbose, -vv also every storage operation
};

// Secret sources given as flags: --password-file/--password-command/--key-file and their
// --to-* (copy's destination) and --new-* (init, key add, key passwd) forms.
struct SecretFlags {
  std::string password_file;
  std::string password_command;
  std::string key_file;
};

// Everything a command needs after parsing: the global flags and the loaded configuration.
struct Context {
  GlobalOptions global;
  config::Config config;
  // Repository URL and secret source, from flags, environment, then the job's repository.
  std::string repository_url(const std::string& job = "") const;
  repo::Secret secret(const std::string& job = "", bool confirm_new = false) const;
  // The secret for another repository: flags, then its configuration entry (rc may be null),
  // then a terminal prompt.
  repo::Secret secret_for(const config::RepositoryConfig* rc, const SecretFlags& flags) const;
  std::unique_ptr<repo::Repository> open(const std::string& job = "") const;
  // The repository's configuration entry: the one --repo names (by name or URL), the job's,
  // or the only one; nullptr when none applies.
  const config::RepositoryConfig* repository_config(const std::string& job = "") const;
  // Storage settings: flags, then the environment, then the repository's configuration.
  storage::Options storage_options(const std::string& job = "") const;
  // The same for a given configuration entry (nullptr: flags and environment only).
  storage::Options storage_options_for(const config::RepositoryConfig* rc) const;
  // Opens another repository (copy's destination, a job's copies): SPEC is a configured
  // repository's name or a URL; the secret comes from `flags`, else that repository's
  // configuration, else a terminal prompt.
  std::unique_ptr<repo::Repository> open_repository(const std::string& spec,
                                                    const SecretFlags& flags) const;
  // Opens the repository's storage (without unlocking anything).
  std::unique_ptr<storage::Storage> open_storage(const std::string& job = "") const;
  std::string cache_dir() const;
  // LIFEBOAT_STATE_DIR, the configuration's state-dir, /var/lib/lifeboat for root, else
  // $XDG_STATE_HOME/lifeboat or ~/.local/state/lifeboat.
  std::string state_dir() const;
};

// Parses argv and runs the command set up by `setup`, which adds the tool's own options and
// subcommands to the app and returns the function to run. Returns the process exit code.
int run_tool(const std::string& name, const std::string& description, int argc, char** argv,
             const std::function<std::function<int(Context&)>(CLI::App&, Context&)>& setup);

// Reads a new secret (for init, key add, key passwd) from the --new-* flags, the
// LIFEBOAT_NEW_PASSWORD / LIFEBOAT_NEW_PASSWORD_FILE environment, or a terminal prompt.
using NewSecretOptions = SecretFlags;
repo::Secret new_secret(const NewSecretOptions& options);

// Reads a key file (mode-checked).
repo::Secret read_key_file(const std::string& path);

}  // namespace lifeboat::cli
