#include "lifeboat/repo/keys.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>

#include "lifeboat/repo/detail/cbor.hpp"
#include "lifeboat/repo/format.hpp"
#include "lifeboat/repo/paper.hpp"
#include "lifeboat/util/host.hpp"

namespace lifeboat::repo {
using namespace detail;

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
crypto::Key32 key_of(const Bytes& b, const char* what) {
  if (b.size() != 32) throw IntegrityError("malformed {}: key is not 32 bytes", what);
  crypto::Key32 k;
  std::memcpy(k.data(), b.data(), 32);
  return k;
}
}  // namespace

// ---- config ----

Bytes encode_config(const Config& c, const crypto::Key32& meta_key) {
  Json body = {
      {"v", c.version},
      {"id", bin(c.id.view())},
      {"created", c.created_ns},
      {"chunker",
       {{"min", c.chunker.min_size}, {"avg", c.chunker.avg_size}, {"max", c.chunker.max_size}}}};
  Bytes b = to_cbor(body);
  Bytes mac_input = to_bytes("lifeboat-v1 config");
  append(mac_input, b);
  Id32 mac = crypto::hmac_sha256(meta_key, mac_input);
  return to_cbor(Json{{"body", bin(b)}, {"mac", bin(mac.view())}});
}

Config decode_config(ByteView data) {
  const char* what = "repository config";
  try {
    Json outer = from_cbor(data, what);
    Config c;
    c.body = get_bin(outer, "body", what);
    c.mac = get_id(outer, "mac", what);
    Json body = from_cbor(c.body, what);
    c.version = static_cast<uint32_t>(get_uint(body, "v", what));
    if (c.version != k_format_version)
      throw Error(Exit::failure,
                  "repository format version {} is not supported by this Lifeboat (supports {})",
                  c.version, k_format_version);
    c.id = get_id(body, "id", what);
    c.created_ns = get_int(body, "created", what);
    const Json& ch = field(body, "chunker", what);
    c.chunker.min_size = static_cast<uint32_t>(get_uint(ch, "min", what));
    c.chunker.avg_size = static_cast<uint32_t>(get_uint(ch, "avg", what));
    c.chunker.max_size = static_cast<uint32_t>(get_uint(ch, "max", what));
    try {
      chunk::validate(c.chunker);
    } catch (const UsageError& e) {
      throw IntegrityError("malformed repository config: {}", e.what());
    }
    return c;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed repository config: {}", e.what());
  }
}

void check_config_mac(const Config& c, const crypto::Key32& meta_key) {
  Bytes mac_input = to_bytes("lifeboat-v1 config");
  append(mac_input, c.body);
  if (crypto::hmac_sha256(meta_key, mac_input) != c.mac)
    throw IntegrityError(
        "the repository config does not authenticate under this key (tampered config)");
}

// ---- master keys ----

bool MasterKeys::can_read() const {
  if (epochs.empty()) return false;
  for (auto& e : epochs)
    if (!e.private_key) return false;
  return true;
}

const Epoch& MasterKeys::current_epoch() const {
  const Epoch* best = &epochs.front();
  for (auto& e : epochs)
    if (e.id > best->id) best = &e;
  return *best;
}

const Epoch* MasterKeys::find_epoch(uint32_t id) const {
  for (auto& e : epochs)
    if (e.id == id) return &e;
  return nullptr;
}

MasterKeys MasterKeys::generate(const Id32& repo_id) {
  MasterKeys k;
  k.repo_id = repo_id;
  k.chunker_seed = crypto::random_key();
  k.mac_key = crypto::random_key();
  k.meta_key = crypto::random_key();
  auto admin = crypto::ed25519_generate();
  k.admin_public = admin.public_key;
  k.admin_private = admin.private_key;
  auto pair = crypto::x25519_generate();
  k.epochs.push_back({1, pair.public_key, pair.private_key});
  return k;
}

MasterKeys MasterKeys::write_only() const {
  MasterKeys k = *this;
  for (auto& e : k.epochs) e.private_key.reset();
  k.admin_private.reset();
  return k;
}

