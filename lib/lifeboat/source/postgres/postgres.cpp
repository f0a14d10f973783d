#include "lifeboat/source/postgres/postgres.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "lifeboat/core/error.hpp"
#include "lifeboat/util/subprocess.hpp"

namespace lifeboat::source::postgres {

Environment environment(const Connection& c, const std::string& database) {
  Environment env;
  if (!c.host.empty()) env.emplace_back("PGHOST", c.host);
  if (!c.port.empty()) env.emplace_back("PGPORT", c.port);
  if (!c.user.empty()) env.emplace_back("PGUSER", c.user);
  if (!database.empty()) env.emplace_back("PGDATABASE", database);
  // Messages in English whatever the locale, so that our own tests and the operator's grep
  // see the same words.
  env.emplace_back("LC_MESSAGES", "C");
  return env;
}

std::string conninfo_dbname(const std::string& database) {
  std::string out = "dbname='";
  for (char ch : database) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "'";
}

std::vector<std::string> query(const Connection& c, const std::string& database,
                               const std::string& sql, const std::string& consequence) {
  ChildOptions co;
  co.env = environment(c, database);
  co.consequence = consequence;
  // -X: no ~/.psqlrc; -A -t: bare values; -0: rows end in NUL, so any name survives.
  Child psql({"psql", "-X", "-A", "-t", "-0", "--no-password", "-v", "ON_ERROR_STOP=1", "-c", sql},
             co);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(psql.fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Exit::failure, "reading from psql: {}", std::strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  psql.finish();
  std::vector<std::string> rows;
  for (size_t pos = 0; pos < out.size();) {
    size_t end = out.find('\0', pos);
    if (end == std::string::npos) end = out.size();
    std::string row = out.substr(pos, end - pos);
    // psql ends the last record with a newline rather than the separator.
    if (end == out.size() && !row.empty() && row.back() == '\n') row.pop_back();
    if (!(end == out.size() && row.empty())) rows.push_back(row);
    pos = end + 1;
  }
  return rows;
}

std::vector<std::string> list_databases(const Connection& c) {
  auto names = query(c, "postgres",
                     "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate",
                     "no snapshot was written");
  std::sort(names.begin(), names.end());
  return names;
}

std::string dump_path(const std::string& database) {
  std::string out = "/databases/";
  for (unsigned char ch : database) {
    if (ch == '%' || ch == '/' || ch < 0x20 || ch == 0x7f)
      out += fmt::format("%{:02X}", ch);
    else
      out += static_cast<char>(ch);
  }
  return out + ".dump";
}

std::optional<std::string> database_of(const std::string& path) {
  const std::string prefix = "/databases/", suffix = ".dump";
  if (path.size() <= prefix.size() + suffix.size() || path.compare(0, prefix.size(), prefix) != 0 ||
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  std::string enc = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  std::string out;
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] == '/') return std::nullopt;
    if (enc[i] == '%' && i + 2 < enc.size() &&
        std::isxdigit(static_cast<unsigned char>(enc[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(enc[i + 2]))) {
      out += static_cast<char>(std::stoi(enc.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += enc[i];
    }
  }
  return out;
}

}  // namespace lifeboat::source::postgres
