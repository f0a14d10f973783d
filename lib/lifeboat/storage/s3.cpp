// The S3 driver (s3://BUCKET/PREFIX): SigV4 by our own signer, path-style or virtual-host
// addressing, Content-MD5 and x-amz-content-sha256 on every upload, multipart above a
// threshold (aborted on failure), ListObjectsV2 paging, range GETs, optional storage class
// and Object Lock retention. Thread-safe (see http::Client).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/storage/drivers.hpp"
#include "lifeboat/storage/http.hpp"
#include "lifeboat/storage/sigv4.hpp"
#include "lifeboat/storage/xml.hpp"
#include "lifeboat/util/time.hpp"

namespace lifeboat::storage::s3 {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Reads one profile of an AWS shared-credentials file (INI).
sigv4::Credentials from_credentials_file(const std::string& path, const std::string& profile) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the S3 credentials file '{}'", path);
  sigv4::Credentials c;
  std::string line, section;
  bool found = false;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      if (section.starts_with("profile ")) section = trim(section.substr(8));
      if (section == profile) found = true;
      continue;
    }
    if (section != profile) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = lower(trim(line.substr(0, eq))), v = trim(line.substr(eq + 1));
    if (k == "aws_access_key_id") c.access_key = v;
    if (k == "aws_secret_access_key") c.secret_key = v;
    if (k == "aws_session_token") c.session_token = v;
  }
  if (!found) throw UsageError("the S3 credentials file '{}' has no profile '{}'", path, profile);
  if (c.access_key.empty() || c.secret_key.empty())
    throw UsageError(
        "profile '{}' of the S3 credentials file '{}' lacks aws_access_key_id or "
        "aws_secret_access_key",
        profile, path);
  return c;
}

sigv4::Credentials resolve_credentials(const S3Options& o) {
  std::string profile = !o.profile.empty()            ? o.profile
                        : !env("AWS_PROFILE").empty() ? env("AWS_PROFILE")
                                                      : "default";
  if (!o.credentials_file.empty()) return from_credentials_file(o.credentials_file, profile);
  if (!env("AWS_ACCESS_KEY_ID").empty() && !env("AWS_SECRET_ACCESS_KEY").empty())
    return {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !env("HOME").empty()) {
    std::string home_file = env("HOME") + "/.aws/credentials";
    if (std::ifstream(home_file)) file = home_file;
  }
  if (!file.empty()) return from_credentials_file(file, profile);
  throw UsageError(
      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
      "AWS_SHARED_CREDENTIALS_FILE (and AWS_PROFILE), or s3: credentials-file in the "
      "repository's configuration");
}

std::string iso8601(int64_t ns) { return utc_time(ns, "%Y-%m-%dT%H:%M:%SZ"); }

std::string iso8601_in_days(unsigned days) {
  return iso8601((int64_t{std::time(nullptr)} + int64_t{days} * 86400) * 1000000000);
}

// "2026-11-22T10:00:00Z" or "2026-11-22T10:00:00.000Z" (S3 listings and Object Lock headers);
// nullopt for anything else.
std::optional<int64_t> parse_iso8601(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  int64_t frac_ns = 0;
  if (*end == '.') {
    int64_t scale = 100000000;
    for (++end; *end >= '0' && *end <= '9'; ++end, scale /= 10) frac_ns += (*end - '0') * scale;
  }
  if (std::string_view(end) != "Z") return std::nullopt;
  return int64_t{timegm(&tm)} * 1000000000 + frac_ns;
}

using Query = std::vector<std::pair<std::string, std::string>>;

