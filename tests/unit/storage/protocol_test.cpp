// Exact-protocol tests of the S3 driver against a scripted loopback HTTP server
// (tests/servers/scripted_http.py): every request is checked, and every bad answer — 404,
// 500, 503 SlowDown, a stall, a dropped connection, a truncated body, 200 with an HTML page,
// 403 on delete — has the documented outcome.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/storage/drivers.hpp"
#include "lifeboat/storage/options.hpp"
#include "lifeboat/storage/storage.hpp"

using namespace lifeboat;
using json = nlohmann::json;

namespace {

class ScriptedServer {
 public:
  explicit ScriptedServer(const json& script) {
    char tmpl[] = "/tmp/lifeboat-protocol-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    m_dir = tmpl;
    std::ofstream(m_dir + "/script.json") << script.dump();
    m_pid = ::fork();
    REQUIRE(m_pid >= 0);
    if (m_pid == 0) {
      std::string py = std::string(LIFEBOAT_SERVERS_DIR) + "/scripted_http.py";
      std::string s = m_dir + "/script.json", p = m_dir + "/port", l = m_dir + "/log";
      ::execlp("python3", "python3", py.c_str(), s.c_str(), p.c_str(), l.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(m_dir + "/port"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::ifstream in(m_dir + "/port");
    REQUIRE(in >> m_port);
    std::ofstream(m_dir + "/credentials")
        << "[default]\naws_access_key_id = AKIDTEST\naws_secret_access_key = secret-never-shown\n";
  }
  ~ScriptedServer() {
    ::kill(m_pid, SIGKILL);
    ::waitpid(m_pid, nullptr, 0);
    std::filesystem::remove_all(m_dir);
  }
  std::unique_ptr<storage::Storage> open(double retry_time = 3,
                                         const storage::S3Options* s3 = nullptr) const {
    storage::Options o;
    if (s3) o.s3 = *s3;
    o.s3.endpoint = "http://127.0.0.1:" + std::to_string(m_port);
    o.s3.credentials_file = m_dir + "/credentials";
    o.s3.region = "eu-west-3";
    o.s3.multipart_threshold = 6 << 20;
    o.s3.part_size = 5 << 20;
    o.stall_timeout = 1;
    o.retry_time = retry_time;
    return storage::open("s3://bkt/pre", o);
  }
  std::vector<json> requests() const {
    std::vector<json> out;
    std::ifstream in(m_dir + "/log");
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

 private:
  std::string m_dir;
  pid_t m_pid = -1;
  int m_port = 0;
};

json answer(int status, std::string body = "", json headers = json::object()) {
  return {{"status", status}, {"body", body}, {"headers", headers}};
}
json act(const char* action) { return {{"action", action}}; }

const char* k_404 =
    "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not "
    "exist.</Message></Error>";

Exit code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return Exit::ok;
}

}  // namespace

TEST_CASE("s3 protocol: a signed GET, and 404 is 'not found'", "[protocol]") {
  ScriptedServer server(json::array({answer(404, k_404)}));
  Bytes out;
  CHECK_FALSE(server.open()->get("data/ab/abcd", out));
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0]["method"] == "GET");
  CHECK(reqs[0]["path"] == "/bkt/pre/data/ab/abcd");
  auto h = reqs[0]["headers"];
  CHECK(h["x-amz-content-sha256"] ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(h["host"].get<std::string>().starts_with("127.0.0.1:"));
  std::string auth = h["authorization"];
  CHECK(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
  CHECK(auth.find("/eu-west-3/s3/aws4_request") != std::string::npos);
  CHECK(auth.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date") != std::string::npos);
}

TEST_CASE("s3 protocol: uploads carry Content-MD5 and the payload hash", "[protocol]") {
  ScriptedServer server(json::array({answer(200)}));
  Bytes body = to_bytes("pack contents");
  server.open()->put("data/00/00ff", body);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0]["method"] == "PUT");
  CHECK(reqs[0]["sha256"] == to_hex(crypto::sha256(body).view()));
  CHECK(reqs[0]["headers"]["x-amz-content-sha256"] == to_hex(crypto::sha256(body).view()));
  CHECK(reqs[0]["headers"]["content-md5"] == crypto::base64_encode(crypto::md5(body)));
}

TEST_CASE("s3 protocol: storage class for packs, Object Lock for all but locks", "[protocol]") {
  ScriptedServer server(json::array({answer(200), answer(200), answer(200)}));
  storage::S3Options s3;
  s3.storage_class = "DEEP_ARCHIVE";
  s3.object_lock_mode = "COMPLIANCE";
  s3.object_lock_days = 30;
  auto s = server.open(3, &s3);
  s->put("data/00/00ff", to_bytes("pack"));
  s->put("index/11", to_bytes("index"));
  s->put("locks/22", to_bytes("lock"));
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0]["headers"]["x-amz-storage-class"] == "DEEP_ARCHIVE");
  CHECK_FALSE(reqs[1]["headers"].contains("x-amz-storage-class"));  // metadata stays readable
  CHECK(reqs[0]["headers"]["x-amz-object-lock-mode"] == "COMPLIANCE");
  CHECK(reqs[1]["headers"]["x-amz-object-lock-mode"] == "COMPLIANCE");
  std::string until = reqs[1]["headers"]["x-amz-object-lock-retain-until-date"];
  CHECK(until.size() == 20);
  CHECK(until > "2026-");
  CHECK_FALSE(reqs[2]["headers"].contains("x-amz-object-lock-mode"));  // locks are removed
  CHECK(std::string(reqs[0]["headers"]["authorization"]).find("x-amz-object-lock-mode") !=
        std::string::npos);  // and the headers are signed
}

