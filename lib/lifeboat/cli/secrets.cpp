// Secret sources: password files (mode-checked), password commands, the environment, key
// files, and a terminal prompt only when there is a terminal.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "lifeboat/cli/tool.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::cli {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string strip_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

std::string read_secret_file(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw UsageError("unable to read the {} '{}': {}", what, path, fs::errno_text(errno));
  if (st.st_mode & 0007)
    throw UsageError(
        "the {} '{}' is accessible to every user (mode {:o}); restrict it with: chmod 600 '{}'",
        what, path, st.st_mode & 0777, path);
  auto data = fs::read_file(path);
  if (!data) throw UsageError("the {} '{}' does not exist", what, path);
  return std::string(as_chars(*data));
}

std::string run_command(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    throw Error(Exit::failure, "unable to run the password command: {}", fs::errno_text(errno));
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (status != 0)
    throw Error(Exit::failure, "the password command failed (exit status {}); no password read",
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  out = strip_newline(out);
  if (out.empty()) throw Error(Exit::failure, "the password command printed an empty password");
  return out;
}

// Prompts on the controlling terminal; nullopt when there is none (cron, CI).
std::optional<std::string> prompt(const std::string& question) {
  if (!::isatty(0)) return std::nullopt;
  fs::UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty) return std::nullopt;
  ::write(tty.get(), question.data(), question.size());
  struct termios old {};
  bool restore = ::tcgetattr(tty.get(), &old) == 0;
  if (restore) {
    struct termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  std::string line;
  char c;
  while (::read(tty.get(), &c, 1) == 1 && c != '\n') line += c;
  if (restore) ::tcsetattr(tty.get(), TCSAFLUSH, &old);
  ::write(tty.get(), "\n", 1);
  return line;
}

repo::Secret password(std::string value, std::string source) {
  if (value.empty()) throw UsageError("the password from {} is empty", source);
  return {repo::Secret::Type::password, std::move(value), std::move(source)};
}

}  // namespace

repo::Secret read_key_file(const std::string& path) {
  return repo::parse_key_file(read_secret_file(path, "key file"), path);
}

// The secret given by flags named PREFIX-password-file, PREFIX-password-command and
// PREFIX-key-file (prefix "--", "--to-" or "--new-"), if any; at most one may be given.
static std::optional<repo::Secret> from_flags(const SecretFlags& f, const std::string& prefix) {
  int given = !f.password_file.empty() + !f.password_command.empty() + !f.key_file.empty();
  if (given > 1)
    throw UsageError("give only one of {0}password-file, {0}password-command and {0}key-file",
                     prefix);
  if (!f.password_file.empty())
    return password(strip_newline(read_secret_file(f.password_file, "password file")),
                    prefix + "password-file " + f.password_file);
  if (!f.password_command.empty())
    return password(run_command(f.password_command), prefix + "password-command");
  if (!f.key_file.empty()) return read_key_file(f.key_file);
  return std::nullopt;
}

// The secret a repository's configuration entry names, if any.
static std::optional<repo::Secret> configured_secret(const config::Config& config,
                                                     const config::RepositoryConfig* rc) {
  if (!rc) return std::nullopt;
  std::string where = fmt::format("{} (repository '{}')", config.path, rc->name);
  if (!rc->password_file.empty())
    return password(strip_newline(read_secret_file(rc->password_file, "password file")), where);
  if (!rc->password_command.empty()) return password(run_command(rc->password_command), where);
  if (!rc->key_file.empty()) return read_key_file(rc->key_file);
  return std::nullopt;
}

repo::Secret Context::secret_for(const config::RepositoryConfig* rc,
                                 const SecretFlags& flags) const {
  if (auto given = from_flags(flags, "--to-")) return std::move(*given);
  if (auto configured = configured_secret(config, rc)) return std::move(*configured);
  if (auto p = prompt("destination repository password: ")) return password(*p, "the terminal");
  throw UsageError(
      "no password or key for the destination repository, and there is no terminal to ask: use "
      "--to-password-file FILE, --to-password-command CMD or --to-key-file FILE, or configure "
      "the repository in the configuration file");
}

repo::Secret Context::secret(const std::string& job, bool confirm_new) const {
  if (auto given =
          from_flags({global.password_file, global.password_command, global.key_file}, "--"))
    return std::move(*given);
  if (auto f = env("LIFEBOAT_PASSWORD_FILE"); !f.empty())
    return password(strip_newline(read_secret_file(f, "password file")),
                    "LIFEBOAT_PASSWORD_FILE " + f);
  if (auto c = env("LIFEBOAT_PASSWORD_COMMAND"); !c.empty())
    return password(run_command(c), "LIFEBOAT_PASSWORD_COMMAND");
  if (const char* p = std::getenv("LIFEBOAT_PASSWORD")) return password(p, "LIFEBOAT_PASSWORD");
  if (auto k = env("LIFEBOAT_KEY_FILE"); !k.empty()) return read_key_file(k);
  if (auto configured = configured_secret(config, repository_config(job)))
    return std::move(*configured);
  if (auto p = prompt("repository password: ")) {
    if (confirm_new) {
      auto again = prompt("repeat the password: ");
      if (!again || *again != *p) throw UsageError("the passwords do not match");
    }
    return password(*p, "the terminal");
  }
  throw UsageError(
      "no password or key given, and there is no terminal to ask: use --password-file FILE, "
      "--password-command CMD, --key-file FILE, or LIFEBOAT_PASSWORD_FILE / LIFEBOAT_PASSWORD");
}

repo::Secret new_secret(const NewSecretOptions& o) {
  if (auto given = from_flags(o, "--new-")) return std::move(*given);
  if (auto f = env("LIFEBOAT_NEW_PASSWORD_FILE"); !f.empty())
    return password(strip_newline(read_secret_file(f, "password file")),
                    "LIFEBOAT_NEW_PASSWORD_FILE");
  if (const char* p = std::getenv("LIFEBOAT_NEW_PASSWORD"))
    return password(p, "LIFEBOAT_NEW_PASSWORD");
  if (auto p = prompt("new password: ")) {
    auto again = prompt("repeat the new password: ");
    if (!again || *again != *p) throw UsageError("the passwords do not match");
    return password(*p, "the terminal");
  }
  throw UsageError(
      "no new password or key given, and there is no terminal to ask: use --new-password-file "
      "FILE, --new-password-command CMD, --new-key-file FILE or LIFEBOAT_NEW_PASSWORD_FILE");
}

}  // namespace lifeboat::cli
