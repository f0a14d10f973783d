// PostgreSQL through its own client programs (psql, pg_dump, pg_dumpall, pg_restore): how to
// reach the server, which databases it has, and where each dump lives in a snapshot.
// Value types and free functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lifeboat::source::postgres {

// Empty fields fall back to libpq's own defaults (PGHOST, PGPORT, PGUSER, then the built-in
// socket directory, 5432 and the login name). Passwords come from PGPASSFILE / ~/.pgpass,
// never from a flag: the programs are run with --no-password so they never prompt.
struct Connection {
  std::string host;  // a host name or a socket directory
  std::string port;
  std::string user;
};

using Environment = std::vector<std::pair<std::string, std::string>>;

// The variables a client program needs to reach `database` through `c`. The database goes in
// PGDATABASE (never on the command line, where a name with '=' would read as a connection
// string).
Environment environment(const Connection& c, const std::string& database);

// "dbname='NAME'" with quotes and backslashes escaped: a conninfo string naming exactly that
// database, whatever characters its name holds.
std::string conninfo_dbname(const std::string& database);

// Runs a query through psql and returns its rows (one field each). Throws Error(failure)
// naming the server when psql fails; `consequence` ends that message.
std::vector<std::string> query(const Connection& c, const std::string& database,
                               const std::string& sql, const std::string& consequence);

// The databases a full dump covers: every one that accepts connections, templates excluded,
// sorted by name.
std::vector<std::string> list_databases(const Connection& c);

// Where a database's dump lives in a snapshot: /databases/NAME.dump, with '%', '/' and
// control characters in NAME written as %XX. database_of() is the inverse (nullopt for other
// paths).
std::string dump_path(const std::string& database);
std::optional<std::string> database_of(const std::string& path);
inline constexpr const char* k_globals_path = "/globals.sql";

}  // namespace lifeboat::source::postgres
