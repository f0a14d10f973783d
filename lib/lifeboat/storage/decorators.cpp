// Decorators composed by storage::open: retry, concurrency limit, rate limit, logging and
// test-only fault injection. Each is thread-safe.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "lifeboat/core/cancel.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/storage/drivers.hpp"

namespace lifeboat::storage {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Sleeps in short slices so SIGINT/SIGTERM are not held up by a long backoff.
void interruptible_sleep(double seconds) {
  auto until = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto now = Clock::now(); now < until; now = Clock::now()) {
    cancel::check();
    Clock::duration slice = std::chrono::milliseconds(100);
    std::this_thread::sleep_for(std::min(slice, until - now));
  }
}

double jitter(double upper) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(upper / 2, upper)(rng);
}

class Retry final : public Forwarding {
 public:
  Retry(std::unique_ptr<Storage> inner, double budget)
      : Forwarding(std::move(inner)), m_budget(budget) {}

  void put(const std::string& k, ByteView d) override {
    attempt("upload", k, [&] { inner().put(k, d); });
  }
  void put_parts(const std::string& k, std::span<const ByteView> parts) override {
    attempt("upload", k, [&] { inner().put_parts(k, parts); });
  }
  bool get(const std::string& k, Bytes& o, std::optional<Range> r) override {
    bool found = false;
    attempt("download", k, [&] { found = inner().get(k, o, r); });
    return found;
  }
  std::optional<uint64_t> stat(const std::string& k) override {
    std::optional<uint64_t> v;
    attempt("look up", k, [&] { v = inner().stat(k); });
    return v;
  }
  void list(const std::string& p, const std::function<void(const ObjectInfo&)>& fn) override {
    // A listing is retried as a whole; entries already delivered are not delivered twice.
    std::set<std::string> seen;
    attempt("list", p, [&] {
      inner().list(p, [&](const ObjectInfo& info) {
        if (seen.insert(info.key).second) fn(info);
      });
    });
  }
  void remove(const std::string& k) override {
    attempt("delete", k, [&] { inner().remove(k); });
  }
  int64_t retained_until(const std::string& k) override {
    int64_t v = 0;
    attempt("look up the retention of", k, [&] { v = inner().retained_until(k); });
    return v;
  }
  void retain_until(const std::string& k, int64_t until_ns) override {
    attempt("extend the retention of", k, [&] { inner().retain_until(k, until_ns); });
  }

 private:
  template <typename F>
  void attempt(const char* op, const std::string& key, F&& f) {
    auto start = Clock::now();
    double delay = 0.25;
    for (int attempts = 1;; ++attempts) {
      try {
        f();
        return;
      } catch (const TransientError& e) {
        double elapsed = seconds_since(start);
        if (elapsed + delay / 2 > m_budget)
          throw Error(Exit::storage,
                      "{} (gave up after {} attempt{} over {:.1f} s; the storage may be down or "
                      "unreachable: check the endpoint and the network, or raise retry-time)",
                      e.what(), attempts, attempts == 1 ? "" : "s", elapsed);
        double wait = jitter(delay);
        log::verbose("{} {}: {} (attempt {}, retrying in {:.1f} s)", op, key, e.what(), attempts,
                     wait);
        interruptible_sleep(wait);
        delay = std::min(delay * 2, 30.0);
      }
    }
  }
  double m_budget;
};

class ConcurrencyLimit final : public Forwarding {
 public:
  ConcurrencyLimit(std::unique_ptr<Storage> inner, unsigned n)
      : Forwarding(std::move(inner)), m_free(n) {}
  void put(const std::string& k, ByteView d) override {
    Slot s(*this);
    inner().put(k, d);
  }
  void put_parts(const std::string& k, std::span<const ByteView> parts) override {
    Slot s(*this);
    inner().put_parts(k, parts);
  }
  bool get(const std::string& k, Bytes& o, std::optional<Range> r) override {
    Slot s(*this);
    return inner().get(k, o, r);
  }
  std::optional<uint64_t> stat(const std::string& k) override {
    Slot s(*this);
    return inner().stat(k);
  }
  void list(const std::string& p, const std::function<void(const ObjectInfo&)>& fn) override {
    Slot s(*this);
    // The callback may use the storage itself (read each key slot it lists): it runs without
    // the slot, or one connection would wait for itself.
    inner().list(p, [&](const ObjectInfo& info) {
      s.release();
      fn(info);
      s.acquire();
    });
  }
  void remove(const std::string& k) override {
    Slot s(*this);
    inner().remove(k);
  }

