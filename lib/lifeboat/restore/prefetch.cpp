#include "lifeboat/restore/prefetch.hpp"

#include <algorithm>

namespace lifeboat::restore {
namespace {
constexpr size_t k_window = 4096;  // how far ahead in the plan take() looks for a blob
}

Prefetcher::Prefetcher(repo::Repository& repo, unsigned threads, size_t budget)
    : m_repo(repo), m_budget(budget), m_threads(std::max(1u, threads)) {
  m_repo.load_index();  // once, before any thread reads
  for (unsigned i = 0; i < m_threads; ++i) m_workers.emplace_back([this] { fetch_loop(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv_work.notify_all();
  for (auto& t : m_workers) t.join();
}

void Prefetcher::plan(const std::vector<Id32>& ids) {
  if (ids.empty()) return;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& id : ids) m_items.push_back({id, State::planned, {}});
  }
  m_cv_work.notify_all();
}

void Prefetcher::fetch_loop() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    // The items nearest the writer may always start, so it never waits on the budget.
    m_cv_work.wait(lock, [&] {
      return m_stop || (m_next_fetch < m_base + m_items.size() &&
                        (m_ready_bytes < m_budget || m_next_fetch < m_base + m_threads));
    });
    if (m_stop) return;
    uint64_t seq = m_next_fetch++;
    Id32 id = m_items[seq - m_base].id;
    m_items[seq - m_base].state = State::fetching;
    lock.unlock();
    std::optional<Bytes> data;
    try {
      data = m_repo.read_blob(id);
    } catch (...) {
      // The writer reads it again itself and reports the problem where it belongs.
    }
    lock.lock();
    if (seq >= m_base) {  // not dropped while we read it
      Item& item = m_items[seq - m_base];
      if (data) {
        m_ready_bytes += data->size();
        item.data = std::move(*data);
        item.state = State::ready;
      } else {
        item.state = State::failed;
      }
      m_cv_ready.notify_all();
    }
  }
}

void Prefetcher::drop_front_locked() {
  Item& item = m_items.front();
  if (item.state == State::ready) m_ready_bytes -= item.data.size();
  m_items.pop_front();
  ++m_base;
  m_next_fetch = std::max(m_next_fetch, m_base);
}

std::optional<Bytes> Prefetcher::take(const Id32& id) {
  std::unique_lock lock(m_mutex);
  size_t limit = std::min(m_items.size(), k_window);
  size_t k = 0;
  while (k < limit && m_items[k].id != id) ++k;
  if (k == limit) return std::nullopt;
  for (size_t i = 0; i < k; ++i) drop_front_locked();  // planned but skipped by the writer
  m_cv_work.notify_all();
  m_cv_ready.wait(lock, [&] {
    return m_items.front().state == State::ready || m_items.front().state == State::failed;
  });
  std::optional<Bytes> out;
  if (m_items.front().state == State::ready) out = std::move(m_items.front().data);
  if (out) m_ready_bytes -= out->size();
  m_items.front().state = State::failed;  // so drop_front_locked does not count it again
  drop_front_locked();
  lock.unlock();
  m_cv_work.notify_all();
  return out;
}

}  // namespace lifeboat::restore
