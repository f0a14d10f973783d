#include "lifeboat/crypto/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>

#include "lifeboat/core/error.hpp"

namespace lifeboat::crypto {
namespace {

[[noreturn]] void fail(const char* what) {
  throw Error(Exit::failure, "cryptographic operation failed: {} (OpenSSL)", what);
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

const unsigned char* u8(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* u8(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

// Deterministic test stream: AES-256-CTR keystream under a key derived from the seed.
std::mutex g_det_mutex;
bool g_deterministic = false;
Key32 g_det_key{};
uint64_t g_det_counter = 0;

EVP_MAC* hmac_algorithm() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) fail("fetch HMAC");
  return mac;
}

}  // namespace

void set_deterministic_random_for_testing(uint64_t seed) {
  std::lock_guard lock(g_det_mutex);
  g_deterministic = true;
  Bytes s(8);
  put_u64be(s.data(), seed);
  g_det_key = hkdf_key(s, {}, "lifeboat test random");
  g_det_counter = 0;
}

void random_bytes(std::span<std::byte> out) {
  {
    std::lock_guard lock(g_det_mutex);
    if (g_deterministic) {
      size_t done = 0;
      while (done < out.size()) {
        auto nonce = counter_nonce(g_det_counter++);
        Bytes zero(std::min<size_t>(64, out.size() - done));
        auto ks = aes_gcm_seal(g_det_key, nonce, {}, zero);
        std::memcpy(out.data() + done, ks.data(), zero.size());
        done += zero.size();
      }
      return;
    }
  }
  if (RAND_bytes(u8(out.data()), static_cast<int>(out.size())) != 1) fail("RAND_bytes");
}

Key32 random_key() {
  Key32 k;
  random_bytes(k);
  return k;
}

Id32 sha256(ByteView data) {
  Id32 out;
  unsigned len = 32;
  if (EVP_Digest(data.data(), data.size(), u8(out.bytes.data()), &len, EVP_sha256(), nullptr) != 1)
    fail("sha256");
  return out;
}

std::array<std::byte, 16> md5(ByteView data) {
  std::array<std::byte, 16> out;
  unsigned len = 16;
  if (EVP_Digest(data.data(), data.size(), u8(out.data()), &len, EVP_md5(), nullptr) != 1)
    fail("md5");
  return out;
}

namespace {
void digest_parts(const EVP_MD* md, std::span<const ByteView> parts, std::byte* out,
                  const char* what) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) fail(what);
  for (const ByteView& p : parts)
    if (EVP_DigestUpdate(ctx.get(), p.data(), p.size()) != 1) fail(what);
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), u8(out), &len) != 1) fail(what);
}
}  // namespace

std::array<std::byte, 16> md5_parts(std::span<const ByteView> parts) {
  std::array<std::byte, 16> out;
  digest_parts(EVP_md5(), parts, out.data(), "md5");
  return out;
}

Id32 sha256_parts(std::span<const ByteView> parts) {
  Id32 out;
  digest_parts(EVP_sha256(), parts, out.bytes.data(), "sha256");
  return out;
}

std::string base64_encode(ByteView data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), u8(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Bytes base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) throw std::invalid_argument("base64 length is not a multiple of 4");
  Bytes out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(u8(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) throw std::invalid_argument("not base64");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new()) {
  if (!m_ctx || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(m_ctx), EVP_sha256(), nullptr) != 1)
    fail("sha256 init");
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_ctx)); }
void Sha256::update(ByteView data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx), data.data(), data.size()) != 1)
    fail("sha256 update");
}
Id32 Sha256::finish() {
  Id32 out;
  unsigned len = 32;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(m_ctx), u8(out.bytes.data()), &len) != 1)
    fail("sha256 final");
  return out;
}

Mac::Mac(ByteView key) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_algorithm());
  if (!ctx) fail("hmac ctx");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx, u8(key.data()), key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    fail("hmac init");
  }
  m_proto = ctx;
}
Mac::~Mac() { EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(m_proto)); }

Id32 Mac::compute(ByteView data) const {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_dup(static_cast<EVP_MAC_CTX*>(m_proto)));
  if (!ctx) fail("hmac dup");
  Id32 out;
  size_t len = 0;
  if (EVP_MAC_update(ctx.get(), u8(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), u8(out.bytes.data()), &len, 32) != 1 || len != 32)
    fail("hmac");
  return out;
}

Id32 hmac_sha256(ByteView key, ByteView data) { return Mac(key).compute(data); }

Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, size_t length) {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) fail("fetch HKDF");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf));
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  int i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<std::byte*>(ikm.data()), ikm.size());
  if (!salt.empty())
    params[i++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<std::byte*>(salt.data()), salt.size());
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  const_cast<std::byte*>(info.data()), info.size());
  params[i] = OSSL_PARAM_construct_end();
  Bytes out(length);
  if (!ctx || EVP_KDF_derive(ctx.get(), u8(out.data()), length, params) != 1) fail("hkdf");
  return out;
}

Key32 hkdf_key(ByteView ikm, ByteView salt, std::string_view info) {
  Bytes k = hkdf_sha256(ikm, salt, as_bytes(info), 32);
  Key32 out;
  std::memcpy(out.data(), k.data(), 32);
  wipe(k);
  return out;
}

std::array<std::byte, k_nonce_size> counter_nonce(uint64_t n) {
  std::array<std::byte, k_nonce_size> nonce{};
  put_u64be(nonce.data() + 4, n);
  return nonce;
}