// ---- secrets ----

Secret parse_key_file(std::string_view text, const std::string& path) {
  constexpr std::string_view magic = "lifeboat-key-v1\n";
  if (text.substr(0, magic.size()) != magic) {
    if (auto paper = parse_paper(text, path)) return *paper;
    throw UsageError(
        "'{}' is neither a Lifeboat key file nor a paper key or its shares (create a key file "
        "with: backup-create key generate FILE)",
        path);
  }
  std::string_view hex = text.substr(magic.size());
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.remove_suffix(1);
  Id32 raw;
  if (!parse_id(hex, raw))
    throw UsageError("key file '{}' is damaged: expected 64 hex digits", path);
  return {Secret::Type::key_file, std::string(as_chars(raw.view())), "--key-file " + path};
}

std::string format_key_file(const crypto::Key32& secret) {
  return "lifeboat-key-v1\n" + to_hex(secret) + "\n";
}

const char* access_name(Access a) { return a == Access::full ? "full" : "write-only"; }

// ---- slots ----

Bytes endorsement_message(const Id32& repo_id, const KeySlot& slot) {
  Bytes m = to_bytes("lifeboat-v1 slot");
  append(m, repo_id.view());
  append(m, slot.signing_public);
  m.push_back(std::byte(slot.access == Access::full ? 0 : 1));
  m.push_back(std::byte(slot.retired ? 1 : 0));
  put_u32le(m, static_cast<uint32_t>(slot.retired_snapshots.size()));
  for (auto& id : slot.retired_snapshots) append(m, id.view());
  return m;
}

void endorse(KeySlot& slot, const MasterKeys& keys) {
  if (!keys.admin_private)
    throw Error(
        Exit::not_permitted,
        "managing keys needs a full key: this key is write-only (use a full key or password)");
  std::sort(slot.retired_snapshots.begin(), slot.retired_snapshots.end());
  slot.endorsement =
      crypto::ed25519_sign(*keys.admin_private, endorsement_message(keys.repo_id, slot));
}

bool endorsed(const KeySlot& slot, const MasterKeys& keys) {
  return crypto::ed25519_verify(keys.admin_public, endorsement_message(keys.repo_id, slot),
                                slot.endorsement);
}

namespace {

const char* type_name(Secret::Type t) {
  return t == Secret::Type::password ? "password" : "key-file";
}

crypto::Key32 derive_kek(const Secret& secret, ByteView salt, const crypto::ScryptParams& params) {
  if (secret.type == Secret::Type::password) {
    Bytes k = crypto::scrypt(secret.value, salt, params, 32);
    crypto::Key32 out;
    std::memcpy(out.data(), k.data(), 32);
    crypto::wipe(k);
    return out;
  }
  return crypto::hkdf_key(as_bytes(secret.value), salt, "lifeboat-v1 key-file");
}

Bytes slot_ad(const Id32& repo_id, const Id32& slot_id) {
  return associated_data(repo_id, Kind::key, slot_id.view());
}

Bytes encode_bundle(const MasterKeys& k, const crypto::Key32& signing_private) {
  Json epochs = Json::array();
  for (auto& e : k.epochs) {
    Json je = {{"id", e.id}, {"pub", bin(e.public_key)}};
    if (e.private_key) je["priv"] = bin(*e.private_key);
    epochs.push_back(je);
  }
  Json j{{"repo", bin(k.repo_id.view())},
         {"chunker_seed", bin(k.chunker_seed)},
         {"mac_key", bin(k.mac_key)},
         {"meta_key", bin(k.meta_key)},
         {"epochs", epochs},
         {"admin_pub", bin(k.admin_public)},
         {"signing_key", bin(signing_private)}};
  if (k.admin_private) j["admin_priv"] = bin(*k.admin_private);
  return to_cbor(j);
}

void seal_slot(KeySlot& slot, const MasterKeys& keys, const crypto::Key32& signing_private,
               const Secret& secret, const crypto::ScryptParams& params) {
  slot.type = type_name(secret.type);
  slot.scrypt = params;
  slot.salt.resize(32);
  crypto::random_bytes(slot.salt);
  auto kek = derive_kek(secret, slot.salt, params);
  Bytes bundle = encode_bundle(keys, signing_private);
  slot.sealed =
      crypto::aes_gcm_seal(kek, crypto::counter_nonce(0), slot_ad(keys.repo_id, slot.id), bundle);
  crypto::wipe(bundle);
  crypto::wipe(kek);
}

}  // namespace

