// backup-create init and backup-create key …: key slots never touch data (DESIGN.md §4).
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lifeboat/core/log.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/ops/create/create.hpp"
#include "lifeboat/repo/paper.hpp"
#include "lifeboat/util/fs.hpp"

namespace lifeboat::ops::create {

int init(const InitOptions& o) {
  auto store = storage::open(o.url, o.storage);
  repo::InitOptions options;
  Id32 id = repo::Repository::init(*store, o.secret, options);
  if (o.json)
    fmt::print("{}\n",
               nlohmann::json{{"repository_id", id.hex()}, {"location", store->describe()}}.dump(
                   -1, ' ', false, nlohmann::json::error_handler_t::replace));
  else {
    log::info("created repository at '{}'", store->describe());
    fmt::print("{}\n", id.hex());
  }
  return 0;
}

int key_list(repo::Repository& repo, bool json) {
  auto slots = repo.slots();
  nlohmann::json out = nlohmann::json::array();
  for (auto& s : slots) {
    bool current = s.id == repo.unlocked().slot.id;
    if (json) {
      out.push_back({{"id", s.id.hex()},
                     {"type", s.type},
                     {"access", repo::access_name(s.access)},
                     {"label", printable(s.label)},
                     {"host", printable(s.host)},
                     {"user", printable(s.user)},
                     {"created", repo::format_time(s.created_ns)},
                     {"retired", s.retired},
                     {"current", current}});
    } else {
      fmt::print("{} {:<12} {:<10} {:<8} {}@{} {}{}\n", current ? "*" : " ",
                 s.id.hex().substr(0, 12), s.retired ? "retired" : repo::access_name(s.access),
                 s.retired ? "-" : s.type, s.user, s.host, repo::format_time(s.created_ns),
                 s.label.empty() ? "" : "  " + s.label);
    }
  }
  if (json) fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

int key_add(repo::Repository& repo, const repo::Secret& secret, bool write_only,
            const std::string& label, bool json) {
  if (!repo.keys().admin_private)
    throw Error(Exit::not_permitted, "adding a key needs a full key: this key is write-only");
  auto slot = repo::make_slot(repo.keys(), secret,
                              write_only ? repo::Access::write_only : repo::Access::full, label);
  repo.save_slot(slot.slot);
  if (json)
    fmt::print("{}\n", nlohmann::json{{"id", slot.slot.id.hex()},
                                      {"access", repo::access_name(slot.slot.access)}}
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  else {
    log::info("added {} key {}", repo::access_name(slot.slot.access),
              slot.slot.id.hex().substr(0, 12));
    fmt::print("{}\n", slot.slot.id.hex());
  }
  return 0;
}

namespace {
repo::KeySlot find_slot(repo::Repository& repo, const std::string& prefix) {
  if (prefix.size() < 8)
    throw UsageError(
        "key id '{}' is too short: give at least 8 hex digits (see backup-create key list)",
        prefix);
  std::optional<repo::KeySlot> found;
  for (auto& s : repo.slots()) {
    if (s.id.hex().compare(0, prefix.size(), prefix) == 0) {
      if (found) throw UsageError("key id '{}' is ambiguous: give more digits", prefix);
      found = s;
    }
  }
  if (!found)
    throw Error(Exit::failure, "no key '{}' in this repository (see backup-create key list)",
                prefix);
  return *found;
}
}  // namespace

int key_remove(repo::Repository& repo, const std::string& prefix) {
  if (!repo.keys().admin_private)
    throw Error(Exit::not_permitted, "removing a key needs a full key: this key is write-only");
  repo::KeySlot slot = find_slot(repo, prefix);
  if (slot.retired)
    throw Error(Exit::failure, "key {} is already removed", slot.id.hex().substr(0, 12));
  if (slot.id == repo.unlocked().slot.id)
    throw Error(Exit::failure,
                "refusing to remove key {}: it is the key this command was opened with (open the "
                "repository with another key to remove it)",
                slot.id.hex().substr(0, 12));
  int usable_full = 0;
  for (auto& s : repo.slots())
    if (!s.retired && s.access == repo::Access::full && s.id != slot.id) ++usable_full;
  if (usable_full == 0)
    throw Error(Exit::failure, "refusing to remove key {}: no other full key would be left",
                slot.id.hex().substr(0, 12));
  // Keep the public signing key so the snapshots it signed until now still verify — and only
  // those: a stolen copy of the removed key cannot sign new trusted snapshots.
  slot.retired = true;
  slot.sealed.clear();
  slot.salt.clear();
  for (auto& r : repo.load_snapshots())
    if (r.snapshot.signer == slot.id && r.trusted) slot.retired_snapshots.push_back(r.id);
  repo::endorse(slot, repo.keys());
  repo.save_slot(slot);
  log::info("removed key {} (its public signing key is kept to verify old snapshots)",
            slot.id.hex().substr(0, 12));
  return 0;
}

int key_passwd(repo::Repository& repo, const repo::Secret& secret) {
  repo.save_slot(repo::rewrap_slot(repo.unlocked(), secret));
  log::info("changed the {} of key {}",
            secret.type == repo::Secret::Type::password ? "password" : "key file",
            repo.unlocked().slot.id.hex().substr(0, 12));
  return 0;
}

int key_paper(repo::Repository& repo, const std::string& label, unsigned shares, unsigned threshold,
              bool json) {
  if (!repo.keys().admin_private)
    throw Error(Exit::not_permitted, "adding a key needs a full key: this key is write-only");
  if ((shares == 0) != (threshold == 0))
    throw UsageError("--shares and --threshold go together (e.g. --shares 5 --threshold 3)");
  auto secret = crypto::random_key();
  std::vector<std::string> lines = shares ? repo::format_paper_shares(secret, threshold, shares)
                                          : std::vector{repo::format_paper_key(secret)};
  // Validate the split before it becomes the only copy of a key: rebuild from the first k.
  std::string check;
  for (unsigned i = 0; i < (shares ? threshold : 1); ++i) check += lines[i] + "\n";
  auto rebuilt = repo::parse_paper(check, "the new paper key");
  if (!rebuilt || rebuilt->value != std::string(as_chars(secret)))
    throw Error(Exit::failure, "internal error: the paper key does not rebuild its secret");
  repo::Secret s{repo::Secret::Type::key_file, std::string(as_chars(secret)), "paper key"};
  crypto::wipe(secret);
  auto slot =
      repo::make_slot(repo.keys(), s, repo::Access::full, label.empty() ? "paper key" : label);
  repo.save_slot(slot.slot);
  std::string id = slot.slot.id.hex().substr(0, 12);
  if (json) {
    nlohmann::json j = {{"id", slot.slot.id.hex()}, {"access", "full"}};
    if (shares) {
      j["threshold"] = threshold;
      j["shares"] = lines;
    } else {
      j["paper_key"] = lines.front();
    }
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  fmt::print("Lifeboat paper key for repository {} (key {}, full access)\n",
             repo.config().id.hex().substr(0, 12), id);
  if (shares)
    fmt::print(
        "{} shares; any {} of them, typed into one file given to --key-file, open the "
        "repository.\n\n",
        shares, threshold);
  else
    fmt::print(
        "Type this line into a file (mode 0600) and give it to --key-file to open the "
        "repository.\n\n");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (shares) fmt::print("share {} of {} (needs {}):\n", i + 1, shares, threshold);
    fmt::print("{}\n\n", lines[i]);
  }
  log::info("added paper key {}", id);
  return 0;
}

int key_generate(const std::string& path) {
  fs::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    if (errno == EEXIST)
      throw Error(Exit::failure, "'{}' already exists; refusing to overwrite a key file", path);
    throw Error(Exit::failure, "unable to create '{}': {}", path, fs::errno_text(errno));
  }
  auto secret = crypto::random_key();
  std::string text = repo::format_key_file(secret);
  crypto::wipe(secret);
  fs::write_all(fd.get(), as_bytes(text), path);
  if (::fsync(fd.get()) != 0)
    throw Error(Exit::failure, "unable to fsync '{}': {}", path, fs::errno_text(errno));
  log::info("wrote a new key file to '{}' (mode 0600): keep a copy somewhere safe", path);
  return 0;
}

}  // namespace lifeboat::ops::create
