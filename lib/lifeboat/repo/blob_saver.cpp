#include "lifeboat/repo/blob_saver.hpp"

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace lifeboat::repo {

namespace {
constexpr size_t k_packs_per_index = 64;
// ... or fewer packs of many small blobs: an index file is encoded, sealed and read back in
// memory at once, about 200 bytes a blob.
constexpr size_t k_blobs_per_index = 100000;

// Test tuning (docs/testing.md): smaller packs and more frequent index files, so that a crash
// test on a few megabytes reaches every phase a large backup has (packs stored but not yet
// indexed, several index files, then the snapshot). Never set in production.
size_t test_tuning(const char* name, size_t fallback, size_t minimum) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < minimum || n > fallback)
    throw UsageError("{}='{}' is not a number from {} to {} (see docs/testing.md)", name, v,
                     minimum, fallback);
  return static_cast<size_t>(n);
}
}  // namespace

BlobSaver::BlobSaver(Repository& repo, unsigned workers, unsigned uploads)
    : m_repo(repo),
      m_pack_target(test_tuning("LIFEBOAT_TEST_PACK_SIZE", k_pack_target, 4096)),
      m_packs_per_index(test_tuning("LIFEBOAT_TEST_PACKS_PER_INDEX", k_packs_per_index, 1)) {
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  if (uploads == 0) uploads = std::max(1u, repo.transfers());
  m_capacity = workers * 2;     // batches waiting: with the one being filled, a few MiB
  m_upload_capacity = uploads;  // packs waiting, besides those in flight: bounds memory
  for (unsigned i = 0; i < workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->data = std::make_unique<PackWriter>(repo.keys(), BlobType::data);
    w->tree = std::make_unique<PackWriter>(repo.keys(), BlobType::tree);
    m_workers.push_back(std::move(w));
  }
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
        PackWriter& writer = blob.type == BlobType::data ? *w.data : *w.tree;
        writer.add_compressing(blob.id, blob.data);
        raw_bytes += blob.data.size();
        Bytes().swap(blob.data);  // in the pack writer now
        if (writer.bytes() >= m_pack_target || writer.count() >= k_pack_blobs) store_pack(writer);
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

void BlobSaver::store_pack(PackWriter& writer) {
  if (writer.count() == 0) return;
  Bytes buffer;
  {
    std::lock_guard lock(m_mutex);
    if (!m_spare_packs.empty()) {
      buffer = std::move(m_spare_packs.back());
      m_spare_packs.pop_back();
    }
  }
  auto finished = writer.finish(std::move(buffer));
  std::unique_lock lock(m_mutex);
  m_cv_space.wait(lock, [&] { return m_uploads.size() < m_upload_capacity || m_error; });
  rethrow_locked();
  m_uploads.push_back({object_key(Kind::data_blob, finished.record.id), std::move(finished.bytes),
                       std::move(finished.record)});
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
      m_repo.storage().put(up.key, up.bytes);
      // Only a stored pack enters the index, and an index file only names stored packs.
      m_repo.index().add_pack(up.record);
      std::unique_lock lock(m_mutex);
      // The index answers for these blobs now (save() and known() ask it after m_pending):
      // m_pending stays the size of what is in flight, not of the whole run.
      if (m_use_index)
        for (auto& b : up.record.header.blobs) m_pending.erase(b.id);
      m_stats.bytes_stored += up.bytes.size();
      m_stats.packs_written++;
      // Kept for the next pack (as many as there are workers): its pages are mapped already.
      if (m_spare_packs.size() < m_workers.size()) m_spare_packs.push_back(std::move(up.bytes));
      m_unindexed_blobs += up.record.header.blobs.size();
      m_unindexed.push_back(std::move(up.record));
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
  for (auto& w : m_workers) {
    store_pack(*w->data);
    store_pack(*w->tree);
  }
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
