// An open repository: storage + unlocked keys + index. Reads and writes every object kind
// (DESIGN.md §3). Thread-safety: const reads (read_blob, load_meta) may run concurrently
// after load_index(); writes of distinct objects may too.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lifeboat/chunk/fastcdc.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/repo/format.hpp"
#include "lifeboat/repo/index.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/snapshot.hpp"
#include "lifeboat/repo/tree.hpp"
#include "lifeboat/storage/storage.hpp"

namespace lifeboat::repo {

struct InitOptions {
  chunk::Params chunker;
  crypto::ScryptParams scrypt;
  std::string label;
};

struct SnapshotRecord {
  Id32 id;
  Snapshot snapshot;          // empty when damaged
  std::string signer_status;  // "ok", or why it is not trusted (or why it is damaged)
  std::string signer;         // "key 1a2b3c4d5e6f (label, write-only)" when known
  bool trusted = false;
  bool damaged = false;
};

class Repository {
 public:
  // Creates a repository in empty storage; returns its id. Throws Error(failure) if one exists.
  static Id32 init(storage::Storage& storage, const Secret& secret, const InitOptions& options);
  // Opens a repository. Throws Error(repo_not_found) when there is none, Error(wrong_key)
  // when the secret opens no key slot.
  static std::unique_ptr<Repository> open(std::unique_ptr<storage::Storage> storage,
                                          const Secret& secret);

  storage::Storage& storage() { return *m_storage; }
  const Config& config() const { return m_config; }
  const MasterKeys& keys() const { return m_unlocked.keys; }
  const UnlockedSlot& unlocked() const { return m_unlocked; }
  bool can_read() const { return m_unlocked.keys.can_read(); }
  // Throws Error(not_permitted) when this key is write-only.
  void require_read(const std::string& operation) const;
  const chunk::GearTable& gear() const { return m_gear; }
  const crypto::Mac& mac() const { return *m_mac; }

  // Loads every index file (once). Throws IntegrityError on a damaged one.
  void load_index();
  Index& index() { return m_index; }
  const std::vector<Id32>& index_files() const { return m_index_files; }

  // Metadata objects sealed under the metadata key, named by the SHA-256 of their bytes.
  // Each is read back after its put and written again (3 times in all) when the store kept
  // other bytes: then removed, and storage::PermanentError (exit 21). Packs are not read back
  // (it would double the traffic; docs/storage.md).
  Id32 save_meta(Kind kind, ByteView plaintext);
  // Throws IntegrityError when missing, renamed, of the wrong kind or failing authentication.
  Bytes load_meta(Kind kind, const Id32& id);
  std::vector<Id32> list_ids(Kind kind);

  // Reads, authenticates and decompresses a blob; checks its MAC id. Needs a full key.
  Bytes read_blob(const Id32& id);
  // Reads blobs that the index places in one pack with a single ranged read covering them
  // all (a restore reads pieces of packs rather than blob by blob). An element is nullopt
  // when that blob could not be read or did not check out this way (all of them when the
  // ids do not share a pack): the caller then reads it alone with read_blob, which tries
  // every stored copy and throws the precise error.
  std::vector<std::optional<Bytes>> read_blob_run(const std::vector<Id32>& ids);
  // A directory's listing; a long one is read from all its parts (tree.parts names them).
  Tree read_tree(const Id32& id);
  // One tree blob as stored: the head of a long listing holds only the ids of its parts.
  Tree read_tree_blob(const Id32& id);
  // A directory's listing a part at a time (visit_parts in tree.hpp): what a walk over every
  // node uses, so that a directory of a million entries is not held whole.
  void visit_tree(const Id32& id, const std::function<void(Tree&)>& visit);
  // Opens one stored blob already fetched; throws IntegrityError naming the pack on failure.
  Bytes decode_blob(const PackInfo& pack, const BlobEntry& entry, ByteView stored);
  // The same checks, decoding into plain and raw, which only ever grow: a caller that keeps
  // them from blob to blob (verify) zero-fills and faults in their pages once, not per blob.
  // Returns the blob's content, which lies in one of them.
  ByteView decode_blob_into(const PackInfo& pack, const BlobEntry& entry, ByteView stored,
                            Bytes& plain, Bytes& raw);
  crypto::Key32 pack_key(const PackInfo& pack);

