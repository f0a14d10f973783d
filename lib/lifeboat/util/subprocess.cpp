#include "lifeboat/util/subprocess.hpp"

#include <fcntl.h>
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

ShellCommand::ShellCommand(const std::string& command) : m_command(command) {
  if (command.find_first_not_of(" \t\n") == std::string::npos)
    throw UsageError("--from-command: the command is empty");
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw Error(Exit::failure, "pipe: {}", strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw Error(Exit::failure, "pipe: {}", strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // Our password never reaches the command (nor anything it starts).
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (strncmp(*e, "LIFEBOAT_PASSWORD=", 18) != 0) env.push_back(*e);
  env.push_back(nullptr);
  std::string sh = "sh", c = "-c";
  std::vector<char*> argv{sh.data(), c.data(), const_cast<char*>(m_command.c_str()), nullptr};
  int rc = ::posix_spawn(&m_pid, "/bin/sh", &fa, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    m_pid = -1;
    throw Error(Exit::failure, "cannot start /bin/sh for the command '{}': {}",
                program_of(m_command), strerror(rc));
  }
  m_out = out[0];
  m_err = err[0];
  m_err_reader = std::thread([this] {
    char buf[4096];
    for (;;) {
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

ShellCommand::~ShellCommand() {
  if (m_pid > 0) terminate();
  if (m_out >= 0) ::close(m_out);
  if (m_err_reader.joinable()) m_err_reader.join();
  if (m_err >= 0) ::close(m_err);
}

void ShellCommand::terminate() {
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

void ShellCommand::finish() {
  ::close(m_out);
  m_out = -1;
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(Exit::failure, "waitpid: {}", strerror(errno));
  }
  m_pid = -1;
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
      Exit::failure, "the command '{}' {}; no snapshot was written{}", program_of(m_command), how,
      tail.empty() ? " (it wrote nothing to standard error)" : ". Its last error output:\n" + tail);
}

}  // namespace lifeboat
