// Cryptographic primitives used by the repository format, all through OpenSSL 3 EVP:
// SHA-256, HMAC-SHA256, HKDF-SHA256, AES-256-GCM, X25519, Ed25519, scrypt, and a CSPRNG.
// No home-made primitives. Thread-safe: every call uses its own contexts.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lifeboat/util/bytes.hpp"

namespace lifeboat::crypto {

using Key32 = std::array<std::byte, 32>;
inline constexpr size_t k_tag_size = 16;
inline constexpr size_t k_nonce_size = 12;

// Fills out with cryptographically secure random bytes (or, in tests, from a deterministic
// stream; see set_deterministic_random_for_testing).
void random_bytes(std::span<std::byte> out);
Key32 random_key();
// Makes random_bytes deterministic (a keyed counter stream) so golden vectors can be built.
// Never used outside tests.
void set_deterministic_random_for_testing(uint64_t seed);

Id32 sha256(ByteView data);
// MD5, only for the Content-MD5 integrity header that object stores require; never for security.
std::array<std::byte, 16> md5(ByteView data);
// Of the parts' concatenation (an upload sent from its parts).
std::array<std::byte, 16> md5_parts(std::span<const ByteView> parts);
Id32 sha256_parts(std::span<const ByteView> parts);
// Standard base64 (RFC 4648, with padding). decode throws std::invalid_argument on bad input.
std::string base64_encode(ByteView data);
Bytes base64_decode(std::string_view text);

// Incremental SHA-256 (used to name packs as they are written).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(ByteView data);
  Id32 finish();

 private:
  void* m_ctx;
};

Id32 hmac_sha256(ByteView key, ByteView data);

// Reusable HMAC-SHA256 keyed once (chunk ids); each call is independent. Thread-safe.
class Mac {
 public:
  explicit Mac(ByteView key);
  ~Mac();
  Mac(const Mac&) = delete;
  Mac& operator=(const Mac&) = delete;
  Id32 compute(ByteView data) const;

 private:
  void* m_proto;  // EVP_MAC_CTX initialised with the key, duplicated per call
};

Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, size_t length);
Key32 hkdf_key(ByteView ikm, ByteView salt, std::string_view info);

// AES-256-GCM. seal returns ciphertext || 16-byte tag. open returns nullopt when the tag
// does not verify (wrong key, tampered data or associated data).
Bytes aes_gcm_seal(ByteView key, ByteView nonce, ByteView ad, ByteView plaintext);
// The same, written to out (plaintext.size() + k_tag_size bytes): out is either
// plaintext.data() itself (sealed in place; OpenSSL allows it) or apart from plaintext.
void aes_gcm_seal_into(ByteView key, ByteView nonce, ByteView ad, ByteView plaintext,
                       std::byte* out);
std::optional<Bytes> aes_gcm_open(ByteView key, ByteView nonce, ByteView ad, ByteView sealed);
// The same, written to out (sealed.size() - k_tag_size bytes; may not overlap sealed): false,
// and out wiped, when the tag does not verify (or sealed is shorter than a tag).
bool aes_gcm_open_into(ByteView key, ByteView nonce, ByteView ad, ByteView sealed, std::byte* out);
// Nonce for counter n within one object: 4 zero bytes then n big-endian.
std::array<std::byte, k_nonce_size> counter_nonce(uint64_t n);

struct KeyPair {
  Key32 private_key;
  Key32 public_key;
};

KeyPair x25519_generate();
Key32 x25519_public(const Key32& private_key);
Key32 x25519(const Key32& private_key, const Key32& peer_public);

KeyPair ed25519_generate();
Key32 ed25519_public(const Key32& private_key);
std::array<std::byte, 64> ed25519_sign(const Key32& private_key, ByteView message);
bool ed25519_verify(const Key32& public_key, ByteView message, ByteView signature);

struct ScryptParams {
  uint64_t n = 1u << 15;
  uint32_t r = 8;
  uint32_t p = 1;
};
Bytes scrypt(std::string_view password, ByteView salt, const ScryptParams& params, size_t length);

// Overwrites memory that held a secret (not optimised away).
void wipe(std::span<std::byte> data);

}  // namespace lifeboat::crypto