class S3Storage final : public Storage {
 public:
  S3Storage(std::string bucket, std::string prefix, const Options& o)
      : m_bucket(std::move(bucket)),
        m_prefix(std::move(prefix)),
        m_opt(o.s3),
        m_credentials(resolve_credentials(o.s3)),
        m_client(http::Settings{o.connect_timeout, o.stall_timeout, {}}) {
    m_region = !m_opt.region.empty()                ? m_opt.region
               : !env("AWS_REGION").empty()         ? env("AWS_REGION")
               : !env("AWS_DEFAULT_REGION").empty() ? env("AWS_DEFAULT_REGION")
                                                    : "us-east-1";
    std::string endpoint = m_opt.endpoint;
    bool path_style = m_opt.addressing == "path" ||
                      (m_opt.addressing.empty() &&
                       (!endpoint.empty() || m_bucket.find('.') != std::string::npos));
    if (endpoint.empty()) endpoint = "https://s3." + m_region + ".amazonaws.com";
    while (endpoint.ends_with("/")) endpoint.pop_back();
    auto scheme_end = endpoint.find("://");
    if (scheme_end == std::string::npos ||
        (endpoint.substr(0, scheme_end) != "http" && endpoint.substr(0, scheme_end) != "https"))
      throw UsageError("S3 endpoint '{}' must start with http:// or https://", endpoint);
    std::string scheme = endpoint.substr(0, scheme_end);
    std::string host = endpoint.substr(scheme_end + 3);
    if (host.find('/') != std::string::npos || host.find('@') != std::string::npos)
      throw UsageError("S3 endpoint '{}' must be scheme://host[:port] only",
                       http::redact_url(endpoint));
    if (path_style) {
      m_host = host;
      m_base_path = "/" + http::uri_encode(m_bucket, true);
    } else {
      m_host = m_bucket + "." + host;
      m_base_path = "";
    }
    m_origin = scheme + "://" + m_host;
  }

  void put(const std::string& key, ByteView data) override {
    put_parts(key, std::span<const ByteView>(&data, 1));
  }

  // Sent from the parts as they are (MD5 and the payload hash over them): no joined copy.
  void put_parts(const std::string& key, std::span<const ByteView> parts) override {
    if (total_size(parts) > m_opt.multipart_threshold) return put_multipart(key, parts);
    auto headers = object_headers(key);
    add_md5(headers, parts);
    auto r = send_parts("PUT", key, {}, std::move(headers), parts, "upload " + key);
    if (r.status == 404) check_bucket_after_404(r);
    if (r.status != 200) fail(r, "upload " + key);
  }

  bool get(const std::string& key, Bytes& out, std::optional<Range> range) override {
    std::vector<http::Header> headers;
    if (range) {
      if (range->length == 0) {
        auto size = stat(key);
        if (!size) return false;
        out.clear();
        return true;
      }
      headers.push_back(
          {"Range", fmt::format("bytes={}-{}", range->offset, range->offset + range->length - 1)});
    }
    auto r = send("GET", key, {}, std::move(headers), {}, false, "download " + key);
    if (r.status == 404) {
      check_bucket_after_404(r);
      return false;
    }
    if (r.status == 416) {  // the range starts past the end: no bytes exist there
      out.clear();
      return true;
    }
    if (r.status != 200 && !(r.status == 206 && range)) fail(r, "download " + key);
    http::take_body(r, range, out, "download " + key);
    return true;
  }