  // Snapshots, newest last; signatures checked against the repository's signers. A snapshot
  // that does not decode is listed as damaged (not thrown), so one bad object does not hide
  // the others. When a
  // state directory is set, throws IntegrityError if a snapshot this host listed before is
  // gone (a rolled-back snapshot list), then records the current list as seen.
  std::vector<SnapshotRecord> load_snapshots();
  // Where this host keeps its high-water mark of seen snapshots (DESIGN.md §4, §7).
  void set_state_dir(const std::string& dir) { m_state_dir = dir; }
  // Transfers to keep in flight (--connections): uploads of packs run this many at once.
  void set_transfers(unsigned n) { m_transfers = n; }
  unsigned transfers() const { return m_transfers; }
  // Throws IntegrityError when a snapshot recorded as seen is not among the trusted records,
  // then records them as seen. Unreadable local state only weakens the check (a warning).
  void check_high_water_mark(const std::vector<SnapshotRecord>& records);
  SnapshotRecord load_snapshot(const Id32& id);
  // Signs and stores the snapshot. When the put fails, whatever of it may have landed is
  // removed (best effort) before the error is rethrown: a failed run leaves no snapshot.
  Id32 save_snapshot(Snapshot snapshot);

  // Snapshot ids that valid tombstones (signed by a current full key) declare forgotten: their
  // absence is not a rollback. Damaged or untrusted tombstones are skipped with a warning.
  const std::set<Id32>& forgotten();
  // True when `signer` is a current (not removed) full-key slot of this repository and the
  // Ed25519 signature over msg verifies (tombstones, condemnation records).
  bool signed_by_full_key(const Id32& signer, ByteView msg, ByteView signature);
  const crypto::Key32& signing_key() const { return m_unlocked.signing_private; }
  // Forgets snapshots: writes a tombstone naming them (signed with this key, which must be a
  // full key: Error(not_permitted) otherwise), then removes their objects.
  void forget(const std::vector<Id32>& ids);

  std::vector<KeySlot> slots();
  void save_slot(const KeySlot& slot);

 private:
  Repository() = default;
  std::unique_ptr<storage::Storage> m_storage;
  Config m_config;
  UnlockedSlot m_unlocked;
  chunk::GearTable m_gear{};
  std::unique_ptr<crypto::Mac> m_mac;
  Index m_index;
  std::vector<Id32> m_index_files;
  bool m_index_loaded = false;
  std::mutex m_key_mutex;
  std::map<Id32, crypto::Key32> m_pack_keys;
  std::optional<std::map<Id32, KeySlot>> m_signers;
  std::optional<std::set<Id32>> m_forgotten;
  const std::map<Id32, KeySlot>& signers();
  void put_read_back(const std::string& key, ByteView sealed, const Id32& id);
  unsigned m_transfers = 4;
  std::string m_state_dir;
};

// Resolves SNAPSHOT (a full id, a unique prefix of >= 8 hex digits, or "latest" narrowed by
// the filter) among records; throws UsageError with the reason when it matches none or many.
struct SnapshotFilter {
  std::string job;
  std::string host;
  std::vector<std::string> tags;
  bool matches(const Snapshot& s) const;
};
const SnapshotRecord& resolve_snapshot(const std::vector<SnapshotRecord>& records,
                                       const std::string& spec, const SnapshotFilter& filter);

int64_t now_ns();
std::string format_time(int64_t ns);
// Parses "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM[:SS]" in the local time zone; nullopt
// for anything else.
std::optional<int64_t> parse_time(const std::string& text);

}  // namespace lifeboat::repo
