#include <catch2/catch.hpp>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/crypto/shamir.hpp"
#include "lifeboat/repo/paper.hpp"

using namespace lifeboat;

TEST_CASE("Shamir: any k of n shares rebuild the secret, fewer do not", "[crypto]") {
  auto secret = crypto::random_key();
  auto shares = crypto::shamir_split(secret, 3, 5);
  REQUIRE(shares.size() == 5);
  for (unsigned a = 0; a < 5; ++a)
    for (unsigned b = a + 1; b < 5; ++b)
      for (unsigned c = b + 1; c < 5; ++c) {
        auto rebuilt = crypto::shamir_combine({shares[a], shares[b], shares[c]});
        CHECK(rebuilt == Bytes(secret.begin(), secret.end()));
      }
  CHECK(crypto::shamir_combine({shares[0], shares[1]}) != Bytes(secret.begin(), secret.end()));
  CHECK_THROWS_AS(crypto::shamir_combine({shares[0], shares[0], shares[1]}), UsageError);
  CHECK_THROWS_AS(crypto::shamir_split(secret, 1, 3), UsageError);
  CHECK_THROWS_AS(crypto::shamir_split(secret, 4, 3), UsageError);
}

TEST_CASE("Shamir: a known 2-of-2 split over GF(256)", "[crypto]") {
  // With polynomial s + c*x: share(1) = s ^ c, share(2) = s ^ 2c; combining must undo it
  // using the AES field (2*0x80 = 0x1b reduction).
  crypto::Share s1{1, Bytes{std::byte(0x42 ^ 0x80)}};
  crypto::Share s2{2, Bytes{std::byte(0x42 ^ 0x1b)}};
  CHECK(crypto::shamir_combine({s1, s2}) == Bytes{std::byte{0x42}});
}

TEST_CASE("paper keys and shares round-trip and catch typos", "[repo]") {
  auto secret = crypto::random_key();
  std::string key = repo::format_paper_key(secret);
  CHECK(key.rfind("LBK1-", 0) == 0);
  auto parsed = repo::parse_paper("some heading\n" + key + "\n", "f");
  REQUIRE(parsed);
  CHECK(parsed->value == std::string(as_chars(secret)));
  // Lower case and missing dashes are fine.
  std::string loose;
  for (char c : key)
    if (c != '-') loose += static_cast<char>(std::tolower(c));
  CHECK(repo::parse_paper(loose, "f")->value == parsed->value);
  // One wrong character is caught.
  std::string typo = key;
  typo[10] = typo[10] == 'A' ? 'B' : 'A';
  CHECK_THROWS_AS(repo::parse_paper(typo, "f"), UsageError);

  auto shares = repo::format_paper_shares(secret, 2, 3);
  REQUIRE(shares.size() == 3);
  CHECK(repo::parse_paper(shares[2] + "\n" + shares[0] + "\n", "f")->value == parsed->value);
  CHECK_THROWS_AS(repo::parse_paper(shares[1], "f"), UsageError);  // 1 of 2
  CHECK_FALSE(repo::parse_paper("nothing here\n", "f"));
}
