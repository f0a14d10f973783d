// Reads the data blobs a restore is about to write, in the order it will write them, on
// several threads (the repository's transfers(), --connections) ahead of the writer, within a
// memory budget. Purely an optimisation: take() gives a blob only when it is the next planned
// one; anything else (an unplanned blob, a failed read) is read by the caller itself, so a plan
// that differs from what is written changes speed, never content or error handling.
// plan() and take() are called from the restoring thread only.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "lifeboat/repo/repository.hpp"

namespace lifeboat::restore {

class Prefetcher {
 public:
  Prefetcher(repo::Repository& repo, unsigned threads, size_t budget = 64u << 20);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Appends blobs to the plan, in the order they will be asked for.
  void plan(const std::vector<Id32>& ids);
  // The blob if it is planned soon; planned blobs before it were skipped and are dropped.
  // nullopt when it is not planned or its read failed: the caller reads it itself.
  std::optional<Bytes> take(const Id32& id);

 private:
  enum class State { planned, fetching, ready, failed };
  struct Item {
    Id32 id;
    State state = State::planned;
    Bytes data;
  };
  void fetch_loop();
  void drop_front_locked();

  repo::Repository& m_repo;
  size_t m_budget;
  unsigned m_threads;
  std::mutex m_mutex;
  std::condition_variable m_cv_work;
  std::condition_variable m_cv_ready;
  std::deque<Item> m_items;  // m_items[i] has sequence number m_base + i
  uint64_t m_base = 0;
  uint64_t m_next_fetch = 0;  // sequence number of the next item to fetch
  size_t m_ready_bytes = 0;
  bool m_stop = false;
  std::vector<std::thread> m_workers;
};

}  // namespace lifeboat::restore
