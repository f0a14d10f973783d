// Settings for opening a storage: transfer behaviour shared by every driver and the settings
// of the remote drivers. Filled by the CLI from flags, the environment and the repository's
// entry in the configuration (lifeboat.yaml(5)); value type.
#pragma once

#include <cstdint>
#include <string>

namespace lifeboat::storage {

struct S3Options {
  std::string endpoint;          // http(s)://host[:port]; empty = AWS for the region
  std::string region;            // empty = AWS_REGION, AWS_DEFAULT_REGION, then us-east-1
  std::string addressing;        // "path", "virtual" or empty (path with an endpoint)
  std::string credentials_file;  // an AWS shared-credentials file; overrides the environment
  std::string profile;           // profile in that file (default AWS_PROFILE, then "default")
  std::string storage_class;     // for data/ objects only (STANDARD_IA, GLACIER_IR, ...)
  std::string object_lock_mode;  // GOVERNANCE or COMPLIANCE; empty = no retention header
  unsigned object_lock_days = 0;
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;
  unsigned list_page_size = 1000;
};

struct AzureOptions {
  std::string endpoint;     // e.g. http://127.0.0.1:10000/devstoreaccount1; empty = public cloud
  std::string access_tier;  // Hot, Cool, Cold or Archive, for data/ objects only
  uint64_t block_threshold = 64ull << 20;
  uint64_t block_size = 16ull << 20;
  unsigned list_page_size = 5000;
};

struct SftpOptions {
  std::string key_file;         // private key (LIFEBOAT_SFTP_KEY)
  std::string known_hosts;      // OpenSSH known_hosts file (LIFEBOAT_SFTP_KNOWN_HOSTS)
  std::string host_key_sha256;  // "SHA256:base64" as ssh-keygen -l prints it
  bool insecure_no_host_key_check = false;
};

struct Options {
  S3Options s3;
  AzureOptions azure;
  SftpOptions sftp;
  unsigned connections = 0;     // transfers in flight at once; 0: default_connections(url)
  uint64_t upload_limit = 0;    // bytes per second over all transfers; 0 = none
  uint64_t download_limit = 0;  // bytes per second over all transfers; 0 = none
  double connect_timeout = 15;  // seconds
  double stall_timeout = 60;    // seconds without progress before a request is abandoned
  double retry_time = 120;      // total seconds spent retrying one operation
  std::string faults;           // LIFEBOAT_TEST_FAULTS (tests only; see docs/testing.md)
};

}  // namespace lifeboat::storage
