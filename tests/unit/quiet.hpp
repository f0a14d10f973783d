// Silences logging and stderr (and stdout, when asked: the tools' own output) for a scope, in
// tests that provoke expected errors by the thousand. Never hold one around a CHECK that
// writes to stdout: Catch2 reports failures there.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "lifeboat/core/log.hpp"

namespace lifeboat::test {

class Quiet {
 public:
  explicit Quiet(bool stdout_too = false) : m_level(log::level()) {
    log::set_level(log::Level::quiet);
    int null = ::open("/dev/null", O_WRONLY);
    if (stdout_too) {
      std::fflush(stdout);
      m_out = ::dup(1);
      ::dup2(null, 1);
    }
    m_err = ::dup(2);
    ::dup2(null, 2);
    ::close(null);
  }
  ~Quiet() {
    if (m_out >= 0) {
      std::fflush(stdout);
      ::dup2(m_out, 1);
      ::close(m_out);
    }
    ::dup2(m_err, 2);
    ::close(m_err);
    log::set_level(m_level);
  }
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;

 private:
  log::Level m_level;
  int m_out = -1;
  int m_err = -1;
};

}  // namespace lifeboat::test
