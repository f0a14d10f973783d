// Test tuning (docs/testing.md): environment variables that let a test reach, in a few
// megabytes, what a large backup does (small packs, frequent index files) or force a path this
// machine would not take (reader threads on two cores). Never set in production.
#pragma once

#include <cstddef>

namespace lifeboat {

// The value of the variable `name`, or fallback when it is unset or empty. A value that is not
// a number from minimum to maximum is a UsageError.
size_t test_tuning(const char* name, size_t fallback, size_t minimum, size_t maximum);

}  // namespace lifeboat
