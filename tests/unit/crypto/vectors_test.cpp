// Our crypto wrappers against published test vectors.
#include <catch2/catch.hpp>

#include <algorithm>

#include "lifeboat/crypto/crypto.hpp"

using namespace lifeboat;
using namespace lifeboat::crypto;

namespace {
Key32 key(const char* hex) {
  Bytes b = from_hex(hex);
  Key32 k;
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}
}  // namespace

TEST_CASE("AES-256-GCM matches the NIST GCM specification test cases", "[crypto]") {
  SECTION("test case 14: zero key, one zero block") {
    Bytes k(32), iv(12), pt(16);
    auto ct = aes_gcm_seal(k, iv, {}, pt);
    CHECK(to_hex(ct) == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  }
  SECTION("test case 16: with associated data") {
    auto k = from_hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    auto iv = from_hex("cafebabefacedbaddecaf888");
    auto pt = from_hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449"
        "a6b525b16aedf5aa0de657ba637b39");
    auto ad = from_hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    auto ct = aes_gcm_seal(k, iv, ad, pt);
    CHECK(to_hex(ct) ==
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
          "56828838c5f61e6393ba7a0abcc9f662"
          "76fc6ece0f4e1768cddf8853bb2d551b");
    auto back = aes_gcm_open(k, iv, ad, ct);
    REQUIRE(back);
    CHECK(*back == pt);
    Bytes into(pt.size() + 7, std::byte{0xee});  // room to spare: only pt.size() is written
    CHECK(aes_gcm_open_into(k, iv, ad, ct, into.data()));
    CHECK(Bytes(into.begin(), into.begin() + static_cast<ptrdiff_t>(pt.size())) == pt);
    CHECK(into.back() == std::byte{0xee});
    ct[3] ^= std::byte{1};
    CHECK_FALSE(aes_gcm_open(k, iv, ad, ct));
    // A failed open leaves no plaintext behind.
    CHECK_FALSE(aes_gcm_open_into(k, iv, ad, ct, into.data()));
    CHECK(std::all_of(into.begin(), into.begin() + static_cast<ptrdiff_t>(pt.size()),
                      [](std::byte b) { return b == std::byte{0}; }));
    CHECK_FALSE(aes_gcm_open_into(k, iv, ad, ByteView(ct).first(15), into.data()));
    ct[3] ^= std::byte{1};
    ad[0] ^= std::byte{1};
    CHECK_FALSE(aes_gcm_open(k, iv, ad, ct));
  }
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 test case 1", "[crypto]") {
  Bytes ikm(22, std::byte{0x0b});
  auto salt = from_hex("000102030405060708090a0b0c");
  auto info = from_hex("f0f1f2f3f4f5f6f7f8f9");
  CHECK(to_hex(hkdf_sha256(ikm, salt, info, 42)) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("X25519 matches RFC 7748 section 6.1", "[crypto]") {
  auto alice = key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  auto bob = key("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  CHECK(to_hex(x25519_public(alice)) ==
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(to_hex(x25519_public(bob)) ==
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  CHECK(to_hex(x25519(alice, x25519_public(bob))) == shared);
  CHECK(to_hex(x25519(bob, x25519_public(alice))) == shared);
}

TEST_CASE("Ed25519 matches RFC 8032 section 7.1 test 1 and 2", "[crypto]") {
  auto sk = key("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto pk = ed25519_public(sk);
  CHECK(to_hex(pk) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = ed25519_sign(sk, {});
  CHECK(to_hex(sig) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
        "f9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(ed25519_verify(pk, {}, sig));
  Bytes msg = from_hex("72");
  auto sk2 = key("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
  auto sig2 = ed25519_sign(sk2, msg);
  CHECK(to_hex(sig2) ==
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0"
        "f11d8c387b2eaeb4302aeeb00d291612bb0c00");
  CHECK(ed25519_verify(ed25519_public(sk2), msg, sig2));
  CHECK_FALSE(ed25519_verify(pk, msg, sig));
}

TEST_CASE("scrypt matches RFC 7914 section 12", "[crypto]") {
  SECTION("empty password") {
    CHECK(to_hex(scrypt("", {}, {16, 1, 1}, 64)) ==
          "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a"
          "0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  }
  SECTION("password/NaCl") {
    CHECK(to_hex(scrypt("password", as_bytes("NaCl"), {1024, 8, 16}, 64)) ==
          "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff10927"
          "9d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  }
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2", "[crypto]") {
  CHECK(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?")).hex() ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Mac mac(as_bytes("Jefe"));
  CHECK(mac.compute(as_bytes("what do ya want for nothing?")).hex() ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("SHA-256 of 'abc' (FIPS 180-2)", "[crypto]") {
  CHECK(sha256(as_bytes("abc")).hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update(as_bytes("a"));
  h.update(as_bytes("bc"));
  CHECK(h.finish().hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("SHA-256 and MD5 of an upload's parts (FIPS 180-2, RFC 1321)", "[crypto]") {
  std::vector<ByteView> parts{as_bytes("a"), ByteView(), as_bytes("bc")};
  CHECK(sha256_parts(parts).hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(md5_parts(parts)) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(to_hex(md5(as_bytes("abc"))) == "900150983cd24fb0d6963f7d28e17f72");
  std::vector<ByteView> none;
  CHECK(to_hex(md5_parts(none)) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(sha256_parts(none).hex() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
