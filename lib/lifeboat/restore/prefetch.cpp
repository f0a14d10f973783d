#include "lifeboat/restore/prefetch.hpp"

#include <algorithm>

namespace lifeboat::restore {
namespace {
constexpr size_t k_window = 4096;  // how far ahead in the plan take() looks for a blob
// A fetch takes the next planned blob and, among the blobs planned soon after it, those in
// the same pack near it, within these bounds, and reads them all with one ranged read.
constexpr size_t k_run_blobs = 1024;
constexpr uint64_t k_run_scan = 8192;      // planned blobs looked through for a run
constexpr size_t k_plan_ahead = 65536;     // planned blobs not yet taken, at most
constexpr uint64_t k_run_span = 4u << 20;  // bytes of pack read at once
constexpr uint64_t k_run_gap = 1u << 20;   // unplanned bytes read over between two blobs
}  // namespace

size_t Prefetcher::default_budget(unsigned threads) {
  return std::clamp<size_t>(size_t{threads} * (8u << 20), 16u << 20, 256u << 20);
}

Prefetcher::Prefetcher(repo::Repository& repo, unsigned threads, size_t budget)
    : m_repo(repo),
      m_budget(budget ? budget : default_budget(std::max(1u, threads))),
      m_threads(std::max(1u, threads)) {
  m_repo.load_index();  // once, before any thread reads
  for (unsigned i = 0; i < m_threads; ++i) m_workers.emplace_back([this] { fetch_loop(); });
}

Prefetcher::~Prefetcher() {
  stop();
  for (auto& t : m_workers) t.join();
}

void Prefetcher::plan(const std::vector<Id32>& ids) {
  if (ids.empty()) return;
  std::vector<Item> items(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    items[i].id = ids[i];
    if (auto loc = m_repo.index().find(ids[i])) {
      items[i].pack = loc->pack;
      items[i].offset = loc->offset;
      items[i].end = uint64_t{loc->offset} + loc->length;
      items[i].raw = loc->raw_length;
    }
  }
  {
    std::unique_lock lock(m_mutex);
    m_cv_plan.wait(lock, [&] { return m_stop || m_items.size() < k_plan_ahead; });
    if (m_stop) return;
    for (auto& item : items) m_items.push_back(std::move(item));
  }
  m_cv_work.notify_all();
}

void Prefetcher::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv_work.notify_all();
  m_cv_plan.notify_all();
  m_cv_ready.notify_all();
}

void Prefetcher::fetch_loop() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    // The blob the writer needs next may always start, so it never waits on the budget.
    m_cv_work.wait(lock, [&] {
      return m_stop || (m_next_fetch < m_base + m_items.size() &&
                        (m_ready_bytes + m_fetching_bytes < m_budget || m_next_fetch == m_base));
    });
    if (m_stop) return;
    std::vector<Id32> ids = claim_run_locked();
    std::vector<uint64_t> seqs = m_claimed;
    uint64_t claimed_bytes = m_claimed_bytes;
    m_fetching_bytes += claimed_bytes;
    lock.unlock();
    std::vector<std::optional<Bytes>> data(ids.size());
    try {
      if (ids.size() == 1)
        data[0] = m_repo.read_blob(ids[0]);
      else
        data = m_repo.read_blob_run(ids);
    } catch (...) {
      // The writer reads them again itself and reports the problem where it belongs.
    }
    lock.lock();
    m_fetching_bytes -= claimed_bytes;
    for (size_t i = 0; i < ids.size(); ++i) {
      uint64_t seq = seqs[i];
      if (seq < m_base) continue;  // dropped while we read it
      Item& item = m_items[seq - m_base];
      if (data[i]) {
        m_ready_bytes += data[i]->size();
        item.data = std::move(*data[i]);
        item.state = State::ready;
      } else {
        item.state = State::failed;
      }
    }
    m_cv_ready.notify_all();
  }
}

