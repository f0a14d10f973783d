#include "lifeboat/config/config.hpp"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>

#include "lifeboat/core/error.hpp"

namespace lifeboat::config {

const JobConfig* Config::job(const std::string& name) const {
  auto it = jobs.find(name);
  return it == jobs.end() ? nullptr : &it->second;
}

const RepositoryConfig* Config::repository(const std::string& name) const {
  auto it = repositories.find(name);
  return it == repositories.end() ? nullptr : &it->second;
}

const RetentionConfig* JobConfig::retention_in(const RepositoryConfig& repo) const {
  const RetentionConfig* own = nullptr;
  if (repo.name == repository)
    own = &retention;
  else if (auto it = copy_retention.find(repo.name); it != copy_retention.end())
    own = &it->second;
  else if (std::find(copies.begin(), copies.end(), repo.name) == copies.end())
    return nullptr;  // this job does not store snapshots there
  if (own && !own->empty()) return own;
  return repo.retention.empty() ? nullptr : &repo.retention;
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Parser {
 public:
  explicit Parser(std::string path) : m_path(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& msg) const {
    auto mark = node.Mark();
    throw UsageError("{}:{}: {}", m_path, mark.is_null() ? 0 : mark.line + 1, msg);
  }

  void check_keys(const YAML::Node& map, const std::string& where,
                  const std::vector<std::string>& valid) {
    if (!map.IsMap()) fail(map, fmt::format("{} must be a mapping", where));
    for (auto it = map.begin(); it != map.end(); ++it) {
      auto key = it->first.as<std::string>();
      if (std::find(valid.begin(), valid.end(), key) == valid.end())
        fail(it->first,
             fmt::format("unknown key '{}' in {} (valid keys: {})", key, where, join(valid)));
    }
  }

  std::string str(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) fail(n, fmt::format("{} must be a string", what));
    auto s = n.as<std::string>();
    if (s.empty()) fail(n, fmt::format("{} must not be empty", what));
    return s;
  }

  bool boolean(const YAML::Node& n, const std::string& what) {
    bool v;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      fail(n, fmt::format("{} must be true or false", what));
    return v;
  }

  uint64_t number(const YAML::Node& n, const std::string& what, uint64_t min, uint64_t max) {
    uint64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<uint64_t>::decode(n, v) || v < min || v > max)
      fail(n, fmt::format("{} must be a whole number from {} to {}", what, min, max));
    return v;
  }

  std::string choice(const YAML::Node& n, const std::string& what,
                     const std::vector<std::string>& valid) {
    std::string v = str(n, what);
    if (std::find(valid.begin(), valid.end(), v) == valid.end())
      fail(n, fmt::format("{} is '{}' (valid: {})", what, v, join(valid)));
    return v;
  }

  RetentionConfig retention(const YAML::Node& n, const std::string& where) {
    static const std::vector<std::string> counts = {"keep-last",   "keep-hourly",  "keep-daily",
                                                    "keep-weekly", "keep-monthly", "keep-yearly"};
    static const std::vector<std::string> durations = {"keep-within",         "keep-within-hourly",
                                                       "keep-within-daily",   "keep-within-weekly",
                                                       "keep-within-monthly", "keep-within-yearly"};
    std::vector<std::string> valid = counts;
    valid.insert(valid.end(), durations.begin(), durations.end());
    valid.push_back("keep-tag");
    check_keys(n, where, valid);
    RetentionConfig r;
    auto mark = n.Mark();
    r.where = fmt::format("{}:{}", m_path, mark.is_null() ? 0 : mark.line + 1);
    for (auto it = n.begin(); it != n.end(); ++it) {
      auto key = it->first.as<std::string>();
      if (key == "keep-tag") {
        for (auto& t : list(it->second, where + " keep-tag")) r.rules.emplace_back(key, t);
      } else if (std::find(counts.begin(), counts.end(), key) != counts.end()) {
        r.rules.emplace_back(key,
                             std::to_string(number(it->second, where + " " + key, 0, 1000000)));
      } else {
        std::string v = str(it->second, where + " " + key);
        bool shape = !v.empty() && std::isdigit(static_cast<unsigned char>(v[0]));
        for (char ch : v)
          if (!std::isdigit(static_cast<unsigned char>(ch)) && !std::strchr("ymwdh", ch))
            shape = false;
        if (!shape)
          fail(it->second, fmt::format("{} {} is '{}', not a duration (like 30d, 1y6m, 12h, 2w)",
                                       where, key, v));
        r.rules.emplace_back(key, v);
      }
    }
    return r;
  }

