// The write half of the data path: deduplicates blobs against the index, compresses them on
// worker threads into two packs (~16 MiB; data and tree) that the workers share, seals a full
// pack on the worker that filled it, uploads full packs on uploader threads
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
#include <optional>
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
    // Where this worker compresses a blob before copying it into the shared pack; kept from
    // blob to blob (grows to the bound of the largest).
    std::unique_ptr<std::byte[]> scratch;
    size_t scratch_size = 0;
    std::thread thread;
  };
  struct Upload {
    std::string key;
    PackWriter::Finished pack;
  };
  void work(Worker& w);
  // Hands the batch being filled to the workers (blocks while enough batches wait).
  void queue_batch_locked(std::unique_lock<std::mutex>& lock);
  void upload_loop();
  // Called with m_pack_mutex held (takes m_mutex: always in that order).
  std::unique_ptr<PackWriter> new_pack(BlobType type);
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
  // The packs being filled, one for data and one for trees, shared by the workers: a pack per
  // worker held a pack's worth of memory more per core for no speed (compression, the work,
  // runs outside this lock). With packs sealed in place and big buffers mapped on their own,
  // a backup of the Linux tree on 2 cores peaks at 120 MB instead of 155 MB.
  std::mutex m_pack_mutex;
  std::unique_ptr<PackWriter> m_data_pack;
  std::unique_ptr<PackWriter> m_tree_pack;
  std::deque<Upload> m_uploads;
  // A stored pack's arena, for the next data pack (its pages are mapped already: a fresh
  // one per pack cost 47,000 page faults and 10% of a backup's time).
  std::optional<Arena> m_spare_arena;
  size_t m_upload_capacity = 1;
  size_t m_uploading = 0;
  std::condition_variable m_cv_uploads;
  std::vector<std::thread> m_uploaders;
};

}  // namespace lifeboat::repo