 private:
  struct Slot {
    explicit Slot(ConcurrencyLimit& c) : m_c(c) { acquire(); }
    ~Slot() {
      if (m_held) release();
    }
    void acquire() {
      std::unique_lock lock(m_c.m_mutex);
      m_c.m_cv.wait(lock, [&] { return m_c.m_free > 0; });
      --m_c.m_free;
      m_held = true;
    }
    void release() {
      {
        std::lock_guard lock(m_c.m_mutex);
        ++m_c.m_free;
      }
      m_held = false;
      m_c.m_cv.notify_one();
    }
    ConcurrencyLimit& m_c;
    bool m_held = false;
  };
  std::mutex m_mutex;
  std::condition_variable m_cv;
  unsigned m_free;
};

// Spaces transfers so that the average rate stays under the limit: each transfer of n bytes
// reserves n/rate seconds of a shared timeline and waits for its turn.
class Pacer {
 public:
  explicit Pacer(uint64_t rate) : m_rate(static_cast<double>(rate)) {}
  void take(uint64_t bytes) {
    if (m_rate <= 0) return;
    Clock::time_point start;
    {
      std::lock_guard lock(m_mutex);
      auto now = Clock::now();
      if (m_next < now) m_next = now;
      start = m_next;
      m_next += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(static_cast<double>(bytes) / m_rate));
    }
    double wait = std::chrono::duration<double>(start - Clock::now()).count();
    if (wait > 0) interruptible_sleep(wait);
  }

 private:
  double m_rate;
  std::mutex m_mutex;
  Clock::time_point m_next{};
};

class RateLimit final : public Forwarding {
 public:
  RateLimit(std::unique_ptr<Storage> inner, uint64_t up, uint64_t down)
      : Forwarding(std::move(inner)), m_up(up), m_down(down) {}
  void put(const std::string& k, ByteView d) override {
    m_up.take(d.size());
    inner().put(k, d);
  }
  void put_parts(const std::string& k, std::span<const ByteView> parts) override {
    m_up.take(total_size(parts));
    inner().put_parts(k, parts);
  }
  bool get(const std::string& k, Bytes& o, std::optional<Range> r) override {
    if (r) m_down.take(r->length);
    bool found = inner().get(k, o, r);
    if (!r) m_down.take(o.size());  // size unknown before: pace the next transfer instead
    return found;
  }

 private:
  Pacer m_up;
  Pacer m_down;
};

class Logging final : public Forwarding {
 public:
  explicit Logging(std::unique_ptr<Storage> inner) : Forwarding(std::move(inner)) {}
  void put(const std::string& k, ByteView d) override {
    run("put", k, [&] {
      inner().put(k, d);
      return fmt::format("{} bytes", d.size());
    });
  }
  void put_parts(const std::string& k, std::span<const ByteView> parts) override {
    run("put", k, [&] {
      inner().put_parts(k, parts);
      return fmt::format("{} bytes", total_size(parts));
    });
  }
  bool get(const std::string& k, Bytes& o, std::optional<Range> r) override {
    bool found = false;
    run("get", k, [&] {
      found = inner().get(k, o, r);
      std::string what = r ? fmt::format(" [{}+{}]", r->offset, r->length) : "";
      return found ? fmt::format("{} bytes{}", o.size(), what) : std::string("not found");
    });
    return found;
  }
  std::optional<uint64_t> stat(const std::string& k) override {
    std::optional<uint64_t> v;
    run("stat", k, [&] {
      v = inner().stat(k);
      return v ? fmt::format("{} bytes", *v) : std::string("not found");
    });
    return v;
  }
  void list(const std::string& p, const std::function<void(const ObjectInfo&)>& fn) override {
    size_t n = 0;
    run("list", p, [&] {
      inner().list(p, [&](const ObjectInfo& i) {
        ++n;
        fn(i);
      });
      return fmt::format("{} objects", n);
    });
  }
  void remove(const std::string& k) override {
    run("remove", k, [&] {
      inner().remove(k);
      return std::string("done");
    });
  }
  int64_t retained_until(const std::string& k) override {
    int64_t v = 0;
    run("retention", k, [&] {
      v = inner().retained_until(k);
      return fmt::format("until {}", v);
    });
    return v;
  }
  void retain_until(const std::string& k, int64_t until_ns) override {
    run("retain", k, [&] {
      inner().retain_until(k, until_ns);
      return fmt::format("until {}", until_ns);
    });
  }

