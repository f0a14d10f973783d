#include "lifeboat/repo/blob_saver.hpp"

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "lifeboat/compress/zstd.hpp"
#include "lifeboat/core/test_tuning.hpp"

namespace lifeboat::repo {

namespace {
constexpr size_t k_packs_per_index = 64;
// ... or fewer packs of many small blobs: an index file is encoded, sealed and read back in
// memory at once, about 200 bytes a blob.
constexpr size_t k_blobs_per_index = 100000;

}  // namespace

BlobSaver::BlobSaver(Repository& repo, unsigned workers, unsigned uploads)
    : m_repo(repo),
      m_pack_target(test_tuning("LIFEBOAT_TEST_PACK_SIZE", k_pack_target, 4096, k_pack_target)),
      m_packs_per_index(
          test_tuning("LIFEBOAT_TEST_PACKS_PER_INDEX", k_packs_per_index, 1, k_packs_per_index)) {
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  if (uploads == 0) uploads = std::max(1u, repo.transfers());
  m_capacity = workers * 2;     // batches waiting: with the one being filled, a few MiB
  m_upload_capacity = uploads;  // packs waiting, besides those in flight: bounds memory
  m_data_pack = new_pack(BlobType::data);
  m_tree_pack = new_pack(BlobType::tree);
  for (unsigned i = 0; i < workers; ++i) m_workers.push_back(std::make_unique<Worker>());
  for (auto& w : m_workers) w->thread = std::thread([this, wp = w.get()] { work(*wp); });
  for (unsigned i = 0; i < uploads; ++i) m_uploaders.emplace_back([this] { upload_loop(); });
}

BlobSaver::~BlobSaver() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
    m_uploads.clear();  // not flushed: an error is unwinding; unindexed packs are only garbage
  }
  m_cv_jobs.notify_all();
  m_cv_space.notify_all();
  m_cv_uploads.notify_all();
  for (auto& w : m_workers)
    if (w->thread.joinable()) w->thread.join();
  for (auto& t : m_uploaders)
    if (t.joinable()) t.join();
}

void BlobSaver::rethrow_locked() {
  if (m_error) std::rethrow_exception(m_error);
}

bool BlobSaver::known(const Id32& id) {
  {
    std::lock_guard lock(m_mutex);
    if (m_pending.count(id)) return true;
  }
  return m_repo.index().contains(id);
}

bool BlobSaver::save(BlobType type, const Id32& id, Bytes data) {
  if (data.size() > (1u << 30))
    throw Error(Exit::failure, "a {} blob of {} bytes is larger than Lifeboat stores (1 GiB)",
                blob_type_name(type), data.size());
  if (m_use_index && m_repo.index().contains(id)) return false;
  std::unique_lock lock(m_mutex);
  rethrow_locked();
  if (m_pending.count(id)) return false;
  // Stored since the check above (its pack entered the index, then its id left m_pending).
  if (m_use_index && m_repo.index().contains(id)) return false;
  m_pending.insert(id);
  m_batch_bytes += data.size();
  m_batch.push_back({type, id, std::move(data)});
  // Blobs go to the workers in batches of about 1 MiB: one wake-up per batch, not per blob
  // (most files are one small blob).
  if (m_batch_bytes >= k_batch_bytes || m_batch.size() >= k_batch_blobs) queue_batch_locked(lock);
  return true;
}

void BlobSaver::queue_batch_locked(std::unique_lock<std::mutex>& lock) {
  if (m_batch.empty()) return;
  m_cv_space.wait(lock, [&] { return m_jobs.size() < m_capacity || m_error; });
  rethrow_locked();
  m_jobs.push_back(std::move(m_batch));
  m_batch.clear();
  m_batch_bytes = 0;
  m_cv_jobs.notify_one();
}

void BlobSaver::work(Worker& w) {
  for (;;) {
    std::vector<Blob> batch;
    {
      std::unique_lock lock(m_mutex);
      m_cv_jobs.wait(lock, [&] { return m_stop || !m_jobs.empty(); });
      if (m_jobs.empty()) return;
      batch = std::move(m_jobs.front());
      m_jobs.pop_front();
      ++m_busy;
    }
    m_cv_space.notify_all();  // the producer and workers waiting for upload room share it
    try {
      uint64_t raw_bytes = 0;
      for (auto& blob : batch) {
        size_t bound = compress::compress_bound(blob.data.size());
        if (w.scratch_size < bound) {  // not zeroed: the compressor writes what it keeps
          w.scratch.reset(new std::byte[bound]);
          w.scratch_size = bound;
        }
        size_t n = compress::compress_into(blob.data, w.scratch.get(), bound);
        ByteView payload = n ? ByteView(w.scratch.get(), n) : ByteView(blob.data);
        std::unique_ptr<PackWriter> full;
        {
          std::lock_guard lock(m_pack_mutex);
          auto& pack = blob.type == BlobType::data ? m_data_pack : m_tree_pack;
          pack->add(blob.id, payload, static_cast<uint32_t>(blob.data.size()), n != 0);
          if (pack->bytes() >= m_pack_target || pack->count() >= k_pack_blobs) {
            full = std::move(pack);
            pack = new_pack(blob.type);
          }
        }
        raw_bytes += blob.data.size();
        Bytes().swap(blob.data);      // in the pack now
        if (full) store_pack(*full);  // sealed here, while the other workers fill the next
      }
      std::lock_guard lock(m_mutex);
      m_stats.blobs_added += batch.size();
      m_stats.bytes_added += raw_bytes;
    } catch (...) {
      std::lock_guard lock(m_mutex);
      if (!m_error) m_error = std::current_exception();
      m_cv_space.notify_all();
    }
    {
      std::lock_guard lock(m_mutex);
      --m_busy;
    }
    m_cv_idle.notify_all();
  }
}

