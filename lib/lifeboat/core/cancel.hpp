// Cooperative cancellation: SIGINT/SIGTERM set a flag that long loops poll.
// Thread-safe (lock-free atomics).
#pragma once

namespace lifeboat::cancel {

// Installs handlers for SIGINT and SIGTERM. Call once from main.
void install_handlers();
// The signal received (SIGINT or SIGTERM), or 0.
int requested();
// Throws Error(interrupted/terminated) when a signal arrived.
void check();

}  // namespace lifeboat::cancel