 private:
  template <typename F>
  void run(const char* op, const std::string& key, F&& f) {
    if (log::level() < log::Level::debug) {
      f();
      return;
    }
    auto start = Clock::now();
    try {
      std::string outcome = f();
      log::write(log::Level::debug, "storage: ",
                 fmt::format("{} {}: {} in {:.3f} s", op, key, outcome, seconds_since(start)));
    } catch (const std::exception& e) {
      log::write(
          log::Level::debug, "storage: ",
          fmt::format("{} {}: failed after {:.3f} s: {}", op, key, seconds_since(start), e.what()));
      throw;
    }
  }
};

enum class Op { put, get, stat, list, remove, any, fsync };
enum class Fault {
  transient,
  permanent,
  denied,
  enospc,
  eio,
  truncate,
  garbage,
  empty,
  kill,
  killafter,
  stop
};

struct Rule {
  Op op;
  std::string prefix;      // only calls on keys (or paths) starting with this
  uint64_t nth = 0;        // fire on this call (1-based) ...
  bool onwards = false;    // ... and every later one
  double probability = 0;  // or at random
  Fault fault;
};

// The rules of one specification and the calls each has counted; thread-safe.
class Injector {
 public:
  explicit Injector(std::vector<Rule> rules)
      : m_rules(std::move(rules)), m_counts(new std::atomic<uint64_t>[m_rules.size()]) {
    for (size_t i = 0; i < m_rules.size(); ++i) m_counts[i] = 0;
  }
  // Counts a call of op on key for every rule it matches and calls act(fault) for each rule it
  // hits, in order. "any" matches the storage operations, not the local driver's fsyncs.
  template <typename F>
  void each_hit(Op op, const std::string& key, F&& act) {
    // Every matching rule counts the call before any acts (acting may throw).
    std::vector<uint64_t> counts(m_rules.size(), 0);
    for (size_t i = 0; i < m_rules.size(); ++i) {
      const Rule& r = m_rules[i];
      if ((r.op == op || (r.op == Op::any && op != Op::fsync)) && key.starts_with(r.prefix))
        counts[i] = ++m_counts[i];
    }
    for (size_t i = 0; i < m_rules.size(); ++i) {
      const Rule& r = m_rules[i];
      uint64_t count = counts[i];
      if (count == 0) continue;
      bool hit = false;
      if (r.probability > 0) {
        std::lock_guard lock(m_mutex);
        hit = std::uniform_real_distribution<double>(0, 1)(m_rng) < r.probability;
      } else {
        hit = r.onwards ? count >= r.nth : count == r.nth;
      }
      if (hit) act(r.fault);
    }
  }
  unsigned random_byte() {
    std::lock_guard lock(m_mutex);
    return std::uniform_int_distribution<unsigned>(0, 255)(m_rng);
  }

 private:
  std::vector<Rule> m_rules;
  std::unique_ptr<std::atomic<uint64_t>[]> m_counts;
  std::mutex m_mutex;
  std::mt19937_64 m_rng{std::random_device{}()};
};

class Faults final : public Forwarding {
 public:
  Faults(std::unique_ptr<Storage> inner, std::vector<Rule> rules)
      : Forwarding(std::move(inner)), m_injector(std::move(rules)) {}

