#include "lifeboat/core/cancel.hpp"

#include <csignal>

#include "lifeboat/core/error.hpp"

namespace lifeboat::cancel {
namespace {
volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }
}  // namespace

void install_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int requested() { return g_signal; }

void check() {
  if (g_signal == SIGINT) throw Error(Exit::interrupted, "interrupted (SIGINT)");
  if (g_signal == SIGTERM) throw Error(Exit::terminated, "terminated (SIGTERM)");
}

}  // namespace lifeboat::cancel