  void storage_settings(const YAML::Node& n, const std::string& where, RepositoryConfig& r) {
    storage::Options& o = r.storage;
    if (n["connections"])
      o.connections = static_cast<unsigned>(number(n["connections"], "connections", 1, 64));
    if (n["upload-limit"])  // KiB/s, as the --limit-upload flag
      o.upload_limit = number(n["upload-limit"], "upload-limit (KiB/s)", 1, 1ull << 30) * 1024;
    if (n["download-limit"])
      o.download_limit =
          number(n["download-limit"], "download-limit (KiB/s)", 1, 1ull << 30) * 1024;
    if (n["retry-time"])
      o.retry_time = static_cast<double>(number(n["retry-time"], "retry-time (seconds)", 0, 86400));
    if (auto s3 = n["s3"]) {
      std::string w = where + " s3";
      check_keys(s3, w,
                 {"endpoint", "region", "addressing", "credentials-file", "profile",
                  "storage-class", "object-lock-mode", "object-lock-days"});
      if (s3["endpoint"]) o.s3.endpoint = str(s3["endpoint"], "s3 endpoint");
      if (s3["region"]) o.s3.region = str(s3["region"], "s3 region");
      if (s3["addressing"])
        o.s3.addressing = choice(s3["addressing"], "s3 addressing", {"path", "virtual"});
      if (s3["credentials-file"])
        o.s3.credentials_file = str(s3["credentials-file"], "s3 credentials-file");
      if (s3["profile"]) o.s3.profile = str(s3["profile"], "s3 profile");
      if (s3["storage-class"])
        o.s3.storage_class =
            choice(s3["storage-class"], "s3 storage-class",
                   {"STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
                    "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"});
      if (s3["object-lock-mode"])
        o.s3.object_lock_mode =
            choice(s3["object-lock-mode"], "s3 object-lock-mode", {"GOVERNANCE", "COMPLIANCE"});
      if (s3["object-lock-days"])
        o.s3.object_lock_days =
            static_cast<unsigned>(number(s3["object-lock-days"], "s3 object-lock-days", 1, 36500));
      if (o.s3.object_lock_mode.empty() != (o.s3.object_lock_days == 0))
        fail(s3, w + " needs both object-lock-mode and object-lock-days, or neither");
    }
    if (auto az = n["azure"]) {
      check_keys(az, where + " azure", {"endpoint", "access-tier"});
      if (az["endpoint"]) o.azure.endpoint = str(az["endpoint"], "azure endpoint");
      if (az["access-tier"])
        o.azure.access_tier =
            choice(az["access-tier"], "azure access-tier", {"Hot", "Cool", "Cold", "Archive"});
    }
    if (auto sf = n["sftp"]) {
      check_keys(sf, where + " sftp",
                 {"key", "known-hosts", "host-key-sha256", "insecure-no-host-key-check"});
      if (sf["key"]) o.sftp.key_file = str(sf["key"], "sftp key");
      if (sf["known-hosts"]) o.sftp.known_hosts = str(sf["known-hosts"], "sftp known-hosts");
      if (sf["host-key-sha256"])
        o.sftp.host_key_sha256 = str(sf["host-key-sha256"], "sftp host-key-sha256");
      if (sf["insecure-no-host-key-check"])
        o.sftp.insecure_no_host_key_check =
            boolean(sf["insecure-no-host-key-check"], "sftp insecure-no-host-key-check");
    }
  }

