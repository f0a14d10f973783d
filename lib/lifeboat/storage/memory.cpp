// In-memory storage for tests: a process-wide map per store name.
#include <map>
#include <mutex>

#include "lifeboat/storage/storage.hpp"

namespace lifeboat::storage::memory {
namespace {

struct Store {
  std::mutex mutex;
  std::map<std::string, Bytes> objects;
};

class MemoryStorage final : public Storage {
 public:
  MemoryStorage(std::string name, std::shared_ptr<Store> store)
      : m_name(std::move(name)), m_store(std::move(store)) {}
  void put(const std::string& key, ByteView data) override {
    std::lock_guard lock(m_store->mutex);
    m_store->objects[key] = Bytes(data.begin(), data.end());
  }
  bool get(const std::string& key, Bytes& out, std::optional<Range> range) override {
    std::lock_guard lock(m_store->mutex);
    auto it = m_store->objects.find(key);
    if (it == m_store->objects.end()) return false;
    const Bytes& obj = it->second;
    if (!range) {
      out = obj;
    } else {
      uint64_t begin = std::min<uint64_t>(range->offset, obj.size());
      uint64_t end = std::min<uint64_t>(begin + range->length, obj.size());
      out.assign(obj.begin() + begin, obj.begin() + end);
    }
    return true;
  }
  std::optional<uint64_t> stat(const std::string& key) override {
    std::lock_guard lock(m_store->mutex);
    auto it = m_store->objects.find(key);
    if (it == m_store->objects.end()) return std::nullopt;
    return it->second.size();
  }
  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override {
    std::vector<ObjectInfo> found;
    {
      std::lock_guard lock(m_store->mutex);
      for (auto it = m_store->objects.lower_bound(prefix);
           it != m_store->objects.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
        found.push_back({it->first, it->second.size()});
    }
    for (auto& o : found) fn(o);
  }
  void remove(const std::string& key) override {
    std::lock_guard lock(m_store->mutex);
    m_store->objects.erase(key);
  }
  std::string describe() const override { return "mem://" + m_name; }

 private:
  std::string m_name;
  std::shared_ptr<Store> m_store;
};

}  // namespace

std::unique_ptr<Storage> make(const std::string& name) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::shared_ptr<Store>> registry;
  std::lock_guard lock(registry_mutex);
  auto& store = registry[name];
  if (!store) store = std::make_shared<Store>();
  return std::make_unique<MemoryStorage>(name, store);
}

}  // namespace lifeboat::storage::memory
