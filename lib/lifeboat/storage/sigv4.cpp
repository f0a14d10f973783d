#include "lifeboat/storage/sigv4.hpp"

#include <algorithm>
#include <map>

#include "lifeboat/crypto/crypto.hpp"

namespace lifeboat::storage::sigv4 {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Trims the value and collapses runs of spaces into one (the spec's "Trimall").
std::string trimall(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string hex_sha256(std::string_view s) { return to_hex(crypto::sha256(as_bytes(s)).view()); }

Id32 hmac(ByteView key, std::string_view data) { return crypto::hmac_sha256(key, as_bytes(data)); }

}  // namespace

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query)
    enc.emplace_back(http::uri_encode(k, true), http::uri_encode(v, true));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

Output sign(const Input& in, const Credentials& cred) {
  // Header names lowercased and sorted; repeated headers joined with commas in order.
  std::map<std::string, std::string> headers;
  for (const auto& h : in.headers) {
    std::string name = lower(h.name);
    std::string value = trimall(h.value);
    auto [it, fresh] = headers.emplace(name, value);
    if (!fresh) it->second += "," + value;
  }
  Output out;
  std::string canonical_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += k;
  }
  out.canonical_request = in.method + "\n" + (in.canonical_uri.empty() ? "/" : in.canonical_uri) +
                          "\n" + canonical_query(in.query) + "\n" + canonical_headers + "\n" +
                          out.signed_headers + "\n" + in.payload_hash;
  std::string date = in.amz_date.substr(0, 8);
  std::string scope = date + "/" + in.region + "/" + in.service + "/aws4_request";
  out.string_to_sign =
      "AWS4-HMAC-SHA256\n" + in.amz_date + "\n" + scope + "\n" + hex_sha256(out.canonical_request);
  std::string k_secret = "AWS4" + cred.secret_key;
  Id32 k_date = hmac(as_bytes(k_secret), date);
  Id32 k_region = hmac(k_date.view(), in.region);
  Id32 k_service = hmac(k_region.view(), in.service);
  Id32 k_signing = hmac(k_service.view(), "aws4_request");
  Id32 signature = hmac(k_signing.view(), out.string_to_sign);
  crypto::wipe(
      std::span<std::byte>(reinterpret_cast<std::byte*>(k_secret.data()), k_secret.size()));
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + cred.access_key + "/" + scope +
                      ", SignedHeaders=" + out.signed_headers +
                      ", Signature=" + to_hex(signature.view());
  return out;
}

}  // namespace lifeboat::storage::sigv4
