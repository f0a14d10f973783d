// The Azure Blob driver (azure://ACCOUNT/CONTAINER/PREFIX): SharedKey signing (or a SAS
// token), block blobs (staged blocks above a threshold), Content-MD5 on every upload, listing
// with markers, range GETs and an optional access tier for data. Thread-safe.
#include <algorithm>
#include <cstdlib>
#include <map>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/storage/drivers.hpp"
#include "lifeboat/storage/http.hpp"
#include "lifeboat/storage/xml.hpp"

namespace lifeboat::storage::azure {
namespace {

constexpr const char* k_api_version = "2021-08-06";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

using Query = std::vector<std::pair<std::string, std::string>>;

class AzureStorage final : public Storage {
 public:
  AzureStorage(std::string account, std::string container, std::string prefix, const Options& o)
      : m_account(std::move(account)),
        m_container(std::move(container)),
        m_prefix(std::move(prefix)),
        m_opt(o.azure),
        m_client(http::Settings{o.connect_timeout, o.stall_timeout, {}}) {
    std::string endpoint = m_opt.endpoint;
    if (endpoint.empty()) endpoint = "https://" + m_account + ".blob.core.windows.net";
    while (endpoint.ends_with("/")) endpoint.pop_back();
    auto scheme_end = endpoint.find("://");
    if (scheme_end == std::string::npos ||
        (endpoint.substr(0, scheme_end) != "http" && endpoint.substr(0, scheme_end) != "https"))
      throw UsageError("Azure endpoint '{}' must start with http:// or https://",
                       http::redact_url(endpoint));
    auto path_start = endpoint.find('/', scheme_end + 3);
    m_origin = endpoint.substr(0, path_start);
    m_base_path = path_start == std::string::npos ? "" : endpoint.substr(path_start);
    m_sas = env("AZURE_STORAGE_SAS_TOKEN");
    if (m_sas.starts_with("?")) m_sas.erase(0, 1);
    std::string key = env("AZURE_STORAGE_KEY");
    if (!key.empty()) {
      try {
        m_key = crypto::base64_decode(key);
      } catch (const std::exception&) {
        throw UsageError("AZURE_STORAGE_KEY is not a base64 account key");
      }
    }
    if (m_key.empty() && m_sas.empty())
      throw UsageError(
          "no Azure credentials: set AZURE_STORAGE_KEY (shared key) or AZURE_STORAGE_SAS_TOKEN "
          "(a SAS with read, write, list and delete on the container)");
    if (auto a = env("AZURE_STORAGE_ACCOUNT"); !a.empty() && a != m_account)
      throw UsageError("AZURE_STORAGE_ACCOUNT is '{}' but the repository URL names account '{}'", a,
                       m_account);
    if (!m_opt.access_tier.empty()) {
      static const char* tiers[] = {"Hot", "Cool", "Cold", "Archive"};
      if (std::find(std::begin(tiers), std::end(tiers), m_opt.access_tier) == std::end(tiers))
        throw UsageError("Azure access tier '{}' is not one of Hot, Cool, Cold, Archive",
                         m_opt.access_tier);
    }
  }

  void put(const std::string& key, ByteView data) override {
    put_parts(key, std::span<const ByteView>(&data, 1));
  }

  // Sent from the parts as they are (MD5 over them): no joined copy.
  void put_parts(const std::string& key, std::span<const ByteView> parts) override {
    std::string what = "upload " + key;
    uint64_t size = total_size(parts);
    if (size <= m_opt.block_threshold) {
      std::vector<http::Header> h{{"x-ms-blob-type", "BlockBlob"}};
      add_tier(h, key);
      add_md5(h, parts);
      auto r = send_parts("PUT", blob_path(key), {}, std::move(h), parts, what);
      if (r.status == 404) check_container(r);
      if (r.status != 201) fail(r, what);
      return;
    }
    std::string list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    uint64_t block = std::max<uint64_t>(m_opt.block_size, 1 << 20);
    unsigned n = 0;
    for (uint64_t off = 0; off < size; off += block, ++n) {
      std::vector<ByteView> part = slice_parts(parts, off, block);
      std::string id = crypto::base64_encode(as_bytes(fmt::format("block-{:08d}", n)));
      std::vector<http::Header> h;
      add_md5(h, part);
      auto r = send_parts("PUT", blob_path(key), {{"comp", "block"}, {"blockid", id}}, std::move(h),
                          part, fmt::format("{} (block {})", what, n));
      if (r.status != 201) fail(r, fmt::format("{} (block {})", what, n));
      list += "<Latest>" + id + "</Latest>";
    }
    list += "</BlockList>";
    std::vector<http::Header> h;
    add_tier(h, key);
    add_md5(h, as_bytes(list));
    auto r = send("PUT", blob_path(key), {{"comp", "blocklist"}}, std::move(h), as_bytes(list),
                  true, what + " (block list)");
    if (r.status != 201) fail(r, what + " (block list)");
  }

