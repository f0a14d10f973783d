// Snapshots: one per backup. The body (CBOR) is signed with the slot's Ed25519 key; body and
// signature are sealed under the metadata key into snapshots/<id>. Value types; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/util/bytes.hpp"

namespace lifeboat::repo {

struct Snapshot {
  int64_t time_ns = 0;
  std::string host;
  std::string job;
  std::string kind = "files";
  std::vector<std::string> paths;
  std::vector<std::string> tags;
  Id32 tree;
  std::string program;  // "lifeboat 0.1.0"
  std::map<std::string, uint64_t> summary;
  // What the source recorded about itself (PostgreSQL: version, databases, LSNs...); absent
  // from snapshots that have none.
  std::map<std::string, std::string> meta;
  Id32 signer;  // key slot id
};

struct SignedSnapshot {
  Snapshot snapshot;
  Bytes body;
  Bytes signature;
};

Bytes encode_snapshot_body(const Snapshot& s);
Snapshot decode_snapshot_body(ByteView body, const std::string& what);
// The plaintext stored (before sealing): CBOR {"body": bytes, "sig": bytes}.
Bytes encode_signed(const Snapshot& s, const crypto::Key32& signing_private);
SignedSnapshot decode_signed(ByteView data, const std::string& what);

}  // namespace lifeboat::repo
