// PostgreSQL base backups over the replication protocol (BASE_BACKUP, PostgreSQL 15 or later,
// through libpq): every tablespace's tar archive and the backup manifest arrive on one
// connection and pass through, unchanged, to pipes the scanner reads one after the other,
// while the few members that describe the backup are kept. pg_basebackup cannot do this: it
// writes a single tablespace to standard output, or every archive to a directory on disk
// (docs/postgres.md). Not thread-safe (one owner; the copier thread is internal).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lifeboat/source/postgres/postgres.hpp"

typedef struct pg_conn PGconn;

namespace lifeboat::source::postgres {

// What a base backup says about itself (the server's replies, and backup_label, PG_VERSION and
// global/pg_control inside the main archive).
struct BaseBackupInfo {
  std::string start_lsn;  // "0/2000028"
  std::string stop_lsn;   // the end of the WAL it needs
  std::string timeline;
  std::string start_wal_file;                      // the first WAL segment it needs
  std::string start_time;                          // backup_label "START TIME"
  std::string system_id;                           // from global/pg_control
  std::string server_version;                      // PG_VERSION
  std::map<std::string, std::string> tablespaces;  // OID -> location on the server
  // The info as snapshot meta ("postgres.start_lsn" ..., "postgres.tablespace.OID"); throws
  // Error(failure) naming what is missing when the archive lacked a member a base backup must
  // have.
  std::map<std::string, std::string> meta() const;
};

// One archive of a base backup as a file of the snapshot.
struct BaseBackupPart {
  std::string path;  // "/base.tar", "/tablespaces/OID.tar", "/backup_manifest"
  std::string oid;   // of a tablespace archive; empty otherwise
};

// Where a base backup's parts live in a snapshot.
inline constexpr const char* k_base_tar_path = "/base.tar";
inline constexpr const char* k_manifest_path = "/backup_manifest";
inline constexpr const char* k_tablespaces_dir = "/tablespaces";
inline constexpr const char* k_tablespace_meta_prefix = "postgres.tablespace.";
std::string tablespace_tar_path(const std::string& oid);

class BaseBackup {
 public:
  // Connects (replication connection, settings as for the client programs), starts the backup
  // (immediate checkpoint, the WAL it needs included, a manifest) and reads the list of
  // tablespaces. Throws Error(failure) with the server's message.
  explicit BaseBackup(const Connection& c);
  ~BaseBackup();
  BaseBackup(const BaseBackup&) = delete;
  BaseBackup& operator=(const BaseBackup&) = delete;

  // The archives in the order the server sends them, then the manifest.
  const std::vector<BaseBackupPart>& parts() const { return m_parts; }
  // The descriptor to read part i from; parts are read in order, each to its end.
  int open(size_t i);
  // After the end of part i's data: throws Error(failure) when the copy failed or the archive
  // was not a complete tar.
  void close(size_t i);
  // After the last part: the server's end of the backup; throws Error(failure) when it failed
  // (a checksum failure in a data file among others).
  BaseBackupInfo finish();

 private:
  struct TarWatch;
  void copy();
  [[noreturn]] void fail(const std::string& what);

  PGconn* m_conn = nullptr;
  std::string m_where;
  std::vector<BaseBackupPart> m_parts;
  BaseBackupInfo m_info;
  std::thread m_copier;

  std::mutex m_mutex;
  std::condition_variable m_ready;
  std::vector<int> m_read_fds;  // per part, -1 until the copier has opened it
  std::vector<bool>
      m_complete;  // per part: a tar's end-of-archive was seen (or the manifest ended)
  bool m_copier_done = false;
  bool m_stopping = false;                       // the destructor runs: no new part is opened
  std::string m_error;                           // set by the copier
  std::map<std::string, std::string> m_members;  // name -> content (the small ones we keep)
};

// "XXX/YYY" as a 64-bit position; nullopt when it is not an LSN.
std::optional<uint64_t> parse_lsn(const std::string& text);

}  // namespace lifeboat::source::postgres