  bool get(const std::string& key, Bytes& out, std::optional<Range> range) override {
    std::vector<http::Header> h;
    if (range) {
      if (range->length == 0) {
        if (!stat(key)) return false;
        out.clear();
        return true;
      }
      h.push_back({"x-ms-range",
                   fmt::format("bytes={}-{}", range->offset, range->offset + range->length - 1)});
    }
    std::string what = "download " + key;
    auto r = send("GET", blob_path(key), {}, std::move(h), {}, false, what);
    if (r.status == 404) {
      check_container(r);
      return false;
    }
    if (r.status == 416) {
      out.clear();
      return true;
    }
    if (r.status != 200 && !(r.status == 206 && range)) fail(r, what);
    http::take_body(r, range, out, what);
    return true;
  }

  std::optional<uint64_t> stat(const std::string& key) override {
    auto r = send("HEAD", blob_path(key), {}, {}, {}, false, "look up " + key);
    if (r.status == 404) {
      check_container(r);
      return std::nullopt;
    }
    if (r.status != 200) fail(r, "look up " + key);
    try {
      return std::stoull(r.header("content-length"));
    } catch (...) {
      throw TransientError(fmt::format("look up {}: no valid Content-Length in the answer", key));
    }
  }

  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override {
    std::string full = object_name(prefix);
    std::string marker;
    std::string what = "list " + prefix;
    for (;;) {
      Query q{{"restype", "container"},
              {"comp", "list"},
              {"prefix", full},
              {"maxresults", std::to_string(m_opt.list_page_size)}};
      if (!marker.empty()) q.emplace_back("marker", marker);
      auto r = send("GET", container_path(), q, {}, {}, false, what);
      if (r.status == 404) {
        check_container(r);
        return;
      }
      if (r.status != 200) fail(r, what);
      std::unique_ptr<xml::Element> doc;
      try {
        doc = xml::parse(as_chars(r.body));
      } catch (const std::exception& e) {
        throw TransientError(
            fmt::format("{} at {}: the answer is not a listing ({})", what, describe(), e.what()));
      }
      if (doc->name != "EnumerationResults")
        throw TransientError(fmt::format("{} at {}: the answer is a <{}>, not a listing", what,
                                         describe(), doc->name));
      if (const xml::Element* blobs = doc->child("Blobs")) {
        for (const xml::Element* b : blobs->all("Blob")) {
          std::string name = b->child_text("Name");
          if (!name.starts_with(full))
            throw TransientError(
                fmt::format("{}: the server returned '{}' outside the prefix", what, name));
          const xml::Element* props = b->child("Properties");
          ObjectInfo info;
          info.key = m_prefix.empty() ? name : name.substr(m_prefix.size() + 1);
          try {
            info.size = std::stoull(props ? props->child_text("Content-Length") : "");
          } catch (...) {
            throw TransientError(fmt::format("{}: entry '{}' has no valid size", what, name));
          }
          fn(info);
        }
      }
      marker = doc->child_text("NextMarker");
      if (marker.empty()) return;
    }
  }

  void remove(const std::string& key) override {
    auto r = send("DELETE", blob_path(key), {}, {}, {}, false, "delete " + key);
    if (r.status == 202 || r.status == 200 || r.status == 404) return;
    if (r.status == 403 || r.status == 409)
      throw PermanentError(
          fmt::format("delete {} at {}: the server refused ({}); the container has an "
                      "immutability policy or the credentials may not delete. Nothing was deleted",
                      key, describe(), http::describe_status(r)),
          Exit::not_permitted);
    fail(r, "delete " + key);
  }

  std::string describe() const override {
    std::string d =
        "azure://" + m_account + "/" + m_container + (m_prefix.empty() ? "" : "/" + m_prefix);
    if (!m_opt.endpoint.empty()) d += " at " + http::redact_url(m_opt.endpoint);
    return d;
  }

 private:
  std::string object_name(const std::string& key) const {
    return m_prefix.empty() ? key : m_prefix + "/" + key;
  }
  std::string container_path() const {
    return m_base_path + "/" + http::uri_encode(m_container, true);
  }
  std::string blob_path(const std::string& key) const {
    return container_path() + "/" + http::uri_encode(object_name(key), false);
  }
  void add_tier(std::vector<http::Header>& h, const std::string& key) const {
    if (!m_opt.access_tier.empty() && key.starts_with("data/"))
      h.push_back({"x-ms-access-tier", m_opt.access_tier});
  }
  static void add_md5(std::vector<http::Header>& h, ByteView data) {
    add_md5(h, std::span<const ByteView>(&data, 1));
  }
  static void add_md5(std::vector<http::Header>& h, std::span<const ByteView> parts) {
    h.push_back({"Content-MD5", crypto::base64_encode(crypto::md5_parts(parts))});
  }

