#include "lifeboat/storage/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "lifeboat/storage/xml.hpp"
#include "lifeboat/util/time.hpp"

namespace lifeboat::storage::http {
namespace {

std::once_flag g_curl_init;

size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  return static_cast<PartsReader*>(user)->read(buffer, size * n);
}

// Rewinds the upload when curl must resend it (a redirect or an authentication round).
int on_seek(void* user, curl_off_t offset, int origin) {
  auto* s = static_cast<PartsReader*>(user);
  if (origin != SEEK_SET || offset < 0 || !s->seek(static_cast<uint64_t>(offset)))
    return CURL_SEEKFUNC_FAIL;
  return CURL_SEEKFUNC_OK;
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  size_t len = size * n;
  auto* p = reinterpret_cast<const std::byte*>(data);
  r->body.insert(r->body.end(), p, p + len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    r->headers.clear();  // a new response (after 100 Continue or a redirect)
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  r->headers[name] = std::string(value);
  return len;
}

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string Response::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

bool curl_error_is_transient(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_AGAIN:
    case CURLE_SSH:
    case CURLE_BAD_CONTENT_ENCODING:
      return true;
    default:
      return false;
  }
}

void throw_curl_error(int code, const char* errbuf, const std::string& what) {
  std::string detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(static_cast<CURLcode>(code));
  std::string msg = fmt::format("{}: {}", what, detail);
  if (curl_error_is_transient(code)) throw TransientError(msg);
  switch (static_cast<CURLcode>(code)) {
    case CURLE_LOGIN_DENIED:
      throw PermanentError(msg + " (check the user name and the key)", Exit::not_permitted);
    case CURLE_REMOTE_ACCESS_DENIED:
      throw PermanentError(msg + " (permission denied on the server)", Exit::not_permitted);
    case CURLE_PEER_FAILED_VERIFICATION:
      throw PermanentError(msg + " (the server's identity did not match what is pinned)",
                           Exit::storage);
    case CURLE_REMOTE_DISK_FULL:
      throw PermanentError(msg + " (the server's disk is full)", Exit::storage);
    default:
      throw PermanentError(msg, Exit::storage);
  }
}

Client::Client(Settings settings) : m_settings(std::move(settings)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Client::~Client() {
  for (void* h : m_free) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* Client::acquire() {
  CURL* h = nullptr;
  {
    std::lock_guard lock(m_mutex);
    if (!m_free.empty()) {
      h = static_cast<CURL*>(m_free.back());
      m_free.pop_back();
    }
  }
  if (!h) h = curl_easy_init();
  if (!h) throw TransientError("cannot create a transfer handle (out of memory?)");
  curl_easy_reset(h);  // keeps the connection cache, so connections are reused
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(m_settings.connect_timeout * 1000));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(m_settings.stall_timeout)));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,sftp");
  if (m_settings.configure) m_settings.configure(h);
  return h;
}

void Client::release(void* h) {
  std::lock_guard lock(m_mutex);
  if (m_free.size() < 64)
    m_free.push_back(h);
  else
    curl_easy_cleanup(static_cast<CURL*>(h));
}

void Client::with_handle(const std::function<void(void*)>& fn) {
  void* h = acquire();
  try {
    fn(h);
  } catch (...) {
    curl_easy_cleanup(static_cast<CURL*>(h));  // its state is unknown: do not reuse
    throw;
  }
  release(h);
}