  void put(const std::string& k, ByteView d) override {
    auto f = fire(Op::put, k);
    if (f == Fault::truncate) {  // part of the object reached the store, then the link broke
      inner().put(k, d.first(d.size() / 2));
      throw TransientError("upload " + k + ": connection reset (injected)");
    }
    if (f == Fault::garbage) {  // the store kept something else and said yes
      Bytes g(d.size());
      for (auto& b : g) b = static_cast<std::byte>(m_injector.random_byte());
      inner().put(k, g);
      return;
    }
    inner().put(k, d);
    after(f);
  }
  bool get(const std::string& k, Bytes& o, std::optional<Range> r) override {
    auto f = fire(Op::get, k);
    bool found = inner().get(k, o, r);
    if (found && f == Fault::truncate) o.resize(o.size() / 2);
    if (found && f == Fault::garbage)  // a 200 whose body is something else
      for (auto& b : o) b = static_cast<std::byte>(m_injector.random_byte());
    after(f);
    return found;
  }
  std::optional<uint64_t> stat(const std::string& k) override {
    auto f = fire(Op::stat, k);
    auto v = inner().stat(k);
    after(f);
    return v;
  }
  void list(const std::string& p, const std::function<void(const ObjectInfo&)>& fn) override {
    auto f = fire(Op::list, p);
    if (f == Fault::empty) return;  // a page that says "no more" too early
    if (f == Fault::garbage) {
      // A page in the middle came back as garbage with a 200: what the pages before it held
      // was delivered, then the driver finds the answer is not a listing (as the S3, Azure
      // and SFTP drivers do) — a transient error.
      std::vector<ObjectInfo> all;
      inner().list(p, [&](const ObjectInfo& i) { all.push_back(i); });
      for (size_t i = 0; i < all.size() / 2; ++i) fn(all[i]);
      throw TransientError("list " + p + ": the answer is not a listing (injected garbage)");
    }
    inner().list(p, fn);
    after(f);
  }
  void remove(const std::string& k) override {
    auto f = fire(Op::remove, k);
    inner().remove(k);
    after(f);
  }

 private:
  // Decides whether this call fails; throws or kills for faults that act before the operation,
  // and returns the first fault that acts on the operation itself.
  std::optional<Fault> fire(Op op, const std::string& key) {
    std::optional<Fault> result;
    m_injector.each_hit(op, key, [&](Fault fault) {
      if (result) return;
      switch (fault) {
        case Fault::transient:
          throw TransientError("injected transient fault (a timeout, a 503 or a reset)");
        case Fault::permanent:
          throw PermanentError("injected permanent fault");
        case Fault::denied:
          throw PermanentError("injected fault: access denied", Exit::not_permitted);
        case Fault::enospc:
          throw PermanentError("injected fault: No space left on device");
        case Fault::kill:
          ::raise(SIGKILL);
          break;
        case Fault::stop:  // the test sends SIGCONT when it is ready; then the call goes on
          ::raise(SIGSTOP);
          break;
        default:
          result = fault;
      }
    });
    return result;
  }
  static void after(std::optional<Fault> f) {
    if (f == Fault::killafter) ::raise(SIGKILL);
  }

  Injector m_injector;
};

