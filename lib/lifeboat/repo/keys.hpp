// Repository configuration and key material: the config object, the master bundle, and
// key slots that wrap the bundle under a password (scrypt) or a key file (DESIGN.md §4).
// Value types and pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lifeboat/chunk/fastcdc.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/util/bytes.hpp"

namespace lifeboat::repo {

// The public "config" object. Its MAC under the metadata key is checked after unlocking.
struct Config {
  uint32_t version = 1;
  Id32 id;
  int64_t created_ns = 0;
  chunk::Params chunker;
  Bytes body;  // the encoded body the MAC covers (filled by decode)
  Id32 mac;
};
Bytes encode_config(const Config& config, const crypto::Key32& meta_key);
// Parses the config object; throws IntegrityError if malformed. Does not check the MAC.
Config decode_config(ByteView data);
// Throws IntegrityError unless config's MAC verifies under meta_key.
void check_config_mac(const Config& config, const crypto::Key32& meta_key);

struct Epoch {
  uint32_t id = 1;
  crypto::Key32 public_key{};
  std::optional<crypto::Key32> private_key;  // absent in write-only bundles
};

// The master bundle: everything a key slot unlocks.
struct MasterKeys {
  Id32 repo_id;
  crypto::Key32 chunker_seed{};
  crypto::Key32 mac_key{};
  crypto::Key32 meta_key{};
  std::vector<Epoch> epochs;
  // The key-slot authority: its private half (full bundles only) endorses every key slot,
  // so a write-only key cannot mint a signer that others would trust.
  crypto::Key32 admin_public{};
  std::optional<crypto::Key32> admin_private;
  // True when every epoch's private key is present (the slot can read content).
  bool can_read() const;
  const Epoch& current_epoch() const;
  const Epoch* find_epoch(uint32_t id) const;
  static MasterKeys generate(const Id32& repo_id);
  MasterKeys write_only() const;
};

// A secret that opens a key slot: a password or the 32-byte secret of a key file.
struct Secret {
  enum class Type { password, key_file } type = Type::password;
  std::string value;
  std::string source;  // where it came from, for messages ("--password-file /x")
};

// Parses a key file's text ("lifeboat-key-v1\n" + 64 hex digits); throws UsageError.
Secret parse_key_file(std::string_view text, const std::string& path);
std::string format_key_file(const crypto::Key32& secret);

enum class Access { full, write_only };
const char* access_name(Access access);

// A key slot as stored in keys/<id>. id = SHA-256 of the slot's Ed25519 public key.
struct KeySlot {
  Id32 id;
  std::string type;  // "password" or "key-file"
  Access access = Access::full;
  std::string label;
  std::string host;
  std::string user;
  int64_t created_ns = 0;
  bool retired = false;  // removed: only the public signing key is kept
  // Snapshots signed by this key before it was removed: the only ones it still vouches for.
  std::vector<Id32> retired_snapshots;
  crypto::Key32 signing_public{};
  // Ed25519 signature by the repository's admin key over endorsement_message(); see keys.md.
  std::array<std::byte, 64> endorsement{};
  crypto::ScryptParams scrypt;
  Bytes salt;
  Bytes sealed;  // AES-256-GCM(KEK, bundle); empty when retired
};

inline constexpr uint64_t k_min_scrypt_n = 1u << 15;

Bytes encode_slot(const KeySlot& slot);
KeySlot decode_slot(ByteView data, const std::string& what);

struct UnlockedSlot {
  KeySlot slot;
  MasterKeys keys;
  crypto::Key32 signing_private{};
};

// Creates a slot holding `keys` (reduced for write-only) and a new signing key, endorsed
// with keys.admin_private (throws Error(not_permitted) without it).
UnlockedSlot make_slot(const MasterKeys& keys, const Secret& secret, Access access,
                       const std::string& label, const crypto::ScryptParams& params = {});
// Re-wraps an unlocked slot under a new secret (same id and signing key).
KeySlot rewrap_slot(const UnlockedSlot& unlocked, const Secret& secret,
                    const crypto::ScryptParams& params = {});
// Tries to open a slot; nullopt when the secret is wrong or of the other type.
// Throws IntegrityError when the slot decrypts but its content is inconsistent, and
// Error(wrong_key) when its scrypt parameters are weaker than allowed.
std::optional<UnlockedSlot> try_unlock(const KeySlot& slot, const Secret& secret,
                                       const Id32& repo_id);
Bytes endorsement_message(const Id32& repo_id, const KeySlot& slot);
// (Re-)endorses a slot after changing its public fields; needs keys.admin_private.
void endorse(KeySlot& slot, const MasterKeys& keys);
bool endorsed(const KeySlot& slot, const MasterKeys& keys);

}  // namespace lifeboat::repo