  std::optional<uint64_t> stat(const std::string& key) override {
    auto r = send("HEAD", key, {}, {}, {}, false, "look up " + key);
    if (r.status == 404) {
      check_bucket_after_404(r);
      return std::nullopt;
    }
    if (r.status != 200) fail(r, "look up " + key);
    std::string len = r.header("content-length");
    try {
      return std::stoull(len);
    } catch (...) {
      throw TransientError(fmt::format("look up {}: no valid Content-Length in the answer", key));
    }
  }

  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override {
    std::string full = object_name(prefix);
    std::string token;
    for (;;) {
      Query q{
          {"list-type", "2"}, {"prefix", full}, {"max-keys", std::to_string(m_opt.list_page_size)}};
      if (!token.empty()) q.emplace_back("continuation-token", token);
      auto r = send_bucket("GET", q, {}, {}, false, "list " + prefix);
      if (r.status == 404) {
        check_bucket_after_404(r);
        return;
      }
      if (r.status != 200) fail(r, "list " + prefix);
      std::unique_ptr<xml::Element> doc;
      try {
        doc = xml::parse(as_chars(r.body));
      } catch (const std::exception& e) {
        throw TransientError(fmt::format("list {} at {}: the answer is not a listing ({})", prefix,
                                         describe(), e.what()));
      }
      if (doc->name != "ListBucketResult")
        throw TransientError(fmt::format("list {} at {}: the answer is a <{}>, not a listing",
                                         prefix, describe(), doc->name));
      for (const xml::Element* c : doc->all("Contents")) {
        std::string k = c->child_text("Key");
        if (!k.starts_with(full))
          throw TransientError(
              fmt::format("list {}: the server returned '{}' outside the prefix", prefix, k));
        ObjectInfo info;
        info.key = m_prefix.empty() ? k : k.substr(m_prefix.size() + 1);
        try {
          info.size = std::stoull(c->child_text("Size"));
        } catch (...) {
          throw TransientError(fmt::format("list {}: entry '{}' has no valid size", prefix, k));
        }
        info.mtime_ns = parse_iso8601(c->child_text("LastModified")).value_or(0);
        fn(info);
      }
      if (doc->child_text("IsTruncated") != "true") return;
      token = doc->child_text("NextContinuationToken");
      if (token.empty())
        throw TransientError(
            fmt::format("list {}: the listing is truncated but has no continuation token", prefix));
    }
  }

  void remove(const std::string& key) override {
    auto r = send("DELETE", key, {}, {}, {}, false, "delete " + key);
    if (r.status == 200 || r.status == 204 || r.status == 404) return;
    if (r.status == 403)
      throw PermanentError(
          fmt::format("delete {} at {}: the server refused ({}); the object is under Object Lock "
                      "retention or the credentials may not delete (append-only). Nothing was "
                      "deleted",
                      key, describe(), http::describe_status(r)),
          Exit::not_permitted);
    fail(r, "delete " + key);
  }

  int64_t retained_until(const std::string& key) override {
    auto r = send("HEAD", key, {}, {}, {}, false, "look up the retention of " + key);
    if (r.status == 404) {
      check_bucket_after_404(r);
      return 0;
    }
    if (r.status != 200) fail(r, "look up the retention of " + key);
    std::string until = r.header("x-amz-object-lock-retain-until-date");
    if (until.empty()) return 0;
    auto ns = parse_iso8601(until);
    if (!ns)
      throw TransientError(fmt::format(
          "look up the retention of {}: the answer's retain-until date '{}' is not a date", key,
          until));
    return *ns;
  }

  // PutObjectRetention on the current version. S3 refuses to shorten a COMPLIANCE retention,
  // and this is only called to extend one.
  void retain_until(const std::string& key, int64_t until_ns) override {
    std::string what = "extend the retention of " + key;
    if (m_opt.object_lock_mode.empty())
      throw UsageError("{} at {}: no s3 object-lock-mode is configured", what, describe());
    std::string xml = fmt::format(
        "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode>"
        "<RetainUntilDate>{}</RetainUntilDate></Retention>",
        m_opt.object_lock_mode, iso8601(until_ns));
    ByteView body = as_bytes(xml);
    std::vector<http::Header> headers{{"Content-Type", "application/xml"}};
    add_md5(headers, body);
    auto r = send("PUT", key, {{"retention", ""}}, std::move(headers), body, true, what);
    if (r.status == 200 || r.status == 204) return;
    if (r.status == 404) {
      check_bucket_after_404(r);
      throw PermanentError(fmt::format("{} at {}: the object does not exist", what, describe()));
    }
    if (r.status == 405 || r.status == 501 ||
        (r.status == 400 && std::string(as_chars(r.body)).find("Object Lock") != std::string::npos))
      throw PermanentError(
          fmt::format("{} at {}: the server does not support Object Lock retention on this "
                      "bucket ({}); remove object-lock-mode and object-lock-days from the "
                      "repository's s3 settings, or enable Object Lock on the bucket",
                      what, describe(), http::describe_status(r)),
          Exit::usage);
    if (r.status == 403)
      throw PermanentError(
          fmt::format("{} at {}: the server refused ({}); the credentials need "
                      "s3:PutObjectRetention (and s3:BypassGovernanceRetention is never used)",
                      what, describe(), http::describe_status(r)),
          Exit::not_permitted);
    fail(r, what);
  }