std::vector<Rule> parse_faults(const std::string& spec) {
  std::vector<Rule> rules;
  auto bad = [&](const std::string& rule, const char* why) {
    return UsageError("bad LIFEBOAT_TEST_FAULTS rule '{}': {} (see docs/testing.md)", rule, why);
  };
  size_t pos = 0;
  while (pos <= spec.size()) {
    auto comma = spec.find(',', pos);
    std::string rule =
        spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (rule.empty()) continue;
    auto c1 = rule.find(':'), c2 = rule.rfind(':');
    if (c1 == std::string::npos || c1 == c2) throw bad(rule, "expected OP[@PREFIX]:WHEN:FAULT");
    std::string op = rule.substr(0, c1), when = rule.substr(c1 + 1, c2 - c1 - 1),
                fault = rule.substr(c2 + 1);
    Rule r{};
    if (auto at = op.find('@'); at != std::string::npos) {
      r.prefix = op.substr(at + 1);
      op.resize(at);
      if (r.prefix.empty()) throw bad(rule, "empty key prefix after '@'");
    }
    static const std::pair<const char*, Op> ops[] = {
        {"put", Op::put},       {"get", Op::get}, {"stat", Op::stat},  {"list", Op::list},
        {"remove", Op::remove}, {"any", Op::any}, {"fsync", Op::fsync}};
    static const std::pair<const char*, Fault> faults[] = {{"transient", Fault::transient},
                                                           {"permanent", Fault::permanent},
                                                           {"denied", Fault::denied},
                                                           {"enospc", Fault::enospc},
                                                           {"eio", Fault::eio},
                                                           {"truncate", Fault::truncate},
                                                           {"garbage", Fault::garbage},
                                                           {"empty", Fault::empty},
                                                           {"kill", Fault::kill},
                                                           {"killafter", Fault::killafter},
                                                           {"stop", Fault::stop}};
    bool ok = false;
    for (auto& [n, v] : ops)
      if (op == n) r.op = v, ok = true;
    if (!ok) throw bad(rule, "unknown operation");
    ok = false;
    for (auto& [n, v] : faults)
      if (fault == n) r.fault = v, ok = true;
    if (!ok) throw bad(rule, "unknown fault");
    // A rule that could never act would make a test pass without testing anything.
    auto applies = [](Op o, Fault f) {
      if (o == Op::fsync) return f == Fault::eio || f == Fault::enospc;
      switch (f) {
        case Fault::eio:
          return false;
        case Fault::truncate:
          return o == Op::put || o == Op::get || o == Op::any;
        case Fault::garbage:
          return o == Op::put || o == Op::get || o == Op::list || o == Op::any;
        case Fault::empty:
          return o == Op::list || o == Op::any;
        default:
          return true;
      }
    };
    if (!applies(r.op, r.fault)) throw bad(rule, "this fault does not apply to this operation");
    try {
      if (when.ends_with("%")) {
        r.probability = std::stod(when.substr(0, when.size() - 1)) / 100;
        if (r.probability <= 0 || r.probability > 1) throw bad(rule, "probability out of range");
      } else {
        r.onwards = when.ends_with("+");
        size_t used = 0;
        std::string digits = r.onwards ? when.substr(0, when.size() - 1) : when;
        r.nth = std::stoull(digits, &used);
        if (used != digits.size() || r.nth == 0) throw bad(rule, "WHEN must be N, N+ or P%");
      }
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception&) {
      throw bad(rule, "WHEN must be N, N+ or P%");
    }
    rules.push_back(r);
  }
  return rules;
}

}  // namespace

std::unique_ptr<Storage> with_retry(std::unique_ptr<Storage> inner, double retry_seconds) {
  return std::make_unique<Retry>(std::move(inner), retry_seconds);
}
std::unique_ptr<Storage> with_concurrency_limit(std::unique_ptr<Storage> inner, unsigned n) {
  return std::make_unique<ConcurrencyLimit>(std::move(inner), n);
}
std::unique_ptr<Storage> with_rate_limit(std::unique_ptr<Storage> inner, uint64_t up,
                                         uint64_t down) {
  return std::make_unique<RateLimit>(std::move(inner), up, down);
}
std::unique_ptr<Storage> with_logging(std::unique_ptr<Storage> inner) {
  return std::make_unique<Logging>(std::move(inner));
}
std::unique_ptr<Storage> with_faults(std::unique_ptr<Storage> inner, const std::string& spec) {
  return std::make_unique<Faults>(std::move(inner), parse_faults(spec));
}

std::function<int(const std::string&)> fsync_faults_for_testing(const std::string& spec) {
  std::vector<Rule> rules = parse_faults(spec);
  if (std::none_of(rules.begin(), rules.end(), [](const Rule& r) { return r.op == Op::fsync; }))
    return {};
  auto injector = std::make_shared<Injector>(std::move(rules));
  return [injector](const std::string& path) {
    int err = 0;
    injector->each_hit(Op::fsync, path, [&](Fault f) {
      if (err == 0) err = f == Fault::enospc ? ENOSPC : EIO;
    });
    return err;
  };
}

}  // namespace lifeboat::storage
