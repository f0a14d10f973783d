#include "lifeboat/util/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "lifeboat/core/error.hpp"

extern char** environ;

namespace lifeboat {
namespace {

constexpr size_t k_tail = 2000;

// The command's first word: enough to say which command failed without repeating arguments
// that may carry credentials (mysqldump -pSECRET).
std::string program_of(const std::string& command) {
  auto b = command.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  auto e = command.find_first_of(" \t\n", b);
  std::string first = command.substr(b, e == std::string::npos ? std::string::npos : e - b);
  return e == std::string::npos ? first : first + " …";
}

}  // namespace

Child::Child(const Shell& shell, ChildOptions options) : m_options(std::move(options)) {
  if (shell.command.find_first_not_of(" \t\n") == std::string::npos)
    throw UsageError("the command to run is empty");
  m_name = program_of(shell.command);
  start({"sh", "-c", shell.command}, false);
}

Child::Child(const std::vector<std::string>& argv, ChildOptions options)
    : m_options(std::move(options)) {
  if (argv.empty() || argv[0].empty()) throw UsageError("no program to run");
  auto slash = argv[0].rfind('/');
  m_name = slash == std::string::npos ? argv[0] : argv[0].substr(slash + 1);
  start(argv, true);
}

void Child::start(const std::vector<std::string>& args, bool search_path) {
  bool to_stdin = m_options.pipe == ChildOptions::Pipe::to_stdin;
  int io[2], err[2];
  if (::pipe2(io, O_CLOEXEC) != 0) throw Error(Exit::failure, "pipe: {}", strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(io[0]);
    ::close(io[1]);
    throw Error(Exit::failure, "pipe: {}", strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (to_stdin) {
    posix_spawn_file_actions_adddup2(&fa, io[0], 0);
    // Its output goes to our standard error: our standard output stays for our own results.
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, io[1], 1);
  }
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // Our password never reaches the command (nor anything it starts).
  std::vector<std::string> extra;
  for (auto& [k, v] : m_options.env) extra.push_back(k + "=" + v);
  std::vector<char*> env;
  for (char** e = environ; *e; ++e) {
    if (strncmp(*e, "LIFEBOAT_PASSWORD=", 18) == 0) continue;
    bool replaced = false;
    for (auto& [k, v] : m_options.env)
      if (strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=') replaced = true;
    if (!replaced) env.push_back(*e);
  }
  for (auto& x : extra) env.push_back(x.data());
  env.push_back(nullptr);
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = search_path ? ::posix_spawnp(&m_pid, argv[0], &fa, nullptr, argv.data(), env.data())
                       : ::posix_spawn(&m_pid, "/bin/sh", &fa, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(to_stdin ? io[0] : io[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(to_stdin ? io[1] : io[0]);
    ::close(err[0]);
    m_pid = -1;
    if (search_path && rc == ENOENT)
      throw Error(Exit::failure, "'{}' was not found: is it installed and on PATH? ({})", m_name,
                  m_options.consequence);
    throw Error(Exit::failure, "cannot start '{}': {} ({})", m_name, strerror(rc),
                m_options.consequence);
  }
  m_pipe = to_stdin ? io[1] : io[0];
  m_err = err[0];
  m_err_reader = std::thread([this] {
    char buf[4096];
    for (;;) {
      // Polled, so that finish() can stop waiting for a descendant (a daemon the command
      // started) that keeps the pipe open after the command itself has exited.
      int64_t deadline = m_err_deadline.load();
      if (deadline != 0 && std::chrono::steady_clock::now().time_since_epoch().count() > deadline)
        break;
      struct pollfd pfd {
        m_err, POLLIN, 0
      };
      int ready = ::poll(&pfd, 1, 100);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) continue;
      ssize_t n = ::read(m_err, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {  // shown as it comes
        ssize_t w = ::write(2, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) break;
        off += w;
      }
      m_err_tail.append(buf, static_cast<size_t>(n));
      if (m_err_tail.size() > 2 * k_tail) m_err_tail.erase(0, m_err_tail.size() - k_tail);
    }
  });
}

Child::~Child() {
  if (m_pid > 0) terminate();
  if (m_pipe >= 0) ::close(m_pipe);
  m_err_deadline = std::chrono::steady_clock::now().time_since_epoch().count();
  if (m_err_reader.joinable()) m_err_reader.join();
  if (m_err >= 0) ::close(m_err);
}

void Child::terminate() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(m_pid, &status, WNOHANG);
    if (r == m_pid || (r < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(m_pid, SIGKILL);
      while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    ::usleep(20000);
  }
  m_pid = -1;
}

void Child::finish() {
  if (m_pipe >= 0) ::close(m_pipe);
  m_pipe = -1;
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(Exit::failure, "waitpid: {}", strerror(errno));
  }
  m_pid = -1;
  // Its error output ends when the last holder of the pipe closes it; a descendant still
  // running gets one more second, then we stop listening.
  m_err_deadline =
      (std::chrono::steady_clock::now() + std::chrono::seconds(1)).time_since_epoch().count();
  m_err_reader.join();
  std::string how;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status))
    how = fmt::format("exited with status {}{}", WEXITSTATUS(status),
                      WEXITSTATUS(status) == 127   ? " (command not found)"
                      : WEXITSTATUS(status) == 126 ? " (not executable)"
                                                   : "");
  else if (WIFSIGNALED(status))
    how =
        fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    how = "ended abnormally";
  std::string tail =
      m_err_tail.size() > k_tail ? m_err_tail.substr(m_err_tail.size() - k_tail) : m_err_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  throw Error(
      Exit::failure, "the command '{}' {}; {}{}", m_name, how, m_options.consequence,
      tail.empty() ? " (it wrote nothing to standard error)" : ". Its last error output:\n" + tail);
}

}  // namespace lifeboat