std::vector<Id32> Prefetcher::claim_run_locked() {
  uint64_t first = m_next_fetch;
  Item& head = m_items[first - m_base];
  head.state = State::fetching;
  m_claimed.assign(1, first);
  m_claimed_bytes = head.raw;
  if (head.pack == Item::k_unknown) {
    skip_claimed_locked();
    return {head.id};
  }
  // A pack's blobs are in random order (PackWriter shuffles them), so the blobs planned next
  // that share the head's pack are collected, sorted by offset, and the run grows from the
  // head in both directions while the gaps and the whole span stay small.
  struct Candidate {
    uint64_t offset, end, seq, raw;
  };
  std::vector<Candidate> c{{head.offset, head.end, first, head.raw}};
  uint64_t limit = std::min<uint64_t>(m_base + m_items.size(), first + k_run_scan);
  // Only blobs needed soon: ones planned beyond half the budget would fill it while the
  // blobs before them waited for room, to be read a few at a time (a local restore of the
  // Linux tree made 11.7k claims of 7 blobs, each sorting 2,000 candidates: 17% of its CPU;
  // with this bound, 960 claims of 82 blobs).
  uint64_t ahead = 0;
  for (uint64_t seq = first + 1; seq < limit; ++seq) {
    const Item& next = m_items[seq - m_base];
    ahead += next.raw;
    if (ahead > m_budget / 2) break;
    if (next.state == State::planned && next.pack == head.pack)
      c.push_back({next.offset, next.end, seq, next.raw});
  }
  std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
    return a.offset < b.offset || (a.offset == b.offset && a.seq < b.seq);
  });
  size_t h = 0;
  while (c[h].seq != first) ++h;
  size_t lo = h, hi = h;  // the run is c[lo..hi]
  uint64_t start = c[h].offset, end = c[h].end;
  // The blobs besides the head must fit in what is left of the memory budget.
  uint64_t used = m_ready_bytes + m_fetching_bytes;
  uint64_t room = used < m_budget ? m_budget - used : 0;
  uint64_t bytes = 0;
  for (bool grew = true; grew && hi - lo + 1 < k_run_blobs;) {
    grew = false;
    if (hi + 1 < c.size() && c[hi + 1].offset >= end && c[hi + 1].offset - end <= k_run_gap &&
        c[hi + 1].end - start <= k_run_span && bytes + c[hi + 1].raw <= room) {
      bytes += c[hi + 1].raw;
      end = c[++hi].end;
      grew = true;
    }
    if (lo > 0 && c[lo - 1].end <= start && start - c[lo - 1].end <= k_run_gap &&
        end - c[lo - 1].offset <= k_run_span && hi - lo + 1 < k_run_blobs &&
        bytes + c[lo - 1].raw <= room) {
      bytes += c[lo - 1].raw;
      start = c[--lo].offset;
      grew = true;
    }
  }
  m_claimed_bytes = bytes + c[h].raw;
  std::vector<Id32> ids;
  m_claimed.clear();
  for (size_t k = lo; k <= hi; ++k) {
    Item& item = m_items[c[k].seq - m_base];
    item.state = State::fetching;
    ids.push_back(item.id);
    m_claimed.push_back(c[k].seq);
  }
  skip_claimed_locked();
  return ids;
}

void Prefetcher::skip_claimed_locked() {
  m_next_fetch = std::max(m_next_fetch, m_base);
  while (m_next_fetch < m_base + m_items.size() &&
         m_items[m_next_fetch - m_base].state != State::planned)
    ++m_next_fetch;
}

void Prefetcher::drop_front_locked() {
  Item& item = m_items.front();
  if (item.state == State::ready) m_ready_bytes -= item.data.size();
  m_items.pop_front();
  ++m_base;
  skip_claimed_locked();
}

std::optional<Bytes> Prefetcher::take(const Id32& id) {
  std::unique_lock lock(m_mutex);
  size_t limit = std::min(m_items.size(), k_window);
  size_t k = 0;
  while (k < limit && m_items[k].id != id) ++k;
  if (k == limit) return std::nullopt;
  for (size_t i = 0; i < k; ++i) drop_front_locked();  // planned but skipped by the writer
  // Notified one at a time: waking every fetcher for each blob taken costs more than it gains.
  if (m_items.front().state == State::planned) m_cv_work.notify_one();
  m_cv_ready.wait(lock, [&] {
    return m_stop || m_items.front().state == State::ready ||
           m_items.front().state == State::failed;
  });
  std::optional<Bytes> out;
  if (m_items.front().state == State::ready) out = std::move(m_items.front().data);
  if (out) m_ready_bytes -= out->size();
  m_items.front().state = State::failed;  // so drop_front_locked does not count it again
  drop_front_locked();
  lock.unlock();
  m_cv_work.notify_one();  // room in the budget, or the next blob is now near the writer
  m_cv_plan.notify_one();
  return out;
}

}  // namespace lifeboat::restore
