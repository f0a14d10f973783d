// The two objects that record deletions (docs/format/deletion.md):
//  - tombstones/<id>: the snapshots a `backup-prune forget` removed on purpose, signed by a full
//    key, so that every host's snapshot high-water mark accepts their absence (a rolled-back
//    snapshot list is still detected);
//  - condemned/<id>: packs a prune took out of the index, with their headers and the time it
//    did so; a later prune deletes them after the grace period, or revives them (DESIGN.md §3).
// Value types; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/repo/pack.hpp"
#include "lifeboat/util/bytes.hpp"

namespace lifeboat::repo {

struct Tombstone {
  int64_t time_ns = 0;
  std::string host;
  std::string user;
  std::vector<Id32> snapshots;  // sorted
  Id32 signer;                  // key slot id
};

struct SignedTombstone {
  Tombstone tombstone;
  Bytes body;
  Bytes signature;
};

// The plaintext stored (before sealing): CBOR {"body": bytes, "sig": bytes}; the signature is
// Ed25519 over "lifeboat-v1 tombstone" || body.
Bytes encode_tombstone(const Tombstone& t, const crypto::Key32& signing_private);
SignedTombstone decode_tombstone(ByteView data, const std::string& what);
Bytes tombstone_message(ByteView body);

struct Condemnation {
  int64_t time_ns = 0;  // when the packs left the index (after the index rewrite)
  std::string host;
  std::vector<PackRecord> packs;  // headers may be empty for a pack whose own header is unreadable
  Id32 signer;                    // key slot id
};

struct SignedCondemnation {
  Condemnation condemnation;
  Bytes body;
  Bytes signature;
};

// Signed like a tombstone (a write-only key could otherwise forge an early time and have a
// prune delete a running backup's packs): CBOR {"body": bytes, "sig": bytes}, Ed25519 over
// "lifeboat-v1 condemned" || body.
Bytes encode_condemnation(const Condemnation& c, const crypto::Key32& signing_private);
SignedCondemnation decode_condemnation(ByteView data, const std::string& what);
Bytes condemnation_message(ByteView body);

}  // namespace lifeboat::repo
