// AWS Signature Version 4 (header-based), written against the published specification and
// checked with AWS's SigV4 test-suite vectors (tests/unit/storage/sigv4_test.cpp). Pure
// functions; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lifeboat/storage/http.hpp"

namespace lifeboat::storage::sigv4 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials
};

struct Input {
  std::string method;
  std::string canonical_uri;  // the path exactly as sent (already percent-encoded), "/" at least
  std::vector<std::pair<std::string, std::string>> query;  // raw (unencoded) names and values
  std::vector<http::Header> headers;  // every header to sign, host and x-amz-date included
  std::string payload_hash;           // hex SHA-256 of the body (or UNSIGNED-PAYLOAD)
  std::string amz_date;               // YYYYMMDDTHHMMSSZ
  std::string region;
  std::string service;
};

struct Output {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string authorization;  // the Authorization header's value
};

Output sign(const Input& in, const Credentials& credentials);

// The canonical query string (also usable as the request's query: same encoding).
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace lifeboat::storage::sigv4
