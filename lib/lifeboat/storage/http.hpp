// A small HTTP (and SFTP) client over libcurl for the remote drivers: one pool of easy handles
// per client so connections are reused, bounded response bodies, and transport failures
// classified as TransientError (timeouts, resets, truncation) or PermanentError. HTTP status
// codes are returned, not thrown: each driver knows what its server's answers mean.
// Thread-safe: every request takes its own handle from the pool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lifeboat/storage/storage.hpp"

namespace lifeboat::storage::http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method = "GET";  // GET HEAD PUT POST DELETE
  std::string url;
  std::vector<Header> headers;
  // The body sent is the concatenation of these (a pack from its writer's memory, unjoined).
  std::span<const ByteView> body;
  bool has_body = false;  // send body (even an empty one) with Content-Length
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  Bytes body;
  std::string header(const std::string& lower_name) const;
};

struct Settings {
  double connect_timeout = 15;
  double stall_timeout = 60;
  // Called on each new handle, for protocol-specific options (SFTP keys and host keys).
  std::function<void(void* curl)> configure;
};

class Client {
 public:
  explicit Client(Settings settings);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Performs one request. Throws TransientError for transport failures worth retrying and
  // PermanentError for the rest; `what` names the operation in messages (no credentials).
  Response perform(const Request& request, const std::string& what);

  // Runs fn with a pooled handle, already reset and configured (for SFTP's quote commands).
  void with_handle(const std::function<void(void* curl)>& fn);

 private:
  void* acquire();
  void release(void* h);
  Settings m_settings;
  std::mutex m_mutex;
  std::vector<void*> m_free;
};

// Throws TransientError or PermanentError for a failed curl call (code is a CURLcode).
[[noreturn]] void throw_curl_error(int code, const char* errbuf, const std::string& what);
bool curl_error_is_transient(int code);

// "404 NoSuchKey: The specified key does not exist." from an error answer (S3 and Azure
// XML errors, x-ms-error-code, or the start of any other body, made printable).
std::string describe_status(const Response& response);
// Throws what an unexpected HTTP answer means: 401/403 PermanentError(not_permitted) with
// access_hint; 408, 429 and 5xx TransientError; anything else PermanentError.
[[noreturn]] void throw_status(const Response& response, const std::string& what,
                               const std::string& access_hint);

// Takes the body of a successful GET (200, or 206 for a range) into out. A 206 must start at
// the offset asked for and hold no more than asked (else TransientError); a 200 to a range
// request (a server that ignores ranges) is cut down to the range.
void take_body(Response& response, const std::optional<Range>& range, Bytes& out,
               const std::string& what);

// Percent-encodes everything but RFC 3986 unreserved characters (and '/' unless encode_slash).
std::string uri_encode(std::string_view s, bool encode_slash);

// The URL with user information removed and the values of credential-bearing query
// parameters (sig, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, ...) replaced.
std::string redact_url(const std::string& url);

// The current time as used by the signers: "YYYYMMDDTHHMMSSZ" and RFC 1123.
std::string amz_date_now();
std::string rfc1123_now();

}  // namespace lifeboat::storage::http
