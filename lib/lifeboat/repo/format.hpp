// Repository format v1 constants, object kinds, storage key names and the sealed-object
// envelope (docs/format/). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/util/bytes.hpp"

namespace lifeboat::repo {

inline constexpr uint32_t k_format_version = 1;

// Object kinds; the numeric value is bound into every ciphertext's associated data.
enum class Kind : uint8_t {
  config = 1,
  key = 2,
  data_blob = 3,
  tree_blob = 4,
  pack_header = 5,
  index = 6,
  snapshot = 7,
  lock = 8,
  pack_key = 9,
  tombstone = 10,  // tombstones/<id>: snapshots forgotten on purpose (signed)
  condemned = 11,  // condemned/<id>: packs prune will delete after a grace period
};

const char* kind_name(Kind kind);

// Associated data for every AES-GCM seal in the repository:
//   "lifeboat" (8 bytes) | repository id (32) | u32le format version | u8 kind | object id
Bytes associated_data(const Id32& repo_id, Kind kind, ByteView object_id);

// Storage key of a content-addressed object: "index/<hex>", "snapshots/<hex>", "locks/<hex>",
// "keys/<hex>", "tombstones/<hex>", "condemned/<hex>", packs "data/<first two hex digits>/<hex>".
std::string object_key(Kind kind, const Id32& id);
// The storage directory of a kind ("data/", "index/", ...).
std::string kind_dir(Kind kind);

// The envelope of metadata objects sealed under a base key (the metadata key):
//   u8 envelope version (1) | u8 kind | salt (32) | AES-256-GCM ciphertext || tag (16)
// key = HKDF-SHA256(ikm = base key, salt, info = "lifeboat-v1 object <kind name>"),
// nonce = counter_nonce(0): every object has its own key, so no (key, nonce) pair repeats.
Bytes seal_object(const crypto::Key32& base, const Id32& repo_id, Kind kind, ByteView plaintext,
                  ByteView object_id = {});
// Opens an envelope; throws IntegrityError naming `what` if it is malformed, of another
// kind, or does not authenticate.
Bytes open_object(const crypto::Key32& base, const Id32& repo_id, Kind kind, ByteView sealed,
                  const std::string& what, ByteView object_id = {});

}  // namespace lifeboat::repo