Bytes encode_slot(const KeySlot& s) {
  Json j = {{"v", 1},
            {"id", bin(s.id.view())},
            {"type", s.type},
            {"access", access_name(s.access)},
            {"label", s.label},
            {"host", s.host},
            {"user", s.user},
            {"created", s.created_ns},
            {"retired", s.retired},
            {"signing_pub", bin(s.signing_public)},
            {"endorsement", bin(s.endorsement)}};
  if (s.retired) {
    Json ids = Json::array();
    for (auto& id : s.retired_snapshots) ids.push_back(bin(id.view()));
    j["retired_snapshots"] = ids;
  }
  if (!s.retired) {
    j["kdf"] = {{"n", s.scrypt.n}, {"r", s.scrypt.r}, {"p", s.scrypt.p}, {"salt", bin(s.salt)}};
    j["sealed"] = bin(s.sealed);
  }
  return to_cbor(j);
}

KeySlot decode_slot(ByteView data, const std::string& what_s) {
  const char* what = what_s.c_str();
  try {
    Json j = from_cbor(data, what);
    if (get_uint(j, "v", what) != 1) throw IntegrityError("{} has an unknown version", what);
    KeySlot s;
    s.id = get_id(j, "id", what);
    s.type = get_str(j, "type", what);
    if (s.type != "password" && s.type != "key-file")
      throw IntegrityError("{} has unknown type '{}'", what, s.type);
    std::string access = get_str(j, "access", what);
    if (access == "full")
      s.access = Access::full;
    else if (access == "write-only")
      s.access = Access::write_only;
    else
      throw IntegrityError("{} has unknown access '{}'", what, access);
    s.label = get_str(j, "label", what);
    s.host = get_str(j, "host", what);
    s.user = get_str(j, "user", what);
    s.created_ns = get_int(j, "created", what);
    s.retired = get_bool(j, "retired", what);
    s.signing_public = get_fixed<32>(j, "signing_pub", what);
    s.endorsement = get_fixed<64>(j, "endorsement", what);
    if (s.retired) {
      const Json& ids = field(j, "retired_snapshots", what);
      if (!ids.is_array())
        throw IntegrityError("malformed {}: retired_snapshots is not a list", what);
      for (auto& id : ids)
        s.retired_snapshots.push_back(id_from(as_bin(id, "retired_snapshots", what)));
    }
    if (crypto::sha256(s.signing_public) != s.id)
      throw IntegrityError("{}: its id does not match its signing key", what);
    if (!s.retired) {
      const Json& kdf = field(j, "kdf", what);
      s.scrypt.n = get_uint(kdf, "n", what);
      s.scrypt.r = static_cast<uint32_t>(get_uint(kdf, "r", what));
      s.scrypt.p = static_cast<uint32_t>(get_uint(kdf, "p", what));
      s.salt = get_bin(kdf, "salt", what);
      s.sealed = get_bin(j, "sealed", what);
    }
    return s;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

UnlockedSlot make_slot(const MasterKeys& keys, const Secret& secret, Access access,
                       const std::string& label, const crypto::ScryptParams& params) {
  UnlockedSlot u;
  u.keys = access == Access::full ? keys : keys.write_only();
  auto signing = crypto::ed25519_generate();
  u.signing_private = signing.private_key;
  KeySlot& s = u.slot;
  s.signing_public = signing.public_key;
  s.id = crypto::sha256(signing.public_key);
  s.access = access;
  s.label = label;
  s.host = host_name();
  s.user = user_name();
  s.created_ns = now_ns();
  endorse(s, keys);
  seal_slot(s, u.keys, u.signing_private, secret, params);
  return u;
}

KeySlot rewrap_slot(const UnlockedSlot& u, const Secret& secret,
                    const crypto::ScryptParams& params) {
  KeySlot s = u.slot;
  seal_slot(s, u.keys, u.signing_private, secret, params);
  return s;
}

std::optional<UnlockedSlot> try_unlock(const KeySlot& slot, const Secret& secret,
                                       const Id32& repo_id) {
  if (slot.retired || slot.type != type_name(secret.type)) return std::nullopt;
  if (slot.type == "password" &&
      (slot.scrypt.n < k_min_scrypt_n || !std::has_single_bit(slot.scrypt.n) || slot.scrypt.r < 8 ||
       slot.scrypt.n > (1u << 24) || slot.scrypt.r > 64 || slot.scrypt.p == 0 ||
       slot.scrypt.p > 16 || 128 * slot.scrypt.n * slot.scrypt.r > (uint64_t{1} << 30)))
    throw Error(Exit::wrong_key,
                "key slot {} uses scrypt parameters N={} r={} p={}, outside what Lifeboat accepts "
                "(N a power of two >= 2^15, r >= 8, at most 1 GiB of memory): refusing it",
                slot.id.hex().substr(0, 8), slot.scrypt.n, slot.scrypt.r, slot.scrypt.p);
  auto kek = derive_kek(secret, slot.salt, slot.scrypt);
  auto bundle =
      crypto::aes_gcm_open(kek, crypto::counter_nonce(0), slot_ad(repo_id, slot.id), slot.sealed);
  crypto::wipe(kek);
  if (!bundle) return std::nullopt;
  std::string what = fmt::format("key slot {}", slot.id.hex().substr(0, 8));
  try {
    Json j = from_cbor(*bundle, what.c_str());
    crypto::wipe(*bundle);
    UnlockedSlot u;
    u.slot = slot;
    MasterKeys& k = u.keys;
    k.repo_id = get_id(j, "repo", what.c_str());
    if (k.repo_id != repo_id) throw IntegrityError("{} belongs to another repository", what);
    k.chunker_seed = key_of(get_bin(j, "chunker_seed", what.c_str()), what.c_str());
    k.mac_key = key_of(get_bin(j, "mac_key", what.c_str()), what.c_str());
    k.meta_key = key_of(get_bin(j, "meta_key", what.c_str()), what.c_str());
    for (auto& je : field(j, "epochs", what.c_str())) {
      Epoch e;
      e.id = static_cast<uint32_t>(get_uint(je, "id", what.c_str()));
      e.public_key = key_of(get_bin(je, "pub", what.c_str()), what.c_str());
      if (je.contains("priv"))
        e.private_key = key_of(get_bin(je, "priv", what.c_str()), what.c_str());
      k.epochs.push_back(e);
    }
    if (k.epochs.empty()) throw IntegrityError("{} holds no key epoch", what);
    k.admin_public = key_of(get_bin(j, "admin_pub", what.c_str()), what.c_str());
    if (j.contains("admin_priv"))
      k.admin_private = key_of(get_bin(j, "admin_priv", what.c_str()), what.c_str());
    u.signing_private = key_of(get_bin(j, "signing_key", what.c_str()), what.c_str());
    if (crypto::ed25519_public(u.signing_private) != slot.signing_public)
      throw IntegrityError("{}: signing key does not match its public key", what);
    if (!endorsed(slot, k))
      throw IntegrityError("{} is not endorsed by the repository's admin key (tampered)", what);
    if ((slot.access == Access::write_only) == (k.can_read() && k.admin_private.has_value()))
      throw IntegrityError("{}: access '{}' does not match its keys", what,
                           access_name(slot.access));
    return u;
  } catch (const Json::exception& e) {
    throw IntegrityError("malformed {}: {}", what, e.what());
  }
}

}  // namespace lifeboat::repo
