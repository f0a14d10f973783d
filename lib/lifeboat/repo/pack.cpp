#include "lifeboat/repo/pack.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <string_view>

#include "lifeboat/repo/detail/cbor.hpp"
#include "lifeboat/repo/format.hpp"

namespace lifeboat::repo {
using namespace detail;

const char* blob_type_name(BlobType t) { return t == BlobType::data ? "data" : "tree"; }

namespace {
Kind blob_kind(BlobType t) { return t == BlobType::data ? Kind::data_blob : Kind::tree_blob; }

crypto::Key32 wrap_key(const crypto::Key32& shared, const crypto::Key32& eph_pub,
                       const crypto::Key32& epoch_pub, const Id32& repo_id) {
  Bytes salt(eph_pub.begin(), eph_pub.end());
  append(salt, epoch_pub);
  Bytes info = to_bytes("lifeboat-v1 pack-key ");
  append(info, repo_id.view());
  Bytes k = crypto::hkdf_sha256(shared, salt, info, 32);
  crypto::Key32 out;
  std::memcpy(out.data(), k.data(), 32);
  crypto::wipe(k);
  return out;
}
}  // namespace

PackKeyWrap wrap_pack_key(const MasterKeys& keys, const crypto::Key32& pack_key) {
  const Epoch& epoch = keys.current_epoch();
  auto eph = crypto::x25519_generate();
  auto shared = crypto::x25519(eph.private_key, epoch.public_key);
  auto kek = wrap_key(shared, eph.public_key, epoch.public_key, keys.repo_id);
  crypto::wipe(shared);
  crypto::wipe(eph.private_key);
  PackKeyWrap w;
  w.epoch = epoch.id;
  w.ephemeral_public = eph.public_key;
  auto ct = crypto::aes_gcm_seal(kek, crypto::counter_nonce(0),
                                 associated_data(keys.repo_id, Kind::pack_key, {}), pack_key);
  crypto::wipe(kek);
  std::memcpy(w.wrapped.data(), ct.data(), 48);
  return w;
}

crypto::Key32 unwrap_pack_key(const MasterKeys& keys, const PackKeyWrap& w, const Id32& pack_id) {
  const Epoch* epoch = keys.find_epoch(w.epoch);
  if (!epoch) throw IntegrityError("pack {} names unknown key epoch {}", pack_id.hex(), w.epoch);
  if (!epoch->private_key)
    throw Error(Exit::not_permitted,
                "this key is write-only: it can back up but cannot read file contents or "
                "directory listings (use a full key to restore)");
  auto shared = crypto::x25519(*epoch->private_key, w.ephemeral_public);
  auto kek = wrap_key(shared, w.ephemeral_public, epoch->public_key, keys.repo_id);
  crypto::wipe(shared);
  auto pt = crypto::aes_gcm_open(kek, crypto::counter_nonce(0),
                                 associated_data(keys.repo_id, Kind::pack_key, {}), w.wrapped);
  crypto::wipe(kek);
  if (!pt || pt->size() != 32)
    throw IntegrityError("the key of pack {} does not unwrap (damaged index or pack header)",
                         pack_id.hex());
  crypto::Key32 k;
  std::memcpy(k.data(), pt->data(), 32);
  crypto::wipe(*pt);
  return k;
}

std::optional<Bytes> open_blob(const crypto::Key32& pack_key, const Id32& repo_id,
                               const BlobEntry& e, ByteView stored) {
  return crypto::aes_gcm_open(pack_key, crypto::counter_nonce(e.offset),
                              associated_data(repo_id, blob_kind(e.type), e.id.view()), stored);
}

bool open_blob_into(const crypto::Key32& pack_key, const Id32& repo_id, const BlobEntry& e,
                    ByteView stored, std::byte* out) {
  return crypto::aes_gcm_open_into(pack_key, crypto::counter_nonce(e.offset),
                                   associated_data(repo_id, blob_kind(e.type), e.id.view()), stored,
                                   out);
}

PackWriter::PackWriter(const MasterKeys& keys, BlobType type, size_t arena, Arena spare)
    : m_keys(keys), m_type(type), m_arena_first(arena) {
  if (spare.size >= arena) m_arena = std::move(spare);
}

void PackWriter::check_size(size_t payload) const {
  // Offsets, lengths and nonces are 32-bit: keep every pack far below 4 GiB.
  if (payload > (1u << 30) || m_bytes + payload > (3ull << 30))
    throw Error(Exit::failure,
                "a blob of {} bytes is too large for a pack (a directory with too many entries?)",
                payload);
}

std::byte* PackWriter::reserve(size_t n) {
  if (m_arena_used + n > m_arena.size) {
    size_t size = std::max({m_arena_used + n, 2 * m_arena.size, m_arena_first});
    // The first allocation's last 2 MiB are room for the blob that fills a pack (see
    // BlobSaver::new_pack): plain pages there, or each full pack's arena held 1.5 MiB more.
    HugeBuffer grown(size, m_arena_first > (2u << 20) ? m_arena_first - (2u << 20) : SIZE_MAX);
    if (m_arena_used) std::memcpy(grown.get(), m_arena.data.get(), m_arena_used);
    m_arena = {std::move(grown), size};
  }
  return m_arena.data.get() + m_arena_used;
}

void PackWriter::add(const Id32& id, ByteView payload, uint32_t raw_length, bool compressed) {
  check_size(payload.size());
  std::byte* out = reserve(payload.size() + crypto::k_tag_size);
  if (!payload.empty()) std::memcpy(out, payload.data(), payload.size());
  m_pending.push_back(
      {id, m_arena_used, static_cast<uint32_t>(payload.size()), raw_length, compressed});
  m_arena_used += payload.size() + crypto::k_tag_size;
  m_bytes += payload.size() + crypto::k_tag_size;
}

Bytes PackWriter::Finished::concat() const {
  Bytes out;
  out.reserve(record.size);
  for (auto& p : parts) append(out, p);
  return out;
}

PackWriter::Finished PackWriter::finish() {
  // Shuffle the blob order (Fisher-Yates with CSPRNG draws) so that blob sizes in pack order
  // say nothing about the order of data in files. The draws are made at once: each draw costs
  // a system call (the CSPRNG's fork check), and a pack holds hundreds of blobs.
  if (m_pending.size() > 1) {
    std::vector<uint64_t> draws(m_pending.size() - 1);
    crypto::random_bytes(std::as_writable_bytes(std::span(draws)));
    for (size_t i = m_pending.size(); i > 1; --i)
      std::swap(m_pending[i - 1], m_pending[draws[m_pending.size() - i] % i]);
  }
  auto pack_key = crypto::random_key();
  Finished f;
  f.record.header.wrap = wrap_pack_key(m_keys, pack_key);
  f.record.header.blobs.reserve(m_pending.size());
  f.parts.reserve(m_pending.size() + 1);
  crypto::Sha256 hash;
  uint64_t offset = 0;  // in the pack
  for (auto& p : m_pending) {
    BlobEntry e;
    e.id = p.id;
    e.type = m_type;
    e.offset = static_cast<uint32_t>(offset);
    e.raw_length = p.raw_length;
    e.compressed = p.compressed;
    e.length = p.length + static_cast<uint32_t>(crypto::k_tag_size);
    std::byte* at = m_arena.data.get() + p.offset;
    crypto::aes_gcm_seal_into(pack_key, crypto::counter_nonce(offset),
                              associated_data(m_keys.repo_id, blob_kind(m_type), p.id.view()),
                              ByteView(at, p.length), at);
    ByteView sealed(at, e.length);
    e.xxh = xxh3_128(sealed);
    hash.update(sealed);
    f.parts.push_back(sealed);
    f.record.header.blobs.push_back(e);
    offset += e.length;
  }
  crypto::wipe(pack_key);
  f.trailer = seal_object(m_keys.meta_key, m_keys.repo_id, Kind::pack_header,
                          encode_pack_header(f.record.header));
  put_u32le(f.trailer, static_cast<uint32_t>(f.trailer.size()));
  hash.update(f.trailer);
  f.parts.push_back(f.trailer);  // a vector's bytes stay where they are when it is moved
  f.record.id = hash.finish();
  f.record.size = offset + f.trailer.size();
  f.arena = std::move(m_arena);
  m_arena = {};
  m_pending.clear();
  m_arena_used = 0;
  m_bytes = 0;
  return f;
}

// Written directly (a Json of a pack of small blobs costs hundreds of bytes per blob); the
// bytes are those of Json::to_cbor of {"blobs": [...], "eph", "epoch", "key", "v": 1}, keys in
// bytewise order (tests/unit/repo/decode_test.cpp compares the two).
void write_pack_header(detail::CborWriter& w, const PackHeader& h) {
  w.map(5);
  w.text("blobs");
  w.array(h.blobs.size());
  for (auto& b : h.blobs) {
    w.array(7);
    w.bytes(b.id.view());
    w.uint(static_cast<unsigned>(b.type));
    w.uint(b.offset);
    w.uint(b.length);
    w.uint(b.raw_length);
    w.uint(b.compressed ? 1 : 0);
    w.bytes(ByteView(b.xxh.data(), b.xxh.size()));
  }
  w.text("eph");
  w.bytes(ByteView(h.wrap.ephemeral_public.data(), h.wrap.ephemeral_public.size()));
  w.text("epoch");
  w.uint(h.wrap.epoch);
  w.text("key");
  w.bytes(ByteView(h.wrap.wrapped.data(), h.wrap.wrapped.size()));
  w.text("v");
  w.uint(1);
}

Bytes encode_pack_header(const PackHeader& h) {
  Bytes out;
  out.reserve(128 + h.blobs.size() * 80);
  detail::CborWriter w(out);
  write_pack_header(w, h);
  return out;
}

// Read directly, like it is written (a Json of a pack of small blobs costs hundreds of bytes
// per blob): the same checks as the Json reader had, and a key seen twice is malformed.
PackHeader decode_pack_header(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  check_shape(data, what);
  CborReader r(data, what);
  PackHeader h;
  uint64_t version = 0;
  std::set<std::string_view> seen;
  auto fixed = [&](auto& out, const char* name) {
    ByteView b = r.bytes(name);
    if (b.size() != out.size())
      throw IntegrityError("malformed {}: field '{}' is not {} bytes", what, name, out.size());
    std::copy(b.begin(), b.end(), out.begin());
  };
  for (uint64_t n = r.map("header"); n > 0; --n) {
    std::string_view key = r.text("key");
    if (!seen.insert(key).second) throw IntegrityError("malformed {}: '{}' twice", what, key);
    if (key == "v") {
      version = r.uint("v");
    } else if (key == "epoch") {
      h.wrap.epoch = static_cast<uint32_t>(r.uint("epoch"));
    } else if (key == "eph") {
      fixed(h.wrap.ephemeral_public, "eph");
    } else if (key == "key") {
      fixed(h.wrap.wrapped, "key");
    } else if (key == "blobs") {
      uint64_t count = r.array("blobs");
      // An entry takes at least 58 bytes: a hostile count costs no more than the data.
      h.blobs.reserve(static_cast<size_t>(std::min<uint64_t>(count, data.size() / 58)));
      for (; count > 0; --count) {
        if (r.array("blob") != 7) throw IntegrityError("malformed {}: bad blob entry", what);
        BlobEntry e;
        e.id = id_from(r.bytes("id"));
        uint64_t v[5];
        for (auto& x : v) {
          x = r.uint("blob");
          if (x > UINT32_MAX) throw IntegrityError("malformed {}: bad blob entry", what);
        }
        if (v[0] > 1) throw IntegrityError("malformed {}: unknown blob type {}", what, v[0]);
        e.type = static_cast<BlobType>(v[0]);
        e.offset = static_cast<uint32_t>(v[1]);
        e.length = static_cast<uint32_t>(v[2]);
        e.raw_length = static_cast<uint32_t>(v[3]);
        e.compressed = v[4] != 0;
        ByteView x = r.bytes("xxh");
        if (x.size() != 16) throw IntegrityError("malformed {}: bad checksum", what);
        std::copy(x.begin(), x.end(), e.xxh.begin());
        if (e.length < crypto::k_tag_size)
          throw IntegrityError("malformed {}: blob too short", what);
        h.blobs.push_back(e);
      }
    } else {
      r.skip();  // unknown keys are ignored
    }
  }
  for (const char* name : {"v", "epoch", "eph", "key", "blobs"})
    if (!seen.count(name)) throw IntegrityError("malformed {}: field '{}' missing", what, name);
  if (version != 1) throw IntegrityError("{} has an unknown version", what);
  return h;
}

PackHeader parse_pack_trailer(const MasterKeys& keys, ByteView pack, const std::string& what) {
  if (pack.size() < 4) throw IntegrityError("{} is truncated", what);
  uint32_t len = get_u32le(pack.data() + pack.size() - 4);
  if (len > pack.size() - 4) throw IntegrityError("{} is truncated (header length {})", what, len);
  ByteView sealed = pack.subspan(pack.size() - 4 - len, len);
  Bytes plain =
      open_object(keys.meta_key, keys.repo_id, Kind::pack_header, sealed, what + " header");
  PackHeader h = decode_pack_header(plain, what + " header");
  uint64_t end = pack.size() - 4 - len;
  for (auto& b : h.blobs)
    if (uint64_t{b.offset} + b.length > end)
      throw IntegrityError("{} header names a blob beyond the pack's data", what);
  return h;
}

}  // namespace lifeboat::repo