  std::string describe() const override {
    std::string d = "s3://" + m_bucket + (m_prefix.empty() ? "" : "/" + m_prefix);
    if (!m_opt.endpoint.empty()) d += " at " + http::redact_url(m_opt.endpoint);
    return d;
  }

 private:
  std::string object_name(const std::string& key) const {
    return m_prefix.empty() ? key : m_prefix + "/" + key;
  }

  std::vector<http::Header> object_headers(const std::string& key) const {
    std::vector<http::Header> h;
    if (!m_opt.storage_class.empty() && key.starts_with("data/"))
      h.push_back({"x-amz-storage-class", m_opt.storage_class});
    if (!m_opt.object_lock_mode.empty() && !key.starts_with("locks/")) {
      h.push_back({"x-amz-object-lock-mode", m_opt.object_lock_mode});
      h.push_back({"x-amz-object-lock-retain-until-date", iso8601_in_days(m_opt.object_lock_days)});
    }
    return h;
  }

  static void add_md5(std::vector<http::Header>& h, ByteView data) {
    add_md5(h, std::span<const ByteView>(&data, 1));
  }
  static void add_md5(std::vector<http::Header>& h, std::span<const ByteView> parts) {
    h.push_back({"Content-MD5", crypto::base64_encode(crypto::md5_parts(parts))});
  }

  [[noreturn]] void fail(const http::Response& r, const std::string& what) const {
    http::throw_status(r, what + " at " + describe(),
                       "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the credentials file, "
                       "the region, and the bucket policy");
  }

  // A 404 may mean the bucket itself is missing: that is "repository not found" (exit 10),
  // never an empty repository.
  void check_bucket_after_404(const http::Response& r) {
    std::string code;
    if (!r.body.empty()) {
      try {
        code = xml::parse(as_chars(r.body))->child_text("Code");
      } catch (const std::exception&) {
      }
    } else if (!m_bucket_checked) {
      auto b = send_bucket("HEAD", {}, {}, {}, false, "look up the bucket");
      if (b.status == 404)
        code = "NoSuchBucket";
      else if (b.status >= 200 && b.status < 300)
        m_bucket_checked = true;
    }
    if (code == "NoSuchBucket")
      throw Error(Exit::repo_not_found,
                  "bucket '{}' does not exist at {} (create it first, or check the name and the "
                  "endpoint)",
                  m_bucket, describe());
  }

  http::Response send(const std::string& method, const std::string& key, const Query& query,
                      std::vector<http::Header> headers, ByteView body, bool has_body,
                      const std::string& what) {
    return send_parts(method, key, query, std::move(headers), std::span<const ByteView>(&body, 1),
                      what, has_body);
  }

  http::Response send_parts(const std::string& method, const std::string& key, const Query& query,
                            std::vector<http::Header> headers, std::span<const ByteView> body,
                            const std::string& what, bool has_body = true) {
    std::string path = m_base_path + "/" + http::uri_encode(object_name(key), false);
    return request(method, path, query, std::move(headers), body, has_body, what);
  }

  http::Response send_bucket(const std::string& method, const Query& query,
                             std::vector<http::Header> headers, ByteView body, bool has_body,
                             const std::string& what) {
    std::string path = m_base_path.empty() ? "/" : m_base_path;
    return request(method, path, query, std::move(headers), std::span<const ByteView>(&body, 1),
                   has_body, what);
  }