TEST_CASE("s3 protocol: 500, a stall, a dropped connection and a truncated body are retried",
          "[protocol]") {
  std::string content = "0123456789abcdefghij";
  json truncated = answer(200, content);
  truncated["action"] = "truncate";
  ScriptedServer server(json::array({answer(500, "<Error><Code>InternalError</Code></Error>"),
                                     act("stall"), act("drop"), truncated, answer(200, content)}));
  Bytes out;
  REQUIRE(server.open(20)->get("index/aa", out));
  CHECK(out == to_bytes(content));
  CHECK(server.requests().size() == 5);
}

TEST_CASE("s3 protocol: 503 SlowDown until the retry budget ends is exit 21", "[protocol]") {
  json slow = json::array();
  for (int i = 0; i < 40; ++i)
    slow.push_back(answer(503,
                          "<Error><Code>SlowDown</Code><Message>Reduce your request rate."
                          "</Message></Error>"));
  ScriptedServer server(slow);
  std::string msg;
  Bytes out;
  CHECK(code_of([&] { server.open(1.5)->get("index/aa", out); }, &msg) == Exit::storage);
  CHECK(msg.find("SlowDown") != std::string::npos);
  CHECK(msg.find("gave up after") != std::string::npos);
  CHECK(server.requests().size() >= 2);
}

TEST_CASE("s3 protocol: 200 with an HTML page is never taken for a listing", "[protocol]") {
  json html = json::array();
  for (int i = 0; i < 20; ++i)
    html.push_back(answer(200, "<!DOCTYPE html><html><body>Captive portal</body></html>"));
  ScriptedServer server(html);
  size_t entries = 0;
  std::string msg;
  CHECK(code_of(
            [&] {
              server.open(1)->list("snapshots/", [&](const storage::ObjectInfo&) { ++entries; });
            },
            &msg) == Exit::storage);
  CHECK(entries == 0);
  CHECK(msg.find("not a listing") != std::string::npos);
}

TEST_CASE("s3 protocol: listings follow continuation tokens", "[protocol]") {
  ScriptedServer server(json::array(
      {answer(200,
              "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/1=="
              "</NextContinuationToken><Contents><Key>pre/snapshots/a</Key><Size>1</Size>"
              "</Contents></ListBucketResult>"),
       answer(200,
              "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>pre/snapshots/b"
              "</Key><LastModified>2026-11-22T10:20:30.500Z</LastModified><Size>22</Size>"
              "</Contents></ListBucketResult>")}));
  std::vector<std::pair<std::string, uint64_t>> got;
  std::vector<int64_t> mtimes;
  server.open()->list("snapshots/", [&](const storage::ObjectInfo& o) {
    got.emplace_back(o.key, o.size);
    mtimes.push_back(o.mtime_ns);
  });
  CHECK(got ==
        std::vector<std::pair<std::string, uint64_t>>{{"snapshots/a", 1}, {"snapshots/b", 22}});
  // 2026-11-22T10:20:30.5Z; no LastModified: unknown (0).
  CHECK(mtimes == std::vector<int64_t>{0, 1795342830500000000});
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  std::string second = reqs[1]["path"];
  CHECK(second.find("continuation-token=t%2F1%3D%3D") != std::string::npos);
  CHECK(second.find("list-type=2") != std::string::npos);
  CHECK(second.find("prefix=pre%2Fsnapshots%2F") != std::string::npos);
}

