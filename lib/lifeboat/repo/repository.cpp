#include "lifeboat/repo/repository.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>

#include "lifeboat/compress/zstd.hpp"
#include "lifeboat/core/log.hpp"
#include "lifeboat/repo/deletion.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/host.hpp"

namespace lifeboat::repo {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_time(int64_t ns) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::optional<int64_t> parse_time(const std::string& text) {
  for (const char* f :
       {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"}) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), f, &tm);
    if (!end || *end) continue;
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    if (t == -1) return std::nullopt;
    return static_cast<int64_t>(t) * 1000000000;
  }
  return std::nullopt;
}

namespace {
// A scratch buffer a thread keeps between blobs is let go when a rare giant blob grew it.
struct ShrinkOnExit {
  Bytes& buffer;
  ~ShrinkOnExit() {
    if (buffer.capacity() > (16u << 20)) Bytes().swap(buffer);
  }
};

// Reads every key slot; a damaged or misplaced one is skipped with a warning (and counted in
// *damaged) so that one bad object cannot lock everybody out.
std::vector<KeySlot> read_slots(storage::Storage& storage, size_t* damaged = nullptr) {
  std::vector<KeySlot> slots;
  storage.list("keys/", [&](const storage::ObjectInfo& info) {
    Bytes data;
    if (!storage.get(info.key, data)) return;
    try {
      KeySlot slot = decode_slot(data, "key slot '" + info.key + "'");
      if (object_key(Kind::key, slot.id) != info.key)
        throw IntegrityError("key slot '{}' is stored under another slot's name", info.key);
      slots.push_back(std::move(slot));
    } catch (const IntegrityError& e) {
      log::warn("ignoring a damaged key slot: {}", e.what());
      if (damaged) ++*damaged;
    }
  });
  return slots;
}
}  // namespace

Id32 Repository::init(storage::Storage& storage, const Secret& secret, const InitOptions& options) {
  chunk::validate(options.chunker);
  if (storage.stat("config"))
    throw Error(Exit::failure, "a repository already exists at '{}' (refusing to overwrite it)",
                storage.describe());
  Config config;
  crypto::random_bytes(config.id.bytes);
  config.created_ns = now_ns();
  config.chunker = options.chunker;
  MasterKeys keys = MasterKeys::generate(config.id);
  UnlockedSlot slot = make_slot(keys, secret, Access::full, options.label, options.scrypt);
  // The key slot first: a config without any slot would be a repository nobody can open.
  storage.put(object_key(Kind::key, slot.slot.id), encode_slot(slot.slot));
  storage.put("config", encode_config(config, keys.meta_key));
  return config.id;
}

std::unique_ptr<Repository> Repository::open(std::unique_ptr<storage::Storage> storage,
                                             const Secret& secret) {
  Bytes raw;
  if (!storage->get("config", raw))
    throw Error(Exit::repo_not_found, "no repository at '{}' (create one with: backup-create init)",
                storage->describe());
  std::unique_ptr<Repository> repo(new Repository);
  repo->m_config = decode_config(raw);
  size_t damaged = 0;
  std::vector<KeySlot> slots = read_slots(*storage, &damaged);
  std::optional<UnlockedSlot> unlocked;
  size_t skipped = 0;
  for (auto& s : slots) {
    // A slot we refuse (weak or absurd parameters, damaged content) must not stop the others
    // from being tried: someone with write access could otherwise lock everybody out.
    try {
      if ((unlocked = try_unlock(s, secret, repo->m_config.id))) break;
    } catch (const Error& e) {
      log::warn("{}", e.what());
      ++skipped;
    }
  }
  // Not one slot could even be tried: no password is wrong, the repository is damaged (or a
  // read returned something else than was stored).
  if (!unlocked && damaged > 0 && slots.empty())
    throw IntegrityError(
        "every key slot of repository '{}' is damaged ({} slot(s), see above), so no password "
        "or key can open it (backup-verify --quick shows the damage without a key; on sound "
        "storage, a read returned something else than was stored: try again)",
        storage->describe(), damaged);
  if (!unlocked)
    throw Error(Exit::wrong_key,
                "the {} from {} opens no key slot of repository '{}' (wrong password or key?){}",
                secret.type == Secret::Type::password ? "password" : "key file", secret.source,
                storage->describe(),
                skipped ? fmt::format("; {} key slot(s) were refused, see above", skipped) : "");
  check_config_mac(repo->m_config, unlocked->keys.meta_key);
  repo->m_unlocked = std::move(*unlocked);
  repo->m_storage = std::move(storage);
  repo->m_gear = chunk::make_gear(repo->m_unlocked.keys.chunker_seed);
  repo->m_mac = std::make_unique<crypto::Mac>(repo->m_unlocked.keys.mac_key);
  return repo;
}

void Repository::require_read(const std::string& operation) const {
  if (!can_read())
    throw Error(Exit::not_permitted,
                "{} needs a full key, but key slot {} is write-only: it can back up but cannot "
                "read file contents or directory listings (use a full key or password)",
                operation, m_unlocked.slot.id.hex().substr(0, 8));
}

void Repository::load_index() {
  if (m_index_loaded) return;
  std::vector<Id32> ids = list_ids(Kind::index);
  std::set<Id32> loaded;
  // A prune consolidating the index writes the new files before it removes the old ones, so an
  // index file that vanished between the listing and the read is covered by one listed anew.
  for (int attempt = 0;; ++attempt) {
    bool vanished = false;
    for (auto& id : ids) {
      if (loaded.count(id)) continue;
      if (attempt < 3 && !m_storage->stat(object_key(Kind::index, id))) {
        vanished = true;
        continue;
      }
      Bytes plain = load_meta(Kind::index, id);
      for (auto& record : decode_index(plain, "index " + id.hex())) m_index.add_pack(record);
      m_index_files.push_back(id);
      loaded.insert(id);
    }
    if (!vanished) break;
    log::verbose("an index file was replaced while loading (a prune is running); listing again");
    ids = list_ids(Kind::index);
  }
  m_index.finalize();
  m_index_loaded = true;
}

Id32 Repository::save_meta(Kind kind, ByteView plaintext) {
  Bytes sealed = seal_object(keys().meta_key, m_config.id, kind, plaintext);
  Id32 id = crypto::sha256(sealed);
  put_read_back(object_key(kind, id), sealed, id);
  return id;
}

void Repository::put_read_back(const std::string& key, ByteView sealed, const Id32& id) {
  constexpr int k_attempts = 3;
  for (int attempt = 1;; ++attempt) {
    m_storage->put(key, sealed);
    Bytes stored;
    if (m_storage->get(key, stored) && crypto::sha256(stored) == id) return;
    if (attempt < k_attempts) {
      log::warn(
          "the storage kept other bytes than were written to '{}' (read back after the "
          "put); writing it again",
          key);
      continue;
    }
    // Nothing may refer to an object that the store does not keep: take it away again.
    try {
      m_storage->remove(key);
    } catch (const Error& e) {
      log::warn("unable to remove '{}', which the storage does not keep intact: {}", key, e.what());
    }
    throw storage::PermanentError(fmt::format(
        "the storage does not keep what is written to it: '{}' read back different from what "
        "was written, {} times. Nothing refers to it; check the storage (its disks, gateway or "
        "proxy) and run backup-verify --read-data",
        key, k_attempts));
  }
}

Bytes Repository::load_meta(Kind kind, const Id32& id) {
  std::string key = object_key(kind, id);
  Bytes sealed;
  if (!m_storage->get(key, sealed))
    throw IntegrityError("{} '{}' is missing", kind_name(kind), key);
  if (crypto::sha256(sealed) != id)
    throw IntegrityError("{} '{}' does not match its name (damaged or moved)", kind_name(kind),
                         key);
  return open_object(keys().meta_key, m_config.id, kind, sealed,
                     fmt::format("{} '{}'", kind_name(kind), key));
}

std::vector<Id32> Repository::list_ids(Kind kind) {
  std::vector<Id32> ids;
  std::string dir = kind_dir(kind);
  m_storage->list(dir, [&](const storage::ObjectInfo& info) {
    std::string name = info.key.substr(info.key.rfind('/') + 1);
    Id32 id;
    if (parse_id(name, id))
      ids.push_back(id);
    else
      log::warn("ignoring unexpected object '{}' in the repository", info.key);
  });
  std::sort(ids.begin(), ids.end());
  return ids;
}

crypto::Key32 Repository::pack_key(const PackInfo& pack) {
  std::lock_guard lock(m_key_mutex);
  auto it = m_pack_keys.find(pack.id);
  if (it != m_pack_keys.end()) return it->second;
  auto k = unwrap_pack_key(keys(), pack.wrap, pack.id);
  if (m_pack_keys.size() > 4096) m_pack_keys.clear();
  m_pack_keys.emplace(pack.id, k);
  return k;
}

Bytes Repository::decode_blob(const PackInfo& pack, const BlobEntry& e, ByteView stored) {
  Bytes out;  // empty: the content is all of it
  if (!e.compressed) {
    Bytes unused;
    decode_blob_into(pack, e, stored, out, unused);
    return out;
  }
  // A compressed blob is decrypted into the thread's scratch buffer, so that the only block
  // allocated is the result (a restore decodes blobs of every size on several threads: each
  // short-lived intermediate left a hole in the heap).
  thread_local Bytes scratch;
  ShrinkOnExit shrink{scratch};
  decode_blob_into(pack, e, stored, scratch, out);
  return out;
}

ByteView Repository::decode_blob_into(const PackInfo& pack, const BlobEntry& e, ByteView stored,
                                      Bytes& plain, Bytes& raw) {
  auto where = [&] { return object_key(Kind::data_blob, pack.id); };
  if (stored.size() != e.length)
    throw IntegrityError(
        "pack '{}' is truncated: blob {} is cut short (run backup-verify --read-data)", where(),
        e.id.hex().substr(0, 16));
  auto grow = [](Bytes& b, size_t n) {
    if (b.size() < n) b.resize(n);
  };
  size_t n = stored.size() >= crypto::k_tag_size ? stored.size() - crypto::k_tag_size : 0;
  grow(plain, n);
  if (!open_blob_into(pack_key(pack), m_config.id, e, stored, plain.data()))
    throw IntegrityError(
        "pack '{}': blob {} failed authentication (damaged or tampered; run "
        "backup-verify --read-data)",
        where(), e.id.hex().substr(0, 16));
  if (e.raw_length > (1u << 30))
    throw IntegrityError("pack '{}': blob {} claims {} bytes, more than any blob Lifeboat writes",
                         where(), e.id.hex().substr(0, 16), e.raw_length);
  ByteView data(plain.data(), n);
  if (e.compressed) {
    grow(raw, e.raw_length);
    compress::decompress_into(data, raw.data(), e.raw_length);
    data = ByteView(raw.data(), e.raw_length);
  }
  if (data.size() != e.raw_length)
    throw IntegrityError("pack '{}': blob {} has the wrong length", where(),
                         e.id.hex().substr(0, 16));
  if (m_mac->compute(data) != e.id)
    throw IntegrityError("pack '{}': blob {} does not match its id", where(),
                         e.id.hex().substr(0, 16));
  return data;
}

Bytes Repository::read_blob(const Id32& id) {
  require_read("reading content");
  load_index();
  auto locations = m_index.find_all(id);
  if (locations.empty())
    throw IntegrityError("blob {} is not in the index (missing data)", id.hex());
  // A blob may be stored more than once; a damaged or forged location falls back to the next.
  std::optional<IntegrityError> first_error;
  for (auto& loc : locations) {
    const PackInfo& pack = m_index.pack(loc.pack);
    BlobEntry e = m_index.entry_for(id, loc);
    std::string key = object_key(Kind::data_blob, pack.id);
    try {
      Bytes stored;
      if (!m_storage->get(key, stored, storage::Range{loc.offset, loc.length}))
        throw IntegrityError("pack '{}' is missing (needed for blob {})", key,
                             id.hex().substr(0, 16));
      return decode_blob(pack, e, stored);
    } catch (const IntegrityError& err) {
      if (!first_error) first_error = err;
      if (locations.size() > 1) log::verbose("{}; trying another copy", err.what());
    }
  }
  throw *first_error;
}

std::vector<std::optional<Bytes>> Repository::read_blob_run(const std::vector<Id32>& ids) {
  require_read("reading content");
  load_index();
  std::vector<std::optional<Bytes>> out(ids.size());
  std::vector<BlobLocation> locs;
  locs.reserve(ids.size());
  for (const auto& id : ids) {
    auto loc = m_index.find(id);
    if (!loc || (!locs.empty() && loc->pack != locs.front().pack)) return out;
    locs.push_back(*loc);
  }
  if (locs.empty()) return out;
  uint64_t lo = UINT64_MAX;
  uint64_t hi = 0;
  for (const auto& loc : locs) {
    lo = std::min<uint64_t>(lo, loc.offset);
    hi = std::max<uint64_t>(hi, uint64_t{loc.offset} + loc.length);
  }
  const PackInfo& pack = m_index.pack(locs.front().pack);
  // The thread's read buffer is reused: a run is read again and again by the same threads, and
  // a new multi-MiB buffer each time fragmented the heap between the blobs decoded from it.
  thread_local Bytes stored;
  ShrinkOnExit shrink{stored};
  try {
    if (!m_storage->get(object_key(Kind::data_blob, pack.id), stored, storage::Range{lo, hi - lo}))
      return out;
  } catch (const IntegrityError&) {
    return out;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    uint64_t begin = locs[i].offset - lo;
    if (begin + locs[i].length > stored.size()) continue;  // a short read: read alone
    try {
      out[i] = decode_blob(pack, m_index.entry_for(ids[i], locs[i]),
                           ByteView(stored).subspan(begin, locs[i].length));
    } catch (const IntegrityError&) {
      // left empty: read_blob tries the other copies and reports
    }
  }
  return out;
}

Tree Repository::read_tree_blob(const Id32& id) {
  auto loc = m_index.find(id);
  if (loc && loc->type != BlobType::tree)
    throw IntegrityError("blob {} is used as a directory but is stored as data",
                         id.hex().substr(0, 16));
  return decode_tree(read_blob(id), "tree " + id.hex().substr(0, 16));
}

Tree Repository::read_tree(const Id32& id) {
  Tree tree = read_tree_blob(id);
  if (!tree.parts.empty())
    join_parts(
        tree, [&](const Id32& part) { return read_tree_blob(part); },
        "tree " + id.hex().substr(0, 16));
  return tree;
}

void Repository::visit_tree(const Id32& id, const std::function<void(Tree&)>& visit) {
  Tree tree = read_tree_blob(id);
  visit_parts(
      tree, [&](const Id32& part) { return read_tree_blob(part); },
      "tree " + id.hex().substr(0, 16), visit);
}

std::vector<KeySlot> Repository::slots() { return read_slots(*m_storage); }

void Repository::save_slot(const KeySlot& slot) {
  m_storage->put(object_key(Kind::key, slot.id), encode_slot(slot));
  m_signers.reset();
}

const std::map<Id32, KeySlot>& Repository::signers() {
  if (!m_signers) {
    m_signers.emplace();
    for (auto& s : slots())
      if (endorsed(s, keys())) m_signers->emplace(s.id, s);
  }
  return *m_signers;
}

bool Repository::signed_by_full_key(const Id32& signer, ByteView msg, ByteView signature) {
  auto it = signers().find(signer);
  return it != signers().end() && !it->second.retired && it->second.access == Access::full &&
         crypto::ed25519_verify(it->second.signing_public, msg, signature);
}

const std::set<Id32>& Repository::forgotten() {
  if (m_forgotten) return *m_forgotten;
  m_forgotten.emplace();
  for (auto& id : list_ids(Kind::tombstone)) {
    try {
      std::string what = "tombstone " + id.hex().substr(0, 8);
      SignedTombstone st = decode_tombstone(load_meta(Kind::tombstone, id), what);
      if (!signed_by_full_key(st.tombstone.signer, tombstone_message(st.body), st.signature))
        throw IntegrityError("{} is not signed by a current full key of this repository", what);
      m_forgotten->insert(st.tombstone.snapshots.begin(), st.tombstone.snapshots.end());
    } catch (const IntegrityError& e) {
      log::warn("ignoring a tombstone: {}", e.what());
    }
  }
  return *m_forgotten;
}

void Repository::forget(const std::vector<Id32>& ids) {
  if (ids.empty()) return;
  if (m_unlocked.slot.access != Access::full)
    throw Error(Exit::not_permitted,
                "forgetting snapshots needs a full key, but key slot {} is write-only",
                m_unlocked.slot.id.hex().substr(0, 8));
  Tombstone t;
  t.time_ns = now_ns();
  t.host = host_name();
  t.user = user_name();
  t.snapshots = ids;
  t.signer = m_unlocked.slot.id;
  // The tombstone first: a snapshot that is gone without one looks like a rollback to others.
  save_meta(Kind::tombstone, encode_tombstone(t, m_unlocked.signing_private));
  if (m_forgotten) m_forgotten->insert(ids.begin(), ids.end());
  for (auto& id : ids) m_storage->remove(object_key(Kind::snapshot, id));
}

SnapshotRecord Repository::load_snapshot(const Id32& id) {
  signers();
  Bytes plain = load_meta(Kind::snapshot, id);
  SignedSnapshot ss = decode_signed(plain, "snapshot " + id.hex().substr(0, 8));
  SnapshotRecord r;
  r.id = id;
  r.snapshot = ss.snapshot;
  auto it = m_signers->find(ss.snapshot.signer);
  if (it == m_signers->end()) {
    r.signer_status =
        fmt::format("signed by unknown key {}", ss.snapshot.signer.hex().substr(0, 8));
  } else if (it->second.retired && !std::binary_search(it->second.retired_snapshots.begin(),
                                                       it->second.retired_snapshots.end(), id)) {
    r.signer_status = fmt::format("signed by removed key {} after its removal",
                                  ss.snapshot.signer.hex().substr(0, 8));
  } else {
    const KeySlot& slot = it->second;
    r.signer = fmt::format("key {} ({}{}{})", slot.id.hex().substr(0, 12),
                           slot.label.empty() ? "" : slot.label + ", ", access_name(slot.access),
                           slot.retired ? ", removed" : "");
    Bytes msg = to_bytes("lifeboat-v1 snapshot");
    append(msg, ss.body);
    if (crypto::ed25519_verify(it->second.signing_public, msg, ss.signature)) {
      r.trusted = true;
      r.signer_status = "ok";
    } else {
      r.signer_status =
          fmt::format("bad signature for key {}", ss.snapshot.signer.hex().substr(0, 8));
    }
  }
  return r;
}

std::vector<SnapshotRecord> Repository::load_snapshots() {
  std::vector<SnapshotRecord> out;
  for (auto& id : list_ids(Kind::snapshot)) {
    try {
      out.push_back(load_snapshot(id));
    } catch (const IntegrityError& e) {
      SnapshotRecord r;
      r.id = id;
      r.damaged = true;
      r.signer_status = e.what();
      out.push_back(std::move(r));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const SnapshotRecord& a, const SnapshotRecord& b) {
    return a.snapshot.time_ns < b.snapshot.time_ns;
  });
  check_high_water_mark(out);
  return out;
}

void Repository::check_high_water_mark(const std::vector<SnapshotRecord>& records) {
  if (m_state_dir.empty()) return;
  std::string path = fmt::format("{}/{}/snapshots-seen", m_state_dir, m_config.id.hex());
  // Present (even damaged or untrusted) is not rolled back; only trusted ones become "seen".
  std::set<Id32> present, current;
  for (auto& r : records) {
    present.insert(r.id);
    if (r.trusted) current.insert(r.id);
  }
  std::vector<Id32> missing;
  std::optional<Bytes> data;
  try {
    data = fs::read_file(path);
  } catch (const Error& e) {
    log::warn("unable to read the snapshots seen (rollback detection is weaker): {}", e.what());
    return;
  }
  if (data) {
    const std::set<Id32>* forgotten_ids = nullptr;
    std::string_view text = as_chars(*data);
    for (size_t pos = 0; pos + 64 <= text.size(); pos = text.find('\n', pos) + 1) {
      Id32 id;
      if (!parse_id(text.substr(pos, 64), id)) continue;
      if (!present.count(id)) {
        // Forgotten on purpose (a valid tombstone names it): dropped from the seen list.
        if (!forgotten_ids) forgotten_ids = &forgotten();
        if (!forgotten_ids->count(id)) missing.push_back(id);
      } else {
        current.insert(id);
      }
      if (text.find('\n', pos) == std::string_view::npos) break;
    }
  }
  if (!missing.empty())
    throw IntegrityError(
        "the snapshot list was rolled back: {} snapshot(s) this host listed before are gone "
        "(first: {}); "
        "the storage may have been reverted or tampered with. If they were removed on purpose, "
        "delete '{}' to accept the current list",
        missing.size(), missing.front().hex().substr(0, 12), path);
  std::string out;
  for (auto& id : current) out += id.hex() + "\n";
  try {
    fs::make_dirs(path.substr(0, path.rfind('/')), 0700);
    fs::write_file_atomic(path, as_bytes(out), 0600);
  } catch (const Error& e) {
    log::warn("unable to record the snapshots seen (rollback detection is weaker): {}", e.what());
  }
}

Id32 Repository::save_snapshot(Snapshot s) {
  s.signer = m_unlocked.slot.id;
  Bytes sealed = seal_object(keys().meta_key, m_config.id, Kind::snapshot,
                             encode_signed(s, m_unlocked.signing_private));
  Id32 id = crypto::sha256(sealed);
  std::string key = object_key(Kind::snapshot, id);
  try {
    put_read_back(key, sealed, id);
  } catch (const Error&) {
    // A put that failed may still have landed (an answer lost after the store kept it, a
    // local directory fsync that failed after the rename): a run that fails leaves no snapshot.
    try {
      m_storage->remove(key);
    } catch (const Error& e) {
      log::warn("unable to remove snapshot '{}' that may have been stored: {}", key, e.what());
    }
    throw;
  }
  return id;
}

bool SnapshotFilter::matches(const Snapshot& s) const {
  if (!job.empty() && s.job != job) return false;
  if (!host.empty() && s.host != host) return false;
  for (auto& t : tags)
    if (std::find(s.tags.begin(), s.tags.end(), t) == s.tags.end()) return false;
  return true;
}

const SnapshotRecord& resolve_snapshot(const std::vector<SnapshotRecord>& records,
                                       const std::string& spec, const SnapshotFilter& filter) {
  if (spec == "latest") {
    // A snapshot that does not decode has no known time: it may be the newest, and silently
    // taking an older one would restore stale data as if it were the latest.
    for (auto& r : records)
      if (r.damaged)
        throw IntegrityError(
            "snapshot {} is damaged ({}), so which snapshot is the latest is unknown: name the "
            "one to use by its id (backup-restore snapshots lists them)",
            r.id.hex().substr(0, 12), r.signer_status);
    // Only trusted snapshots can be "latest": an untrusted one must be named explicitly.
    for (auto it = records.rbegin(); it != records.rend(); ++it)
      if (it->trusted && filter.matches(it->snapshot)) return *it;
    throw Error(Exit::failure,
                "no snapshot matches 'latest'{} (list them with: backup-restore snapshots)",
                filter.job.empty() && filter.host.empty() && filter.tags.empty()
                    ? ""
                    : " with the given --job/--host/--tag");
  }
  bool hex = !spec.empty() && std::all_of(spec.begin(), spec.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!hex || spec.size() < 8 || spec.size() > 64)
    throw UsageError(
        "'{}' is not a snapshot id: use a full id, a prefix of at least 8 hex digits, "
        "or 'latest'",
        spec);
  const SnapshotRecord* found = nullptr;
  for (auto& r : records) {
    if (r.id.hex().compare(0, spec.size(), spec) == 0) {
      if (found) throw UsageError("snapshot prefix '{}' is ambiguous: give more digits", spec);
      found = &r;
    }
  }
  if (!found)
    throw Error(Exit::failure,
                "no snapshot '{}' in this repository (list them with: backup-restore snapshots)",
                spec);
  return *found;
}

}  // namespace lifeboat::repo
