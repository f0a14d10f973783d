// How much stack the calling thread has left: recursive walks over untrusted trees (a snapshot
// may nest directories as deep as its writer likes) stop before they run out, whatever the
// build (sanitizers make frames several times larger) or the stack limit. Thread-safe (each
// thread looks at its own stack).
#pragma once

#include <cstddef>

namespace lifeboat {

// True when fewer than `reserve` bytes of stack are left below the caller's frame.
bool stack_low(size_t reserve = size_t{1} << 20);

}  // namespace lifeboat
