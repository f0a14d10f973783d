// PostgreSQL base backups streamed from `pg_basebackup -D - -F tar`: the tar passes through
// unchanged to the repository while the few members that describe the backup are kept.
// Not thread-safe (one owner).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "lifeboat/source/postgres/postgres.hpp"
#include "lifeboat/util/subprocess.hpp"

namespace lifeboat::source::postgres {

// What a base backup says about itself (from backup_label, backup_manifest, PG_VERSION and
// global/pg_control inside the tar).
struct BaseBackupInfo {
  std::string start_lsn;  // "0/2000028"
  std::string stop_lsn;   // the end of its WAL range (manifest "WAL-Ranges")
  std::string timeline;
  std::string start_wal_file;  // the first WAL segment it needs
  std::string start_time;      // backup_label "START TIME"
  std::string system_id;       // from global/pg_control
  std::string server_version;  // PG_VERSION
  std::string manifest;        // backup_manifest (JSON), for pg_verifybackup
  // The info as snapshot meta ("postgres.start_lsn" ...); throws Error(failure) naming what is
  // missing when the tar lacked a member a base backup must have.
  std::map<std::string, std::string> meta() const;
};

// Runs pg_basebackup (tar to standard output, WAL fetched into it, immediate checkpoint) and
// copies its output to a pipe whose read end fd() returns, noting the members above on the way.
class BaseBackupStream {
 public:
  explicit BaseBackupStream(const Connection& c);
  ~BaseBackupStream();
  BaseBackupStream(const BaseBackupStream&) = delete;
  BaseBackupStream& operator=(const BaseBackupStream&) = delete;

  int fd() const { return m_read; }
  // After the end of the data: waits for pg_basebackup and the copier; throws Error(failure)
  // when pg_basebackup failed or the stream was not a complete tar.
  BaseBackupInfo finish();

 private:
  void copy();

  Child m_child;
  int m_read = -1;
  int m_write = -1;
  std::thread m_copier;
  std::string m_error;  // set by the copier
  BaseBackupInfo m_info;
  std::map<std::string, std::string> m_members;  // name -> content (the small ones we keep)
  bool m_complete = false;                       // the tar's end-of-archive was seen
};

// "XXX/YYY" as a 64-bit position; nullopt when it is not an LSN.
std::optional<uint64_t> parse_lsn(const std::string& text);

}  // namespace lifeboat::source::postgres
