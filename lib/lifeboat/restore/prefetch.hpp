// Reads the data blobs a restore is about to write, in the order it will write them, on
// several threads (the repository's transfers(), --connections) ahead of the writer, within a
// memory budget. Blobs planned close together that lie near each other in one pack are read
// together with one ranged read, so a pack is read in a few large pieces rather than blob by
// blob (one request per blob would cost a round trip each on remote storage). Purely an
// optimisation: take() gives a blob only when it is the next planned one; anything else (an
// unplanned blob, a failed read) is read by the caller itself, so a plan that differs from what is
// written changes speed, never content or error handling. take() is called from the restoring
// thread only; plan() from it or from one planner.
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
  // budget 0: default_budget(threads).
  Prefetcher(repo::Repository& repo, unsigned threads, size_t budget = 0);
  // Bytes of blobs read ahead (or being read) at most: 8 MiB per thread, so each can have a run
  // in flight and one waiting, and at least 16 MiB. Measured, a local restore of the Linux tree
  // (2 threads) into tmpfs: 32 MiB peaked at 116-123 MB RSS, 16 MiB at 81-87 MB, equally fast;
  // 8 MiB slower.
  static size_t default_budget(unsigned threads);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Appends blobs to the plan, in the order they will be asked for; blocks while the plan
  // is far ahead of the writer. Thread-safe with take() (a planner thread may run ahead).
  void plan(const std::vector<Id32>& ids);
  // Ends fetching and planning (plan() returns at once); take() still answers.
  void stop();
  // The blob if it is planned soon; planned blobs before it were skipped and are dropped.
  // nullopt when it is not planned or its read failed: the caller reads it itself.
  std::optional<Bytes> take(const Id32& id);

 private:
  enum class State { planned, fetching, ready, failed };
  struct Item {
    static constexpr uint32_t k_unknown = UINT32_MAX;
    Id32 id;
    State state = State::planned;
    Bytes data;
    uint32_t pack = k_unknown;  // where the index places it (looked up when planned)
    uint64_t offset = 0;
    uint64_t end = 0;
    uint64_t raw = 0;  // its size once read
  };
  void fetch_loop();
  // Claims the next planned blob and the ones after it that can be read with it; their
  // sequence numbers are left in m_claimed.
  std::vector<Id32> claim_run_locked();
  // Moves m_next_fetch to the first item still only planned (invariant between calls).
  void skip_claimed_locked();
  void drop_front_locked();

  repo::Repository& m_repo;
  size_t m_budget;
  unsigned m_threads;
  std::mutex m_mutex;
  std::condition_variable m_cv_work;
  std::condition_variable m_cv_ready;
  std::condition_variable m_cv_plan;
  std::deque<Item> m_items;  // m_items[i] has sequence number m_base + i
  uint64_t m_base = 0;
  uint64_t m_next_fetch = 0;  // sequence number of the first item not yet claimed
  std::vector<uint64_t> m_claimed;
  uint64_t m_claimed_bytes = 0;   // their size once read
  uint64_t m_fetching_bytes = 0;  // of the blobs being read
  size_t m_ready_bytes = 0;
  bool m_stop = false;
  std::vector<std::thread> m_workers;
};

}  // namespace lifeboat::restore
