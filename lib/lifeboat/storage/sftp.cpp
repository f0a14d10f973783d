// The SFTP driver (sftp://USER@HOST[:PORT]/PATH) over libcurl's sftp:// (libssh2): key
// authentication, the host key pinned by a known_hosts file or a SHA256 fingerprint, uploads
// to a temporary name renamed into place, directories created on demand, range reads, and a
// recursive listing parsed from the server's long directory format. A path starting with /~/
// is relative to the user's home. Thread-safe: each operation uses its own pooled handle.
#include <curl/curl.h>

#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "lifeboat/core/log.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/storage/drivers.hpp"
#include "lifeboat/storage/http.hpp"

namespace lifeboat::storage::sftp {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistFree>;

Slist make_slist(const std::vector<std::string>& lines) {
  curl_slist* l = nullptr;
  for (const auto& s : lines) {
    curl_slist* n = curl_slist_append(l, s.c_str());
    if (!n) {
      curl_slist_free_all(l);
      throw TransientError("out of memory building an SFTP command");
    }
    l = n;
  }
  return Slist(l);
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<Bytes*>(user);
  auto* p = reinterpret_cast<const std::byte*>(data);
  out->insert(out->end(), p, p + size * n);
  return size * n;
}

size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  return static_cast<PartsReader*>(user)->read(buffer, size * n);
}

