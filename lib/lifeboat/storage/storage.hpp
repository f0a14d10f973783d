// The object-shaped storage interface every repository backend implements (DESIGN.md §5),
// and the factory that opens one from a URL. Keys are relative paths such as
// "data/3f/3fa1…" or "config". Implementations must be safe to call from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lifeboat/core/error.hpp"
#include "lifeboat/util/bytes.hpp"

namespace lifeboat::storage {

// A failure worth retrying (timeouts, 5xx, connection resets).
class TransientError : public Error {
 public:
  explicit TransientError(const std::string& m) : Error(Exit::storage, m) {}
};
// A failure that retrying cannot fix (permission denied, ENOSPC, 403).
class PermanentError : public Error {
 public:
  explicit PermanentError(const std::string& m, Exit code = Exit::storage) : Error(code, m) {}
};

struct Range {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // when it was last written, where the listing says (S3); else 0
};

class Storage {
 public:
  virtual ~Storage() = default;
  // Stores data under key, all or nothing: a reader sees the whole object or none.
  // Overwriting an existing key replaces it atomically.
  virtual void put(const std::string& key, ByteView data) = 0;
  // Stores the concatenation of parts under key, as put would. This default joins them in one
  // buffer and calls put; a driver that can write them as they are (local) overrides it, and
  // so do the decorators, which pass it on: a pack is sealed in place in its writer's memory
  // and uploaded from there, without a second pack-sized buffer.
  virtual void put_parts(const std::string& key, std::span<const ByteView> parts);
  // Reads the object (or a range of it) into out, replacing its content. Returns false when
  // the object does not exist. A range past the end yields the bytes that exist.
  virtual bool get(const std::string& key, Bytes& out, std::optional<Range> range = {}) = 0;
  // Size of the object, or nullopt when it does not exist.
  virtual std::optional<uint64_t> stat(const std::string& key) = 0;
  // Calls fn for every object whose key starts with prefix (a directory such as "data/").
  virtual void list(const std::string& prefix,
                    const std::function<void(const ObjectInfo&)>& fn) = 0;
  // Removes the object; removing a missing object is not an error.
  virtual void remove(const std::string& key) = 0;
  // A human-readable location with every credential redacted.
  virtual std::string describe() const = 0;

  // Object retention (S3 Object Lock): until when (ns since the epoch) the current version of
  // the object is protected from deletion; 0 when it has no retention or does not exist.
  // Stores without object retention throw PermanentError.
  virtual int64_t retained_until(const std::string& key);
  // Sets the retention of the object's current version to until_ns with the configured mode
  // (only ever to extend it). Stores without object retention throw PermanentError.
  virtual void retain_until(const std::string& key, int64_t until_ns);

  // What interrupted uploads left behind: temporary files written before written_before_ns
  // and never renamed into place (a put killed mid-write). Listings never show them. Removes
  // them when `remove`; returns how many there are and their bytes. Stores whose uploads are
  // atomic (S3, Azure) have none.
  struct Leftovers {
    uint64_t count = 0;
    uint64_t bytes = 0;
  };
  virtual Leftovers stale_uploads(int64_t written_before_ns, bool remove);
};

// Bytes of put_parts' parts together.
uint64_t total_size(std::span<const ByteView> parts);
// The bytes [offset, offset + length) of the parts' concatenation, as views into the parts
// (cut off at its end): a part of a multipart upload, or a block.
std::vector<ByteView> slice_parts(std::span<const ByteView> parts, uint64_t offset,
                                  uint64_t length);

// Reads the parts' concatenation front to back, for an upload's read callback; seek() rewinds
// it when a request is sent again.
class PartsReader {
 public:
  explicit PartsReader(std::span<const ByteView> parts)
      : m_parts(parts), m_size(total_size(parts)) {}
  uint64_t size() const { return m_size; }
  // Copies up to n bytes to out and moves on; 0 at the end.
  size_t read(void* out, size_t n);
  // False (and nothing moved) past the end.
  bool seek(uint64_t pos);

 private:
  std::span<const ByteView> m_parts;
  uint64_t m_size;
  size_t m_index = 0;   // the part being read
  size_t m_offset = 0;  // within it
};

struct Options;
// Opens the storage named by url: a path or file:// URL (local), s3://BUCKET/PREFIX,
// azure://ACCOUNT/CONTAINER/PREFIX, sftp://USER@HOST[:PORT]/PATH, or mem:// (in-memory, for
// tests; each distinct name is one process-wide store), wrapped in the decorators the options
// ask for (retry for remote stores, connection and rate limits, logging, test faults).
// Throws UsageError for an unknown scheme or bad options.
std::unique_ptr<Storage> open(const std::string& url);
std::unique_ptr<Storage> open(const std::string& url, const Options& options);
// Transfers in flight when nothing sets --connections: 4 for remote storage; for a local
// repository (or mem://) the number of cores, at most 4: its transfers are reads and writes
// that the cores then decrypt and check, and more of them than cores only added memory and
// contention (2 cores: a restore 20% faster and 25 MB smaller, verify 5% and 33 MB).
unsigned default_connections(const std::string& url);

// Forwarding base for decorators: override only what changes.
class Forwarding : public Storage {
 public:
  explicit Forwarding(std::unique_ptr<Storage> inner) : m_inner(std::move(inner)) {}
  void put(const std::string& k, ByteView d) override { m_inner->put(k, d); }
  bool get(const std::string& k, Bytes& o, std::optional<Range> r) override {
    return m_inner->get(k, o, r);
  }
  std::optional<uint64_t> stat(const std::string& k) override { return m_inner->stat(k); }
  void list(const std::string& p, const std::function<void(const ObjectInfo&)>& fn) override {
    m_inner->list(p, fn);
  }
  void remove(const std::string& k) override { m_inner->remove(k); }
  std::string describe() const override { return m_inner->describe(); }
  int64_t retained_until(const std::string& k) override { return m_inner->retained_until(k); }
  void retain_until(const std::string& k, int64_t until_ns) override {
    m_inner->retain_until(k, until_ns);
  }
  Leftovers stale_uploads(int64_t before_ns, bool remove) override {
    return m_inner->stale_uploads(before_ns, remove);
  }

 protected:
  Storage& inner() { return *m_inner; }

 private:
  std::unique_ptr<Storage> m_inner;
};

namespace local {
// fsync_fault_for_testing, when set, is asked before each fsync of a file or a directory (its
// path) and returns 0 or the errno to fail that fsync with (LIFEBOAT_TEST_FAULTS fsync rules,
// docs/testing.md, or a unit test's own rule).
std::unique_ptr<Storage> make(
    const std::string& root,
    std::function<int(const std::string& path)> fsync_fault_for_testing = {});
}  // namespace local
namespace memory {
std::unique_ptr<Storage> make(const std::string& name);
}

}  // namespace lifeboat::storage