void aes_gcm_seal_into(ByteView key, ByteView nonce, ByteView ad, ByteView plaintext,
                       std::byte* out) {
  if (key.size() != 32 || nonce.size() != k_nonce_size) fail("aes-gcm parameters");
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key.data()),
                                 u8(nonce.data())) != 1)
    fail("aes-gcm init");
  if (!ad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(ad.data()), static_cast<int>(ad.size())) != 1)
    fail("aes-gcm aad");
  size_t done = 0;
  while (done < plaintext.size()) {  // int-sized steps
    int step = static_cast<int>(std::min<size_t>(plaintext.size() - done, 1 << 30));
    if (EVP_EncryptUpdate(ctx.get(), u8(out + done), &len, u8(plaintext.data() + done), step) != 1)
      fail("aes-gcm encrypt");
    done += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx.get(), u8(out + done), &len) != 1) fail("aes-gcm final");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, k_tag_size, out + plaintext.size()) != 1)
    fail("aes-gcm tag");
}

Bytes aes_gcm_seal(ByteView key, ByteView nonce, ByteView ad, ByteView plaintext) {
  Bytes out(plaintext.size() + k_tag_size);
  aes_gcm_seal_into(key, nonce, ad, plaintext, out.data());
  return out;
}

std::optional<Bytes> aes_gcm_open(ByteView key, ByteView nonce, ByteView ad, ByteView sealed) {
  if (sealed.size() < k_tag_size) return std::nullopt;
  Bytes out(sealed.size() - k_tag_size);
  if (!aes_gcm_open_into(key, nonce, ad, sealed, out.data())) return std::nullopt;
  return out;
}

bool aes_gcm_open_into(ByteView key, ByteView nonce, ByteView ad, ByteView sealed, std::byte* out) {
  if (key.size() != 32 || nonce.size() != k_nonce_size) fail("aes-gcm parameters");
  if (sealed.size() < k_tag_size) return false;
  size_t ct_len = sealed.size() - k_tag_size;
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key.data()),
                                 u8(nonce.data())) != 1)
    fail("aes-gcm init");
  if (!ad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(ad.data()), static_cast<int>(ad.size())) != 1)
    fail("aes-gcm aad");
  size_t done = 0;
  auto reject = [&] {
    wipe(std::span(out, ct_len));
    return false;
  };
  while (done < ct_len) {
    int step = static_cast<int>(std::min<size_t>(ct_len - done, 1 << 30));
    if (EVP_DecryptUpdate(ctx.get(), u8(out + done), &len, u8(sealed.data() + done), step) != 1)
      return reject();
    done += static_cast<size_t>(len);
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, k_tag_size,
                          const_cast<std::byte*>(sealed.data() + ct_len)) != 1)
    fail("aes-gcm tag");
  if (EVP_DecryptFinal_ex(ctx.get(), u8(out + done), &len) != 1) return reject();
  return true;
}

namespace {
PkeyPtr raw_private(int type, const Key32& k) {
  PkeyPtr p(EVP_PKEY_new_raw_private_key(type, nullptr, u8(k.data()), 32));
  if (!p) fail("load private key");
  return p;
}
PkeyPtr raw_public(int type, const Key32& k) {
  PkeyPtr p(EVP_PKEY_new_raw_public_key(type, nullptr, u8(k.data()), 32));
  if (!p) fail("load public key");
  return p;
}
Key32 public_of(EVP_PKEY* p) {
  Key32 out;
  size_t len = 32;
  if (EVP_PKEY_get_raw_public_key(p, u8(out.data()), &len) != 1 || len != 32)
    fail("get public key");
  return out;
}
KeyPair generate(int type) {
  KeyPair kp;
  random_bytes(kp.private_key);
  kp.public_key = public_of(raw_private(type, kp.private_key).get());
  return kp;
}
}  // namespace

KeyPair x25519_generate() { return generate(EVP_PKEY_X25519); }
Key32 x25519_public(const Key32& k) { return public_of(raw_private(EVP_PKEY_X25519, k).get()); }

Key32 x25519(const Key32& private_key, const Key32& peer_public) {
  auto priv = raw_private(EVP_PKEY_X25519, private_key);
  auto peer = raw_public(EVP_PKEY_X25519, peer_public);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
  Key32 out;
  size_t len = 32;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), u8(out.data()), &len) != 1 || len != 32)
    throw IntegrityError("x25519 key agreement failed (malformed public key)");
  return out;
}

KeyPair ed25519_generate() { return generate(EVP_PKEY_ED25519); }
Key32 ed25519_public(const Key32& k) { return public_of(raw_private(EVP_PKEY_ED25519, k).get()); }

std::array<std::byte, 64> ed25519_sign(const Key32& private_key, ByteView message) {
  auto key = raw_private(EVP_PKEY_ED25519, private_key);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::array<std::byte, 64> sig;
  size_t len = 64;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), u8(sig.data()), &len, u8(message.data()), message.size()) != 1)
    fail("ed25519 sign");
  return sig;
}

bool ed25519_verify(const Key32& public_key, ByteView message, ByteView signature) {
  if (signature.size() != 64) return false;
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, u8(public_key.data()), 32));
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), u8(signature.data()), 64, u8(message.data()),
                          message.size()) == 1;
}

Bytes scrypt(std::string_view password, ByteView salt, const ScryptParams& params, size_t length) {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (!kdf) fail("fetch SCRYPT");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf));
  uint64_t n = params.n;
  uint32_t r = params.r, p = params.p;
  uint64_t maxmem = 128 * n * r * 2 + (16u << 20);
  OSSL_PARAM ps[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::byte*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  Bytes out(length);
  if (!ctx || EVP_KDF_derive(ctx.get(), u8(out.data()), length, ps) != 1) fail("scrypt");
  return out;
}

void wipe(std::span<std::byte> data) { OPENSSL_cleanse(data.data(), data.size()); }

}  // namespace lifeboat::crypto
