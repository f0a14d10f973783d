#include "lifeboat/crypto/shamir.hpp"

#include <array>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/crypto.hpp"

namespace lifeboat::crypto {

namespace {

// Constant-time multiplication in GF(256) (no table lookups indexed by secret bytes).
uint8_t gf_mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    p ^= static_cast<uint8_t>(-(b & 1) & a);
    uint8_t carry = static_cast<uint8_t>(-(a >> 7));
    a = static_cast<uint8_t>((a << 1) ^ (carry & 0x1b));
    b >>= 1;
  }
  return p;
}

// a^254 = a^-1 for a != 0.
uint8_t gf_inv(uint8_t a) {
  uint8_t result = 1;
  uint8_t base = a;
  for (int e = 254; e > 0; e >>= 1) {
    if (e & 1) result = gf_mul(result, base);
    base = gf_mul(base, base);
  }
  return result;
}

}  // namespace

std::vector<Share> shamir_split(ByteView secret, unsigned k, unsigned n) {
  if (k < 2 || n < k || n > 255)
    throw UsageError(
        "a split needs 2 <= threshold <= shares <= 255 (got threshold {} of {} shares)", k, n);
  std::vector<Share> shares(n);
  for (unsigned i = 0; i < n; ++i) {
    shares[i].x = static_cast<uint8_t>(i + 1);
    shares[i].y.resize(secret.size());
  }
  Bytes coeffs(k - 1);
  for (size_t b = 0; b < secret.size(); ++b) {
    random_bytes(coeffs);
    for (auto& s : shares) {
      // Horner: secret + c1*x + ... + c_{k-1}*x^{k-1}
      uint8_t acc = 0;
      for (size_t c = coeffs.size(); c-- > 0;)
        acc = gf_mul(static_cast<uint8_t>(acc ^ static_cast<uint8_t>(coeffs[c])), s.x);
      s.y[b] = std::byte(acc ^ static_cast<uint8_t>(secret[b]));
    }
  }
  wipe(coeffs);
  return shares;
}

Bytes shamir_combine(const std::vector<Share>& shares) {
  if (shares.empty()) throw UsageError("no shares given");
  size_t len = shares.front().y.size();
  for (size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].x == 0 || shares[i].y.size() != len) throw UsageError("malformed share");
    for (size_t j = 0; j < i; ++j)
      if (shares[j].x == shares[i].x)
        throw UsageError("the same share was given twice (number {})", shares[i].x);
  }
  // Lagrange interpolation at 0: l_i = prod_{j != i} x_j / (x_j ^ x_i).
  std::vector<uint8_t> weights(shares.size());
  for (size_t i = 0; i < shares.size(); ++i) {
    uint8_t num = 1, den = 1;
    for (size_t j = 0; j < shares.size(); ++j) {
      if (i == j) continue;
      num = gf_mul(num, shares[j].x);
      den = gf_mul(den, static_cast<uint8_t>(shares[j].x ^ shares[i].x));
    }
    weights[i] = gf_mul(num, gf_inv(den));
  }
  Bytes secret(len);
  for (size_t b = 0; b < len; ++b) {
    uint8_t acc = 0;
    for (size_t i = 0; i < shares.size(); ++i)
      acc ^= gf_mul(weights[i], static_cast<uint8_t>(shares[i].y[b]));
    secret[b] = std::byte(acc);
  }
  return secret;
}

}  // namespace lifeboat::crypto