int on_known_host(CURL*, const curl_khkey*, const curl_khkey*, curl_khmatch match, void*) {
  return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

// A path for SFTP quote commands: quoted, and relative to the home for /~/ paths.
std::string quote_path(const std::string& path) {
  std::string p = path.starts_with("/~/") ? path.substr(3) : path;
  if (p.find('"') != std::string::npos || p.find('\n') != std::string::npos)
    throw UsageError("SFTP path '{}' contains a quote or a newline", p);
  return "\"" + p + "\"";
}

class SftpStorage final : public Storage {
 public:
  SftpStorage(std::string origin, std::string root, const Options& o)
      : m_origin(std::move(origin)),
        m_root(std::move(root)),
        m_opt(o.sftp),
        m_client(settings(o)) {}

  void put(const std::string& key, ByteView data) override {
    put_parts(key, std::span<const ByteView>(&data, 1));
  }

  // Sent from the parts as they are: no joined copy.
  void put_parts(const std::string& key, std::span<const ByteView> parts) override {
    std::string final_path = path(key);
    auto slash = final_path.rfind('/');
    Bytes rnd(8);
    crypto::random_bytes(rnd);
    std::string tmp = final_path.substr(0, slash + 1) + ".tmp-" + to_hex(rnd) + "-" +
                      final_path.substr(slash + 1);
    std::string what = "upload " + key + " to " + describe();
    int rc = CURLE_OK;
    char errbuf[CURL_ERROR_SIZE] = {};
    m_client.with_handle([&](void* vh) {
      CURL* h = static_cast<CURL*>(vh);
      PartsReader up(parts);
      auto post = make_slist({"rename " + quote_path(tmp) + " " + quote_path(final_path)});
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt(h, CURLOPT_URL, url(tmp).c_str());
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, &up);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(up.size()));
      curl_easy_setopt(h, CURLOPT_FTP_CREATE_MISSING_DIRS,
                       static_cast<long>(CURLFTP_CREATE_DIR_RETRY));
      curl_easy_setopt(h, CURLOPT_NEW_FILE_PERMS, 0600L);
      curl_easy_setopt(h, CURLOPT_NEW_DIRECTORY_PERMS, 0700L);
      curl_easy_setopt(h, CURLOPT_POSTQUOTE, post.get());
      rc = curl_easy_perform(h);
      curl_easy_setopt(h, CURLOPT_POSTQUOTE, nullptr);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    });
    if (rc == CURLE_OK) return;
    if (rc != CURLE_QUOTE_ERROR) {
      remove_quietly(tmp);
      http::throw_curl_error(rc, errbuf, what);
    }
    // SFTP v3 rename does not replace an existing name: remove the old object, then rename.
    try {
      quote({"*rm " + quote_path(final_path),
             "rename " + quote_path(tmp) + " " + quote_path(final_path)},
            what);
    } catch (...) {
      remove_quietly(tmp);
      throw;
    }
  }

  bool get(const std::string& key, Bytes& out, std::optional<Range> range) override {
    if (range && range->length == 0) {
      if (!stat(key)) return false;
      out.clear();
      return true;
    }
    return read(key, out, range);
  }

  std::optional<uint64_t> stat(const std::string& key) override {
    int rc = CURLE_OK;
    curl_off_t size = -1;
    char errbuf[CURL_ERROR_SIZE] = {};
    m_client.with_handle([&](void* vh) {
      CURL* h = static_cast<CURL*>(vh);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt(h, CURLOPT_URL, url(path(key)).c_str());
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
      rc = curl_easy_perform(h);
      if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    });
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND) return std::nullopt;
    if (rc != CURLE_OK) http::throw_curl_error(rc, errbuf, "look up " + key + " at " + describe());
    if (size >= 0) return static_cast<uint64_t>(size);
    // libcurl reports no size for an empty file: confirm it is empty by reading its first byte.
    Bytes first;
    if (!read(key, first, Range{0, 1}, false)) return std::nullopt;
    if (!first.empty())
      throw TransientError(fmt::format("look up {}: the server gave no size", key));
    return 0;
  }

  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override {
    auto slash = prefix.rfind('/');
    std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
    std::string start = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
    list_dir(dir, start, fn, 0);
  }

  void remove(const std::string& key) override {
    try {
      quote({"rm " + quote_path(path(key))}, "delete " + key + " at " + describe());
    } catch (const PermanentError&) {
      if (!stat(key)) return;  // already gone
      throw;
    }
  }

  std::string describe() const override { return m_origin + m_root; }

 private:
  // check_past_end: a failed range read asks stat() whether the range starts past the end.
  bool read(const std::string& key, Bytes& out, std::optional<Range> range,
            bool check_past_end = true) {
    out.clear();
    int rc = CURLE_OK;
    char errbuf[CURL_ERROR_SIZE] = {};
    m_client.with_handle([&](void* vh) {
      CURL* h = static_cast<CURL*>(vh);
      std::string r;
      if (range) r = fmt::format("{}-{}", range->offset, range->offset + range->length - 1);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt(h, CURLOPT_URL, url(path(key)).c_str());
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
      if (range) curl_easy_setopt(h, CURLOPT_RANGE, r.c_str());
      rc = curl_easy_perform(h);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    });
    if (rc == CURLE_OK) {
      if (range && out.size() > range->length)
        throw TransientError(fmt::format("download {}: more bytes than asked", key));
      return true;
    }
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND) return false;
    if (range && check_past_end && (rc == CURLE_BAD_DOWNLOAD_RESUME || rc == CURLE_RANGE_ERROR) &&
        stat(key)) {
      out.clear();  // the range starts past the end
      return true;
    }
    http::throw_curl_error(rc, errbuf, "download " + key + " from " + describe());
  }

  http::Settings settings(const Options& o) {
    http::Settings s{o.connect_timeout, o.stall_timeout, {}};
    SftpOptions so = o.sftp;
    if (so.key_file.empty()) so.key_file = env("LIFEBOAT_SFTP_KEY");
    if (so.known_hosts.empty()) so.known_hosts = env("LIFEBOAT_SFTP_KNOWN_HOSTS");
    if (so.host_key_sha256.empty()) so.host_key_sha256 = env("LIFEBOAT_SFTP_HOST_KEY_SHA256");
    if (so.key_file.empty())
      throw UsageError(
          "no SFTP key for {}: set LIFEBOAT_SFTP_KEY or sftp: key in the repository's "
          "configuration (only key authentication is supported)",
          describe());
    if (!readable(so.key_file)) throw UsageError("cannot read the SFTP key '{}'", so.key_file);
    std::string fingerprint = so.host_key_sha256;
    if (fingerprint.starts_with("SHA256:")) fingerprint = fingerprint.substr(7);
    if (fingerprint.empty() && so.known_hosts.empty() && !so.insecure_no_host_key_check) {
      std::string home_known = env("HOME") + "/.ssh/known_hosts";
      if (!env("HOME").empty() && readable(home_known))
        so.known_hosts = home_known;
      else
        throw UsageError(
            "the SFTP server's host key of {} is not pinned: set LIFEBOAT_SFTP_KNOWN_HOSTS (a "
            "known_hosts file) or LIFEBOAT_SFTP_HOST_KEY_SHA256 (as ssh-keygen -l prints it), or "
            "sftp: known-hosts / host-key-sha256 in the configuration",
            describe());
    }
    if (!so.known_hosts.empty() && !readable(so.known_hosts))
      throw UsageError("cannot read the known_hosts file '{}'", so.known_hosts);
    if (fingerprint.empty() && so.known_hosts.empty())
      log::warn(
          "SFTP host key NOT CHECKED for {} (insecure-no-host-key-check): anyone between "
          "here and the server can read and change this repository",
          describe());
    std::string pub = readable(so.key_file + ".pub") ? so.key_file + ".pub" : "";
    s.configure = [so, fingerprint, pub](void* vh) {
      CURL* h = static_cast<CURL*>(vh);
      curl_easy_setopt(h, CURLOPT_SSH_AUTH_TYPES, static_cast<long>(CURLSSH_AUTH_PUBLICKEY));
      curl_easy_setopt(h, CURLOPT_SSH_PRIVATE_KEYFILE, so.key_file.c_str());
      curl_easy_setopt(h, CURLOPT_SSH_PUBLIC_KEYFILE, pub.c_str());
      if (!fingerprint.empty())
        curl_easy_setopt(h, CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256, fingerprint.c_str());
      if (!so.known_hosts.empty()) {
        curl_easy_setopt(h, CURLOPT_SSH_KNOWNHOSTS, so.known_hosts.c_str());
        curl_easy_setopt(h, CURLOPT_SSH_KEYFUNCTION, on_known_host);
      }
    };
    return s;
  }

  std::string path(const std::string& key) const { return m_root + "/" + key; }
  std::string url(const std::string& p) const { return m_origin + http::uri_encode(p, false); }

  // Runs SFTP commands (rm, rename, mkdir) on a connection; throws on failure.
  void quote(const std::vector<std::string>& commands, const std::string& what) {
    int rc = CURLE_OK;
    char errbuf[CURL_ERROR_SIZE] = {};
    m_client.with_handle([&](void* vh) {
      CURL* h = static_cast<CURL*>(vh);
      auto q = make_slist(commands);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt(h, CURLOPT_URL, url(m_root + "/").c_str());
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      curl_easy_setopt(h, CURLOPT_QUOTE, q.get());
      rc = curl_easy_perform(h);
      curl_easy_setopt(h, CURLOPT_QUOTE, nullptr);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    });
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND)
      throw Error(Exit::repo_not_found, "{}: the directory {} does not exist", what, describe());
    if (rc != CURLE_OK) http::throw_curl_error(rc, errbuf, what);
  }

  void remove_quietly(const std::string& p) {
    try {
      quote({"*rm " + quote_path(p)}, "remove a temporary file");
    } catch (const std::exception&) {
    }
  }

  void list_dir(const std::string& dir, const std::string& start,
                const std::function<void(const ObjectInfo&)>& fn, int depth) {
    if (depth > 8) return;
    Bytes listing;
    int rc = CURLE_OK;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::string dir_path = m_root + "/" + dir;
    m_client.with_handle([&](void* vh) {
      CURL* h = static_cast<CURL*>(vh);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt(h, CURLOPT_URL,
                       url(dir_path.ends_with("/") ? dir_path : dir_path + "/").c_str());
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &listing);
      rc = curl_easy_perform(h);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    });
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND) {
      if (depth == 0 && dir.empty())
        throw Error(Exit::repo_not_found, "the directory {} does not exist", describe());
      return;
    }
    if (rc != CURLE_OK) http::throw_curl_error(rc, errbuf, "list " + dir + " at " + describe());
    std::istringstream in{std::string(as_chars(listing))};
    std::string line;
    std::vector<std::string> subdirs;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      // "-rw-------    1 user     group        1234 Nov 22 19:00 name"
      std::istringstream f(line);
      std::string perms, links, owner, group, size, mon, day, time;
      if (!(f >> perms >> links >> owner >> group >> size >> mon >> day >> time))
        throw TransientError(
            fmt::format("list {} at {}: cannot read the line '{}'", dir, describe(), line));
      std::string name;
      std::getline(f, name);
      if (!name.empty() && name.front() == ' ') name.erase(0, name.find_first_not_of(' '));
      if (name.empty() || name == "." || name == ".." || name.starts_with(".tmp-")) continue;
      if (!name.starts_with(start) && !(perms[0] == 'd' && start.starts_with(name))) continue;
      if (perms[0] == 'd') {
        subdirs.push_back(name);
      } else if (perms[0] == '-') {
        ObjectInfo info;
        info.key = dir + name;
        try {
          info.size = std::stoull(size);
        } catch (...) {
          throw TransientError(fmt::format("list {}: bad size in '{}'", dir, line));
        }
        if (name.starts_with(start)) fn(info);
      }
    }
    for (const auto& d : subdirs)
      list_dir(dir + d + "/", d.starts_with(start) ? "" : start.substr(d.size()), fn, depth + 1);
  }

  std::string m_origin;  // sftp://user@host:port
  std::string m_root;    // absolute path, or /~/relative
  SftpOptions m_opt;
  http::Client m_client;
};

}  // namespace

std::unique_ptr<Storage> make(const std::string& rest, const Options& options) {
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string root = slash == std::string::npos ? "" : rest.substr(slash);
  while (root.size() > 1 && root.ends_with("/")) root.pop_back();
  if (authority.find('@') == std::string::npos || authority.front() == '@')
    throw UsageError("sftp:// URL must name the user: sftp://USER@HOST[:PORT]/PATH");
  if (authority.find(':') != std::string::npos && authority.find(':') < authority.find('@'))
    throw UsageError("sftp:// URL must not contain a password; use a key (LIFEBOAT_SFTP_KEY)");
  if (root.empty() || root == "/")
    throw UsageError("sftp:// URL needs a directory: sftp://USER@HOST[:PORT]/PATH");
  return std::make_unique<SftpStorage>("sftp://" + authority, root, options);
}

}  // namespace lifeboat::storage::sftp