Response Client::perform(const Request& req, const std::string& what) {
  Response resp;
  with_handle([&](void* vh) {
    CURL* h = static_cast<CURL*>(vh);
    char errbuf[CURL_ERROR_SIZE] = {};
    PartsReader upload(req.body);
    std::unique_ptr<curl_slist, SlistFree> headers;
    auto add = [&](const std::string& line) {
      curl_slist* l = curl_slist_append(headers.get(), line.c_str());
      if (!l) throw TransientError("out of memory building a request");
      headers.release();
      headers.reset(l);
    };
    for (const auto& hd : req.headers)
      add(hd.value.empty() ? hd.name + ";" : hd.name + ": " + hd.value);
    add("Expect:");  // no 100-continue round trip
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
    if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT" || (req.method == "POST" && req.has_body)) {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, &upload);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &upload);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload.size()));
      if (req.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else if (req.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (req.method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    if (rc != CURLE_OK) throw_curl_error(rc, errbuf, what);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  });
  return resp;
}

std::string describe_status(const Response& r) {
  std::string code = r.header("x-ms-error-code");
  std::string message;
  if (!r.body.empty()) {
    try {
      auto doc = xml::parse(as_chars(r.body));
      if (doc->name == "Error") {
        if (code.empty()) code = doc->child_text("Code");
        message = doc->child_text("Message");
      }
    } catch (const std::exception&) {
      std::string_view body = as_chars(r.body);
      for (char c : body.substr(0, 120)) message += (c >= 32 && c < 127) ? c : ' ';
      if (body.size() > 120) message += "...";
      message = "unexpected answer: " + message;
    }
  }
  if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
  std::string out = std::to_string(r.status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  return out;
}

void throw_status(const Response& r, const std::string& what, const std::string& access_hint) {
  std::string msg = fmt::format("{}: the server answered {}", what, describe_status(r));
  if (r.status == 401 || r.status == 403)
    throw PermanentError(msg + " (" + access_hint + ")", Exit::not_permitted);
  if (r.status == 408 || r.status == 429 || r.status >= 500) throw TransientError(msg);
  throw PermanentError(msg);
}

void take_body(Response& r, const std::optional<Range>& range, Bytes& out,
               const std::string& what) {
  if (r.status == 206 && range) {
    std::string cr = r.header("content-range");
    if (!cr.starts_with(fmt::format("bytes {}-", range->offset)) || r.body.size() > range->length)
      throw TransientError(fmt::format("{}: the server answered the wrong range ('{}')", what, cr));
    out = std::move(r.body);
  } else if (range) {
    uint64_t b = std::min<uint64_t>(range->offset, r.body.size());
    uint64_t e = std::min<uint64_t>(b + range->length, r.body.size());
    out.assign(r.body.begin() + static_cast<ptrdiff_t>(b),
               r.body.begin() + static_cast<ptrdiff_t>(e));
  } else {
    out = std::move(r.body);
  }
}

std::string uri_encode(std::string_view s, bool encode_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string redact_url(const std::string& url) {
  std::string out = url;
  // user information: scheme://user:password@host
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto host_start = scheme + 3;
    auto path = out.find_first_of("/?#", host_start);
    auto at = out.rfind('@', path == std::string::npos ? out.size() : path);
    if (at != std::string::npos && at >= host_start) {
      auto colon = out.find(':', host_start);
      if (colon != std::string::npos && colon < at)  // keep the user, drop the password
        out.replace(colon, at - colon, ":REDACTED");
    }
  }
  auto q = out.find('?');
  if (q == std::string::npos) return out;
  static const char* secret_params[] = {
      "sig",       "x-amz-signature", "x-amz-credential", "x-amz-security-token",
      "signature", "token",           "password"};
  std::string result = out.substr(0, q + 1);
  std::string_view rest(out);
  rest.remove_prefix(q + 1);
  bool first = true;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    bool secret = std::any_of(std::begin(secret_params), std::end(secret_params),
                              [&](const char* p) { return lower == p; });
    if (!first) result += '&';
    first = false;
    result += secret && eq != std::string_view::npos ? name + "=REDACTED" : std::string(pair);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return result;
}

std::string amz_date_now() {
  return utc_time(int64_t{std::time(nullptr)} * 1000000000, "%Y%m%dT%H%M%SZ");
}

std::string rfc1123_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02d} {} {} {:02d}:{:02d}:{:02d} GMT", days[tm.tm_wday], tm.tm_mday,
                     months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace lifeboat::storage::http