  std::vector<std::string> list(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(str(n, what));
      return out;
    }
    if (!n.IsSequence()) fail(n, fmt::format("{} must be a list of strings", what));
    for (auto item : n) out.push_back(str(item, what + " entry"));
    return out;
  }

  Config parse(const YAML::Node& root) {
    Config c;
    c.path = m_path;
    if (root.IsNull()) return c;
    check_keys(root, "the top level", {"cache-dir", "state-dir", "repositories", "jobs"});
    if (root["cache-dir"]) c.cache_dir = str(root["cache-dir"], "cache-dir");
    if (root["state-dir"]) c.state_dir = str(root["state-dir"], "state-dir");
    if (auto repos = root["repositories"]) {
      if (!repos.IsMap()) fail(repos, "repositories must be a mapping of names to repositories");
      for (auto it = repos.begin(); it != repos.end(); ++it) {
        RepositoryConfig r;
        r.name = it->first.as<std::string>();
        const YAML::Node n = it->second;  // a copy: it-> yields a temporary
        std::string where = fmt::format("repository '{}'", r.name);
        check_keys(
            n, where,
            {"url", "password-file", "password-command", "key-file", "connections", "upload-limit",
             "download-limit", "retry-time", "s3", "azure", "sftp", "retention", "append-only"});
        if (!n["url"]) fail(n, fmt::format("{} has no url", where));
        r.url = str(n["url"], "url");
        int secrets = 0;
        if (n["password-file"])
          r.password_file = str(n["password-file"], "password-file"), ++secrets;
        if (n["password-command"])
          r.password_command = str(n["password-command"], "password-command"), ++secrets;
        if (n["key-file"]) r.key_file = str(n["key-file"], "key-file"), ++secrets;
        if (secrets > 1)
          fail(n, fmt::format("{} gives more than one of password-file, password-command, key-file",
                              where));
        storage_settings(n, where, r);
        if (n["retention"]) r.retention = retention(n["retention"], where + " retention");
        if (n["append-only"]) r.append_only = boolean(n["append-only"], "append-only");
        c.repositories.emplace(r.name, r);
      }
    }
    if (auto jobs = root["jobs"]) {
      if (!jobs.IsMap()) fail(jobs, "jobs must be a mapping of names to jobs");
      for (auto it = jobs.begin(); it != jobs.end(); ++it) {
        JobConfig j;
        j.name = it->first.as<std::string>();
        const YAML::Node n = it->second;  // a copy: it-> yields a temporary
        std::string where = fmt::format("job '{}'", j.name);
        static const std::vector<std::string> common = {"type", "repository", "tags",
                                                        "host", "copies",     "retention"};
        static const std::map<std::string, std::vector<std::string>> by_type = {
            {"files", {"paths", "exclude", "exclude-file", "one-file-system"}},
            {"command", {"command", "stdin-name", "restore-command"}},
            {"postgres", {"mode", "databases", "pg-host", "pg-port", "pg-user"}}};
        if (!n.IsMap()) fail(n, where + " must be a mapping");
        if (n["type"])
          j.type = choice(n["type"], where + " type", {"files", "command", "postgres"});
        // In the order the documentation gives them.
        static const std::vector<std::string> order = {
            "type",         "repository", "paths",      "exclude",
            "exclude-file", "command",    "stdin-name", "restore-command",
            "mode",         "databases",  "pg-host",    "pg-port",
            "pg-user",      "tags",       "host",       "one-file-system",
            "copies",       "retention"};
        std::vector<std::string> valid;
        for (const auto& k : order) {
          const auto& own = by_type.at(j.type);
          if (std::find(common.begin(), common.end(), k) != common.end() ||
              std::find(own.begin(), own.end(), k) != own.end())
            valid.push_back(k);
        }
        for (auto it2 = n.begin(); it2 != n.end(); ++it2) {
          auto key = it2->first.as<std::string>();
          for (auto& [type, keys] : by_type)
            if (type != j.type && std::find(keys.begin(), keys.end(), key) != keys.end() &&
                std::find(valid.begin(), valid.end(), key) == valid.end())
              fail(it2->first, fmt::format("{} is of type {}: '{}' belongs to jobs of type {}",
                                           where, j.type, key, type));
        }
        check_keys(n, where, valid);
        if (j.type == "command") {
          if (!n["command"]) fail(n, where + " (type command) has no command");
          if (!n["stdin-name"])
            fail(n, where + " (type command) has no stdin-name (the file name for its output)");
          j.command = str(n["command"], where + " command");
          j.stdin_name = str(n["stdin-name"], where + " stdin-name");
          if (n["restore-command"])
            j.restore_command = str(n["restore-command"], where + " restore-command");
        }
        if (j.type == "postgres") {
          if (n["mode"]) j.pg_mode = choice(n["mode"], where + " mode", {"dump", "base"});
          if (n["databases"]) j.pg_databases = list(n["databases"], where + " databases");
          if (n["pg-host"]) j.pg_host = str(n["pg-host"], where + " pg-host");
          if (n["pg-port"])
            j.pg_port = std::to_string(number(n["pg-port"], where + " pg-port", 1, 65535));
          if (n["pg-user"]) j.pg_user = str(n["pg-user"], where + " pg-user");
          if (j.pg_mode == "base" && !j.pg_databases.empty())
            fail(n["databases"], where +
                                     " has mode base, which copies the whole cluster: "
                                     "'databases' goes with mode dump");
        }
        if (n["repository"]) {
          j.repository = str(n["repository"], "repository");
          if (!c.repositories.count(j.repository)) {
            std::vector<std::string> names;
            for (auto& [k, v] : c.repositories) names.push_back(k);
            fail(n["repository"],
                 fmt::format("{} names unknown repository '{}' (defined: {})", where, j.repository,
                             names.empty() ? "none" : join(names)));
          }
        }
        if (n["paths"]) j.paths = list(n["paths"], "paths");
        if (n["exclude"]) j.exclude = list(n["exclude"], "exclude");
        if (n["exclude-file"]) j.exclude_file = str(n["exclude-file"], "exclude-file");
        if (n["tags"]) j.tags = list(n["tags"], "tags");
        if (n["host"]) j.host = str(n["host"], "host");
        if (n["one-file-system"])
          j.one_file_system = boolean(n["one-file-system"], "one-file-system");
        if (n["retention"]) j.retention = retention(n["retention"], where + " retention");
        if (n["copies"]) {
          // Each entry: a repository name, or {repository: NAME, retention: {...}} for a tier
          // that keeps snapshots longer or shorter than the job's own repository.
          const YAML::Node& cn = n["copies"];
          if (!cn.IsSequence() && !cn.IsScalar())
            fail(cn, where + " copies must be a list of repository names");
          std::vector<YAML::Node> entries;
          if (cn.IsScalar())
            entries.push_back(cn);
          else
            for (auto e : cn) entries.push_back(e);
          for (auto& e : entries) {
            if (e.IsMap()) {
              check_keys(e, where + " copies entry", {"repository", "retention"});
              if (!e["repository"]) fail(e, where + " copies entry has no repository");
              std::string name = str(e["repository"], "copies repository");
              j.copies.push_back(name);
              if (e["retention"])
                j.copy_retention[name] =
                    retention(e["retention"], where + " copy to '" + name + "' retention");
            } else {
              j.copies.push_back(str(e, "copies entry"));
            }
          }
          for (const auto& name : j.copies) {
            if (!c.repositories.count(name))
              fail(n["copies"], fmt::format("{} copies to unknown repository '{}'", where, name));
            if (name == j.repository)
              fail(n["copies"], fmt::format("{} copies to its own repository '{}'", where, name));
          }
        }
        c.jobs.emplace(j.name, j);
      }
    }
    return c;
  }

 private:
  std::string m_path;
};

}  // namespace

namespace {

Config parse_document(const std::string& path, const std::function<YAML::Node()>& read) {
  YAML::Node root;
  try {
    root = read();
  } catch (const YAML::BadFile&) {
    throw UsageError("unable to read configuration file '{}' (does it exist and is it readable?)",
                     path);
  } catch (const YAML::Exception& e) {
    throw UsageError("{}:{}: invalid YAML: {}", path, e.mark.line + 1, e.msg);
  }
  try {
    return Parser(path).parse(root);
  } catch (const YAML::Exception& e) {
    throw UsageError("{}:{}: {}", path, e.mark.line + 1, e.msg);
  }
}

}  // namespace

Config load(const std::string& path) {
  return parse_document(path, [&] { return YAML::LoadFile(path); });
}

Config load_text(const std::string& text, const std::string& path) {
  return parse_document(path, [&] { return YAML::Load(text); });
}

Config load_default(const std::string& explicit_path) {
  if (!explicit_path.empty()) return load(explicit_path);
  if (const char* env = std::getenv("LIFEBOAT_CONFIG"); env && *env) return load(env);
  struct stat st {};
  if (::stat(k_default_path, &st) == 0) return load(k_default_path);
  return {};
}

}  // namespace lifeboat::config