  [[noreturn]] void fail(const http::Response& r, const std::string& what) const {
    http::throw_status(r, what + " at " + describe(),
                       "check AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN (its permissions and "
                       "expiry) and the account name");
  }

  void check_container(const http::Response& r) const {
    if (r.header("x-ms-error-code") == "ContainerNotFound")
      throw Error(Exit::repo_not_found,
                  "container '{}' does not exist at {} (create it first, or check the name)",
                  m_container, describe());
  }

  http::Response send(const std::string& method, const std::string& path, const Query& query,
                      std::vector<http::Header> headers, ByteView body, bool has_body,
                      const std::string& what) {
    return send_parts(method, path, query, std::move(headers), std::span<const ByteView>(&body, 1),
                      what, has_body);
  }

  http::Response send_parts(const std::string& method, const std::string& path, const Query& query,
                            std::vector<http::Header> headers, std::span<const ByteView> body,
                            const std::string& what, bool has_body = true) {
    headers.push_back({"x-ms-date", http::rfc1123_now()});
    headers.push_back({"x-ms-version", k_api_version});
    if (has_body) headers.push_back({"Content-Type", "application/octet-stream"});
    std::string q;
    for (const auto& [k, v] : query)
      q += (q.empty() ? "" : "&") + http::uri_encode(k, true) + "=" + http::uri_encode(v, true);
    if (!m_sas.empty()) {
      q += (q.empty() ? "" : "&") + m_sas;
    } else {
      headers.push_back({"Authorization",
                         "SharedKey " + m_account + ":" +
                             signature(method, path, query, headers, total_size(body), has_body)});
    }
    http::Request req;
    req.method = method;
    req.url = m_origin + path + (q.empty() ? "" : "?" + q);
    req.headers = std::move(headers);
    req.body = body;
    req.has_body = has_body;
    return m_client.perform(req, what + " at " + describe());
  }

  std::string signature(const std::string& method, const std::string& path, const Query& query,
                        const std::vector<http::Header>& headers, size_t length,
                        bool has_body) const {
    auto value = [&](const char* name) {
      for (const auto& h : headers)
        if (lower(h.name) == name) return h.value;
      return std::string();
    };
    std::string sts = method + "\n" + value("content-encoding") + "\n" + value("content-language") +
                      "\n" + (has_body && length > 0 ? std::to_string(length) : "") + "\n" +
                      value("content-md5") + "\n" + value("content-type") + "\n" + "\n" +
                      value("if-modified-since") + "\n" + value("if-match") + "\n" +
                      value("if-none-match") + "\n" + value("if-unmodified-since") + "\n" +
                      value("range") + "\n";
    std::map<std::string, std::string> ms;
    for (const auto& h : headers) {
      std::string n = lower(h.name);
      if (n.starts_with("x-ms-")) ms[n] = h.value;
    }
    for (const auto& [k, v] : ms) sts += k + ":" + v + "\n";
    sts += "/" + m_account + path;
    std::map<std::string, std::vector<std::string>> params;
    for (const auto& [k, v] : query) params[lower(k)].push_back(v);
    for (auto& [k, vs] : params) {
      std::sort(vs.begin(), vs.end());
      sts += "\n" + k + ":";
      for (size_t i = 0; i < vs.size(); ++i) sts += (i ? "," : "") + vs[i];
    }
    return crypto::base64_encode(crypto::hmac_sha256(m_key, as_bytes(sts)).view());
  }

  std::string m_account;
  std::string m_container;
  std::string m_prefix;
  AzureOptions m_opt;
  std::string m_origin;
  std::string m_base_path;
  std::string m_sas;
  Bytes m_key;
  http::Client m_client;
};

}  // namespace

std::unique_ptr<Storage> make(const std::string& rest, const Options& options) {
  auto s1 = rest.find('/');
  if (s1 == std::string::npos || s1 == 0)
    throw UsageError("azure:// URL must be azure://ACCOUNT/CONTAINER[/PREFIX]");
  std::string account = rest.substr(0, s1);
  auto s2 = rest.find('/', s1 + 1);
  std::string container =
      rest.substr(s1 + 1, s2 == std::string::npos ? std::string::npos : s2 - s1 - 1);
  std::string prefix = s2 == std::string::npos ? "" : rest.substr(s2 + 1);
  while (prefix.ends_with("/")) prefix.pop_back();
  if (container.size() < 3 || container.size() > 63)
    throw UsageError("Azure container name '{}' must be 3 to 63 characters", container);
  return std::make_unique<AzureStorage>(account, container, prefix, options);
}

}  // namespace lifeboat::storage::azure
