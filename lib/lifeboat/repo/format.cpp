#include "lifeboat/repo/format.hpp"

#include <fmt/format.h>

#include "lifeboat/core/error.hpp"

namespace lifeboat::repo {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::config:
      return "config";
    case Kind::key:
      return "key";
    case Kind::data_blob:
      return "data";
    case Kind::tree_blob:
      return "tree";
    case Kind::pack_header:
      return "pack-header";
    case Kind::index:
      return "index";
    case Kind::snapshot:
      return "snapshot";
    case Kind::lock:
      return "lock";
    case Kind::pack_key:
      return "pack-key";
    case Kind::tombstone:
      return "tombstone";
    case Kind::condemned:
      return "condemned";
  }
  return "unknown";
}

Bytes associated_data(const Id32& repo_id, Kind kind, ByteView object_id) {
  Bytes ad = to_bytes("lifeboat");
  append(ad, repo_id.view());
  put_u32le(ad, k_format_version);
  ad.push_back(std::byte(static_cast<uint8_t>(kind)));
  append(ad, object_id);
  return ad;
}

std::string kind_dir(Kind kind) {
  switch (kind) {
    case Kind::data_blob:
    case Kind::tree_blob:
    case Kind::pack_header:
      return "data/";
    case Kind::index:
      return "index/";
    case Kind::snapshot:
      return "snapshots/";
    case Kind::lock:
      return "locks/";
    case Kind::key:
      return "keys/";
    case Kind::tombstone:
      return "tombstones/";
    case Kind::condemned:
      return "condemned/";
    default:
      return "";
  }
}

std::string object_key(Kind kind, const Id32& id) {
  std::string hex = id.hex();
  if (kind_dir(kind) == "data/") return fmt::format("data/{}/{}", hex.substr(0, 2), hex);
  return kind_dir(kind) + hex;
}

namespace {
constexpr size_t k_salt = 32;
constexpr size_t k_header = 2 + k_salt;
}  // namespace

Bytes seal_object(const crypto::Key32& base, const Id32& repo_id, Kind kind, ByteView plaintext,
                  ByteView object_id) {
  Bytes out;
  out.reserve(k_header + plaintext.size() + crypto::k_tag_size);
  out.push_back(std::byte{1});
  out.push_back(std::byte(static_cast<uint8_t>(kind)));
  std::array<std::byte, k_salt> salt;
  crypto::random_bytes(salt);
  append(out, salt);
  auto key = crypto::hkdf_key(base, salt, fmt::format("lifeboat-v1 object {}", kind_name(kind)));
  auto ct = crypto::aes_gcm_seal(key, crypto::counter_nonce(0),
                                 associated_data(repo_id, kind, object_id), plaintext);
  crypto::wipe(key);
  append(out, ct);
  return out;
}

Bytes open_object(const crypto::Key32& base, const Id32& repo_id, Kind kind, ByteView sealed,
                  const std::string& what, ByteView object_id) {
  if (sealed.size() < k_header + crypto::k_tag_size)
    throw IntegrityError("{} is truncated ({} bytes)", what, sealed.size());
  if (sealed[0] != std::byte{1})
    throw IntegrityError("{} has unknown envelope version {}", what, static_cast<int>(sealed[0]));
  if (sealed[1] != std::byte(static_cast<uint8_t>(kind)))
    throw IntegrityError("{} is not an object of kind {} (kind byte {})", what, kind_name(kind),
                         static_cast<int>(sealed[1]));
  auto key = crypto::hkdf_key(base, sealed.subspan(2, k_salt),
                              fmt::format("lifeboat-v1 object {}", kind_name(kind)));
  auto pt =
      crypto::aes_gcm_open(key, crypto::counter_nonce(0), associated_data(repo_id, kind, object_id),
                           sealed.subspan(k_header));
  crypto::wipe(key);
  if (!pt) throw IntegrityError("{} failed authentication (damaged or tampered)", what);
  return std::move(*pt);
}

}  // namespace lifeboat::repo
