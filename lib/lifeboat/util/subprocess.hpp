// A shell command run as a child whose standard output we read (backup-create --from-command):
// its standard error is passed through to ours and its tail kept for the error message; its
// standard input is /dev/null; Lifeboat's password variables are not in its environment.
// Not thread-safe (one owner).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

namespace lifeboat {

class ShellCommand {
 public:
  // Starts `/bin/sh -c command`. Throws Error(failure) when it cannot be started.
  explicit ShellCommand(const std::string& command);
  ~ShellCommand();  // terminates (SIGTERM) and reaps a child still running
  ShellCommand(const ShellCommand&) = delete;
  ShellCommand& operator=(const ShellCommand&) = delete;

  // The read end of the child's standard output.
  int stdout_fd() const { return m_out; }
  // Closes our end of its output, waits for the child and for its error output to end, and
  // throws Error(failure) — with the exit status or signal and the last lines it wrote to
  // standard error — unless it exited with status 0.
  void finish();
  // Stops a child whose output we no longer read (SIGTERM, then SIGKILL after 5 s).
  void terminate();

 private:
  std::string m_command;
  pid_t m_pid = -1;
  int m_out = -1;
  int m_err = -1;
  std::thread m_err_reader;
  std::string m_err_tail;  // written by m_err_reader until it is joined
};

}  // namespace lifeboat
