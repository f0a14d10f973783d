// Packs: many sealed blobs, shuffled, followed by a sealed header and its length.
//   blob ciphertexts… | header envelope (sealed under the metadata key) | u32le header length
// Each blob is sealed with the pack's random key, nonce = counter_nonce(blob offset), and
// associated data binding repository, kind (data/tree) and blob id. The pack key is wrapped
// to the key epoch's X25519 public key. A PackWriter is not thread-safe; use one per thread.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "lifeboat/repo/keys.hpp"
#include "lifeboat/util/huge_buffer.hpp"
#include "lifeboat/util/xxh.hpp"

namespace lifeboat::repo {

enum class BlobType : uint8_t { data = 0, tree = 1 };
const char* blob_type_name(BlobType t);

struct BlobEntry {
  Id32 id;
  BlobType type = BlobType::data;
  uint32_t offset = 0;      // in the pack
  uint32_t length = 0;      // stored (sealed) length, including the tag
  uint32_t raw_length = 0;  // plaintext length after decompression
  bool compressed = false;
  Xxh128 xxh{};  // XXH3-128 of the stored bytes
};

struct PackKeyWrap {
  uint32_t epoch = 1;
  crypto::Key32 ephemeral_public{};
  std::array<std::byte, 48> wrapped{};  // AES-GCM(pack key) || tag
};

struct PackHeader {
  PackKeyWrap wrap;
  std::vector<BlobEntry> blobs;  // in file order
};

// Encodes/decodes the CBOR of a header (also used inside index files).
struct PackRecord {
  Id32 id;
  uint64_t size = 0;
  PackHeader header;
};

PackKeyWrap wrap_pack_key(const MasterKeys& keys, const crypto::Key32& pack_key);
// Throws Error(not_permitted) for a write-only bundle, IntegrityError when it does not open.
crypto::Key32 unwrap_pack_key(const MasterKeys& keys, const PackKeyWrap& wrap, const Id32& pack_id);

// Opens a stored blob; nullopt when it fails authentication.
std::optional<Bytes> open_blob(const crypto::Key32& pack_key, const Id32& repo_id,
                               const BlobEntry& entry, ByteView stored);
// The same, into out (stored.size() - crypto::k_tag_size bytes); false when it fails.
bool open_blob_into(const crypto::Key32& pack_key, const Id32& repo_id, const BlobEntry& entry,
                    ByteView stored, std::byte* out);

// Memory a PackWriter fills: not zero-filled (each byte is written once, by a copy or the
// cipher), and handed on with the finished pack, then back to a writer as a spare.
struct Arena {
  HugeBuffer data;  // a pack's arena is touched afresh by every pack that does not reuse it
  size_t size = 0;
};

class PackWriter {
 public:
  // arena: bytes of room to allocate at the first add (more is allocated as needed); spare:
  // an earlier pack's arena to fill instead, when it is at least that large.
  PackWriter(const MasterKeys& keys, BlobType type, size_t arena = 1u << 20, Arena spare = {});
  // Adds a blob; payload is its (maybe compressed) plaintext.
  void add(const Id32& id, ByteView payload, uint32_t raw_length, bool compressed);
  size_t bytes() const { return m_bytes; }
  size_t count() const { return m_pending.size(); }
  // Shuffles, seals and serialises the pack; the writer is empty afterwards. Each blob is
  // sealed where it lies in the arena (room for its tag was left behind it), so the pack is
  // not copied: `parts` are its bytes in pack order, sealed blobs in the arena then the
  // trailer (the sealed header and its length).
  struct Finished {
    PackRecord record;
    Arena arena;
    Bytes trailer;
    std::vector<ByteView> parts;
    Bytes concat() const;  // the pack in one buffer
  };
  Finished finish();

 private:
  struct Pending {
    Id32 id;
    size_t offset;  // of the payload in m_arena (its tag's room follows)
    uint32_t length;
    uint32_t raw_length;
    bool compressed;
  };
  // Room for n more bytes at the end of the arena.
  std::byte* reserve(size_t n);
  void check_size(size_t payload) const;
  const MasterKeys& m_keys;
  BlobType m_type;
  std::vector<Pending> m_pending;
  // The payloads of the pending blobs, one after the other, each followed by room for its tag.
  Arena m_arena;
  size_t m_arena_used = 0;
  size_t m_arena_first;  // what the first allocation takes
  size_t m_bytes = 0;
};

Bytes encode_pack_header(const PackHeader& header);
namespace detail {
class CborWriter;
}
// Appends the header's CBOR map to w (encode_pack_header's bytes; index files embed it).
void write_pack_header(detail::CborWriter& w, const PackHeader& header);
PackHeader decode_pack_header(ByteView data, const std::string& what);
// Reads the header at the end of a whole pack (sealed under the metadata key).
PackHeader parse_pack_trailer(const MasterKeys& keys, ByteView pack, const std::string& what);

}  // namespace lifeboat::repo
