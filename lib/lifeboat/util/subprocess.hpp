// Child processes Lifeboat streams to or from: a shell command whose output is backed up
// (backup-create --from-command), a restore command fed a snapshot's content, or a program run
// with an argument vector (pg_dump, pg_restore). The child's standard error is passed through
// to ours and its tail kept for the error message; Lifeboat's password variables are not in
// its environment. Not thread-safe (one owner).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lifeboat {

struct ChildOptions {
  // Which of its standard streams we hold a pipe to; the other is /dev/null (stdin) or our
  // own standard output (stdout).
  enum class Pipe { from_stdout, to_stdin } pipe = Pipe::from_stdout;
  // Added to (or replacing in) the inherited environment.
  std::vector<std::pair<std::string, std::string>> env;
  // What its failure means, ending the error message ("no snapshot was written").
  std::string consequence = "no snapshot was written";
};

class Child {
 public:
  struct Shell {
    std::string command;
  };
  // Runs `/bin/sh -c command`. Throws Error(failure) when it cannot be started.
  Child(const Shell& shell, ChildOptions options = {});
  // Runs argv[0] (searched on PATH) with these arguments. Throws Error(failure), naming the
  // program, when it is not installed or cannot be started.
  Child(const std::vector<std::string>& argv, ChildOptions options = {});
  ~Child();  // terminates (SIGTERM) and reaps a child still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Our end of the pipe: the read end of its standard output, or the write end of its input.
  int fd() const { return m_pipe; }
  // Closes our end of the pipe, waits for the child and for its error output to end, and
  // throws Error(failure) — naming the program, its exit status or signal and the last lines
  // it wrote to standard error — unless it exited with status 0.
  void finish();
  // Stops a child we no longer talk to (SIGTERM, then SIGKILL after 5 s).
  void terminate();
  // The name used in messages: the program, never its arguments (they may carry passwords).
  const std::string& name() const { return m_name; }

 private:
  void start(const std::vector<std::string>& argv, bool search_path);

  ChildOptions m_options;
  std::string m_name;
  pid_t m_pid = -1;
  int m_pipe = -1;
  int m_err = -1;
  std::thread m_err_reader;
  std::string m_err_tail;  // written by m_err_reader until it is joined
  // When m_err_reader gives up waiting for the end of the error output (steady_clock ticks;
  // 0: never).
  std::atomic<int64_t> m_err_deadline{0};
};

}  // namespace lifeboat
