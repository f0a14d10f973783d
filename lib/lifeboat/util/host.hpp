// Who and where this process runs, as recorded in key slots, locks and snapshots.
// Thread-safe.
#pragma once

#include <string>

namespace lifeboat {

// This machine's host name (empty if it cannot be read).
std::string host_name();
// The name of the effective user (empty when it does not resolve).
std::string user_name();

}  // namespace lifeboat