TEST_CASE("s3 protocol: wrong credentials say where, what the server said, what to check",
          "[protocol]") {
  ScriptedServer server(json::array(
      {answer(403,
              "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
              "calculated does not match the signature you provided.</Message></Error>")}));
  std::string msg;
  Bytes out;
  CHECK(code_of([&] { server.open()->get("config", out); }, &msg) == Exit::not_permitted);
  CHECK(msg.find("s3://bkt/pre at http://127.0.0.1:") != std::string::npos);
  CHECK(msg.find("403 SignatureDoesNotMatch: The request signature") != std::string::npos);
  CHECK(msg.find("check AWS_ACCESS_KEY_ID") != std::string::npos);
  CHECK(msg.find("secret-never-shown") == std::string::npos);
  CHECK(msg.find("AKIDTEST") == std::string::npos);
  CHECK(server.requests().size() == 1);  // not retried
}

TEST_CASE("s3 protocol: 403 on delete is exit 22 and not retried", "[protocol]") {
  ScriptedServer server(
      json::array({answer(403,
                          "<Error><Code>AccessDenied</Code><Message>Access Denied because object "
                          "protected by object lock.</Message></Error>")}));
  std::string msg;
  CHECK(code_of([&] { server.open()->remove("snapshots/a"); }, &msg) == Exit::not_permitted);
  CHECK(msg.find("Object Lock") != std::string::npos);
  CHECK(msg.find("secret-never-shown") == std::string::npos);
  CHECK(server.requests().size() == 1);
}

TEST_CASE("s3 protocol: Object Lock retention is read from HEAD and extended by PutObjectRetention",
          "[protocol]") {
  ScriptedServer server(
      json::array({answer(200, "",
                          {{"x-amz-object-lock-mode", "COMPLIANCE"},
                           {"x-amz-object-lock-retain-until-date", "2027-01-02T03:04:05.000Z"}}),
                   answer(200), answer(200)}));
  storage::S3Options s3;
  s3.object_lock_mode = "COMPLIANCE";
  s3.object_lock_days = 30;
  auto s = server.open(3, &s3);
  CHECK(s->retained_until("data/00/00ff") == 1798859045000000000);  // 2027-01-02T03:04:05Z
  CHECK(s->retained_until("snapshots/aa") == 0);                    // no retention
  s->retain_until("data/00/00ff", 1800000000000000000);             // 2027-01-15T08:00:00Z
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0]["method"] == "HEAD");
  CHECK(reqs[0]["path"] == "/bkt/pre/data/00/00ff");
  CHECK(reqs[2]["method"] == "PUT");
  CHECK(reqs[2]["path"] == "/bkt/pre/data/00/00ff?retention=");
  std::string xml = reqs[2]["text"];
  CHECK(xml ==
        "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>"
        "<RetainUntilDate>2027-01-15T08:00:00Z</RetainUntilDate></Retention>");
  CHECK(reqs[2]["headers"]["content-md5"] == crypto::base64_encode(crypto::md5(as_bytes(xml))));
  CHECK(reqs[2]["headers"]["x-amz-content-sha256"] == to_hex(crypto::sha256(as_bytes(xml)).view()));
  CHECK(std::string(reqs[2]["headers"]["authorization"]).find("content-md5") != std::string::npos);
}