  http::Response request(const std::string& method, const std::string& path, const Query& query,
                         std::vector<http::Header> headers, std::span<const ByteView> body,
                         bool has_body, const std::string& what) {
    sigv4::Input in;
    in.method = method;
    in.canonical_uri = path;
    in.query = query;
    in.amz_date = http::amz_date_now();
    in.payload_hash = to_hex(crypto::sha256_parts(body).view());
    in.region = m_region;
    in.service = "s3";
    headers.push_back({"Host", m_host});
    headers.push_back({"x-amz-date", in.amz_date});
    headers.push_back({"x-amz-content-sha256", in.payload_hash});
    if (!m_credentials.session_token.empty())
      headers.push_back({"x-amz-security-token", m_credentials.session_token});
    in.headers = headers;
    auto signed_request = sigv4::sign(in, m_credentials);
    headers.push_back({"Authorization", signed_request.authorization});
    http::Request req;
    req.method = method;
    std::string q = sigv4::canonical_query(query);
    req.url = m_origin + path + (q.empty() ? "" : "?" + q);
    req.headers = std::move(headers);
    req.body = body;
    req.has_body = has_body;
    return m_client.perform(req, what + " at " + describe());
  }

  void put_multipart(const std::string& key, std::span<const ByteView> data) {
    uint64_t size = total_size(data);
    std::string what = "upload " + key;
    auto r = send("POST", key, {{"uploads", ""}}, object_headers(key), {}, false, what);
    if (r.status == 404) check_bucket_after_404(r);
    if (r.status != 200) fail(r, what);
    std::string upload_id;
    try {
      auto doc = xml::parse(as_chars(r.body));
      if (doc->name == "InitiateMultipartUploadResult") upload_id = doc->child_text("UploadId");
    } catch (const std::exception&) {
    }
    if (upload_id.empty())
      throw TransientError(fmt::format("{} at {}: no upload id in the answer", what, describe()));
    try {
      std::string complete = "<CompleteMultipartUpload>";
      uint64_t part_size = std::max<uint64_t>(m_opt.part_size, 5ull << 20);
      unsigned n = 0;
      for (uint64_t off = 0; off < size; off += part_size) {
        ++n;
        std::vector<ByteView> part = slice_parts(data, off, part_size);
        std::vector<http::Header> h;
        add_md5(h, part);
        auto pr =
            send_parts("PUT", key, {{"partNumber", std::to_string(n)}, {"uploadId", upload_id}},
                       std::move(h), part, fmt::format("{} (part {})", what, n));
        if (pr.status != 200) fail(pr, fmt::format("{} (part {})", what, n));
        std::string etag = pr.header("etag");
        if (etag.empty())
          throw TransientError(fmt::format("{} (part {}): no ETag in the answer", what, n));
        complete += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", n,
                                xml::escape(etag));
      }
      complete += "</CompleteMultipartUpload>";
      auto cr = send("POST", key, {{"uploadId", upload_id}}, {}, as_bytes(complete), true,
                     what + " (completion)");
      if (cr.status != 200) fail(cr, what + " (completion)");
      // S3 may answer 200 and then report an error in the body.
      std::string root;
      try {
        root = xml::parse(as_chars(cr.body))->name;
      } catch (const std::exception&) {
      }
      if (root != "CompleteMultipartUploadResult")
        throw TransientError(fmt::format("{} at {}: completion failed ({})", what, describe(),
                                         http::describe_status(cr)));
    } catch (...) {
      try {  // best effort: do not leave parts behind (they are billed)
        send("DELETE", key, {{"uploadId", upload_id}}, {}, {}, false, what + " (abort)");
      } catch (const std::exception&) {
      }
      throw;
    }
  }

  std::string m_bucket;
  std::string m_prefix;
  S3Options m_opt;
  sigv4::Credentials m_credentials;
  std::string m_region;
  std::string m_host;
  std::string m_base_path;
  std::string m_origin;
  std::atomic<bool> m_bucket_checked{false};
  http::Client m_client;
};

}  // namespace

std::unique_ptr<Storage> make(const std::string& rest, const Options& options) {
  auto slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (prefix.ends_with("/")) prefix.pop_back();
  while (prefix.starts_with("/")) prefix.erase(0, 1);
  if (bucket.empty()) throw UsageError("s3:// URL without a bucket (use s3://BUCKET/PREFIX)");
  return std::make_unique<S3Storage>(bucket, prefix, options);
}

}  // namespace lifeboat::storage::s3
