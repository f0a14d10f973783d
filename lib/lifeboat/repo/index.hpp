// The index: which blob is where. Index files (index/<id>, sealed under the metadata key)
// hold whole pack headers; the in-memory Index is a sorted array of compact entries (52 bytes
// per blob) for the blobs loaded, another for the blobs added during this run, and a hash map
// of the latest additions, merged into the latter once it holds an eighth as many (so about
// 60 bytes per added blob).
// Index is safe for concurrent find()/contains() with add_pack() (internal mutex).
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "lifeboat/repo/pack.hpp"
#include "lifeboat/util/pod_array.hpp"

namespace lifeboat::repo {

Bytes encode_index(const std::vector<PackRecord>& packs);
std::vector<PackRecord> decode_index(ByteView data, const std::string& what);

struct PackInfo {
  Id32 id;
  uint64_t size = 0;
  PackKeyWrap wrap;
};

struct BlobLocation {
  uint32_t pack = 0;  // index into packs()
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t raw_length = 0;
  BlobType type = BlobType::data;
  bool compressed = false;
};

class Index {
 public:
  // Adds every blob of a pack. Before finalize() every location of a blob is kept (a blob
  // may be stored twice, and a hostile index may name a wrong location: readers fall back
  // to the next one); after it, a blob already known keeps its locations.
  void add_pack(const PackRecord& record);
  // Sorts entries added so far into the compact array (call after loading).
  void finalize();
  std::optional<BlobLocation> find(const Id32& id) const;
  // Every known location of a blob, the first one first.
  std::vector<BlobLocation> find_all(const Id32& id) const;
  bool contains(const Id32& id) const { return find(id).has_value(); }
  const PackInfo& pack(uint32_t i) const;
  std::vector<PackInfo> packs() const;
  size_t blob_count() const;
  BlobEntry entry_for(const Id32& id, const BlobLocation& loc) const;

 private:
  struct Entry {
    Id32 id;
    BlobLocation loc;
  };
  void merge_fresh_locked();

  mutable std::mutex m_mutex;
  PodArray<Entry> m_sorted;  // loaded blobs; sorted by finalize()
  bool m_finalized = false;
  PodArray<Entry> m_added;  // added after finalize(), sorted by id, no id twice
  std::unordered_map<Id32, BlobLocation, Id32Hash> m_fresh;  // the latest, not in m_added
  std::deque<PackInfo> m_packs;  // deque: pack() references stay valid while adding
  std::unordered_map<Id32, uint32_t, Id32Hash> m_pack_ids;
};

}  // namespace lifeboat::repo