std::unique_ptr<PackWriter> BlobSaver::new_pack(BlobType type) {
  // Tree packs stay small in most backups: they start small and grow.
  if (type == BlobType::tree) return std::make_unique<PackWriter>(m_repo.keys(), type);
  // Room for a full pack and the blob that fills it, allocated (not touched) at once: growing
  // by doubling copied it four times and reserved twice the pack.
  Arena spare;
  {
    std::lock_guard lock(m_mutex);
    if (m_spare_arena) spare = std::move(*std::exchange(m_spare_arena, std::nullopt));
  }
  return std::make_unique<PackWriter>(m_repo.keys(), type, m_pack_target + (2u << 20),
                                      std::move(spare));
}

void BlobSaver::store_pack(PackWriter& writer) {
  if (writer.count() == 0) return;
  auto finished = writer.finish();
  std::unique_lock lock(m_mutex);
  m_cv_space.wait(lock, [&] { return m_uploads.size() < m_upload_capacity || m_error; });
  rethrow_locked();
  std::string key = object_key(Kind::data_blob, finished.record.id);
  m_uploads.push_back({std::move(key), std::move(finished)});
  m_cv_uploads.notify_one();
}

void BlobSaver::upload_loop() {
  for (;;) {
    Upload up;
    {
      std::unique_lock lock(m_mutex);
      m_cv_uploads.wait(lock, [&] { return m_stop || !m_uploads.empty(); });
      if (m_uploads.empty()) return;
      up = std::move(m_uploads.front());
      m_uploads.pop_front();
      ++m_uploading;
    }
    m_cv_space.notify_all();
    try {
      m_repo.storage().put_parts(up.key, up.pack.parts);
      // Only a stored pack enters the index, and an index file only names stored packs.
      m_repo.index().add_pack(up.pack.record);
      std::unique_lock lock(m_mutex);
      // The index answers for these blobs now (save() and known() ask it after m_pending):
      // m_pending stays the size of what is in flight, not of the whole run.
      if (m_use_index)
        for (auto& b : up.pack.record.header.blobs) m_pending.erase(b.id);
      m_stats.bytes_stored += up.pack.record.size;
      m_stats.packs_written++;
      if (!m_spare_arena && up.pack.arena.size >= m_pack_target)
        m_spare_arena = std::move(up.pack.arena);
      m_unindexed_blobs += up.pack.record.header.blobs.size();
      m_unindexed.push_back(std::move(up.pack.record));
      if (m_unindexed.size() >= m_packs_per_index || m_unindexed_blobs >= k_blobs_per_index)
        write_index_locked(lock);
    } catch (...) {
      std::lock_guard lock(m_mutex);
      if (!m_error) m_error = std::current_exception();
    }
    {
      std::lock_guard lock(m_mutex);
      --m_uploading;
    }
    m_cv_space.notify_all();
    m_cv_idle.notify_all();
  }
}

void BlobSaver::write_index_locked(std::unique_lock<std::mutex>& lock) {
  std::vector<PackRecord> records = std::move(m_unindexed);
  m_unindexed.clear();
  size_t blobs = std::exchange(m_unindexed_blobs, 0);
  lock.unlock();
  try {
    if (m_index_guard) m_index_guard();
    m_repo.save_meta(Kind::index, encode_index(records));
  } catch (...) {
    lock.lock();
    m_unindexed.insert(m_unindexed.end(), records.begin(), records.end());
    m_unindexed_blobs += blobs;
    throw;
  }
  lock.lock();
}

void BlobSaver::flush() {
  {
    std::unique_lock lock(m_mutex);
    rethrow_locked();
    queue_batch_locked(lock);
    m_cv_idle.wait(lock, [&] { return (m_jobs.empty() && m_busy == 0) || m_error; });
    rethrow_locked();
  }
  // Workers are idle and the producer is here: the partial packs can be finished safely.
  store_pack(*m_data_pack);
  store_pack(*m_tree_pack);
  std::unique_lock lock(m_mutex);
  m_cv_idle.wait(lock, [&] { return (m_uploads.empty() && m_uploading == 0) || m_error; });
  rethrow_locked();
  if (!m_unindexed.empty()) write_index_locked(lock);
}

SaverStats BlobSaver::stats() {
  std::lock_guard lock(m_mutex);
  return m_stats;
}

}  // namespace lifeboat::repo
