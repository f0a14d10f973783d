#include "lifeboat/util/stack.hpp"

#include <pthread.h>

#include <cstdint>

namespace lifeboat {

namespace {

// The lowest address of the calling thread's stack; 0 when unknown.
uintptr_t lowest_address() {
  uintptr_t lowest = 0;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0) lowest = reinterpret_cast<uintptr_t>(addr);
  pthread_attr_destroy(&attr);
  return lowest;
}

}  // namespace

bool stack_low(size_t reserve) {
  thread_local const uintptr_t lowest = lowest_address();
  if (lowest == 0) return false;
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return here < lowest + reserve;  // the stack grows down (x86-64, arm64)
}

}  // namespace lifeboat
