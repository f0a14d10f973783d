// The SigV4 signer against AWS's published vectors: the SigV4 test suite (service "service",
// 2015-08-30) and the S3 examples of the S3 API reference (GET Object with a range, and
// ListObjects). Each expected value is the published one, not one this code produced.
#include <catch2/catch.hpp>

#include "lifeboat/storage/sigv4.hpp"

using namespace lifeboat::storage;

namespace {

const sigv4::Credentials k_suite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

sigv4::Input suite_request(std::string method, std::string uri,
                           std::vector<std::pair<std::string, std::string>> query,
                           std::vector<http::Header> extra, std::string payload_hash) {
  sigv4::Input in;
  in.method = std::move(method);
  in.canonical_uri = std::move(uri);
  in.query = std::move(query);
  in.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  for (auto& h : extra) in.headers.push_back(h);
  in.payload_hash = std::move(payload_hash);
  in.amz_date = "20150830T123600Z";
  in.region = "us-east-1";
  in.service = "service";
  return in;
}

const std::string k_empty_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string signature_of(const sigv4::Output& o) {
  return o.authorization.substr(o.authorization.find("Signature=") + 10);
}

}  // namespace

TEST_CASE("sigv4: get-vanilla", "[sigv4]") {
  auto o = sigv4::sign(suite_request("GET", "/", {}, {}, k_empty_hash), k_suite);
  CHECK(o.canonical_request ==
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
            k_empty_hash);
  CHECK(o.string_to_sign ==
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  CHECK(o.authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST_CASE("sigv4: the test suite's query, header and body vectors", "[sigv4]") {
  struct Vector {
    const char* name;
    sigv4::Input in;
    const char* signature;
  };
  std::vector<Vector> vectors = {
      {"get-vanilla-query-order-key-case",
       suite_request("GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, {}, k_empty_hash),
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-value",
       suite_request("GET", "/", {{"Param1", "value2"}, {"Param1", "value1"}}, {}, k_empty_hash),
       "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-utf8-query",
       suite_request("GET", "/", {{"\xe1\x88\xb4", "bar"}}, {}, k_empty_hash),
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-unreserved",
       suite_request("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                     {}, {}, k_empty_hash),
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-header-key-duplicate",
       suite_request("GET", "/", {},
                     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
                     k_empty_hash),
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order",
       suite_request("GET", "/", {},
                     {{"My-Header1", "value4"},
                      {"My-Header1", "value1"},
                      {"My-Header1", "value3"},
                      {"My-Header1", "value2"}},
                     k_empty_hash),
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim",
       suite_request("GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
                     k_empty_hash),
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"post-x-www-form-urlencoded",
       suite_request("POST", "/", {}, {{"Content-Type", "application/x-www-form-urlencoded"}},
                     // SHA-256 of the body "Param1=value1"
                     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
  };
  for (auto& v : vectors) {
    INFO(v.name);
    CHECK(signature_of(sigv4::sign(v.in, k_suite)) == v.signature);
  }
}

TEST_CASE("sigv4: post-sts-header-before (a session token is signed)", "[sigv4]") {
  std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP"
      "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDY"
      "wT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+sc"
      "qKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  auto in = suite_request("POST", "/", {}, {{"X-Amz-Security-Token", token}}, k_empty_hash);
  auto o = sigv4::sign(in, {k_suite.access_key, k_suite.secret_key, token});
  CHECK(o.authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-security-token, "
        "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

TEST_CASE("sigv4: the S3 API reference examples", "[sigv4]") {
  sigv4::Credentials cred{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  sigv4::Input in;
  in.method = "GET";
  in.canonical_uri = "/test.txt";
  in.amz_date = "20130524T000000Z";
  in.region = "us-east-1";
  in.service = "s3";
  in.payload_hash = k_empty_hash;
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Range", "bytes=0-9"},
                {"x-amz-content-sha256", k_empty_hash},
                {"x-amz-date", "20130524T000000Z"}};
  auto o = sigv4::sign(in, cred);
  CHECK(o.signed_headers == "host;range;x-amz-content-sha256;x-amz-date");
  CHECK(signature_of(o) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

  // ListObjects: GET /?max-keys=2&prefix=J
  in.canonical_uri = "/";
  in.query = {{"prefix", "J"}, {"max-keys", "2"}};
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"x-amz-content-sha256", k_empty_hash},
                {"x-amz-date", "20130524T000000Z"}};
  o = sigv4::sign(in, cred);
  CHECK(signature_of(o) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST_CASE("sigv4: canonical query encoding", "[sigv4]") {
  CHECK(sigv4::canonical_query({{"prefix", "data/"}, {"list-type", "2"}}) ==
        "list-type=2&prefix=data%2F");
  CHECK(sigv4::canonical_query({{"uploads", ""}}) == "uploads=");
  CHECK(sigv4::canonical_query({{"q", "a b+c"}}) == "q=a%20b%2Bc");
  CHECK(http::uri_encode("data/ab/x y", false) == "data/ab/x%20y");
}

TEST_CASE("credentials never survive redaction", "[storage]") {
  CHECK(http::redact_url("https://acct.blob.core.windows.net/c/b?sv=2021&sig=SECRET%3D&se=x") ==
        "https://acct.blob.core.windows.net/c/b?sv=2021&sig=REDACTED&se=x");
  CHECK(http::redact_url("https://user:pa55@host:9000/x") == "https://user:REDACTED@host:9000/x");
  CHECK(http::redact_url("https://h/o?X-Amz-Signature=abc&X-Amz-Credential=AK%2F") ==
        "https://h/o?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED");
  CHECK(http::redact_url("sftp://backup@host:22/srv") == "sftp://backup@host:22/srv");
}
