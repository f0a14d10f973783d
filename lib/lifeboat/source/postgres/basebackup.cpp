#include "lifeboat/source/postgres/basebackup.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "lifeboat/core/error.hpp"
#include "lifeboat/core/reporter.hpp"

namespace lifeboat::source::postgres {

namespace {

constexpr size_t k_block = 512;
constexpr size_t k_keep_limit = 1u << 20;  // a member larger than this is not kept

uint64_t tar_number(const char* field, size_t len) {
  if (static_cast<unsigned char>(field[0]) & 0x80) {  // base-256
    uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < len; ++i) v = (v << 8) | static_cast<unsigned char>(field[i]);
    return v;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < len && field[i]; ++i) {
    if (field[i] == ' ') continue;
    if (field[i] < '0' || field[i] > '7') break;
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  return v;
}

std::string field_text(const char* p, size_t len) { return std::string(p, strnlen(p, len)); }

std::string line_value(const std::string& text, const std::string& key) {
  auto pos = text.find(key + ": ");
  if (pos == std::string::npos) return "";
  pos += key.size() + 2;
  auto end = text.find('\n', pos);
  return text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace

std::optional<uint64_t> parse_lsn(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size()) return std::nullopt;
  try {
    size_t a = 0, b = 0;
    uint64_t hi = std::stoull(text.substr(0, slash), &a, 16);
    uint64_t lo = std::stoull(text.substr(slash + 1), &b, 16);
    if (a != slash || b != text.size() - slash - 1 || hi > 0xffffffffu || lo > 0xffffffffu)
      return std::nullopt;
    return (hi << 32) | lo;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::map<std::string, std::string> BaseBackupInfo::meta() const {
  auto need = [](const std::string& v, const char* what) {
    if (v.empty())
      throw Error(Exit::failure,
                  "the base backup has no {}: it is not complete; no snapshot was written", what);
  };
  need(start_lsn, "start position");
  need(stop_lsn, "end position");
  need(start_wal_file, "backup_label");
  need(system_id, "global/pg_control");
  need(server_version, "PG_VERSION");
  std::map<std::string, std::string> m{{"postgres.mode", "base"},
                                       {"postgres.start_lsn", start_lsn},
                                       {"postgres.stop_lsn", stop_lsn},
                                       {"postgres.timeline", timeline},
                                       {"postgres.start_wal_file", start_wal_file},
                                       {"postgres.start_time", start_time},
                                       {"postgres.system_id", system_id},
                                       {"postgres.server_version", server_version}};
  for (const auto& [oid, location] : tablespaces) m[k_tablespace_meta_prefix + oid] = location;
  return m;
}

std::string tablespace_tar_path(const std::string& oid) {
  return std::string(k_tablespaces_dir) + "/" + oid + ".tar";
}

// Follows a tar archive as it passes: where each member starts, whether the end-of-archive
// block arrived, and the content of the members worth keeping.
struct BaseBackup::TarWatch {
  bool keep_members = false;  // the main archive: backup_label, PG_VERSION, global/pg_control
  std::map<std::string, std::string>* members = nullptr;
  bool complete = false;

  std::string header;
  uint64_t body_left = 0;  // padded bytes of the current member still to come
  uint64_t size = 0;
  char type = 0;
  std::string name;
  std::string long_name;  // from a GNU 'L' or pax 'x' member, for the next header
  bool keep = false;
  std::string content;

  void feed(const char* p, size_t n) {
    while (n > 0 && !complete) {
      if (body_left == 0) {
        size_t take = std::min(n, k_block - header.size());
        header.append(p, take);
        p += take;
        n -= take;
        if (header.size() < k_block) return;
        start_member();
      } else {
        size_t take = static_cast<size_t>(std::min<uint64_t>(body_left, n));
        uint64_t used = (size + k_block - 1) / k_block * k_block - body_left;
        if (keep && used < size)
          content.append(p, static_cast<size_t>(std::min<uint64_t>(take, size - used)));
        body_left -= take;
        p += take;
        n -= take;
        if (body_left == 0) end_member();
      }
    }
  }

 private:
  void start_member() {
    const char* h = header.data();
    if (std::all_of(h, h + k_block, [](char c) { return c == 0; })) {
      complete = true;  // what follows is the rest of the end-of-archive padding
      return;
    }
    size = tar_number(h + 124, 12);
    type = h[156];
    std::string prefix = field_text(h + 345, 155);
    name = prefix.empty() ? field_text(h, 100) : prefix + "/" + field_text(h, 100);
    if (!long_name.empty()) name = std::move(long_name), long_name.clear();
    header.clear();
    bool meta_member = type == 'L' || type == 'x';
    keep = size <= k_keep_limit &&
           (meta_member ||
            (keep_members && (type == '0' || type == '\0') &&
             (name == "backup_label" || name == "PG_VERSION" || name == "global/pg_control")));
    content.clear();
    body_left = (size + k_block - 1) / k_block * k_block;
    if (body_left == 0) end_member();
  }

  void end_member() {
    if (type == 'L') {
      long_name = content.c_str();
    } else if (type == 'x') {
      // pax: "LEN path=NAME\n" records
      for (size_t pos = 0; pos < content.size();) {
        size_t sp = content.find(' ', pos);
        if (sp == std::string::npos) break;
        size_t len = std::strtoul(content.c_str() + pos, nullptr, 10);
        if (len == 0 || pos + len > content.size() || sp >= pos + len) break;
        std::string rec = content.substr(sp + 1, pos + len - sp - 2);
        if (rec.rfind("path=", 0) == 0) long_name = rec.substr(5);
        pos += len;
      }
    } else if (keep && members) {
      (*members)[name] = std::move(content);
    }
    content.clear();
    keep = false;
  }
};

namespace {

std::string result_error(PGconn* conn, PGresult* res) {
  std::string msg = res ? PQresultErrorMessage(res) : "";
  if (msg.empty()) msg = PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (msg.rfind("ERROR:  ", 0) == 0) msg.erase(0, 8);
  if (msg.rfind("FATAL:  ", 0) == 0) msg.erase(0, 8);
  std::string out;  // one line: runs of white space (libpq's line breaks, tabs) as one space
  for (char ch : msg) {
    bool space = ch == '\n' || ch == '\t' || ch == ' ';
    if (!space)
      out += ch;
    else if (!out.empty() && out.back() != ' ')
      out += ' ';
  }
  return out.empty() ? "no reason given" : out;
}

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw Error(Exit::failure, "the repository stopped reading the base backup");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void BaseBackup::fail(const std::string& what) {
  throw Error(Exit::failure, "base backup of {}: {}; no snapshot was written", m_where, what);
}

BaseBackup::BaseBackup(const Connection& c) {
  std::vector<const char*> keys, values;
  auto add = [&](const char* k, const char* v) {
    if (!*v) return;
    keys.push_back(k);
    values.push_back(v);
  };
  add("host", c.host.c_str());
  add("port", c.port.c_str());
  add("user", c.user.c_str());
  add("replication", "true");
  add("fallback_application_name", "lifeboat");
  // A host that never answers fails the run instead of hanging it (PGCONNECT_TIMEOUT wins).
  if (!std::getenv("PGCONNECT_TIMEOUT")) add("connect_timeout", "30");
  keys.push_back(nullptr);
  values.push_back(nullptr);
  m_conn = PQconnectdbParams(keys.data(), values.data(), 0);
  if (!m_conn) throw Error(Exit::failure, "base backup: out of memory connecting to PostgreSQL");
  const char* host = PQhost(m_conn);
  const char* port = PQport(m_conn);
  m_where = fmt::format("the server at {} port {}", host && *host ? host : "(default)",
                        port && *port ? port : "(default)");
  if (PQstatus(m_conn) != CONNECTION_OK) {
    std::string msg = result_error(m_conn, nullptr);
    PQfinish(m_conn);
    m_conn = nullptr;
    throw Error(Exit::failure,
                "cannot open a replication connection to {}: {}; no snapshot was written (a "
                "base backup needs the server running, a role with REPLICATION and a "
                "'replication' line in pg_hba.conf)",
                m_where, msg);
  }
  try {
    int version = PQserverVersion(m_conn);
    if (version < 150000)
      fail(
          fmt::format("the server is PostgreSQL {}.{}; base backups need 15 or later (older "
                      "servers: back up with --mode dump)",
                      version / 10000, version % 10000));
    // WAL: the segments the backup needs travel in the main archive (no archive wait); no
    // TABLESPACE_MAP: the archive then holds pg_tblspc's symbolic links, which a restore
    // points at each tablespace's new place.
    const char* command =
        "BASE_BACKUP (LABEL 'lifeboat', CHECKPOINT 'fast', WAL, WAIT 0, MANIFEST 'yes', "
        "TARGET 'client')";
    if (PQsendQuery(m_conn, command) == 0) fail(result_error(m_conn, nullptr));
    Result start(PQgetResult(m_conn));
    if (PQresultStatus(start.get()) != PGRES_TUPLES_OK || PQntuples(start.get()) != 1 ||
        PQnfields(start.get()) < 2)
      fail(result_error(m_conn, start.get()));
    m_info.start_lsn = PQgetvalue(start.get(), 0, 0);
    m_info.timeline = PQgetvalue(start.get(), 0, 1);
    Result spaces(PQgetResult(m_conn));
    if (PQresultStatus(spaces.get()) != PGRES_TUPLES_OK || PQnfields(spaces.get()) < 2)
      fail(result_error(m_conn, spaces.get()));
    bool have_base = false;
    for (int i = 0; i < PQntuples(spaces.get()); ++i) {
      if (PQgetisnull(spaces.get(), i, 0)) {
        have_base = true;
        m_parts.push_back({k_base_tar_path, ""});
        continue;
      }
      std::string oid = PQgetvalue(spaces.get(), i, 0);
      std::string location = PQgetvalue(spaces.get(), i, 1);
      if (oid.empty() || oid.size() > 10 ||
          !std::all_of(oid.begin(), oid.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
          location.empty() || location[0] != '/' || m_info.tablespaces.count(oid))
        fail(
            fmt::format("the server listed a tablespace as '{}' at '{}', which is not an OID "
                        "and an absolute directory",
                        printable(oid), printable(location)));
      m_info.tablespaces[oid] = location;
      m_parts.push_back({tablespace_tar_path(oid), oid});
    }
    if (!have_base) fail("the server listed no main data directory");
    m_parts.push_back({k_manifest_path, ""});
    Result copy(PQgetResult(m_conn));
    if (PQresultStatus(copy.get()) != PGRES_COPY_OUT) fail(result_error(m_conn, copy.get()));
  } catch (...) {
    PQfinish(m_conn);
    m_conn = nullptr;
    throw;
  }
  m_read_fds.assign(m_parts.size(), -1);
  m_complete.assign(m_parts.size(), false);
  m_copier = std::thread([this] { copy(); });
}

BaseBackup::~BaseBackup() {
  {
    std::lock_guard<std::mutex> g(m_mutex);
    m_stopping = true;
    for (int& fd : m_read_fds)
      if (fd >= 0) ::close(fd), fd = -1;  // a copier still writing gets EPIPE and stops
  }
  if (m_copier.joinable()) {
    if (m_conn) ::shutdown(PQsocket(m_conn), SHUT_RDWR);  // and one waiting for the server
    m_copier.join();
  }
  if (m_conn) PQfinish(m_conn);
}

void BaseBackup::copy() {
  int out = -1;        // the write end of the current part
  size_t current = 0;  // its index, once `out` is open
  std::optional<TarWatch> tar;
  size_t next = 0;  // the next part the server is expected to send
  auto end_part = [&](bool complete) {
    if (out < 0) return;
    {
      std::lock_guard<std::mutex> g(m_mutex);
      m_complete[current] = complete;
    }
    ::close(out);
    out = -1;
  };
  auto begin_part = [&](const std::string& expected_name, const std::string& got) {
    if (next >= m_parts.size())
      throw Error(Exit::failure, "the server sent more archives than it listed");
    const auto& part = m_parts[next];
    std::string want = part.path.substr(part.path.rfind('/') + 1);
    if (got != want)
      throw Error(Exit::failure, "the server sent '{}' where '{}' was expected",
                  printable(got.empty() ? expected_name : got), want);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw Error(Exit::failure, "pipe: {}", std::strerror(errno));
    std::lock_guard<std::mutex> g(m_mutex);
    if (m_stopping) {
      ::close(p[0]);
      ::close(p[1]);
      throw Error(Exit::failure, "stopped");
    }
    m_read_fds[next] = p[0];
    out = p[1];
    current = next++;
    m_ready.notify_all();
  };
  try {
    for (;;) {
      char* buf = nullptr;
      int r = PQgetCopyData(m_conn, &buf, 0);
      if (r == -1) break;
      if (r < 0)
        throw Error(Exit::failure, "the connection failed: {}", result_error(m_conn, nullptr));
      std::unique_ptr<char, decltype(&PQfreemem)> msg(buf, PQfreemem);
      size_t n = static_cast<size_t>(r);
      if (n == 0) continue;
      switch (buf[0]) {
        case 'n': {  // a new archive: its name, then the tablespace's location
          size_t end1 = std::find(buf + 1, buf + n, '\0') - buf;
          if (end1 >= n) throw Error(Exit::failure, "the server sent a malformed archive header");
          if (tar && !tar->complete) throw Error(Exit::failure, "an archive ended early");
          end_part(true);
          begin_part("", std::string(buf + 1, end1 - 1));
          tar.emplace();
          tar->keep_members = m_parts[current].oid.empty();
          tar->members = &m_members;
          break;
        }
        case 'm':  // the manifest follows
          if (tar && !tar->complete) throw Error(Exit::failure, "an archive ended early");
          end_part(true);
          tar.reset();
          begin_part("backup_manifest", "backup_manifest");
          break;
        case 'd':
          if (out < 0) throw Error(Exit::failure, "the server sent data outside an archive");
          if (tar) tar->feed(buf + 1, n - 1);
          write_all(out, buf + 1, n - 1);
          break;
        case 'p':  // progress
          break;
        default:
          throw Error(Exit::failure, "the server sent a message of unknown type {}",
                      static_cast<int>(static_cast<unsigned char>(buf[0])));
      }
    }
    // The end of the COPY: then the end position, then the command's completion (or the
    // error that ended the backup, such as a data file failing its checksum).
    std::string error;
    for (;;) {
      Result res(PQgetResult(m_conn));
      if (!res) break;
      auto status = PQresultStatus(res.get());
      if (status == PGRES_TUPLES_OK && PQntuples(res.get()) == 1 && PQnfields(res.get()) >= 1)
        m_info.stop_lsn = PQgetvalue(res.get(), 0, 0);
      else if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && error.empty())
        error = result_error(m_conn, res.get());
    }
    if (!error.empty()) throw Error(Exit::failure, "{}", error);
    if (tar && !tar->complete) throw Error(Exit::failure, "an archive ended early");
    if (m_info.stop_lsn.empty()) throw Error(Exit::failure, "the server sent no end position");
    end_part(out >= 0 && !tar);  // the manifest ends with the COPY
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> g(m_mutex);
      if (m_error.empty()) m_error = e.what();
    }
    end_part(false);
  }
  std::lock_guard<std::mutex> g(m_mutex);
  m_copier_done = true;
  m_ready.notify_all();
}

int BaseBackup::open(size_t i) {
  std::unique_lock<std::mutex> g(m_mutex);
  m_ready.wait(g, [&] { return m_read_fds[i] >= 0 || m_copier_done; });
  if (m_read_fds[i] >= 0) return m_read_fds[i];
  std::string error = m_error;
  g.unlock();
  fail(!error.empty() ? error : "the server sent no " + m_parts[i].path.substr(1));
}

void BaseBackup::close(size_t i) {
  std::unique_lock<std::mutex> g(m_mutex);
  if (m_read_fds[i] >= 0) ::close(m_read_fds[i]), m_read_fds[i] = -1;
  std::string error = m_error;
  bool complete = m_complete[i];
  g.unlock();
  if (!error.empty()) fail(error);
  if (!complete) fail(m_parts[i].path.substr(1) + " ended before its end");
}

BaseBackupInfo BaseBackup::finish() {
  if (m_copier.joinable()) m_copier.join();
  if (!m_error.empty()) fail(m_error);
  for (size_t i = 0; i < m_parts.size(); ++i)
    if (!m_complete[i]) fail(m_parts[i].path.substr(1) + " was not received whole");
  BaseBackupInfo info = m_info;
  const std::string& label = m_members["backup_label"];
  // START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
  std::string start = line_value(label, "START WAL LOCATION");
  if (auto f = start.find("(file "); f != std::string::npos)
    info.start_wal_file = start.substr(f + 6, 24);
  info.start_time = line_value(label, "START TIME");
  const std::string& control = m_members["global/pg_control"];
  if (control.size() >= 8) {
    uint64_t id = 0;
    for (int i = 7; i >= 0; --i) id = (id << 8) | static_cast<unsigned char>(control[i]);
    info.system_id = std::to_string(id);
  }
  info.server_version = m_members["PG_VERSION"];
  while (!info.server_version.empty() && info.server_version.back() == '\n')
    info.server_version.pop_back();
  return info;
}

}  // namespace lifeboat::source::postgres