TEST_CASE("s3 protocol: a store without Object Lock, or credentials without the right, say so",
          "[protocol]") {
  storage::S3Options s3;
  s3.object_lock_mode = "GOVERNANCE";
  s3.object_lock_days = 7;
  std::string msg;
  {  // s3rver and other stores without Object Lock
    ScriptedServer server(json::array(
        {answer(405,
                "<Error><Code>MethodNotAllowed</Code><Message>The specified method is not allowed "
                "against this resource.</Message></Error>")}));
    CHECK(code_of([&] { server.open(3, &s3)->retain_until("config", 1800000000000000000); },
                  &msg) == Exit::usage);
    CHECK(msg.find("does not support Object Lock") != std::string::npos);
    CHECK(msg.find("object-lock-mode") != std::string::npos);
    CHECK(server.requests().size() == 1);  // not retried
  }
  {  // a bucket created without Object Lock
    ScriptedServer server(json::array(
        {answer(400,
                "<Error><Code>InvalidRequest</Code><Message>Bucket is missing Object Lock "
                "Configuration</Message></Error>")}));
    CHECK(code_of([&] { server.open(3, &s3)->retain_until("config", 1800000000000000000); },
                  &msg) == Exit::usage);
    CHECK(msg.find("Bucket is missing Object Lock Configuration") != std::string::npos);
  }
  {
    ScriptedServer server(json::array({answer(403, "<Error><Code>AccessDenied</Code></Error>")}));
    CHECK(code_of([&] { server.open(3, &s3)->retain_until("config", 1800000000000000000); },
                  &msg) == Exit::not_permitted);
    CHECK(msg.find("s3:PutObjectRetention") != std::string::npos);
    CHECK(msg.find("secret-never-shown") == std::string::npos);
  }
  {  // the local and in-memory stores have no retention at all
    CHECK(code_of([&] { storage::open("mem://no-retention")->retained_until("config"); }, &msg) ==
          Exit::storage);
    CHECK(msg.find("no object retention") != std::string::npos);
  }
}

TEST_CASE("s3 protocol: a failed multipart upload is aborted", "[protocol]") {
  ScriptedServer server(
      json::array({answer(200,
                          "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
                          "</InitiateMultipartUploadResult>"),
                   answer(200, "", {{"ETag", "\"e1\""}}),
                   answer(403, "<Error><Code>AccessDenied</Code></Error>"), answer(204)}));
  Bytes big(11 << 20, std::byte{7});
  CHECK(code_of([&] { server.open()->put("data/11/big", big); }) == Exit::not_permitted);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 4);
  CHECK(reqs[0]["method"] == "POST");
  CHECK(reqs[0]["path"] == "/bkt/pre/data/11/big?uploads=");
  CHECK(reqs[1]["path"] == "/bkt/pre/data/11/big?partNumber=1&uploadId=up-1");
  CHECK(reqs[1]["length"] == 5 << 20);
  CHECK(reqs[3]["method"] == "DELETE");
  CHECK(reqs[3]["path"] == "/bkt/pre/data/11/big?uploadId=up-1");
}

TEST_CASE("the rate limit holds uploads to the average asked for", "[storage]") {
  storage::Options o;
  o.upload_limit = 1 << 20;  // 1 MiB/s
  auto s = storage::open("mem://rate-limit-test", o);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) s->put("data/00/" + std::to_string(i), Bytes(512 * 1024));
  // 2 MiB at 1 MiB/s: the last upload may start only after about 1.5 s (a lower bound only:
  // a busy machine makes it slower, never faster).
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(1400));
}

TEST_CASE("one connection: a listing's callback may use the storage", "[storage]") {
  auto s = storage::with_concurrency_limit(storage::open("mem://one-connection-test"), 1);
  s->put("keys/a", to_bytes("1"));
  s->put("keys/b", to_bytes("22"));
  auto done = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<storage::Storage> shared(std::move(s));
  std::thread([shared, done] {
    shared->list("keys/", [&](const storage::ObjectInfo& o) {
      Bytes out;
      if (shared->get(o.key, out) && out.size() == o.size) ++*done;
    });
  }).detach();
  for (int i = 0; i < 200 && done->load() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  CHECK(done->load() == 2);  // not a deadlock
}

TEST_CASE("s3 protocol: an unreachable endpoint fails after bounded retries", "[protocol]") {
  storage::Options o;
  o.s3.endpoint = "http://127.0.0.1:9";  // discard port: nothing listens
  o.retry_time = 1;
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "x", 1);
  auto start = std::chrono::steady_clock::now();
  std::string msg;
  CHECK(code_of([&] { storage::open("s3://bkt", o)->stat("config"); }, &msg) == Exit::storage);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  CHECK(msg.find("gave up") != std::string::npos);
}
