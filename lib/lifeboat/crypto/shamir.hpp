// Shamir secret sharing over GF(256) (the AES field, polynomial x^8+x^4+x^3+x+1): splits a
// secret into n shares so that any k of them rebuild it and fewer reveal nothing.
// Pure functions apart from the CSPRNG; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::crypto {

struct Share {
  uint8_t x = 0;  // 1..255, distinct per share
  Bytes y;        // same length as the secret
};

// Requires 2 <= k <= n <= 255; throws UsageError otherwise.
std::vector<Share> shamir_split(ByteView secret, unsigned k, unsigned n);
// Rebuilds the secret from exactly the shares given (the caller passes k of them).
// Throws UsageError on duplicate x, zero x or unequal lengths.
Bytes shamir_combine(const std::vector<Share>& shares);

}  // namespace lifeboat::crypto
