// The write half of the data path: deduplicates blobs against the index, compresses and
// seals them on worker threads into packs (~16 MiB), uploads full packs on uploader threads
// (the repository's transfers(), so several are in flight on remote storage), and writes an
// index file only after the packs it names are stored (DESIGN.md §2 write order).
// save() may be called from several threads (the scanner's readers); flush() from one, after
// the last save().
#pragma once

#include <functional>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "lifeboat/repo/repository.hpp"

namespace lifeboat::repo {

struct SaverStats {
  uint64_t blobs_added = 0;
  uint64_t bytes_added = 0;   // plaintext bytes of new blobs
  uint64_t bytes_stored = 0;  // bytes of packs written
  uint64_t packs_written = 0;
};

class BlobSaver {
 public:
  static constexpr size_t k_pack_target = 16u << 20;
  // ... or this many blobs, whichever comes first: a pack of tiny blobs (a million small
  // files) would otherwise have a header of ~200,000 entries, encoded and sealed at once.
  static constexpr size_t k_pack_blobs = 16384;
  // workers = 0 picks the number of cores; uploads = 0 takes repo.transfers().
  BlobSaver(Repository& repo, unsigned workers = 0, unsigned uploads = 0);
  ~BlobSaver();
  BlobSaver(const BlobSaver&) = delete;
  BlobSaver& operator=(const BlobSaver&) = delete;

  // Queues a blob unless the index or this run already has it; returns true when queued.
  // Blocks while the queue is full. Rethrows a worker's failure.
  bool save(BlobType type, const Id32& id, Bytes data);
  // Stores blobs even when the index already has them (prune's repacking moves live blobs
  // out of mostly unused packs). Call before the first save().
  void ignore_index() { m_use_index = false; }
  // Called right before every index file is written; a backup passes its lock's check, so
  // that a run whose lock expired (a prune may have deleted its unindexed packs meanwhile)
  // never indexes them.
  void set_index_guard(std::function<void()> guard) { m_index_guard = std::move(guard); }
  // True when the blob is stored or queued.
  bool known(const Id32& id);
  // Stores every queued blob and partial pack, then writes the index. Rethrows failures.
  void flush();
  SaverStats stats();

 private:
  static constexpr size_t k_batch_bytes = 1u << 20;
  static constexpr size_t k_batch_blobs = 256;
  struct Blob {
    BlobType type;
    Id32 id;
    Bytes data;
  };
  struct Worker {
    std::unique_ptr<PackWriter> data;
    std::unique_ptr<PackWriter> tree;
    std::thread thread;
  };
  struct Upload {
    std::string key;
    Bytes bytes;
    PackRecord record;
  };
  void work(Worker& w);
  // Hands the batch being filled to the workers (blocks while enough batches wait).
  void queue_batch_locked(std::unique_lock<std::mutex>& lock);
  void upload_loop();
  // Finishes the pack and queues its upload (blocks while enough uploads are queued).
  void store_pack(PackWriter& writer);
  void write_index_locked(std::unique_lock<std::mutex>& lock);
  void rethrow_locked();

  Repository& m_repo;
  size_t m_pack_target;      // bytes; k_pack_target unless tests tune it
  size_t m_packs_per_index;  // packs named by one index file
  bool m_use_index = true;
  std::function<void()> m_index_guard;
  std::mutex m_mutex;
  std::condition_variable m_cv_jobs;
  std::condition_variable m_cv_space;
  std::condition_variable m_cv_idle;
  std::deque<std::vector<Blob>> m_jobs;  // batches of blobs
  size_t m_capacity;                     // batches
  std::vector<Blob> m_batch;             // being filled by save()
  size_t m_batch_bytes = 0;
  size_t m_busy = 0;
  bool m_stop = false;
  std::exception_ptr m_error;
  // Blobs queued or being stored by this run; an id leaves once its pack is in the index.
  std::unordered_set<Id32, Id32Hash> m_pending;
  std::vector<PackRecord> m_unindexed;
  size_t m_unindexed_blobs = 0;  // in m_unindexed's packs
  SaverStats m_stats;
  std::vector<std::unique_ptr<Worker>> m_workers;
  std::deque<Upload> m_uploads;
  std::vector<Bytes> m_spare_packs;  // stored packs' buffers, reused by finish()
  size_t m_upload_capacity = 1;
  size_t m_uploading = 0;
  std::condition_variable m_cv_uploads;
  std::vector<std::thread> m_uploaders;
};

}  // namespace lifeboat::repo
